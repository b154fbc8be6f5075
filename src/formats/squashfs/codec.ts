// The compressors and decompressors a SquashFS image can name in its
// superblock: which one to build for a name or an on-disk id.

import { CompressorId, compressorName } from './constants.js';
import { SquashfsError } from './errors.js';
import { gzipCompressor, gzipDecompressor } from './codec-gzip.js';
import { lzmaDecompressor, xzCompressor, xzDecompressor } from './codec-xz.js';
import { zstdCompressor, zstdDecompressor } from './codec-zstd.js';
import type { Compressor, Decompressor } from './codec-types.js';

export type { Compressor, Decompressor } from './codec-types.js';

export type WriteCompression = 'zstd' | 'xz' | 'gzip';

export function createCompressor(compression: WriteCompression, blockSize: number, level?: number): Compressor {
  switch (compression) {
    case 'zstd':
      return zstdCompressor(level);
    case 'gzip':
      return gzipCompressor(level);
    case 'xz':
      if (level !== undefined) throw new SquashfsError('squashfs: xz takes no level (it uses preset 6 with a block-sized dictionary, as mksquashfs does)');
      return xzCompressor(blockSize);
    default:
      throw new SquashfsError(`squashfs: cannot write compression ${JSON.stringify(compression)} (zstd, xz or gzip)`);
  }
}

export function createDecompressor(id: number): Decompressor {
  switch (id) {
    case CompressorId.gzip:
      return gzipDecompressor();
    case CompressorId.xz:
      return xzDecompressor();
    case CompressorId.lzma:
      return lzmaDecompressor();
    case CompressorId.zstd:
      return zstdDecompressor();
    default:
      throw new SquashfsError(`squashfs: unsupported compressor ${compressorName(id)} (this reader handles gzip, xz, lzma and zstd)`);
  }
}
