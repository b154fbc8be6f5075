// Files that are either complete or absent, even across a crash: written under
// a temporary name beside their final one, flushed, renamed into place, and the
// directory flushed so the rename itself is on disk.

import { randomUUID } from 'node:crypto';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { OWNER_TAG } from './ownership.js';

/** Flushes a file or a directory (for a directory: the entries created or renamed in it). */
export async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function writeFileAtomic(
  path: string,
  content: string | Buffer | ((file: FileHandle) => Promise<void>),
  mode = 0o644,
): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${OWNER_TAG}.${randomUUID()}.tmp`);
  const file = await open(tmp, 'wx', mode);
  try {
    try {
      if (typeof content === 'function') await content(file);
      else await file.writeFile(content);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  await syncPath(dir);
}
