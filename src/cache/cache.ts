// What every asset cache offers: complete, verified entries by AssetKey.

import type { Readable, Writable } from 'node:stream';

export interface AssetMetadata {
  key: string;
  size: number;
  /** Lower-case hex digests of the content. */
  sha256: string;
  sha512: string;
  contentType: string;
  /** When the entry was written (ms since the epoch). */
  createdAt: number;
}

export interface CachedAsset {
  metadata: AssetMetadata;
  /** The content, or the inclusive byte range [start, end] of it. */
  open(range?: { start: number; end: number }): Readable;
  /** Writes the content, or the inclusive range [start, end], to `out` (left open): the way downloads send it. */
  writeTo(out: Writable, range?: { start: number; end: number }): Promise<void>;
  /** An internal URI a front proxy serves these same bytes from (nginx's X-Accel-Redirect), when configured. */
  accelRedirect?: string;
}

export interface AssetCache {
  readonly description: string;
  /** A complete entry, or undefined (a damaged entry is removed and reported as missing). */
  get(key: string): Promise<CachedAsset | undefined>;
  /**
   * Stores a finished file under `key` (the file is moved or copied; the caller
   * must not use it afterwards). Readers never see a partial entry.
   */
  put(key: string, file: string, contentType: string): Promise<CachedAsset>;
}
