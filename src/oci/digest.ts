// Content digests: validation, hashing, and a stream that proves what passed through it.

import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export const DIGEST_PATTERN = /^sha256:[a-f0-9]{64}$/;

export function isDigest(value: string): boolean {
  return DIGEST_PATTERN.test(value);
}

export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The hex part of a `sha256:` digest (the file name under `blobs/sha256/`). */
export function digestHex(digest: string): string {
  if (!isDigest(digest)) throw new Error(`not a sha256 digest: ${JSON.stringify(digest)}`);
  return digest.slice('sha256:'.length);
}

export class DigestMismatchError extends Error {
  constructor(
    readonly expected: { digest: string; size?: number },
    readonly actual: { digest: string; size: number },
  ) {
    super(
      expected.size !== undefined && expected.size !== actual.size
        ? `size mismatch: expected ${expected.size} bytes, got ${actual.size}`
        : `digest mismatch: expected ${expected.digest}, got ${actual.digest}`,
    );
    this.name = 'DigestMismatchError';
  }
}

/**
 * A pass-through stream that hashes what flows through it and fails at the end
 * (before signalling completion) when the content is not what was expected.
 */
export class VerifyingStream extends Transform {
  private readonly hash = createHash('sha256');
  private bytes = 0;

  constructor(private readonly expected: { digest: string; size?: number }) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.expected.size !== undefined && this.bytes > this.expected.size) {
      callback(new DigestMismatchError(this.expected, { digest: 'unknown', size: this.bytes }));
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const digest = `sha256:${this.hash.digest('hex')}`;
    const sizeOk = this.expected.size === undefined || this.expected.size === this.bytes;
    if (!sizeOk || digest !== this.expected.digest) {
      callback(new DigestMismatchError(this.expected, { digest, size: this.bytes }));
      return;
    }
    callback();
  }
}
