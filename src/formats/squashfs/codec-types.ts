// What every SquashFS block codec offers: how a block worker compresses a
// block (each data and metadata block is compressed on its own), and
// decompression of one block.

import type { CompressMethod } from './block-workers.js';
import type { CompressorName } from './constants.js';
import { SquashfsError } from './errors.js';

export interface Compressor {
  readonly name: CompressorName;
  readonly id: number;
  /**
   * Payload of the compressor-options block written after the superblock, or
   * undefined when the settings are the format's defaults (mksquashfs omits it then).
   */
  readonly options: Buffer | undefined;
  /** What a block worker does with a block (block-workers.ts). */
  readonly method: CompressMethod;
  /**
   * The bytes stored for a block from what the worker made of it (xz: the
   * container around the LZMA2 data); without it, the worker's bytes as they are.
   */
  readonly frame?: (packed: Buffer, input: { size: number; crc32: number | undefined }) => Buffer;
}

export interface Decompressor {
  readonly name: string;
  /** The decompressed block, which must not exceed maxSize bytes. */
  decompress(data: Buffer, maxSize: number): Promise<Buffer>;
}

/** Checks a decompressed block against the size the format allows for it. */
export function checkSize(name: string, out: Buffer, maxSize: number): Buffer {
  if (out.length > maxSize) throw new SquashfsError(`squashfs: ${name} block decompressed to ${out.length} bytes, more than ${maxSize}`);
  return out;
}
