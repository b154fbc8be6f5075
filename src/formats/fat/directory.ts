// 32-byte directory entries: short entries (files, directories, "." and "..",
// the volume label) and the DOS date/time fields they carry.

import { FatError } from './errors.js';

export const ENTRY_SIZE = 32;
export const ATTR_READ_ONLY = 0x01;
export const ATTR_HIDDEN = 0x02;
export const ATTR_SYSTEM = 0x04;
export const ATTR_VOLUME_ID = 0x08;
export const ATTR_DIRECTORY = 0x10;
export const ATTR_ARCHIVE = 0x20;
/** FAT directories hold at most 65536 entries (2 MiB). */
export const MAX_DIRECTORY_ENTRIES = 65536;

export interface DosTime {
  date: number;
  time: number;
  /** Creation time's 10 ms units (0..199): the odd second the 2-second time field cannot hold. */
  tenths: number;
}

/** A UTC instant in DOS form, clamped to what FAT can hold (1980-01-01 .. 2107-12-31 23:59:58). */
export function dosTime(secondsSinceEpoch: number): DosTime {
  if (!Number.isFinite(secondsSinceEpoch)) throw new FatError(`fat: timestamp ${secondsSinceEpoch} is not a number`);
  const min = Date.UTC(1980, 0, 1) / 1000;
  const max = Date.UTC(2107, 11, 31, 23, 59, 59) / 1000;
  const d = new Date(Math.min(max, Math.max(min, Math.floor(secondsSinceEpoch))) * 1000);
  return {
    date: ((d.getUTCFullYear() - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
    time: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1),
    tenths: (d.getUTCSeconds() & 1) * 100,
  };
}

/** Seconds since the epoch of a DOS date and time (UTC; the 2-second resolution of the time field). */
export function fromDosTime(date: number, time: number): number {
  return Date.UTC(1980 + (date >> 9), ((date >> 5) & 0x0f) - 1, date & 0x1f, time >> 11, (time >> 5) & 0x3f, (time & 0x1f) * 2) / 1000;
}

export interface ShortEntry {
  /** 11 bytes. */
  name: Uint8Array;
  attributes: number;
  caseFlags?: number;
  firstCluster: number;
  size: number;
  time: DosTime;
}

export function encodeShortEntry(entry: ShortEntry, out: Buffer = Buffer.alloc(ENTRY_SIZE), at = 0): Buffer {
  Buffer.from(entry.name).copy(out, at, 0, 11);
  out[at + 11] = entry.attributes;
  out[at + 12] = entry.caseFlags ?? 0;
  out[at + 13] = entry.time.tenths;
  out.writeUInt16LE(entry.time.time, at + 14);
  out.writeUInt16LE(entry.time.date, at + 16);
  out.writeUInt16LE(entry.time.date, at + 18);
  out.writeUInt16LE(entry.firstCluster >>> 16, at + 20);
  out.writeUInt16LE(entry.time.time, at + 22);
  out.writeUInt16LE(entry.time.date, at + 24);
  out.writeUInt16LE(entry.firstCluster & 0xffff, at + 26);
  out.writeUInt32LE(entry.size, at + 28);
  return out;
}

export const DOT_NAME = Buffer.from('.          ', 'latin1');
export const DOTDOT_NAME = Buffer.from('..         ', 'latin1');
