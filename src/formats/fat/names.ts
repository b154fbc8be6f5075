// File names on FAT: every entry has an 8.3 short name; a name that is not a
// plain 8.3 name also gets VFAT long-name (LFN) entries in UTF-16.
//
// - A name that fits 8.3 with each part all upper or all lower case needs no
//   LFN: lower-case parts are flagged in the entry's NT case byte (what
//   mtools, Windows and Linux write and read), e.g. "loader" → LOADER + 0x08.
// - A name that fits 8.3 but mixes case ("Linux") gets an LFN and the
//   upper-cased short name without a numeric tail.
// - Anything else (too long, several dots, characters short names cannot
//   hold, non-ASCII) gets an LFN and a short name made from the upper-cased
//   basis with a "~N" tail, the first N not taken in the directory:
//   "random-seed" → RANDOM~1, "Talos-v1.12.0.efi" → TALOS-~1.EFI.

import { FatError } from './errors.js';

/** Longest long name in UTF-16 code units. */
export const LFN_MAX = 255;
/** UTF-16 code units per LFN entry. */
export const LFN_CHARS_PER_ENTRY = 13;
/** NT case byte: base / extension stored upper case but shown lower case. */
export const CASE_LOWER_BASE = 0x08;
export const CASE_LOWER_EXT = 0x10;

const FORBIDDEN_LONG = /["*/:<>?\\|]/;
// Characters a short name may hold besides A-Z and 0-9.
const SHORT_SPECIALS = new Set("$%'-_@~`!(){}^#&");

export interface ShortName {
  /** 11 bytes: base padded to 8, extension padded to 3. */
  raw: Buffer;
  /** NT case byte. */
  caseFlags: number;
  /** Whether LFN entries must carry the real name. */
  needsLfn: boolean;
}

/** Checks a long name; returns it. */
export function checkLongName(name: string, path: string): string {
  if (name === '' || name === '.' || name === '..') throw new FatError(`fat: ${path}: ${JSON.stringify(name)} is not a valid name`);
  if (name.length > LFN_MAX) throw new FatError(`fat: ${path}: name longer than ${LFN_MAX} UTF-16 units`);
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (code < 0x20) throw new FatError(`fat: ${path}: control character in a name`);
    // Lone surrogates cannot be extracted as UTF-8.
    if (code >= 0xd800 && code <= 0xdbff) {
      const low = name.charCodeAt(i + 1);
      if (!(low >= 0xdc00 && low <= 0xdfff)) throw new FatError(`fat: ${path}: unpaired surrogate in a name`);
      i++;
    } else if (code >= 0xdc00 && code <= 0xdfff) {
      throw new FatError(`fat: ${path}: unpaired surrogate in a name`);
    }
  }
  if (FORBIDDEN_LONG.test(name)) throw new FatError(`fat: ${path}: names may not contain any of " * / : < > ? \\ |`);
  if (/[. ]$/.test(name)) throw new FatError(`fat: ${path}: names may not end with a dot or a space (FAT drivers strip them)`);
  return name;
}

/** The key under which FAT compares names (case-insensitive). */
export function nameKey(name: string): string {
  return name.toUpperCase();
}

/** A character as a short name holds it, and whether that lost anything (besides case). */
function shortChar(ch: string): { out: string; lossy: boolean } {
  const code = ch.charCodeAt(0);
  if (ch.length === 1 && code < 0x80) {
    const upper = ch.toUpperCase();
    if ((upper >= 'A' && upper <= 'Z') || (upper >= '0' && upper <= '9') || SHORT_SPECIALS.has(upper)) return { out: upper, lossy: false };
  }
  return { out: '_', lossy: true };
}

function mapPart(part: string): { out: string; lossy: boolean } {
  let out = '';
  let lossy = false;
  for (const ch of part) {
    const c = shortChar(ch);
    out += c.out;
    lossy ||= c.lossy;
  }
  return { out, lossy };
}

/** Letters of one case only (or no letters at all); returns which. */
function caseOf(part: string): 'upper' | 'lower' | 'mixed' {
  const hasLower = /[a-z]/.test(part);
  const hasUpper = /[A-Z]/.test(part);
  return hasLower && hasUpper ? 'mixed' : hasLower ? 'lower' : 'upper';
}

function raw83(base: string, ext: string): Buffer {
  return Buffer.from(base.padEnd(8, ' ') + ext.padEnd(3, ' '), 'latin1');
}

