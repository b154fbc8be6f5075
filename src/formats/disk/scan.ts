// Extents for the non-zero parts of a file or buffer. A filesystem image made
// by mkfs is mostly zeros; describing only its data keeps the qcow2/vmdk
// outputs small and the raw-to-sparse-file output full of holes. Files are
// read once, in CHUNK_SIZE pieces, whatever their size.

import { open } from 'node:fs/promises';
import { DiskFormatError } from './errors.js';
import { type Extent, CHUNK_SIZE, bytesExtent, fileExtent, isZero } from './sparse.js';

export interface ScanOptions {
  /** Where the file's (or buffer's) first byte goes in the disk. */
  diskOffset?: number;
  /** Zero runs shorter than this (and not aligned to it) are kept as data. Must divide CHUNK_SIZE. */
  granularity?: number;
}

function granularityOf(options: ScanOptions): number {
  const g = options.granularity ?? 4096;
  if (!Number.isInteger(g) || g <= 0 || CHUNK_SIZE % g !== 0) throw new DiskFormatError(`disk: scan granularity ${g} must divide ${CHUNK_SIZE}`);
  return g;
}

/** Calls `run(start, end)` for each maximal run of non-zero granules of `data` (offsets relative to `base`). */
function dataRuns(data: Buffer, base: number, granularity: number, run: (start: number, end: number) => void): void {
  if (isZero(data)) return;
  for (let at = 0; at < data.length; at += granularity) {
    const piece = data.subarray(at, Math.min(data.length, at + granularity));
    if (!isZero(piece)) run(base + at, base + at + piece.length);
  }
}

class RunMerger {
  readonly runs: Array<{ start: number; end: number }> = [];
  add = (start: number, end: number): void => {
    const last = this.runs[this.runs.length - 1];
    if (last && last.end === start) last.end = end;
    else this.runs.push({ start, end });
  };
}

/** Byte ranges [start, end) of a file. */
export interface FileRange {
  start: number;
  end: number;
}

/** `ranges` widened to whole granules within [0, length), sorted and merged, so granules fall where a scan of everything puts them. */
function granuleRanges(ranges: readonly FileRange[], length: number, granularity: number): FileRange[] {
  const widened = ranges
    .map((r) => ({ start: Math.floor(r.start / granularity) * granularity, end: Math.min(length, Math.ceil(r.end / granularity) * granularity) }))
    .filter((r) => r.start < r.end)
    .sort((a, b) => a.start - b.start);
  const merged: FileRange[] = [];
  for (const r of widened) {
    const last = merged[merged.length - 1];
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else merged.push({ ...r });
  }
  return merged;
}

/**
 * Extents for the non-zero granules of `length` bytes of `path` starting at
 * `fileOffset` (default: the whole file). Given `dataRanges` (relative to
 * `fileOffset`: where the file may hold data, as SEEK_DATA tells; the rest
 * reads as zeros), only those are read: same extents, without reading holes.
 */
export async function fileDataExtents(path: string, options: ScanOptions & { fileOffset?: number; length?: number; dataRanges?: readonly FileRange[] } = {}): Promise<Extent[]> {
  const granularity = granularityOf(options);
  const fileOffset = options.fileOffset ?? 0;
  const diskOffset = options.diskOffset ?? 0;
  const handle = await open(path, 'r');
  const merger = new RunMerger();
  try {
    const length = options.length ?? (await handle.stat()).size - fileOffset;
    const buffer = Buffer.alloc(CHUNK_SIZE);
    for (const range of granuleRanges(options.dataRanges ?? [{ start: 0, end: length }], length, granularity)) {
      for (let at = range.start; at < range.end; ) {
        const want = Math.min(CHUNK_SIZE, range.end - at);
        const { bytesRead } = await handle.read(buffer, 0, want, fileOffset + at);
        if (bytesRead === 0) throw new DiskFormatError(`disk: ${path} ends before ${fileOffset + length}`);
        dataRuns(buffer.subarray(0, bytesRead), at, granularity, merger.add);
        at += bytesRead;
      }
    }
  } finally {
    await handle.close();
  }
  return merger.runs.map((r) => fileExtent(diskOffset + r.start, path, r.end - r.start, fileOffset + r.start));
}

/** Extents (views into `data`, not copies) for its non-zero granules. */
export function bufferDataExtents(data: Uint8Array, options: ScanOptions = {}): Extent[] {
  const granularity = granularityOf(options);
  const diskOffset = options.diskOffset ?? 0;
  const buffer = Buffer.from(data.buffer, data.byteOffset, data.length);
  const merger = new RunMerger();
  for (let at = 0; at < buffer.length; at += CHUNK_SIZE) {
    dataRuns(buffer.subarray(at, Math.min(buffer.length, at + CHUNK_SIZE)), at, granularity, merger.add);
  }
  return merger.runs.map((r) => bytesExtent(diskOffset + r.start, buffer.subarray(r.start, r.end)));
}
