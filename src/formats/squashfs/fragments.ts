// Fragments: every file smaller than a block goes into shared fragment blocks
// (a larger file's tail does not: mksquashfs' default, -no-tailends); a file
// then refers to its bytes by fragment number and byte offset. A fragment
// block is queued for compression as soon as the next file does not fit. No
// deduplication.

import type { BlockPipeline, StoredBlock } from './block-pipeline.js';

export interface FragmentRef {
  index: number;
  offset: number;
}

export class FragmentPacker {
  /** Where each fragment block went, by fragment number; complete after the pipeline drains. */
  readonly blocks: StoredBlock[] = [];
  private current: Buffer;
  private fill = 0;

  constructor(
    private readonly pipeline: BlockPipeline,
    private readonly blockSize: number,
  ) {
    this.current = Buffer.alloc(blockSize);
  }

  get count(): number {
    return this.blocks.length + (this.fill > 0 ? 1 : 0);
  }

  async add(tail: Buffer): Promise<FragmentRef> {
    if (this.fill + tail.length > this.blockSize) await this.flush();
    const ref = { index: this.blocks.length, offset: this.fill };
    tail.copy(this.current, this.fill);
    this.fill += tail.length;
    return ref;
  }

  /** Queues the partly filled fragment block, if any. */
  async flush(): Promise<void> {
    if (this.fill === 0) return;
    const index = this.blocks.length;
    // Placeholder until the block is stored; keeps fragment numbers in queue order.
    this.blocks.push({ position: 0, sizeField: 0 });
    const data = this.current.subarray(0, this.fill);
    this.current = Buffer.alloc(this.blockSize);
    this.fill = 0;
    await this.pipeline.add(data, (stored) => {
      this.blocks[index] = stored;
    });
  }
}
