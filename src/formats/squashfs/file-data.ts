// Writes one regular file's data: its blocks through the pipeline (all-zero
// blocks become holes), or a file smaller than a block into a fragment. Reads
// a block at a time, so a file is never held in memory.

import { promises as fs } from 'node:fs';
import { INVALID_FRAGMENT } from './constants.js';
import { SquashfsError } from './errors.js';
import type { BlockPipeline } from './block-pipeline.js';
import type { FragmentPacker } from './fragments.js';
import type { FileSource } from '../file-tree.js';
import { readUpTo } from '../read-at.js';

/** Where a file's bytes went. blocksStart and blockSizes are final once the pipeline drains. */
export interface FileLayout {
  fileSize: number;
  blocksStart: number;
  blockSizes: number[];
  sparse: number;
  fragment: number;
  fragmentOffset: number;
}

export interface DataContext {
  pipeline: BlockPipeline;
  /** undefined: no fragments, a file smaller than a block is one short block. */
  packer: FragmentPacker | undefined;
  blockSize: number;
  /** Store all-zero full blocks as holes. */
  holes: boolean;
  zeroBlock: Buffer;
}

/** Reads `length` bytes at `position` of a source. */
type ReadAt = (position: number, length: number) => Promise<Buffer>;

async function openSource(source: FileSource, label: string): Promise<{ size: number; read: ReadAt; close: () => Promise<void> }> {
  if ('data' in source) {
    const data = Buffer.from(source.data.buffer, source.data.byteOffset, source.data.byteLength);
    return { size: data.length, read: async (pos, len) => data.subarray(pos, pos + len), close: async () => {} };
  }
  const handle = await fs.open(source.path, 'r');
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new SquashfsError(`squashfs: ${label}: ${source.path} is not a regular file`);
    const read: ReadAt = (position, length) => readUpTo(handle, position, length);
    return { size: st.size, read, close: () => handle.close() };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

export async function writeFileData(source: FileSource, label: string, ctx: DataContext): Promise<FileLayout> {
  const src = await openSource(source, label);
  try {
    const { size } = src;
    const { blockSize } = ctx;
    // As mksquashfs by default (-no-tailends, Talos' images): only a file smaller than a block goes into a
    // fragment; a larger file's last block is a short block of its own.
    const fragmentLength = ctx.packer && size < blockSize ? size : 0;
    const layout: FileLayout = {
      fileSize: size,
      blocksStart: 0,
      blockSizes: new Array<number>(Math.ceil((size - fragmentLength) / blockSize)).fill(0),
      sparse: 0,
      fragment: INVALID_FRAGMENT,
      fragmentOffset: 0,
    };
    const changed = () => new SquashfsError(`squashfs: ${label}: file changed size while being written`);

    for (let i = 0; i < layout.blockSizes.length; i++) {
      const length = Math.min(blockSize, size - fragmentLength - i * blockSize);
      const data = await src.read(i * blockSize, length);
      if (data.length !== length) throw changed();
      const hole = ctx.holes && length === blockSize && data.equals(ctx.zeroBlock);
      if (hole) layout.sparse += blockSize;
      await ctx.pipeline.add(hole ? undefined : data, (stored) => {
        if (i === 0) layout.blocksStart = stored.position;
        layout.blockSizes[i] = stored.sizeField;
      });
    }
    if (fragmentLength > 0 && ctx.packer) {
      const data = await src.read(size - fragmentLength, fragmentLength);
      if (data.length !== fragmentLength) throw changed();
      const ref = await ctx.packer.add(data);
      layout.fragment = ref.index;
      layout.fragmentOffset = ref.offset;
    }
    if ('path' in source && (await src.read(size, 1)).length !== 0) throw changed();
    return layout;
  } finally {
    await src.close();
  }
}
