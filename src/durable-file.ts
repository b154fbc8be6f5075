// Files that are either complete or absent, even across a crash: written under
// a temporary name beside their final one, flushed, renamed into place, and the
// directory flushed so the rename itself is on disk.

import { randomUUID } from 'node:crypto';
import { type FileHandle, link, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Flushes a file or a directory (for a directory: the entries created or renamed in it). */
export async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes `path` whole or not at all. With `replace` false an existing file is
 * kept (the first of several racing writers wins) and false is returned.
 */
export async function writeFileAtomic(
  path: string,
  content: string | Buffer | ((file: FileHandle) => Promise<void>),
  mode = 0o644,
  replace = true,
): Promise<boolean> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${randomUUID()}.tmp`);
  const file = await open(tmp, 'wx', mode);
  try {
    try {
      if (typeof content === 'function') await content(file);
      else await file.writeFile(content);
      await file.sync();
    } finally {
      await file.close();
    }
    if (replace) await rename(tmp, path);
    else await link(tmp, path).finally(() => rm(tmp, { force: true }));
  } catch (error) {
    await rm(tmp, { force: true });
    if (!replace && (error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  await syncPath(dir);
  return true;
}
