// VHD (Microsoft Virtual Hard Disk 1.0), fixed and dynamic, as `qemu-img
// convert -O vpc` writes them: fixed (`-o subformat=fixed,force_size`, Talos'
// azure profile) is the raw disk followed by a 512-byte big-endian footer;
// dynamic (qemu-img's default, what every other platform's `.vhd` gets) is
//
//   footer copy | dynamic disk header (1 KiB) at 512 | block allocation table
//   (BAT) at 1536, one u32 per 2 MiB block, all ones where unallocated,
//   padded to 512 with ones | per allocated block, in disk order: a 512-byte
//   sector bitmap (all ones: every sector present) and the block's 2 MiB |
//   footer
//
// with the BAT's entries the sector numbers of the bitmaps. A block is
// allocated when an extent of the disk touches it. The footer:
//
//   cookie "conectix", features 2, version 1.0, data offset all ones (fixed) or 512 (dynamic),
//   timestamp (seconds since 2000-01-01 UTC), creator application "qem2" with
//   force_size ("qemu" without), creator version 5.3 (Virtual PC 2007),
//   creator OS "Wi2k", original and current size, CHS geometry, disk type 2
//   (fixed) or 3 (dynamic), checksum (one's complement of the byte sum of the footer with
//   the checksum zeroed), a 16-byte unique id, saved state 0.
//
// force_size keeps the size exactly as given and writes the largest geometry
// (65535/16/255), which tells readers (qemu among them, through "qem2") to
// trust the size field. Without it, qemu rounds the size up to the first CHS
// geometry (VHD spec algorithm) that holds the disk, and the data is padded
// with zeros to that size. qemu-img stamps the current time and a random id;
// here both are parameters so the output is reproducible.

import { Readable } from 'node:stream';
import { DiskFormatError } from './disk/errors.js';
import { countBlocks, touchedBlockRuns, touchedBlocks } from './disk/blocks.js';
import { type SparseDisk, type StreamableDisk, rawDiskChunks } from './disk/sparse.js';

export const VHD_FOOTER_SIZE = 512;
/** 2000-01-01T00:00:00Z, the VHD timestamp epoch, in Unix seconds. */
export const VHD_EPOCH = 946_684_800;
const MAX_CYLINDERS = 65535;
const MAX_GEOMETRY = 65535 * 16 * 255;
/** qemu's limit for a fixed disk with the size from the footer (2040 GiB). */
const MAX_SECTORS = 0xff000000;

export interface VhdOptions {
  /** qemu-img's `subformat`; default fixed. */
  subformat?: 'fixed' | 'dynamic';
  /** Keep the size exactly (qemu-img `force_size`); default true. */
  forceSize?: boolean;
  /** Unix time written as the creation time; default the VHD epoch itself (field 0). */
  timestamp?: number;
  /** 16 bytes or a GUID string; default all zeros. */
  uniqueId?: Uint8Array | string;
}

export interface VhdGeometry {
  cylinders: number;
  heads: number;
  sectorsPerTrack: number;
}

/** The VHD spec's CHS for a number of 512-byte sectors (rounded down, capped at 65535/16/255). */
export function vhdGeometry(totalSectors: number): VhdGeometry {
  const sectors = Math.min(totalSectors, MAX_GEOMETRY);
  let sectorsPerTrack: number;
  let heads: number;
  let cylTimesHeads: number;
  if (sectors >= 65535 * 16 * 63) {
    sectorsPerTrack = 255;
    heads = 16;
    cylTimesHeads = Math.floor(sectors / sectorsPerTrack);
  } else {
    sectorsPerTrack = 17;
    cylTimesHeads = Math.floor(sectors / sectorsPerTrack);
    heads = Math.max(4, Math.ceil(cylTimesHeads / 1024));
    if (cylTimesHeads >= heads * 1024 || heads > 16) {
      sectorsPerTrack = 31;
      heads = 16;
      cylTimesHeads = Math.floor(sectors / sectorsPerTrack);
    }
    if (cylTimesHeads >= heads * 1024) {
      sectorsPerTrack = 63;
      heads = 16;
      cylTimesHeads = Math.floor(sectors / sectorsPerTrack);
    }
  }
  return { cylinders: Math.floor(cylTimesHeads / heads), heads, sectorsPerTrack };
}

export interface VhdPlan {
  geometry: VhdGeometry;
  /** The size in the footer and of the data part. */
  currentSize: number;
  fileSize: number;
}

