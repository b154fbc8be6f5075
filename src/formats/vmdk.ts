// Stream-optimized VMDK (VMware Virtual Disk Format 5.0, "streamOptimized"),
// the disk inside an OVA. Talos makes it with open-vmdk's vmdk-convert; this
// writer produces the same kind of file as a pure stream, in the layout the
// format defines for streaming (grain directory at the end):
//
//   sector 0     sparse extent header, little-endian: "KDMV", version 3,
//                flags 0x30001 (newline detector, compressed grains, markers),
//                capacity, grain 128 sectors, descriptor at 1 (20 sectors),
//                512 entries per grain table, gdOffset = GD_AT_END (all ones),
//                overHead 128, newline check chars, compression 1 (deflate)
//   sector 1     the text descriptor, zero-padded to 20 sectors
//   ...          zeros up to overHead
//   grains       for each 64 KiB grain that is not all zeros, in disk order:
//                u64 LBA, u32 compressed size, zlib stream, padded to a sector
//   GT           after the grains a grain table covers: a GT marker sector
//                (u64 4 sectors, u32 0, u32 type 1) and the 512 u32 sector
//                offsets of its grains (0 = no grain); empty tables omitted
//   GD           marker (type 2) and the u32 sector offsets of the tables
//   footer       marker (type 3, 1 sector) and the header again with the real
//                gdOffset
//   EOS          one zero sector
//
// Grains are always full 64 KiB before compression (qemu rejects shorter
// ones). Compression is zlib at level 9 by default, as vmdk-convert; grains
// are deflated a few at a time on libuv's thread pool and written in order.

import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { deflate } from 'node:zlib';
import { touchedBlocks } from './disk/blocks.js';
import { DiskFormatError } from './disk/errors.js';
import { type SparseDisk, isZero } from './disk/sparse.js';

const deflateAsync = promisify(deflate);

const SECTOR = 512;
export const VMDK_MAGIC = 0x564d444b;
export const GRAIN_SECTORS = 128;
const GRAIN_BYTES = GRAIN_SECTORS * SECTOR;
const GTES_PER_GT = 512;
const GT_SECTORS = (GTES_PER_GT * 4) / SECTOR;
const DESCRIPTOR_OFFSET = 1;
const DESCRIPTOR_SECTORS = 20;
const OVERHEAD_SECTORS = 128;
const GD_AT_END = 0xffff_ffff_ffff_ffffn;
const FLAGS = (1 << 0) | (1 << 16) | (1 << 17);
const COMPRESS_DEFLATE = 1;

export const MARKER = { eos: 0, grainTable: 1, grainDirectory: 2, footer: 3 } as const;

export interface VmdkOptions {
  /** zlib level 1..9; default 9. */
  compressionLevel?: number;
  /** The extent file name in the descriptor; default "disk.vmdk". */
  fileName?: string;
  /** Content id; default derived from the disk's layout. Never 0xFFFFFFFF or 0xFFFFFFFE. */
  cid?: number;
  /** ddb.longContentID, 32 hex digits; default derived like the CID. */
  longContentId?: string;
  /** default "lsilogic". */
  adapterType?: 'ide' | 'buslogic' | 'lsilogic' | 'legacyESX';
  /** ddb.toolsVersion; default "2147483647" (open-vm-tools, unmanaged), as vmdk-convert. */
  toolsVersion?: string;
  /** Adds ddb.logicalSectorSize/physicalSectorSize, as `vmdk-convert -s`. */
  sectorSize?: number;
  /** Grains deflated at once; default 4. */
  concurrency?: number;
}

function layoutDigest(disk: SparseDisk): Buffer {
  const hash = createHash('sha256').update(`vmdk ${disk.size}`);
  for (const e of disk.extents) hash.update(` ${e.offset}+${e.length}`);
  return hash.digest();
}

