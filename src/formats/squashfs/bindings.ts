// The xz decoding binding (reading images: xz and legacy lzma blocks), loaded
// on first use so that other callers never touch it, and typed here because it
// ships no usable types for the parts we call. The package carries prebuilt
// N-API binaries (no download or compiler at install time); zstd and gzip come
// with node:zlib, xz encoding with @napi-rs/lzma (block-workers.ts).

import { createRequire } from 'node:module';
import type { Transform } from 'node:stream';
import { SquashfsError } from './errors.js';

const require = createRequire(import.meta.url);

export interface LzmaNative {
  createStream(coder: string, options: Record<string, unknown>): Transform;
}

let lzma: LzmaNative | undefined;

export function lzmaNative(): LzmaNative {
  try {
    lzma ??= require('lzma-native') as LzmaNative;
  } catch (error) {
    throw new SquashfsError(`squashfs: xz decompression needs the npm package lzma-native: ${(error as Error).message}`);
  }
  return lzma;
}
