// The Talos META partition: key/value pairs Talos reads at boot, stored as the
// "talos" ADV of siderolabs/go-adv, which the imager writes at the start of
// the (1 MiB) partition:
//
//   two identical copies of 256 KiB, each, big-endian:
//     0        magic1 0x5A4B3C2D
//     4        { u32 tag, u32 size, size bytes of value } repeated, no padding
//     ...      zeros (tag 0 ends the list)
//     -36      SHA-256 of the whole 256 KiB with these 32 bytes zeroed
//     -4       magic2 0xA5B4C3D2
//
// Tags are one byte wide in the API (syslinux heritage) but stored as u32;
// the values of all tags plus 8 bytes each must fit in 256 KiB - 40. go-adv
// writes tags in Go map order (random); we write them in ascending order so
// the bytes are reproducible. The last 1024 bytes of the partition hold the
// legacy syslinux ADV (2 x 512 bytes), all zeros when the imager made it.
// Readers take the first copy whose magics and checksum are right, then fall
// back to the legacy ADV for tags the talos ADV lacks, as Talos does.

import { createHash } from 'node:crypto';
import { DiskFormatError } from './disk/errors.js';
import { bufferDataExtents } from './disk/scan.js';
import type { Extent } from './disk/sparse.js';

export const ADV_COPY_SIZE = 256 * 1024;
/** Both copies. */
export const ADV_SIZE = 2 * ADV_COPY_SIZE;
export const ADV_MAGIC1 = 0x5a4b3c2d;
export const ADV_MAGIC2 = 0xa5b4c3d2;
/** Room for tags and values in one copy. */
export const ADV_DATA_SIZE = ADV_COPY_SIZE - 40;
const CHECKSUM_AT = ADV_COPY_SIZE - 36;

const SYSLINUX_ADV_SIZE = 512;
const SYSLINUX_MAGIC1 = 0x5a2d2fa5;
const SYSLINUX_MAGIC2 = 0xa3041767;
const SYSLINUX_MAGIC3 = 0xdd28bf64;

export interface MetaValue {
  /** 1..255 (0 marks the end of the list). */
  key: number;
  value: string | Uint8Array;
}

function valueBytes(value: string | Uint8Array): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value.buffer, value.byteOffset, value.length);
}

/** Later values for the same key replace earlier ones, as repeated SetTag calls do. */
function collect(values: Iterable<MetaValue>): Map<number, Buffer> {
  const tags = new Map<number, Buffer>();
  let used = 0;
  for (const { key, value } of values) {
    if (!Number.isInteger(key) || key < 1 || key > 255) throw new DiskFormatError(`meta: key ${key} is not between 1 and 255`);
    const bytes = valueBytes(value);
    used += bytes.length + 8 - (tags.has(key) ? tags.get(key)!.length + 8 : 0);
    tags.set(key, bytes);
  }
  if (used > ADV_DATA_SIZE) throw new DiskFormatError(`meta: the values take ${used} bytes, more than the ${ADV_DATA_SIZE} an ADV holds`);
  return tags;
}

/** One 256 KiB copy. */
export function encodeAdvCopy(values: Iterable<MetaValue>): Buffer {
  const out = Buffer.alloc(ADV_COPY_SIZE);
  out.writeUInt32BE(ADV_MAGIC1, 0);
  out.writeUInt32BE(ADV_MAGIC2, ADV_COPY_SIZE - 4);
  let at = 4;
  for (const [key, value] of [...collect(values)].sort((a, b) => a[0] - b[0])) {
    out.writeUInt32BE(key, at);
    out.writeUInt32BE(value.length, at + 4);
    value.copy(out, at + 8);
    at += 8 + value.length;
  }
  createHash('sha256').update(out).digest().copy(out, CHECKSUM_AT);
  return out;
}

/** Both copies (512 KiB): what goes at the start of the META partition. */
export function encodeTalosAdv(values: Iterable<MetaValue>): Buffer {
  const copy = encodeAdvCopy(values);
  return Buffer.concat([copy, copy]);
}

/**
 * The META partition's content as extents at `partitionOffset`; the rest of
 * the partition is zero. Each copy is mostly zeros between the values and the
 * checksum, so only its non-zero 4 KiB pieces become extents.
 */
export function metaPartitionExtents(values: Iterable<MetaValue>, partitionOffset: number): Extent[] {
  return bufferDataExtents(encodeTalosAdv(values), { diskOffset: partitionOffset });
}

