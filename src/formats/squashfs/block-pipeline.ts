// Data and fragment blocks: compressed in parallel, written strictly in the
// order they were queued, so the output does not depend on which compression
// finishes first. At most `depth` blocks are in flight, which bounds memory
// to about 2 x depth x block size whatever the file sizes.

import { DATA_UNCOMPRESSED } from './constants.js';
import type { Compressor } from './codec-types.js';
import type { SeekableSink } from './sink.js';

export interface StoredBlock {
  /** Image offset of the block (for a hole: where the next block goes). */
  position: number;
  /** On-disk size field: bytes stored, bit 24 if uncompressed, 0 for a hole. */
  sizeField: number;
}

interface Job {
  stored: Promise<{ bytes: Buffer; sizeField: number } | undefined>;
  onStored: (block: StoredBlock) => void;
}

export class BlockPipeline {
  private readonly queue: Job[] = [];
  private written: number;

  constructor(
    /** undefined: store every block as it is. */
    private readonly compressor: Compressor | undefined,
    private readonly sink: SeekableSink,
    start: number,
    private readonly depth: number,
  ) {
    this.written = start;
  }

  /** Image offset after every block retired so far. */
  get position(): number {
    return this.written;
  }

  /**
   * Queues a block (`undefined`: a hole, nothing stored). `onStored` runs, in
   * queue order, once the block is on disk.
   */
  async add(data: Buffer | undefined, onStored: (block: StoredBlock) => void): Promise<void> {
    const stored = data ? this.store(data) : Promise.resolve(undefined);
    // Rejections surface when the job is retired; this only keeps Node from calling them unhandled meanwhile.
    stored.catch(() => {});
    this.queue.push({ stored, onStored });
    while (this.queue.length >= this.depth) await this.retire();
  }

  /** Waits for every queued block to be written. */
  async drain(): Promise<void> {
    while (this.queue.length > 0) await this.retire();
  }

  private async store(data: Buffer): Promise<{ bytes: Buffer; sizeField: number }> {
    if (!this.compressor) return { bytes: data, sizeField: data.length | DATA_UNCOMPRESSED };
    const packed = await this.compressor.compress(data);
    // The format keeps a block uncompressed when compression does not shrink it.
    if (packed.length < data.length) return { bytes: packed, sizeField: packed.length };
    return { bytes: data, sizeField: data.length | DATA_UNCOMPRESSED };
  }

  private async retire(): Promise<void> {
    const job = this.queue.shift()!;
    const stored = await job.stored;
    const position = this.written;
    if (stored) {
      await this.sink.write(stored.bytes);
      this.written += stored.bytes.length;
    }
    job.onStored({ position, sizeField: stored?.sizeField ?? 0 });
  }
}
