// Files that are either complete or absent, even across a crash: written under
// a temporary name beside their final one, flushed, renamed into place, and the
// directory flushed so the rename itself is on disk. Temporaries carry their
// owner's mark (ownership.ts), so what a killed process left can be swept.

import { randomUUID } from 'node:crypto';
import { type FileHandle, link, mkdir, mkdtemp, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { abandoned, OWNER_TAG } from './ownership.js';

/**
 * `mkdir -p` that fails with the real reason: Node's recursive mkdir says
 * ENOENT on a read-only file system, so the first missing level is made
 * alone to learn what is wrong (EROFS, EACCES, ENOSPC).
 */
export async function ensureDir(path: string): Promise<void> {
  try {
    await mkdir(path, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    let missing = path;
    while (dirname(missing) !== missing && !(await stat(dirname(missing)).then(() => true, () => false))) missing = dirname(missing);
    await mkdir(missing);
    throw error;
  }
}

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

/** A new directory `<kind>-<owner>-XXXXXX` under `parent`, marked as this process's. */
export async function ownedTempDir(parent: string, kind: string): Promise<string> {
  await ensureDir(parent);
  return mkdtemp(join(parent, `${kind}-${OWNER_TAG}-`));
}

/** The temporary of a writeFileAtomic: `.<name>.<owner>.<uuid>.tmp`. */
export const ATOMIC_TEMPORARY = /^\..+\.tmp$/;

/**
 * Removes the temporaries (files or directories whose names match
 * `temporary`) in the shard directories of `root` that no live process owns:
 * what writes interrupted by a kill left. Returns the paths removed.
 */
export async function sweepTemporaries(root: string, temporary: RegExp, unownedAfterMs: number): Promise<string[]> {
  const removed: string[] = [];
  for (const shard of await readdir(root).catch(() => [] as string[])) {
    for (const name of await readdir(join(root, shard)).catch(() => [] as string[])) {
      const path = join(root, shard, name);
      if (!temporary.test(name) || !(await abandoned(path, name, unownedAfterMs))) continue;
      await rm(path, { recursive: true, force: true });
      removed.push(path);
    }
  }
  return removed;
}