/** The name's own 8.3 form when it has one (no tail needed), else undefined. */
export function exactShortName(name: string): ShortName | undefined {
  if (name.startsWith('.')) return undefined;
  const dot = name.indexOf('.');
  if (dot !== name.lastIndexOf('.')) return undefined;
  const base = dot === -1 ? name : name.slice(0, dot);
  const ext = dot === -1 ? '' : name.slice(dot + 1);
  if (base.length === 0 || base.length > 8 || ext.length > 3) return undefined;
  const b = mapPart(base);
  const e = mapPart(ext);
  if (b.lossy || e.lossy) return undefined;
  const baseCase = caseOf(base);
  const extCase = caseOf(ext);
  const needsLfn = baseCase === 'mixed' || extCase === 'mixed';
  const caseFlags = needsLfn ? 0 : (baseCase === 'lower' ? CASE_LOWER_BASE : 0) | (extCase === 'lower' ? CASE_LOWER_EXT : 0);
  return { raw: raw83(b.out, e.out), caseFlags, needsLfn };
}

/** Basis for a tailed short name: spaces and leading dots dropped, the last dot splits base and extension. */
function basis(name: string): { base: string; ext: string } {
  const s = name.replace(/ /g, '').replace(/^\.+/, '');
  const dot = s.lastIndexOf('.');
  const base = mapPart((dot === -1 ? s : s.slice(0, dot)).replace(/\./g, '')).out;
  const ext = dot === -1 ? '' : mapPart(s.slice(dot + 1)).out.slice(0, 3);
  return { base: base === '' ? '_' : base, ext };
}

/**
 * A short name "BASE~N.EXT" for a name without an 8.3 form, the first not in
 * `taken` (keys are the 11 raw bytes). `tried`, kept across the names of one
 * directory, remembers per basis the first N not yet found taken: `taken`
 * only grows, so the search resumes there and gives the same name as one
 * from ~1 (without it a directory of names sharing a prefix is quadratic).
 */
export function tailedShortName(name: string, taken: ReadonlySet<string>, tried: Map<string, number> = new Map()): ShortName {
  const { base, ext } = basis(name);
  // A tail takes at least 2 of the 8 characters, so the candidates depend on the first 6 only.
  const key = `${base.slice(0, 6)}.${ext}`;
  for (let n = tried.get(key) ?? 1; n < 1_000_000; n++) {
    const tail = `~${n}`;
    const raw = raw83(base.slice(0, 8 - tail.length) + tail, ext);
    if (!taken.has(raw.toString('latin1'))) {
      tried.set(key, n);
      return { raw, caseFlags: 0, needsLfn: true };
    }
  }
  throw new FatError(`fat: no free short name for ${name}`);
}

/** The checksum of a short name that every LFN entry of the same file carries. */
export function shortNameChecksum(raw: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) sum = (((sum & 1) << 7) + (sum >> 1) + raw[i]!) & 0xff;
  return sum;
}

/** How many 32-byte LFN entries a name takes. */
export function lfnEntryCount(name: string): number {
  return Math.ceil(name.length / LFN_CHARS_PER_ENTRY);
}

// Where the 13 UTF-16 units sit in an LFN entry.
const LFN_OFFSETS = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
export const ATTR_LFN = 0x0f;
/** Marks the entry holding the end of the name (stored first). */
export const LFN_LAST = 0x40;

/** The LFN entries of a name, in the order they precede the short entry (last part first). */
export function encodeLfnEntries(name: string, checksum: number): Buffer {
  const count = lfnEntryCount(name);
  const out = Buffer.alloc(count * 32);
  for (let part = 0; part < count; part++) {
    const entry = out.subarray((count - 1 - part) * 32, (count - part) * 32);
    entry[0] = (part + 1) | (part === count - 1 ? LFN_LAST : 0);
    entry[11] = ATTR_LFN;
    entry[13] = checksum;
    for (let i = 0; i < LFN_CHARS_PER_ENTRY; i++) {
      const at = part * LFN_CHARS_PER_ENTRY + i;
      // After the name: one NUL, then 0xFFFF padding.
      const unit = at < name.length ? name.charCodeAt(at) : at === name.length ? 0 : 0xffff;
      entry.writeUInt16LE(unit, LFN_OFFSETS[i]!);
    }
  }
  return out;
}

/** The UTF-16 units of one LFN entry, up to the first NUL. */
export function decodeLfnPart(entry: Uint8Array): { units: number[]; ended: boolean } {
  const units: number[] = [];
  for (const offset of LFN_OFFSETS) {
    const unit = entry[offset]! | (entry[offset + 1]! << 8);
    if (unit === 0) return { units, ended: true };
    units.push(unit);
  }
  return { units, ended: false };
}
