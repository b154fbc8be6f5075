// A disk image described by what is in it rather than by its bytes: a total
// size and an ordered list of extents (offset, length, where the bytes come
// from); everything outside the extents is zero. Multi-GiB images are mostly
// zeros, so every disk format writer consumes this description and streams
// its output without ever holding (or writing) the raw disk.
//
// Here: the model and its validation, reading an extent's bytes, the raw
// writer (zeros for the gaps) and the writer to a sparse file (holes stay
// holes: only extent data is written, then the file is extended with
// ftruncate).
//
// A disk may also be described before all of its contents exist (a
// StreamableDisk): a region whose extents are still being prepared (a
// partition whose filesystem is being made) is awaited only when a writer
// that goes in disk order reaches it, so the bytes before it can go out at
// once. Formats that lay out metadata for the whole disk first (qcow2, VHD,
// VMDK, tar) take a settled SparseDisk.

import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { DiskFormatError } from './errors.js';

/** Where an extent's bytes come from. A stream factory is called once per pass over the disk. */
export type ExtentSource =
  | { readonly kind: 'bytes'; readonly data: Uint8Array }
  | { readonly kind: 'file'; readonly path: string; readonly offset: number }
  | { readonly kind: 'stream'; readonly open: () => AsyncIterable<Uint8Array> };

export interface Extent {
  /** Byte offset in the disk. */
  readonly offset: number;
  readonly length: number;
  readonly source: ExtentSource;
}

export interface SparseDisk {
  /** Total size in bytes. */
  readonly size: number;
  /** Sorted by offset, non-overlapping, non-empty, inside the disk. */
  readonly extents: readonly Extent[];
}

/** A region of the disk whose extents (inside it; zeros elsewhere) are still being prepared. */
export interface DeferredRegion {
  readonly offset: number;
  readonly length: number;
  readonly content: Promise<readonly Extent[]>;
}

/** A disk some of whose regions are not known yet; every SparseDisk is one. */
export interface StreamableDisk {
  readonly size: number;
  /** Sorted by offset, non-overlapping, non-empty, inside the disk. */
  readonly extents: readonly (Extent | DeferredRegion)[];
}

/** Largest piece handed out at once when reading extents or emitting zeros. */
export const CHUNK_SIZE = 1 << 20;

function checkNumber(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new DiskFormatError(`disk: ${what} ${value} is not a non-negative integer`);
}

export function bytesExtent(offset: number, data: Uint8Array): Extent {
  return { offset, length: data.length, source: { kind: 'bytes', data } };
}

export function fileExtent(offset: number, path: string, length: number, fileOffset = 0): Extent {
  checkNumber(fileOffset, 'file offset');
  return { offset, length, source: { kind: 'file', path, offset: fileOffset } };
}

/** `open` must yield exactly `length` bytes each time it is called. */
export function streamExtent(offset: number, length: number, open: () => AsyncIterable<Uint8Array>): Extent {
  return { offset, length, source: { kind: 'stream', open } };
}

/** The same extents moved by `delta` bytes: a partition's contents placed at the partition's offset. */
export function shiftExtents(extents: readonly Extent[], delta: number): Extent[] {
  return extents.map((e) => ({ ...e, offset: e.offset + delta }));
}

/** `content`'s extents, once prepared, fill the `length` bytes at `offset` (zeros where they leave gaps). */
export function deferredRegion(offset: number, length: number, content: Promise<readonly Extent[]>): DeferredRegion {
  // Awaited only when a writer reaches the region (maybe never, when an earlier part fails): not an unhandled rejection.
  content.catch(() => undefined);
  return { offset, length, content };
}

function isDeferred(part: Extent | DeferredRegion): part is DeferredRegion {
  return 'content' in part;
}

/** Sorts `parts` and checks they lie apart inside [start, end); empty ones are dropped. */
function ordered<T extends Extent | DeferredRegion>(parts: Iterable<T>, start: number, end: number, endName: string): T[] {
  const sorted = [...parts].filter((e) => e.length !== 0).sort((a, b) => a.offset - b.offset);
  let at = start;
  for (const e of sorted) {
    checkNumber(e.offset, 'extent offset');
    checkNumber(e.length, 'extent length');
    if (e.offset < start) throw new DiskFormatError(`disk: extent at ${e.offset} starts before its region at ${start}`);
    if (e.offset < at) throw new DiskFormatError(`disk: extent at ${e.offset} overlaps the one ending at ${at}`);
    at = e.offset + e.length;
    if (at > end) throw new DiskFormatError(`disk: extent ${e.offset}+${e.length} ends past ${endName} ${end}`);
    if (!isDeferred(e) && e.source.kind === 'bytes' && e.source.data.length !== e.length) {
      throw new DiskFormatError(`disk: extent at ${e.offset} has ${e.source.data.length} bytes for a length of ${e.length}`);
    }
  }
  return sorted;
}

/** Validates and sorts; empty extents are dropped. */
export function sparseDisk(size: number, extents: Iterable<Extent>): SparseDisk {
  checkNumber(size, 'disk size');
  return { size, extents: ordered(extents, 0, size, 'the disk size') };
}

/** Validates and sorts, as sparseDisk, a disk with regions still being prepared. */
export function streamableDisk(size: number, parts: Iterable<Extent | DeferredRegion>): StreamableDisk {
  checkNumber(size, 'disk size');
  return { size, extents: ordered(parts, 0, size, 'the disk size') };
}

/** A region's extents once prepared, checked to lie inside it. */
async function regionExtents(region: DeferredRegion): Promise<Extent[]> {
  return ordered(await region.content, region.offset, region.offset + region.length, 'the end of its region');
}

