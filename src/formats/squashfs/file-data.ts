// Lays out one regular file's data: its blocks through the pipeline (all-zero
// full blocks become holes), or a file smaller than a block into a fragment.
// The bytes themselves are read by the block workers, a block at a time, so a
// file is never held in memory; what is planned here is which range of which
// file each block holds, from the sizes taken before (fileSizes).

import { INVALID_FRAGMENT } from './constants.js';
import { fileSizesOnWorker, type BlockPiece } from './block-workers.js';
import type { BlockPipeline } from './block-pipeline.js';
import type { FragmentPacker } from './fragments.js';
import type { FileSource } from '../file-tree.js';

/** Where a file's bytes went. blocksStart, blockSizes and sparse are final once the pipeline drains. */
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
}

export interface SizedSource {
  source: FileSource;
  /** The file's path in the image, for errors. */
  label: string;
  size: number;
}

/** Files sized on a worker thread at most this many at a time, so blocks of other images queued meanwhile wait little. */
const SIZE_BATCH = 512;

/**
 * The size of each source, in order: given bytes as they are, a path as it
 * is now (it must be a regular file). A file must keep that size until its
 * blocks are read, or writing fails.
 */
export async function fileSizes(files: { source: FileSource; label: string }[]): Promise<SizedSource[]> {
  const onDisk = files.flatMap(({ source, label }) => ('path' in source ? [{ path: source.path, label }] : []));
  const batches: Promise<number[]>[] = [];
  for (let at = 0; at < onDisk.length; at += SIZE_BATCH) batches.push(fileSizesOnWorker(onDisk.slice(at, at + SIZE_BATCH)));
  const sizes = (await Promise.all(batches)).flat();
  let next = 0;
  return files.map(({ source, label }) => ({ source, label, size: 'path' in source ? sizes[next++]! : source.data.byteLength }));
}

/** The piece of a source from `position`, `length` bytes long. */
function pieceOf({ source, label, size }: SizedSource, position: number, length: number): BlockPiece {
  if ('data' in source) return { data: source.data.subarray(position, position + length) };
  return { path: source.path, label, position, length, fileSize: size };
}

export async function writeFileData(file: SizedSource, ctx: DataContext): Promise<FileLayout> {
  const { size } = file;
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

  for (let i = 0; i < layout.blockSizes.length; i++) {
    const length = Math.min(blockSize, size - fragmentLength - i * blockSize);
    await ctx.pipeline.add([pieceOf(file, i * blockSize, length)], ctx.holes && length === blockSize, (stored) => {
      if (i === 0) layout.blocksStart = stored.position;
      layout.blockSizes[i] = stored.sizeField;
      if (stored.hole) layout.sparse += blockSize;
    });
  }
  if (fragmentLength > 0 && ctx.packer) {
    const ref = await ctx.packer.add(pieceOf(file, 0, fragmentLength), fragmentLength);
    layout.fragment = ref.index;
    layout.fragmentOffset = ref.offset;
  }
  return layout;
}
