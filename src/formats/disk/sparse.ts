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

/** Validates and sorts; empty extents are dropped. */
export function sparseDisk(size: number, extents: Iterable<Extent>): SparseDisk {
  checkNumber(size, 'disk size');
  const sorted = [...extents].filter((e) => e.length !== 0).sort((a, b) => a.offset - b.offset);
  let end = 0;
  for (const e of sorted) {
    checkNumber(e.offset, 'extent offset');
    checkNumber(e.length, 'extent length');
    if (e.offset < end) throw new DiskFormatError(`disk: extent at ${e.offset} overlaps the one ending at ${end}`);
    end = e.offset + e.length;
    if (end > size) throw new DiskFormatError(`disk: extent ${e.offset}+${e.length} ends past the disk size ${size}`);
    if (e.source.kind === 'bytes' && e.source.data.length !== e.length) {
      throw new DiskFormatError(`disk: extent at ${e.offset} has ${e.source.data.length} bytes for a length of ${e.length}`);
    }
  }
  return { size, extents: sorted };
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
export async function* diskData(disk: SparseDisk): AsyncGenerator<{ offset: number; data: Buffer }> {
  for (const extent of disk.extents) {
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
export async function* rawDiskChunks(disk: SparseDisk, length = disk.size): AsyncGenerator<Buffer> {
  let at = 0;
  for await (const { offset, data } of diskData(disk)) {
    yield* zeroChunks(offset - at);
    yield data;
    at = offset + data.length;
  }
  yield* zeroChunks(length - at);
}

/** The whole raw disk, zeros included, as a byte stream (for compressors and raw downloads). */
export function rawDiskStream(disk: SparseDisk): Readable {
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
export async function writeSparse(disk: SparseDisk, out: SparseOutput, signal?: AbortSignal): Promise<void> {
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
export async function writeSparseFile(disk: SparseDisk, path: string, signal?: AbortSignal): Promise<void> {
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
