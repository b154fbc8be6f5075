// zstd blocks through node:zlib's zstd, one frame per block. The kernel's
// squashfs decompressor is stricter than libzstd: its workspace holds only a
// block-sized window, and it decodes page by page, so a frame must declare its
// content size and be Single_Segment (window = content size), as mksquashfs'
// one-shot ZSTD_compressCCtx() writes it. Telling zstd the input size up front
// (pledgedSrcSize) gives exactly that shape, and also keeps zstd from setting
// up level 18's full 8 MiB window tables for every small block.
// Blocks are read and compressed on worker threads (block-workers.ts, which
// sets those parameters), so they use every core while the event loop and
// libuv's thread pool stay free.

import { promisify } from 'node:util';
import { zstdDecompress } from 'node:zlib';
import { CompressorId } from './constants.js';
import { SquashfsError } from './errors.js';
import { checkSize, type Compressor, type Decompressor } from './codec-types.js';

const decompressAsync = promisify(zstdDecompress);

/** Talos passes -Xcompression-level 18 (>= 1.8). */
export const ZSTD_DEFAULT_LEVEL = 18;
/** mksquashfs' own default, which needs no options block. */
const ZSTD_FORMAT_DEFAULT_LEVEL = 15;

export function zstdCompressor(level = ZSTD_DEFAULT_LEVEL): Compressor {
  if (!Number.isInteger(level) || level < 1 || level > 22) throw new SquashfsError(`squashfs: zstd level ${level} is not 1..22`);
  let options: Buffer | undefined;
  if (level !== ZSTD_FORMAT_DEFAULT_LEVEL) {
    options = Buffer.alloc(4);
    options.writeUInt32LE(level);
  }
  return {
    name: 'zstd',
    id: CompressorId.zstd,
    options,
    method: { codec: 'zstd', level },
  };
}

export function zstdDecompressor(): Decompressor {
  return {
    name: 'zstd',
    decompress: async (data, maxSize) => {
      try {
        return checkSize('zstd', await decompressAsync(data, { maxOutputLength: Math.max(maxSize, 1) }), maxSize);
      } catch (error) {
        if (error instanceof SquashfsError) throw error;
        throw new SquashfsError(`squashfs: corrupt zstd block: ${(error as Error).message}`);
      }
    },
  };
}
