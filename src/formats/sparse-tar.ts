// A tar archive holding one sparse file, in the format GNU tar's default
// (`--format=gnu`) gives `tar --sparse`, as Talos' imager packs `disk.raw`
// for GCP: one type 'S' header whose sparse
// map (offset, length of each data run, then a zero-length run at the file's
// end) holds four runs, extension blocks of 21 runs each for the rest, then
// the runs' bytes only, each run padded to a 512-byte block, and the archive
// padded to GNU tar's 10 KiB record. Numbers too big for the octal fields
// (8 GiB and beyond) take GNU's base-256 form. Our runs are the disk's
// extents widened to whole blocks (the padding is the disk's own zeros), so a
// multi-GiB disk with little data becomes a small archive.

import { Readable } from 'node:stream';
import { type Extent, type SparseDisk, extentChunks, zeroChunks } from './disk/sparse.js';

const BLOCK = 512;
/** GNU tar's default blocking factor (20) times the block. */
const RECORD = 20 * BLOCK;
const HEADER_RUNS = 4;
const EXTENSION_RUNS = 21;
const RUN_FIELD = 12;

interface Run {
  offset: number;
  length: number;
  extents: Extent[];
}

/** The extents widened to whole blocks (within the disk) and merged where they touch. */
function dataRuns(disk: SparseDisk): Run[] {
  const runs: Run[] = [];
  for (const extent of disk.extents) {
    const start = Math.floor(extent.offset / BLOCK) * BLOCK;
    const end = Math.min(disk.size, Math.ceil((extent.offset + extent.length) / BLOCK) * BLOCK);
    const last = runs[runs.length - 1];
    if (last && start <= last.offset + last.length) {
      last.length = Math.max(last.length, end - last.offset);
      last.extents.push(extent);
    } else {
      runs.push({ offset: start, length: end - start, extents: [extent] });
    }
  }
  return runs;
}

async function* runBytes(run: Run): AsyncGenerator<Buffer> {
  let at = run.offset;
  for (const extent of run.extents) {
    yield* zeroChunks(extent.offset - at);
    yield* extentChunks(extent);
    at = extent.offset + extent.length;
  }
  yield* zeroChunks(run.offset + run.length - at);
}

/** A numeric field: zero-padded octal and a NUL, or base-256 (a 0x80 byte, then big-endian) when octal does not fit. */
function putNumber(block: Buffer, at: number, width: number, value: number): void {
  if (value < 8 ** (width - 1)) {
    block.write(`${value.toString(8).padStart(width - 1, '0')}\0`, at, 'latin1');
    return;
  }
  block[at] = 0x80;
  let rest = BigInt(value);
  for (let i = width - 1; i > 0; i--) {
    block[at + i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
}

function putRuns(block: Buffer, at: number, runs: readonly { offset: number; length: number }[]): void {
  runs.forEach((run, i) => {
    putNumber(block, at + i * 2 * RUN_FIELD, RUN_FIELD, run.offset);
    putNumber(block, at + i * 2 * RUN_FIELD + RUN_FIELD, RUN_FIELD, run.length);
  });
}

export interface SparseTarOptions {
  /** Entry mtime, seconds (SOURCE_DATE_EPOCH); default 0. */
  mtime?: number;
  /** Permission bits; default 0644. */
  mode?: number;
}

/** The 'S' header and its extension blocks (uid and gid 0, no owner names, as `--owner=0 --group=0 --numeric-owner`). */
function headerBlocks(name: string, disk: SparseDisk, runs: readonly Run[], options: SparseTarOptions): Buffer[] {
  if (Buffer.byteLength(name) > 100) throw new Error(`sparse tar: name ${name} is longer than 100 bytes`);
  const map = [...runs.map(({ offset, length }) => ({ offset, length })), { offset: disk.size, length: 0 }];
  const header = Buffer.alloc(BLOCK);
  header.write(name, 0, 'utf8');
  putNumber(header, 100, 8, options.mode ?? 0o644);
  putNumber(header, 108, 8, 0);
  putNumber(header, 116, 8, 0);
  putNumber(header, 124, 12, runs.reduce((sum, r) => sum + r.length, 0));
  putNumber(header, 136, 12, options.mtime ?? 0);
  header.write('S', 156, 'latin1');
  header.write('ustar  \0', 257, 'latin1');
  putRuns(header, 386, map.slice(0, HEADER_RUNS));
  header[482] = map.length > HEADER_RUNS ? 1 : 0;
  putNumber(header, 483, 12, disk.size);
  header.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');

  const blocks = [header];
  for (let at = HEADER_RUNS; at < map.length; at += EXTENSION_RUNS) {
    const extension = Buffer.alloc(BLOCK);
    putRuns(extension, 0, map.slice(at, at + EXTENSION_RUNS));
    extension[EXTENSION_RUNS * 2 * RUN_FIELD] = at + EXTENSION_RUNS < map.length ? 1 : 0;
    blocks.push(extension);
  }
  return blocks;
}

async function* archiveChunks(name: string, disk: SparseDisk, options: SparseTarOptions): AsyncGenerator<Buffer> {
  const runs = dataRuns(disk);
  let written = 0;
  for (const block of headerBlocks(name, disk, runs, options)) {
    yield block;
    written += BLOCK;
  }
  for (const run of runs) {
    yield* runBytes(run);
    // Runs are whole blocks except one clipped at a disk size that is not.
    const padded = Math.ceil(run.length / BLOCK) * BLOCK;
    yield* zeroChunks(padded - run.length);
    written += padded;
  }
  // Two zero blocks end the archive; GNU tar fills the last record.
  const end = Math.ceil((written + 2 * BLOCK) / RECORD) * RECORD;
  yield* zeroChunks(end - written);
}

export function sparseTarStream(name: string, disk: SparseDisk, options: SparseTarOptions = {}): Readable {
  return Readable.from(archiveChunks(name, disk, options), { objectMode: false, highWaterMark: 1 << 20 });
}