/** Size and geometry, as qemu's vpc driver chooses them. */
export function planVhd(diskSize: number, options: VhdOptions = {}): VhdPlan {
  if (diskSize % 512 !== 0) throw new DiskFormatError(`vhd: disk size ${diskSize} is not a multiple of 512`);
  const sectors = diskSize / 512;
  let geometry: VhdGeometry;
  let currentSize: number;
  if (options.forceSize ?? true) {
    geometry = { cylinders: MAX_CYLINDERS, heads: 16, sectorsPerTrack: 255 };
    currentSize = diskSize;
  } else {
    // The smallest geometry at or above the size, found the way qemu searches for it.
    geometry = { cylinders: 0, heads: 0, sectorsPerTrack: 0 };
    for (let extra = 0; sectors > geometry.cylinders * geometry.heads * geometry.sectorsPerTrack; extra++) {
      geometry = vhdGeometry(sectors + extra);
    }
    const chs = geometry.cylinders * geometry.heads * geometry.sectorsPerTrack;
    currentSize = chs === MAX_GEOMETRY ? diskSize : chs * 512;
  }
  if (currentSize / 512 > MAX_SECTORS) throw new DiskFormatError(`vhd: ${diskSize} bytes is more than a VHD holds (2040 GiB)`);
  return { geometry, currentSize, fileSize: currentSize + VHD_FOOTER_SIZE };
}

function uniqueIdBytes(id: Uint8Array | string | undefined): Buffer {
  if (id === undefined) return Buffer.alloc(16);
  const bytes = typeof id === 'string' ? Buffer.from(id.replace(/-/g, ''), 'hex') : Buffer.from(id);
  if (bytes.length !== 16) throw new DiskFormatError('vhd: the unique id must be 16 bytes');
  return bytes;
}

function checksum(footer: Buffer): number {
  let sum = 0;
  for (const byte of footer) sum += byte;
  return ~sum >>> 0;
}

export function encodeVhdFooter(diskSize: number, options: VhdOptions = {}): Buffer {
  const plan = planVhd(diskSize, options);
  const timestamp = (options.timestamp ?? VHD_EPOCH) - VHD_EPOCH;
  if (!Number.isInteger(timestamp) || timestamp < 0 || timestamp > 0xffff_ffff) throw new DiskFormatError(`vhd: timestamp ${options.timestamp} is out of range`);
  const out = Buffer.alloc(VHD_FOOTER_SIZE);
  out.write('conectix', 0, 'latin1');
  out.writeUInt32BE(2, 8);
  out.writeUInt32BE(0x0001_0000, 12);
  out.writeBigUInt64BE(options.subformat === 'dynamic' ? BigInt(VHD_FOOTER_SIZE) : 0xffff_ffff_ffff_ffffn, 16);
  out.writeUInt32BE(timestamp, 24);
  out.write((options.forceSize ?? true) ? 'qem2' : 'qemu', 28, 'latin1');
  out.writeUInt16BE(5, 32);
  out.writeUInt16BE(3, 34);
  out.write('Wi2k', 36, 'latin1');
  out.writeBigUInt64BE(BigInt(plan.currentSize), 40);
  out.writeBigUInt64BE(BigInt(plan.currentSize), 48);
  out.writeUInt16BE(plan.geometry.cylinders, 56);
  out[58] = plan.geometry.heads;
  out[59] = plan.geometry.sectorsPerTrack;
  out.writeUInt32BE(options.subformat === 'dynamic' ? 3 : 2, 60);
  uniqueIdBytes(options.uniqueId).copy(out, 68);
  out.writeUInt32BE(checksum(out), 64);
  return out;
}

export interface VhdFooter {
  creatorApp: string;
  creatorOs: string;
  diskType: number;
  originalSize: number;
  currentSize: number;
  geometry: VhdGeometry;
  timestamp: number;
  uniqueId: Buffer;
  checksumValid: boolean;
}

export function parseVhdFooter(footer: Uint8Array): VhdFooter {
  const buf = Buffer.from(footer.buffer, footer.byteOffset, footer.length);
  if (buf.length !== VHD_FOOTER_SIZE || buf.subarray(0, 8).toString('latin1') !== 'conectix') throw new DiskFormatError('vhd: not a VHD footer');
  const zeroed = Buffer.from(buf);
  zeroed.writeUInt32BE(0, 64);
  return {
    creatorApp: buf.subarray(28, 32).toString('latin1'),
    creatorOs: buf.subarray(36, 40).toString('latin1'),
    diskType: buf.readUInt32BE(60),
    originalSize: Number(buf.readBigUInt64BE(40)),
    currentSize: Number(buf.readBigUInt64BE(48)),
    geometry: { cylinders: buf.readUInt16BE(56), heads: buf[58]!, sectorsPerTrack: buf[59]! },
    timestamp: buf.readUInt32BE(24) + VHD_EPOCH,
    uniqueId: Buffer.from(buf.subarray(68, 84)),
    checksumValid: checksum(zeroed) === buf.readUInt32BE(64),
  };
}

