// qcow2 version 3 (what `qemu-img convert -O qcow2 -o cluster_size=8k` makes
// for Talos' alibabacloud, exoscale and oracle images), written strictly
// sequentially: every cluster an extent touches is allocated, nothing else,
// so the whole layout is known before the first byte and the file is emitted
// front to back:
//
//   cluster 0         header (104 bytes + compression type, 112 as qemu 7.2
//                     writes it), then the end of header extensions
//   refcount table    offsets of the refcount blocks
//   refcount blocks   16-bit refcounts (refcount_order 4), 1 for every cluster
//                     of the file
//   L1 table          one entry per L2 table's worth of guest space
//   L2 tables         only for guest ranges with data
//   data clusters     in guest order
//
// L1 and L2 entries carry QCOW_OFLAG_COPIED (bit 63): refcount is exactly 1,
// which `qemu-img check` insists on. qemu-img itself puts the refcount table
// at cluster 1, a refcount block at 2, L1 at 3 and interleaves L2 tables with
// data; readers only follow the offsets, so this order is equally valid.
// Zero clusters inside extents are stored as data: describe the disk with
// scan.ts's extents to keep them out.

import { Readable } from 'node:stream';
import { blockIndices, countBlocks, touchedBlockRuns, touchedBlocks } from './disk/blocks.js';
import { DiskFormatError } from './disk/errors.js';
import type { SparseDisk } from './disk/sparse.js';

export const QCOW2_MAGIC = 0x514649fb;
const HEADER_LENGTH = 112;
const REFCOUNT_ORDER = 4;
const OFLAG_COPIED = 1n << 63n;

export interface Qcow2Options {
  /** Bytes, a power of two from 512 to 2 MiB; default 8 KiB (upstream's `cluster_size=8k`). */
  clusterSize?: number;
}

export interface Qcow2Layout {
  clusterSize: number;
  clusterBits: number;
  virtualSize: number;
  l1Entries: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  refcountBlocks: number;
  l1TableOffset: number;
  l1Clusters: number;
  /** L1 indices that have an L2 table, ascending; the i-th table is at l2TablesOffset + i clusters. */
  l2Indices: number[];
  l2TablesOffset: number;
  dataOffset: number;
  dataClusters: number;
  /** Clusters in the file; the file is exactly totalClusters * clusterSize bytes. */
  totalClusters: number;
  fileSize: number;
}

function clusterBitsOf(clusterSize: number): number {
  const bits = Math.log2(clusterSize);
  if (!Number.isInteger(bits) || bits < 9 || bits > 21) throw new DiskFormatError(`qcow2: cluster size ${clusterSize} is not a power of two from 512 to 2 MiB`);
  return bits;
}

/** Every offset and count of the file, from the extents alone. */
export function planQcow2(disk: SparseDisk, options: Qcow2Options = {}): Qcow2Layout {
  const cs = options.clusterSize ?? 8192;
  const clusterBits = clusterBitsOf(cs);
  const l2Entries = cs / 8;
  const l1Entries = Math.ceil(disk.size / (cs * l2Entries));
  const l1Clusters = Math.max(1, Math.ceil((l1Entries * 8) / cs));
  const runs = touchedBlockRuns(disk, cs);
  const dataClusters = countBlocks(runs);
  const l2Indices: number[] = [];
  for (const r of runs) {
    for (let l1 = Math.floor(r.first / l2Entries); l1 <= Math.floor((r.end - 1) / l2Entries); l1++) {
      if (l2Indices[l2Indices.length - 1] !== l1) l2Indices.push(l1);
    }
  }
  // The refcount structures count themselves: grow them until they cover the file.
  const perBlock = (cs * 8) / (1 << REFCOUNT_ORDER);
  let refcountBlocks = 1;
  let refcountTableClusters = 1;
  let totalClusters = 0;
  for (;;) {
    totalClusters = 1 + refcountTableClusters + refcountBlocks + l1Clusters + l2Indices.length + dataClusters;
    const blocks = Math.ceil(totalClusters / perBlock);
    const tableClusters = Math.ceil((blocks * 8) / cs);
    if (blocks <= refcountBlocks && tableClusters <= refcountTableClusters) break;
    refcountBlocks = Math.max(refcountBlocks, blocks);
    refcountTableClusters = Math.max(refcountTableClusters, tableClusters);
  }
  const refcountTableOffset = cs;
  const l1TableOffset = refcountTableOffset + (refcountTableClusters + refcountBlocks) * cs;
  const l2TablesOffset = l1TableOffset + l1Clusters * cs;
  const dataOffset = l2TablesOffset + l2Indices.length * cs;
  return {
    clusterSize: cs,
    clusterBits,
    virtualSize: disk.size,
    l1Entries,
    refcountTableOffset,
    refcountTableClusters,
    refcountBlocks,
    l1TableOffset,
    l1Clusters,
    l2Indices,
    l2TablesOffset,
    dataOffset,
    dataClusters,
    totalClusters,
    fileSize: totalClusters * cs,
  };
}

