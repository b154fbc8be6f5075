// Data and fragment blocks: read and compressed in parallel on the block
// workers, written strictly in the order they were queued, so the output does
// not depend on which block finishes first. At most `depth` blocks are in
// flight, which bounds memory to about 2 x depth x block size whatever the
// file sizes.

import { DATA_UNCOMPRESSED } from './constants.js';
import type { BlockPiece } from './block-workers.js';
import type { Compressor } from './codec-types.js';
import { packBlock, type PackedBlock } from './pack-block.js';
import type { SeekableSink } from './sink.js';

export interface StoredBlock {
  /** Image offset of the block (for a hole: where the next block goes). */
  position: number;
  /** On-disk size field: bytes stored, bit 24 if uncompressed, 0 for a hole. */
  sizeField: number;
  hole: boolean;
}

interface Job {
  packed: Promise<PackedBlock>;
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
   * Queues a block made of `pieces`; with `holeCheck`, a block of zeros is
   * stored as a hole. `onStored` runs, in queue order, once the block is on disk.
   */
  async add(pieces: BlockPiece[], holeCheck: boolean, onStored: (block: StoredBlock) => void): Promise<void> {
    const packed = packBlock(this.compressor, pieces, holeCheck);
    // Rejections surface when the job is retired; this only keeps Node from calling them unhandled meanwhile.
    packed.catch(() => {});
    this.queue.push({ packed, onStored });
    while (this.queue.length >= this.depth) await this.retire();
  }

  /** Waits for every queued block to be written. */
  async drain(): Promise<void> {
    while (this.queue.length > 0) await this.retire();
  }

  private async retire(): Promise<void> {
    const job = this.queue.shift()!;
    const packed = await job.packed;
    const position = this.written;
    if (packed.hole) {
      job.onStored({ position, sizeField: 0, hole: true });
      return;
    }
    await this.sink.write(packed.bytes);
    this.written += packed.bytes.length;
    job.onStored({ position, sizeField: packed.compressed ? packed.bytes.length : packed.bytes.length | DATA_UNCOMPRESSED, hole: false });
  }
}
