// "gzip" in SquashFS means a bare zlib stream (RFC 1950), one per block.

import { promisify } from 'node:util';
import { inflate, constants as zlib } from 'node:zlib';
import { CompressorId } from './constants.js';
import { SquashfsError } from './errors.js';
import { checkSize, type Compressor, type Decompressor } from './codec-types.js';

const inflateAsync = promisify(inflate);

/** mksquashfs' default; the options block is only written for other levels. */
export const GZIP_DEFAULT_LEVEL = 9;
const WINDOW_BITS = 15;

export function gzipCompressor(level = GZIP_DEFAULT_LEVEL): Compressor {
  if (!Number.isInteger(level) || level < 1 || level > 9) throw new SquashfsError(`squashfs: gzip level ${level} is not 1..9`);
  let options: Buffer | undefined;
  if (level !== GZIP_DEFAULT_LEVEL) {
    // level u32, window bits u16, strategies u16 (0: zlib's default strategy only)
    options = Buffer.alloc(8);
    options.writeUInt32LE(level, 0);
    options.writeUInt16LE(WINDOW_BITS, 4);
  }
  return {
    name: 'gzip',
    id: CompressorId.gzip,
    options,
    method: { codec: 'deflate', level, windowBits: WINDOW_BITS, memLevel: 8, strategy: zlib.Z_DEFAULT_STRATEGY },
  };
}

export function gzipDecompressor(): Decompressor {
  return {
    name: 'gzip',
    decompress: async (data, maxSize) => {
      try {
        return checkSize('gzip', await inflateAsync(data, { maxOutputLength: Math.max(maxSize, 1) }), maxSize);
      } catch (error) {
        if (error instanceof SquashfsError) throw error;
        throw new SquashfsError(`squashfs: corrupt gzip block: ${(error as Error).message}`);
      }
    },
  };
}