/** Tags of one copy; throws when its magics or checksum are wrong. */
export function decodeAdvCopy(copy: Uint8Array): Map<number, Buffer> {
  if (copy.length !== ADV_COPY_SIZE) throw new DiskFormatError(`meta: an ADV copy is ${ADV_COPY_SIZE} bytes, not ${copy.length}`);
  const buf = Buffer.from(copy.buffer, copy.byteOffset, copy.length);
  if (buf.readUInt32BE(0) !== ADV_MAGIC1) throw new DiskFormatError('meta: bad ADV magic1');
  if (buf.readUInt32BE(ADV_COPY_SIZE - 4) !== ADV_MAGIC2) throw new DiskFormatError('meta: bad ADV magic2');
  const checksum = buf.subarray(CHECKSUM_AT, CHECKSUM_AT + 32);
  const hash = createHash('sha256').update(buf.subarray(0, CHECKSUM_AT)).update(Buffer.alloc(32)).update(buf.subarray(CHECKSUM_AT + 32)).digest();
  if (!hash.equals(checksum)) throw new DiskFormatError('meta: ADV checksum mismatch');
  const tags = new Map<number, Buffer>();
  let at = 4;
  while (CHECKSUM_AT - at >= 8) {
    const tag = buf.readUInt32BE(at);
    if (tag === 0) break;
    const size = buf.readUInt32BE(at + 4);
    if (size > CHECKSUM_AT - at - 8) throw new DiskFormatError(`meta: tag ${tag} runs past the end of the ADV`);
    // go-adv keeps the low byte of the tag.
    tags.set(tag & 0xff, Buffer.from(buf.subarray(at + 8, at + 8 + size)));
    at += 8 + size;
  }
  return tags;
}

/** The legacy syslinux ADV (512 bytes, little-endian, one-byte tags and lengths); empty unless its magics hold. */
function decodeSyslinuxAdv(block: Buffer): Map<number, Buffer> {
  const tags = new Map<number, Buffer>();
  if (block.readUInt32LE(0) !== SYSLINUX_MAGIC1 || block.readUInt32LE(SYSLINUX_ADV_SIZE - 4) !== SYSLINUX_MAGIC3) return tags;
  let sum = 0;
  for (let i = 8; i < SYSLINUX_ADV_SIZE - 4; i += 4) sum = (sum + block.readUInt32LE(i)) >>> 0;
  if (((block.readUInt32LE(4) + sum) >>> 0) !== SYSLINUX_MAGIC2) return tags;
  for (let at = 8; at < SYSLINUX_ADV_SIZE - 6; ) {
    const tag = block[at]!;
    const size = block[at + 1]!;
    if (tag === 0 || at + 2 + size > SYSLINUX_ADV_SIZE - 4) break;
    if (!tags.has(tag)) tags.set(tag, Buffer.from(block.subarray(at + 2, at + 2 + size)));
    at += 2 + size;
  }
  return tags;
}

/**
 * The values in a META partition (or at least its first 512 KiB): the first
 * valid talos ADV copy, completed by the legacy ADV in the last 1024 bytes when
 * the whole partition is given. Throws when no talos copy is valid and there
 * is no legacy value either.
 */
export function readTalosMeta(partition: Uint8Array): Map<number, Buffer> {
  const buf = Buffer.from(partition.buffer, partition.byteOffset, partition.length);
  let values: Map<number, Buffer> | undefined;
  const problems: string[] = [];
  for (let copy = 0; copy < 2 && !values && buf.length >= (copy + 1) * ADV_COPY_SIZE; copy++) {
    try {
      values = decodeAdvCopy(buf.subarray(copy * ADV_COPY_SIZE, (copy + 1) * ADV_COPY_SIZE));
    } catch (error) {
      problems.push(`copy ${copy + 1}: ${(error as Error).message}`);
    }
  }
  const legacy = buf.length >= ADV_SIZE + 2 * SYSLINUX_ADV_SIZE ? decodeSyslinuxAdv(buf.subarray(buf.length - 2 * SYSLINUX_ADV_SIZE, buf.length - SYSLINUX_ADV_SIZE)) : new Map<number, Buffer>();
  if (!values && legacy.size === 0) throw new DiskFormatError(`meta: no valid ADV (${problems.join('; ') || 'partition too small'})`);
  const result = new Map(values ?? []);
  for (const [tag, value] of legacy) if (!result.has(tag)) result.set(tag, value);
  return result;
}

/** The same values as UTF-8 strings, keyed by tag. */
export function readTalosMetaStrings(partition: Uint8Array): Map<number, string> {
  return new Map([...readTalosMeta(partition)].map(([k, v]) => [k, v.toString('utf8')]));
}
