// Copies a byte range of a file to a Writable (a download's response) through
// a few reused buffers. A read stream allocates a fresh buffer for every read:
// at a gigabyte a second that external memory made V8 run a full
// mark-and-sweep several times a second, the largest cost of a cached GET
// after the copies themselves (measured with perf). Here a buffer goes back
// to a small shared pool once the writable has handed it to the kernel (its
// write callback), and the next read waits while the writable is full.

import { once } from 'node:events';
import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';

/** Bytes per read (and per socket write). */
const CHUNK = 512 * 1024;
/** Buffers kept for reuse between writes; more in flight at once are allocated and left to the GC. */
const POOL_LIMIT = 32;
const pool: Buffer[] = [];

/** Writes bytes [start, end] (inclusive) of `path` to `out`, which is left open; rejects when `out` closes first or the file is shorter. */
export async function writeFileTo(path: string, out: Writable, start: number, end: number): Promise<void> {
  const file = await open(path, 'r');
  try {
    for (let position = start; position <= end; ) {
      if (out.destroyed) throw new Error('the receiver went away');
      const buffer = pool.pop() ?? Buffer.allocUnsafeSlow(CHUNK);
      const { bytesRead } = await file.read(buffer, 0, Math.min(CHUNK, end - position + 1), position);
      if (bytesRead === 0) throw new Error(`${path} ended at byte ${position}, before byte ${end}`);
      position += bytesRead;
      const more = out.write(bytesRead === CHUNK ? buffer : buffer.subarray(0, bytesRead), (error) => {
        if (!error && pool.length < POOL_LIMIT) pool.push(buffer);
      });
      if (!more) await drained(out);
    }
  } finally {
    await file.close();
  }
}

/** Resolves on 'drain', rejects when `out` closes before. */
async function drained(out: Writable): Promise<void> {
  const closed = new AbortController();
  const onClose = (): void => closed.abort();
  out.once('close', onClose);
  try {
    await once(out, 'drain', { signal: closed.signal });
  } catch {
    throw new Error('the receiver went away');
  } finally {
    out.off('close', onClose);
  }
}
