// The two native compression bindings, loaded on first use so that gzip-only
// callers never touch them, and typed here because neither ships usable types
// for the parts we call. Both packages carry prebuilt N-API binaries (no
// download or compiler at install time).

import { createRequire } from 'node:module';
import type { Transform } from 'node:stream';
import { SquashfsError } from './errors.js';

const require = createRequire(import.meta.url);

export interface ZstdBinding {
  /** One-shot compression at a given level (the package's main entry point drops the level). */
  compress(data: Buffer, level: number): Promise<Buffer>;
  decompress(data: Buffer): Promise<Buffer>;
}

export interface LzmaFilter {
  id: string;
  options?: Record<string, number>;
}

export interface LzmaNative {
  createStream(coder: string, options: Record<string, unknown>): Transform;
  CHECK_CRC32: number;
  FILTER_LZMA2: string;
  MODE_NORMAL: number;
  MF_BT4: number;
}

let zstd: ZstdBinding | undefined;
let lzma: LzmaNative | undefined;

function load<T>(id: string, what: string): T {
  try {
    return require(id) as T;
  } catch (error) {
    throw new SquashfsError(`squashfs: ${what} needs the npm package ${id.split('/').slice(0, 2).join('/')}: ${(error as Error).message}`);
  }
}

export function zstdBinding(): ZstdBinding {
  zstd ??= load<ZstdBinding>('@mongodb-js/zstd/bindings', 'zstd compression');
  return zstd;
}

export function lzmaNative(): LzmaNative {
  lzma ??= load<LzmaNative>('lzma-native', 'xz compression');
  return lzma;
}
