// A SparseDisk seen in fixed-size blocks (qcow2 clusters, vmdk grains): which
// blocks some extent touches (known without reading anything, so metadata can
// be laid out before the data is streamed) and those blocks' contents, in
// order, zero-filled where no extent lies.

import { DiskFormatError } from './errors.js';
import { type SparseDisk, diskData } from './sparse.js';

/** Blocks first..end-1. */
export interface BlockRun {
  first: number;
  end: number;
}

/** Ascending, merged runs of the blocks that at least one extent overlaps. */
export function touchedBlockRuns(disk: SparseDisk, blockSize: number): BlockRun[] {
  const runs: BlockRun[] = [];
  for (const e of disk.extents) {
    const first = Math.floor(e.offset / blockSize);
    const end = Math.floor((e.offset + e.length - 1) / blockSize) + 1;
    const last = runs[runs.length - 1];
    if (last && first <= last.end) last.end = Math.max(last.end, end);
    else runs.push({ first, end });
  }
  return runs;
}

export function countBlocks(runs: readonly BlockRun[]): number {
  return runs.reduce((n, r) => n + r.end - r.first, 0);
}

export function* blockIndices(runs: readonly BlockRun[]): Generator<number> {
  for (const r of runs) for (let i = r.first; i < r.end; i++) yield i;
}

/** Each touched block once, ascending, as a fresh buffer of `blockSize` bytes. */
export async function* touchedBlocks(disk: SparseDisk, blockSize: number): AsyncGenerator<{ index: number; data: Buffer }> {
  let current: { index: number; data: Buffer } | undefined;
  for await (const { offset, data } of diskData(disk)) {
    let used = 0;
    while (used < data.length) {
      const at = offset + used;
      const index = Math.floor(at / blockSize);
      if (current && current.index !== index) {
        if (index < current.index) throw new DiskFormatError('disk: extents out of order');
        yield current;
        current = undefined;
      }
      current ??= { index, data: Buffer.alloc(blockSize) };
      const inBlock = at - index * blockSize;
      const n = Math.min(data.length - used, blockSize - inBlock);
      data.copy(current.data, inBlock, used, used + n);
      used += n;
    }
  }
  if (current) yield current;
}
