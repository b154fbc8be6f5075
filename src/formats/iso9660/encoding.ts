// Field encodings ECMA-119 uses everywhere: numbers stored both little- and
// big-endian, fixed-width space-padded strings, and its two date formats
// (17-byte text dates in volume descriptors, 7-byte binary dates in records).
// Every date is written in UTC (offset 0) so the bytes never depend on the
// machine's time zone.

import { Iso9660Error } from './errors.js';

export function writeBoth16(buf: Buffer, offset: number, value: number): void {
  buf.writeUInt16LE(value, offset);
  buf.writeUInt16BE(value, offset + 2);
}

export function writeBoth32(buf: Buffer, offset: number, value: number): void {
  buf.writeUInt32LE(value, offset);
  buf.writeUInt32BE(value, offset + 4);
}

/** `text` in `length` bytes, padded with `fill`; refuses non-ASCII or overlong text. */
export function fixedString(text: string, length: number, what: string, fill = ' '): Buffer {
  if (!/^[\x20-\x7e]*$/.test(text)) throw new Iso9660Error(`iso9660: ${what} ${JSON.stringify(text)} must be printable ASCII`);
  if (text.length > length) throw new Iso9660Error(`iso9660: ${what} ${JSON.stringify(text)} is longer than ${length} characters`);
  return Buffer.from(text.padEnd(length, fill), 'latin1');
}

function utcYear(date: Date, min: number, max: number): number {
  const time = date.getTime();
  if (!Number.isFinite(time)) throw new Iso9660Error('iso9660: invalid date');
  const year = date.getUTCFullYear();
  if (year < min || year > max) throw new Iso9660Error(`iso9660: year ${year} is outside ${min}..${max}`);
  return year;
}

const two = (n: number): string => String(n).padStart(2, '0');

/** The 17-byte volume descriptor date; undefined gives the "not specified" form (sixteen '0' and offset 0). */
export function descriptorDate(date: Date | undefined): Buffer {
  const out = Buffer.alloc(17);
  if (date === undefined) {
    out.write('0'.repeat(16), 0, 'latin1');
    return out;
  }
  const year = utcYear(date, 1, 9999);
  const centis = Math.floor(date.getUTCMilliseconds() / 10);
  const text =
    String(year).padStart(4, '0') +
    two(date.getUTCMonth() + 1) +
    two(date.getUTCDate()) +
    two(date.getUTCHours()) +
    two(date.getUTCMinutes()) +
    two(date.getUTCSeconds()) +
    two(centis);
  out.write(text, 0, 'latin1');
  return out;
}

/** The 7-byte directory record date (also used by Rock Ridge TF entries). */
export function recordDate(date: Date): Buffer {
  const year = utcYear(date, 1900, 2155);
  return Buffer.from([year - 1900, date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds(), 0]);
}

/** Reads a 7-byte record date (offset in 15-minute units east of UTC). */
export function parseRecordDate(buf: Buffer, offset: number): Date {
  const gmtOffset = buf.readInt8(offset + 6);
  const utc = Date.UTC(1900 + buf[offset]!, buf[offset + 1]! - 1, buf[offset + 2]!, buf[offset + 3]!, buf[offset + 4]!, buf[offset + 5]!);
  return new Date(utc - gmtOffset * 15 * 60_000);
}

/** Reads a 17-byte descriptor date; undefined when "not specified". */
export function parseDescriptorDate(buf: Buffer, offset: number): Date | undefined {
  const text = buf.toString('latin1', offset, offset + 16);
  if (/^[0 ]*$/.test(text) || text.startsWith('0000')) return undefined;
  const n = (from: number, len: number): number => Number(text.slice(from, from + len));
  const gmtOffset = buf.readInt8(offset + 16);
  const utc = Date.UTC(n(0, 4), n(4, 2) - 1, n(6, 2), n(8, 2), n(10, 2), n(12, 2), n(14, 2) * 10);
  return new Date(utc - gmtOffset * 15 * 60_000);
}

export function ceilDiv(a: number, b: number): number {
  return Math.floor((a + b - 1) / b);
}
