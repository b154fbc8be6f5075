// Writes a planned FAT image: as a byte stream (for an ISO or a compressor),
// to a file of its own (sparse: free clusters stay holes), or into a byte
// range of a bigger file (a disk image's ESP partition). File contents are
// read from disk while they are written; only metadata is in memory.

import { constants, promises as fs } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { diskData, rawDiskStream, writeSparseFile, zeroChunks } from '../disk/sparse.js';
import { FatError } from './errors.js';
import { type FatImage, type FatWriteOptions, planFat } from './plan.js';
import type { FileTree } from '../file-tree.js';

/** The whole image, zeros included. */
export function fatImageStream(image: FatImage): Readable {
  return rawDiskStream(image.image);
}

/** Writes to a new file (created or truncated; gaps left as holes) or into a stream (which is ended). */
export async function writeFatImage(image: FatImage, out: string | Writable): Promise<void> {
  if (typeof out === 'string') await writeSparseFile(image.image, out);
  else await pipeline(fatImageStream(image), out);
}

export interface WriteAtOptions {
  /**
   * Write zeros over the free parts of the range too (default). Pass false only
   * when the range is known to be zero already (a freshly made sparse file).
   */
  zeroGaps?: boolean;
}

async function writeFully(handle: fs.FileHandle, data: Buffer, position: number): Promise<void> {
  for (let done = 0; done < data.length; ) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

/** Writes the image into `path` at byte `offset` (the file is created if missing and grown if short). */
export async function writeFatImageAt(image: FatImage, path: string, offset: number, options: WriteAtOptions = {}): Promise<void> {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new FatError(`fat: offset ${offset} is not a non-negative integer`);
  const zeroGaps = options.zeroGaps ?? true;
  const handle = await fs.open(path, constants.O_RDWR | constants.O_CREAT);
  try {
    const fill = async (from: number, to: number): Promise<void> => {
      let position = offset + from;
      for (const zeros of zeroChunks(to - from)) {
        await writeFully(handle, zeros, position);
        position += zeros.length;
      }
    };
    let at = 0;
    for await (const { offset: where, data } of diskData(image.image)) {
      if (zeroGaps) await fill(at, where);
      await writeFully(handle, data, offset + where);
      at = where + data.length;
    }
    if (zeroGaps) await fill(at, image.size);
    if ((await handle.stat()).size < offset + image.size) await handle.truncate(offset + image.size);
  } finally {
    await handle.close();
  }
}

/** Plans and writes a tree in one go. */
export async function writeFat(tree: FileTree, out: string | Writable, options: FatWriteOptions = {}): Promise<FatImage> {
  const image = await planFat(tree, options);
  await writeFatImage(image, out);
  return image;
}