export function vmdkDescriptor(disk: SparseDisk, options: VmdkOptions = {}): string {
  const sectors = disk.size / SECTOR;
  const digest = layoutDigest(disk);
  let cid = options.cid ?? digest.readUInt32BE(0);
  if (cid >= 0xffff_fffe) cid = 0x7fff_ffff;
  const longContentId = options.longContentId ?? digest.subarray(4, 20).toString('hex');
  if (!/^[0-9a-f]{32}$/i.test(longContentId)) throw new DiskFormatError('vmdk: longContentId must be 32 hex digits');
  const ddb: Record<string, string> = {
    'ddb.adapterType': options.adapterType ?? 'lsilogic',
    'ddb.geometry.cylinders': String(Math.min(65535, Math.ceil(sectors / (255 * 63)))),
    'ddb.geometry.heads': '255',
    'ddb.geometry.sectors': '63',
    'ddb.longContentID': longContentId.toLowerCase(),
    'ddb.toolsInstallType': '4',
    'ddb.toolsVersion': options.toolsVersion ?? '2147483647',
    'ddb.virtualHWVersion': '4',
  };
  if (options.sectorSize !== undefined) {
    ddb['ddb.logicalSectorSize'] = String(options.sectorSize);
    ddb['ddb.physicalSectorSize'] = String(options.sectorSize);
  }
  const fileName = options.fileName ?? 'disk.vmdk';
  if (/["\n]/.test(fileName)) throw new DiskFormatError(`vmdk: file name ${JSON.stringify(fileName)} cannot go into a descriptor`);
  return [
    '# Disk DescriptorFile',
    'version=1',
    'encoding="UTF-8"',
    `CID=${cid.toString(16).padStart(8, '0')}`,
    'parentCID=ffffffff',
    'createType="streamOptimized"',
    '',
    '# Extent description',
    `RW ${sectors} SPARSE "${fileName}"`,
    '',
    '# The Disk Data Base',
    '#DDB',
    '',
    ...Object.keys(ddb)
      .sort()
      .map((k) => `${k} = "${ddb[k]}"`),
    '',
  ].join('\n');
}

function encodeHeader(capacitySectors: number, gdOffset: bigint): Buffer {
  const out = Buffer.alloc(SECTOR);
  out.writeUInt32LE(VMDK_MAGIC, 0);
  out.writeUInt32LE(3, 4);
  out.writeUInt32LE(FLAGS, 8);
  out.writeBigUInt64LE(BigInt(capacitySectors), 12);
  out.writeBigUInt64LE(BigInt(GRAIN_SECTORS), 20);
  out.writeBigUInt64LE(BigInt(DESCRIPTOR_OFFSET), 28);
  out.writeBigUInt64LE(BigInt(DESCRIPTOR_SECTORS), 36);
  out.writeUInt32LE(GTES_PER_GT, 44);
  // 48: no redundant grain directory
  out.writeBigUInt64LE(gdOffset, 56);
  out.writeBigUInt64LE(BigInt(OVERHEAD_SECTORS), 64);
  // 72: clean shutdown; then the newline detector characters
  out.write('\n \r\n', 73, 'latin1');
  out.writeUInt16LE(COMPRESS_DEFLATE, 77);
  return out;
}

function marker(type: number, sectors: number): Buffer {
  const out = Buffer.alloc(SECTOR);
  out.writeBigUInt64LE(BigInt(sectors), 0);
  out.writeUInt32LE(type, 12);
  return out;
}

function padToSector(length: number): number {
  return Math.ceil(length / SECTOR) * SECTOR;
}

/** Compressed grains, deflated `concurrency` at a time but yielded in disk order. */
async function* compressedGrains(disk: SparseDisk, level: number, concurrency: number): AsyncGenerator<{ grain: number; zdata: Buffer }> {
  const pending: Array<Promise<{ grain: number; zdata: Buffer }>> = [];
  for await (const { index, data } of touchedBlocks(disk, GRAIN_BYTES)) {
    if (isZero(data)) continue;
    const job = deflateAsync(data, { level }).then((zdata) => ({ grain: index, zdata }));
    // Keep a rejection from being reported as unhandled before it is awaited in order.
    job.catch(() => undefined);
    pending.push(job);
    if (pending.length >= concurrency) yield await pending.shift()!;
  }
  while (pending.length > 0) yield await pending.shift()!;
}

async function* vmdkChunks(disk: SparseDisk, options: VmdkOptions): AsyncGenerator<Buffer> {
  if (disk.size % SECTOR !== 0) throw new DiskFormatError(`vmdk: disk size ${disk.size} is not a multiple of ${SECTOR}`);
  const level = options.compressionLevel ?? 9;
  if (!Number.isInteger(level) || level < 1 || level > 9) throw new DiskFormatError(`vmdk: compression level ${level} is not 1..9`);
  const capacity = disk.size / SECTOR;
  const grains = Math.ceil(capacity / GRAIN_SECTORS);
  const tables = Math.ceil(grains / GTES_PER_GT);
  const gdSectors = Math.ceil((tables * 4) / SECTOR);
  const descriptor = Buffer.from(vmdkDescriptor(disk, options), 'utf8');
  if (descriptor.length > DESCRIPTOR_SECTORS * SECTOR) throw new DiskFormatError('vmdk: descriptor too long');

  yield encodeHeader(capacity, GD_AT_END);
  const head = Buffer.alloc((OVERHEAD_SECTORS - 1) * SECTOR);
  descriptor.copy(head, (DESCRIPTOR_OFFSET - 1) * SECTOR);
  yield head;

  let sector = OVERHEAD_SECTORS;
  const directory = Buffer.alloc(gdSectors * SECTOR);
  let table: { index: number; entries: Buffer } | undefined;
  function* flushTable(): Generator<Buffer> {
    if (!table) return;
    yield marker(MARKER.grainTable, GT_SECTORS);
    directory.writeUInt32LE(sector + 1, table.index * 4);
    yield table.entries;
    sector += 1 + GT_SECTORS;
    table = undefined;
  }

  for await (const { grain, zdata } of compressedGrains(disk, level, options.concurrency ?? 4)) {
    const index = Math.floor(grain / GTES_PER_GT);
    if (table && table.index !== index) yield* flushTable();
    table ??= { index, entries: Buffer.alloc(GT_SECTORS * SECTOR) };
    if (sector > 0xffff_ffff) throw new DiskFormatError('vmdk: the file outgrows 32-bit sector offsets');
    table.entries.writeUInt32LE(sector, (grain % GTES_PER_GT) * 4);
    const record = Buffer.alloc(padToSector(12 + zdata.length));
    record.writeBigUInt64LE(BigInt(grain * GRAIN_SECTORS), 0);
    record.writeUInt32LE(zdata.length, 8);
    zdata.copy(record, 12);
    yield record;
    sector += record.length / SECTOR;
  }
  yield* flushTable();

  yield marker(MARKER.grainDirectory, gdSectors);
  const gdOffset = sector + 1;
  yield directory;
  yield marker(MARKER.footer, 1);
  yield encodeHeader(capacity, BigInt(gdOffset));
  yield marker(MARKER.eos, 0);
}

/** The stream-optimized VMDK; its size depends on how well the grains compress. */
export function vmdkStream(disk: SparseDisk, options: VmdkOptions = {}): Readable {
  return Readable.from(vmdkChunks(disk, options), { objectMode: false, highWaterMark: 1 << 20 });
}