function encodeHeader(layout: Qcow2Layout): Buffer {
  const out = Buffer.alloc(layout.clusterSize);
  out.writeUInt32BE(QCOW2_MAGIC, 0);
  out.writeUInt32BE(3, 4);
  // 8: no backing file (offset and size 0)
  out.writeUInt32BE(layout.clusterBits, 20);
  out.writeBigUInt64BE(BigInt(layout.virtualSize), 24);
  // 32: no encryption
  out.writeUInt32BE(layout.l1Entries, 36);
  out.writeBigUInt64BE(BigInt(layout.l1TableOffset), 40);
  out.writeBigUInt64BE(BigInt(layout.refcountTableOffset), 48);
  out.writeUInt32BE(layout.refcountTableClusters, 56);
  // 60: no snapshots; 72..95: no incompatible, compatible or autoclear features
  out.writeUInt32BE(REFCOUNT_ORDER, 96);
  out.writeUInt32BE(HEADER_LENGTH, 100);
  // 104: compression type 0 (zlib), padded to 112; then the end-of-extensions marker (all zero).
  return out;
}

function* refcountClusters(layout: Qcow2Layout): Generator<Buffer> {
  const cs = layout.clusterSize;
  const perBlock = (cs * 8) / (1 << REFCOUNT_ORDER);
  const table = Buffer.alloc(layout.refcountTableClusters * cs);
  const firstBlock = layout.refcountTableOffset + layout.refcountTableClusters * cs;
  for (let i = 0; i < layout.refcountBlocks; i++) table.writeBigUInt64BE(BigInt(firstBlock + i * cs), i * 8);
  yield table;
  // Every cluster of the file is used exactly once: blocks of 1s, the last one cut short.
  const ones = Buffer.alloc(cs);
  for (let j = 0; j < perBlock; j++) ones.writeUInt16BE(1, j * 2);
  for (let i = 0; i < layout.refcountBlocks; i++) {
    const used = Math.min(perBlock, layout.totalClusters - i * perBlock);
    yield used === perBlock ? ones : Buffer.concat([ones.subarray(0, used * 2), Buffer.alloc(cs - used * 2)]);
  }
}

function l1Table(layout: Qcow2Layout): Buffer {
  const cs = layout.clusterSize;
  const table = Buffer.alloc(layout.l1Clusters * cs);
  layout.l2Indices.forEach((l1, i) => table.writeBigUInt64BE(BigInt(layout.l2TablesOffset + i * cs) | OFLAG_COPIED, l1 * 8));
  return table;
}

/** L2 tables in L1 order; the n-th allocated guest cluster lives at dataOffset + n clusters. */
function* l2Tables(layout: Qcow2Layout, disk: SparseDisk): Generator<Buffer> {
  const cs = layout.clusterSize;
  const l2Entries = cs / 8;
  let table: { l1: number; data: Buffer } | undefined;
  let n = 0;
  for (const guest of blockIndices(touchedBlockRuns(disk, cs))) {
    const l1 = Math.floor(guest / l2Entries);
    if (table && table.l1 !== l1) {
      yield table.data;
      table = undefined;
    }
    table ??= { l1, data: Buffer.alloc(cs) };
    table.data.writeBigUInt64BE(BigInt(layout.dataOffset + n * cs) | OFLAG_COPIED, (guest % l2Entries) * 8);
    n++;
  }
  if (table) yield table.data;
}

async function* qcow2Chunks(disk: SparseDisk, layout: Qcow2Layout): AsyncGenerator<Buffer> {
  yield encodeHeader(layout);
  yield* refcountClusters(layout);
  yield l1Table(layout);
  yield* l2Tables(layout, disk);
  let n = 0;
  for await (const { data } of touchedBlocks(disk, layout.clusterSize)) {
    yield data;
    n++;
  }
  if (n !== layout.dataClusters) throw new DiskFormatError(`qcow2: wrote ${n} data clusters, planned ${layout.dataClusters}`);
}

/** The qcow2 file as a stream of exactly planQcow2(disk).fileSize bytes. */
export function qcow2Stream(disk: SparseDisk, options: Qcow2Options = {}): Readable {
  const layout = planQcow2(disk, options);
  return Readable.from(qcow2Chunks(disk, layout), { objectMode: false, highWaterMark: 1 << 20 });
}
