// Fragments: every file smaller than a block goes into shared fragment blocks
// (a larger file's tail does not: mksquashfs' default, -no-tailends); a file
// then refers to its bytes by fragment number and byte offset. A fragment
// block is a list of the files' pieces, read by the block worker that
// compresses it, and is queued as soon as the next file does not fit. No
// deduplication.

import type { BlockPipeline, StoredBlock } from './block-pipeline.js';
import type { BlockPiece } from './block-workers.js';

export interface FragmentRef {
  index: number;
  offset: number;
}

export class FragmentPacker {
  /** Where each fragment block went, by fragment number; complete after the pipeline drains. */
  readonly blocks: StoredBlock[] = [];
  private pieces: BlockPiece[] = [];
  private fill = 0;

  constructor(
    private readonly pipeline: BlockPipeline,
    private readonly blockSize: number,
  ) {}

  /** Adds a file's `length` bytes, which `piece` holds or names. */
  async add(piece: BlockPiece, length: number): Promise<FragmentRef> {
    if (this.fill + length > this.blockSize) await this.flush();
    const ref = { index: this.blocks.length, offset: this.fill };
    this.pieces.push(piece);
    this.fill += length;
    return ref;
  }

  /** Queues the partly filled fragment block, if any. */
  async flush(): Promise<void> {
    if (this.fill === 0) return;
    const index = this.blocks.length;
    // Placeholder until the block is stored; keeps fragment numbers in queue order.
    this.blocks.push({ position: 0, sizeField: 0, hole: false });
    const pieces = this.pieces;
    this.pieces = [];
    this.fill = 0;
    await this.pipeline.add(pieces, false, (stored) => {
      this.blocks[index] = stored;
    });
  }
}
