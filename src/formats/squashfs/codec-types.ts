// What every SquashFS block codec offers: one-shot functions of a buffer,
// since each data and metadata block is compressed on its own.

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
  /** Compressed bytes; the caller keeps the input instead when this is not smaller. */
  compress(data: Buffer): Promise<Buffer>;
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
