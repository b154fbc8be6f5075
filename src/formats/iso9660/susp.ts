// System Use Sharing Protocol (SUSP 1.12) and Rock Ridge (RRIP 1991A)
// entries: SP marks the root as using SUSP, CE points at a continuation area,
// ER names the extension; PX (mode, links, owner), TF (times), NM (name) and
// SL (symlink target) describe each entry. Every entry is at most 255 bytes,
// so long names and targets are split over several entries with CONTINUE
// flags. Owners are always 0 and every time is the one image date.

import { recordDate, writeBoth32 } from './encoding.js';

const ENTRY_MAX = 255;
export const CE_LENGTH = 28;

function entry(signature: string, body: Buffer): Buffer {
  const head = Buffer.from([signature.charCodeAt(0), signature.charCodeAt(1), 4 + body.length, 1]);
  return Buffer.concat([head, body]);
}

/** SP: "SUSP in use", only in the root's "." record, first. */
export function spEntry(): Buffer {
  return entry('SP', Buffer.from([0xbe, 0xef, 0]));
}

/** CE: the rest of this record's entries are `length` bytes at `block`:`offset`. */
export function ceEntry(block: number, offset: number, length: number): Buffer {
  const body = Buffer.alloc(24);
  writeBoth32(body, 0, block);
  writeBoth32(body, 8, offset);
  writeBoth32(body, 16, length);
  return entry('CE', body);
}

// The identifier, description and source texts RRIP 1991A defines for its ER entry.
const RRIP_ID = 'RRIP_1991A';
const RRIP_DESCRIPTION = 'THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS';
const RRIP_SOURCE = 'PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.';

/** ER: the Rock Ridge extension is in use (root "." record). */
export function erEntry(): Buffer {
  const text = Buffer.from(RRIP_ID + RRIP_DESCRIPTION + RRIP_SOURCE, 'latin1');
  return entry('ER', Buffer.concat([Buffer.from([RRIP_ID.length, RRIP_DESCRIPTION.length, RRIP_SOURCE.length, 1]), text]));
}

/** PX in its RRIP 1991A form (no serial number): full st_mode, link count, uid 0, gid 0. */
export function pxEntry(mode: number, links: number): Buffer {
  const body = Buffer.alloc(32);
  writeBoth32(body, 0, mode);
  writeBoth32(body, 8, links);
  return entry('PX', body);
}

/** TF with modification, access and attribute-change times, all `date`. */
export function tfEntry(date: Date): Buffer {
  const stamp = recordDate(date);
  return entry('TF', Buffer.concat([Buffer.from([0x0e]), stamp, stamp, stamp]));
}

const NM_CONTINUE = 1;

/** NM entries for a name, split when it does not fit one entry. */
export function nmEntries(name: string): Buffer[] {
  const bytes = Buffer.from(name, 'utf8');
  const room = ENTRY_MAX - 5;
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += room) {
    const chunk = bytes.subarray(at, at + room);
    const more = at + room < bytes.length;
    out.push(entry('NM', Buffer.concat([Buffer.from([more ? NM_CONTINUE : 0]), chunk])));
  }
  return out;
}

const SL_CONTINUE = 1;
const COMPONENT_CONTINUE = 1;
const COMPONENT_CURRENT = 2;
const COMPONENT_PARENT = 4;
const COMPONENT_ROOT = 8;

const SL_ROOM = ENTRY_MAX - 5;
/** Content bytes per component record, so that one record always fits an SL entry. */
const PIECE_MAX = SL_ROOM - 2;

/** Component records of a symlink target; empty components (from '//' or a trailing '/') are dropped. */
function components(target: string): Buffer[] {
  const out: Buffer[] = [];
  const names = target.split('/');
  if (names[0] === '') out.push(Buffer.from([COMPONENT_ROOT, 0]));
  for (const name of names) {
    if (name === '') continue;
    if (name === '.') out.push(Buffer.from([COMPONENT_CURRENT, 0]));
    else if (name === '..') out.push(Buffer.from([COMPONENT_PARENT, 0]));
    else {
      // Long names continue over several component records.
      const bytes = Buffer.from(name, 'utf8');
      for (let at = 0; at < bytes.length; at += PIECE_MAX) {
        const chunk = bytes.subarray(at, at + PIECE_MAX);
        const more = at + PIECE_MAX < bytes.length;
        out.push(Buffer.concat([Buffer.from([more ? COMPONENT_CONTINUE : 0, chunk.length]), chunk]));
      }
    }
  }
  return out;
}

/** SL entries for a symlink target: component records packed into entries of at most 255 bytes. */
export function slEntries(target: string): Buffer[] {
  const groups: Buffer[][] = [];
  let current: Buffer[] = [];
  let used = 0;
  for (const component of components(target)) {
    if (used + component.length > SL_ROOM) {
      groups.push(current);
      current = [];
      used = 0;
    }
    current.push(component);
    used += component.length;
  }
  groups.push(current);
  return groups.map((group, i) => entry('SL', Buffer.concat([Buffer.from([i < groups.length - 1 ? SL_CONTINUE : 0]), ...group])));
}

/** One decoded SUSP entry. */
export interface SuspEntry {
  signature: string;
  version: number;
  data: Buffer;
}

/** Splits a system use area into entries, stopping at padding or an ST terminator. */
export function parseSusp(area: Buffer): SuspEntry[] {
  const out: SuspEntry[] = [];
  let at = 0;
  while (at + 4 <= area.length) {
    const length = area[at + 2]!;
    if (length < 4 || at + length > area.length) break;
    const signature = area.toString('latin1', at, at + 2);
    if (signature === 'ST') break;
    out.push({ signature, version: area[at + 3]!, data: area.subarray(at + 4, at + length) });
    at += length;
  }
  return out;
}

/** Joins SL entries' component records back into a target string. */
export function decodeSymlink(entries: SuspEntry[]): string {
  let target = '';
  let pending = '';
  let needSlash = false;
  for (const sl of entries) {
    let at = 1;
    while (at + 2 <= sl.data.length) {
      const flags = sl.data[at]!;
      const length = sl.data[at + 1]!;
      const content = sl.data.toString('utf8', at + 2, at + 2 + length);
      at += 2 + length;
      let part: string;
      if (flags & COMPONENT_ROOT) {
        target = '/';
        needSlash = false;
        continue;
      } else if (flags & COMPONENT_CURRENT) part = '.';
      else if (flags & COMPONENT_PARENT) part = '..';
      else part = content;
      pending += part;
      if (flags & COMPONENT_CONTINUE) continue;
      target += (needSlash ? '/' : '') + pending;
      pending = '';
      needSlash = true;
    }
  }
  return target;
}