/** Every extent of the disk in order, each region's taken when a reader reaches it. */
async function* flatExtents(disk: StreamableDisk): AsyncGenerator<Extent> {
  for (const part of disk.extents) {
    if (isDeferred(part)) yield* await regionExtents(part);
    else yield part;
  }
}

/** The disk once every region is prepared. */
export async function settledDisk(disk: StreamableDisk): Promise<SparseDisk> {
  const extents: Extent[] = [];
  for await (const extent of flatExtents(disk)) extents.push(extent);
  return { size: disk.size, extents };
}

/** Resolves when every region has been prepared or has failed (so nothing works on the disk's files any more). */
export async function regionsSettled(disk: StreamableDisk): Promise<void> {
  await Promise.allSettled(disk.extents.filter(isDeferred).map((region) => region.content));
}

function asBuffer(chunk: Uint8Array | string): Buffer {
  if (typeof chunk === 'string') throw new DiskFormatError('disk: an extent stream yielded a string, not bytes');
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
}

/** An extent's bytes, in pieces of at most CHUNK_SIZE; fails unless the source has exactly `length` bytes. */
export async function* extentChunks(extent: Extent): AsyncGenerator<Buffer> {
  const { source, length } = extent;
  if (source.kind === 'bytes') {
    const data = asBuffer(source.data);
    for (let at = 0; at < length; at += CHUNK_SIZE) yield data.subarray(at, Math.min(length, at + CHUNK_SIZE));
    return;
  }
  const input: AsyncIterable<Uint8Array | string> =
    source.kind === 'file'
      ? createReadStream(source.path, { start: source.offset, end: source.offset + length - 1, highWaterMark: CHUNK_SIZE })
      : source.open();
  let seen = 0;
  for await (const raw of input) {
    const chunk = asBuffer(raw);
    if (seen + chunk.length > length) throw new DiskFormatError(`disk: the source of the extent at ${extent.offset} has more than ${length} bytes`);
    seen += chunk.length;
    for (let at = 0; at < chunk.length; at += CHUNK_SIZE) yield chunk.subarray(at, Math.min(chunk.length, at + CHUNK_SIZE));
  }
  if (seen !== length) throw new DiskFormatError(`disk: the source of the extent at ${extent.offset} has ${seen} bytes, expected ${length}`);
}

/** Every extent's bytes with their disk offsets, in disk order. */
export async function* diskData(disk: StreamableDisk): AsyncGenerator<{ offset: number; data: Buffer }> {
  for await (const extent of flatExtents(disk)) {
    let offset = extent.offset;
    for await (const data of extentChunks(extent)) {
      yield { offset, data };
      offset += data.length;
    }
  }
}

// Shared and never written to, so handing out slices of it is safe.
const ZEROS = Buffer.alloc(CHUNK_SIZE);

export function* zeroChunks(length: number): Generator<Buffer> {
  for (let left = length; left > 0; left -= CHUNK_SIZE) yield ZEROS.subarray(0, Math.min(left, CHUNK_SIZE));
}

export function isZero(data: Buffer): boolean {
  for (let at = 0; at < data.length; at += CHUNK_SIZE) {
    const piece = data.subarray(at, Math.min(data.length, at + CHUNK_SIZE));
    if (!piece.equals(ZEROS.subarray(0, piece.length))) return false;
  }
  return true;
}

/** The raw disk's bytes, zeros included, padded with zeros up to `length` (default the disk size). */
export async function* rawDiskChunks(disk: StreamableDisk, length = disk.size): AsyncGenerator<Buffer> {
  let at = 0;
  for (const part of disk.extents) {
    // Where a region starts is known before what is in it: the zeros up to it go out first.
    yield* zeroChunks(part.offset - at);
    at = part.offset;
    for (const extent of isDeferred(part) ? await regionExtents(part) : [part]) {
      yield* zeroChunks(extent.offset - at);
      yield* extentChunks(extent);
      at = extent.offset + extent.length;
    }
  }
  yield* zeroChunks(length - at);
}

/** The whole raw disk, zeros included, as a byte stream (for compressors and raw downloads). */
export function rawDiskStream(disk: StreamableDisk): Readable {
  return Readable.from(rawDiskChunks(disk), { objectMode: false, highWaterMark: CHUNK_SIZE });
}

/**
 * Where a sparse disk is written: its data at increasing offsets (what lies
 * between stays a hole, read as zeros), then its size. A file, or an asset
 * being streamed while it is written.
 */
export interface SparseOutput {
  writeAt(offset: number, data: Buffer): Promise<void>;
  /** Sets the final size (the tail after the last data is a hole). */
  finish(size: number): Promise<void>;
}

/** Writes the disk's data to `out` in disk order, all-zero pieces skipped; stops with an error once `signal` aborts. */
export async function writeSparse(disk: StreamableDisk, out: SparseOutput, signal?: AbortSignal): Promise<void> {
  for await (const { offset, data } of diskData(disk)) {
    signal?.throwIfAborted();
    if (!isZero(data)) await out.writeAt(offset, data);
  }
  await out.finish(disk.size);
}

/**
 * Writes the disk to `path` as a sparse file: extent data at its offsets
 * (all-zero pieces skipped), then ftruncate to the disk size, so gaps are
 * holes and take no space.
 */
export async function writeSparseFile(disk: StreamableDisk, path: string, signal?: AbortSignal): Promise<void> {
  const handle = await open(path, 'w');
  try {
    await writeSparse(
      disk,
      {
        writeAt: async (offset, data) => {
          for (let written = 0; written < data.length; ) {
            written += (await handle.write(data, written, data.length - written, offset + written)).bytesWritten;
          }
        },
        finish: (size) => handle.truncate(size),
      },
      signal,
    );
  } finally {
    await handle.close();
  }
}