async function* vhdChunks(disk: StreamableDisk, options: VhdOptions): AsyncGenerator<Buffer> {
  const footer = encodeVhdFooter(disk.size, options);
  yield* rawDiskChunks(disk, planVhd(disk.size, options).currentSize);
  yield footer;
}

/** The fixed VHD as a stream of planVhd(disk.size).fileSize bytes. */
export function vhdFixedStream(disk: StreamableDisk, options: VhdOptions = {}): Readable {
  return Readable.from(vhdChunks(disk, options), { objectMode: false, highWaterMark: 1 << 20 });
}

export const VHD_BLOCK_SIZE = 2 * 1024 * 1024;
const DYNAMIC_HEADER_SIZE = 1024;
const BAT_OFFSET = VHD_FOOTER_SIZE + DYNAMIC_HEADER_SIZE;
/** One bit per 512-byte sector of a block, padded to a sector. */
const BITMAP_SIZE = 512;

export interface DynamicVhdPlan extends VhdPlan {
  batEntries: number;
  /** The BAT's bytes, padded to a sector. */
  batSize: number;
  /** Where the first block's bitmap goes. */
  dataOffset: number;
  allocatedBlocks: number;
}

/** Every offset of a dynamic VHD, from the extents alone. */
export function planDynamicVhd(disk: SparseDisk, options: VhdOptions = {}): DynamicVhdPlan {
  const plan = planVhd(disk.size, options);
  const batEntries = Math.ceil(plan.currentSize / VHD_BLOCK_SIZE);
  const batSize = Math.ceil((batEntries * 4) / 512) * 512;
  const dataOffset = BAT_OFFSET + batSize;
  const allocatedBlocks = countBlocks(touchedBlockRuns(disk, VHD_BLOCK_SIZE));
  const fileSize = dataOffset + allocatedBlocks * (BITMAP_SIZE + VHD_BLOCK_SIZE) + VHD_FOOTER_SIZE;
  return { ...plan, fileSize, batEntries, batSize, dataOffset, allocatedBlocks };
}

function encodeDynamicHeader(batEntries: number): Buffer {
  const out = Buffer.alloc(DYNAMIC_HEADER_SIZE);
  out.write('cxsparse', 0, 'latin1');
  out.writeBigUInt64BE(0xffff_ffff_ffff_ffffn, 8); // next structure: none
  out.writeBigUInt64BE(BigInt(BAT_OFFSET), 16);
  out.writeUInt32BE(0x0001_0000, 24);
  out.writeUInt32BE(batEntries, 28);
  out.writeUInt32BE(VHD_BLOCK_SIZE, 32);
  // No parent (a differencing disk's fields stay zero).
  out.writeUInt32BE(checksum(out), 36);
  return out;
}

async function* dynamicChunks(disk: SparseDisk, options: VhdOptions): AsyncGenerator<Buffer> {
  const plan = planDynamicVhd(disk, options);
  const footer = encodeVhdFooter(disk.size, { ...options, subformat: 'dynamic' });
  const bat = Buffer.alloc(plan.batSize, 0xff);
  let n = 0;
  for (const run of touchedBlockRuns(disk, VHD_BLOCK_SIZE)) {
    for (let block = run.first; block < run.end; block++, n++) bat.writeUInt32BE((plan.dataOffset + n * (BITMAP_SIZE + VHD_BLOCK_SIZE)) / 512, block * 4);
  }
  yield footer;
  yield encodeDynamicHeader(plan.batEntries);
  yield bat;
  const bitmap = Buffer.alloc(BITMAP_SIZE, 0xff);
  let written = 0;
  for await (const { data } of touchedBlocks(disk, VHD_BLOCK_SIZE)) {
    yield bitmap;
    yield data;
    written++;
  }
  if (written !== plan.allocatedBlocks) throw new DiskFormatError(`vhd: wrote ${written} blocks, planned ${plan.allocatedBlocks}`);
  yield footer;
}

/** The dynamic VHD as a stream of planDynamicVhd(disk).fileSize bytes. */
export function vhdDynamicStream(disk: SparseDisk, options: VhdOptions = {}): Readable {
  return Readable.from(dynamicChunks(disk, options), { objectMode: false, highWaterMark: 1 << 20 });
}
