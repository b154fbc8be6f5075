// Saving a blob to a file so that the file either holds exactly the blob or
// does not exist: written beside the destination under a temporary name,
// verified while streaming, flushed to disk, then renamed into place.

import { randomUUID } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { syncPath } from '../durable-file.js';
import { DigestMismatchError } from './digest.js';
import { OciError } from './errors.js';
import type { ImageRepository } from './repository.js';

export interface DownloadOptions {
  /** Tries for a transfer that breaks off midway (default 4). */
  attempts?: number;
  /** Pause before the first new try, doubled for each further one (default 200 ms). */
  retryDelayMs?: number;
}

/**
 * Streams a blob into `destPath` atomically. A transfer that fails midway with
 * a transient failure (OciError `unavailable`: a reset or stalled connection)
 * is started again from the beginning; failures to open the blob are final,
 * because the repository has already retried those.
 */
export async function downloadBlob(
  repo: ImageRepository,
  descriptor: { digest: string; size: number },
  destPath: string,
  options: DownloadOptions = {},
): Promise<void> {
  const attempts = Math.max(1, options.attempts ?? 4);
  const delayMs = options.retryDelayMs ?? 200;
  const dir = dirname(destPath);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(destPath)}.${randomUUID()}.partial`);
  try {
    for (let attempt = 1; ; attempt++) {
      const source = await repo.openBlob(descriptor);
      try {
        await writeDurably(source, tmp);
        break;
      } catch (error) {
        const transient = error instanceof OciError && error.kind === 'unavailable';
        if (!transient || attempt >= attempts) throw describe(error, repo, descriptor, attempt);
        await new Promise((resolve) => setTimeout(resolve, delayMs * 2 ** (attempt - 1)));
      }
    }
    await rename(tmp, destPath);
    await syncPath(dir);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/** Writes the stream to `path` (replacing what a failed try left) and flushes it to disk. */
async function writeDurably(source: Readable, path: string): Promise<void> {
  const file = await open(path, 'w');
  try {
    for await (const chunk of source) await file.write(chunk as Buffer);
    await file.sync();
  } finally {
    source.destroy();
    await file.close();
  }
}


function describe(error: unknown, repo: ImageRepository, descriptor: { digest: string }, attempt: number): unknown {
  const image = `${repo.location}@${descriptor.digest}`;
  if (error instanceof DigestMismatchError) {
    return new OciError('digest-mismatch', 'download blob', image, error.message, undefined, { cause: error });
  }
  if (error instanceof OciError && error.kind === 'unavailable' && attempt > 1) {
    const detail = `gave up after ${attempt} transfers; the last failed with: ${error.detail}`;
    return new OciError(error.kind, error.operation, error.image, detail, error.status, { cause: error });
  }
  return error;
}
