// Builds a directory once: concurrent callers in this process share one build,
// other processes race safely (each builds into its own temporary sibling and
// the first rename wins), and a directory that exists is always complete. The
// temporary carries its process's mark, so what a killed process left is swept:
// by the runtime's periodic sweep near the top of the data directory, and by
// the next build of the same directory wherever it is (a killed process's
// temporary on this host).

import { mkdir, mkdtemp, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { OWNER_TAG, ownership } from './ownership.js';

const inflight = new Map<string, Promise<string>>();

/** The temporary sibling a directory is built in: `.<name>.<owner>.tmp-XXXXXX`. */
export const MATERIALIZE_TEMPORARY = /^\..+\.tmp-[A-Za-z0-9]{6}$/;

export function materializeDirectory(finalDir: string, build: (tmpDir: string) => Promise<void>): Promise<string> {
  const running = inflight.get(finalDir);
  if (running) return running;
  const task = buildOnce(finalDir, build).finally(() => inflight.delete(finalDir));
  inflight.set(finalDir, task);
  return task;
}

async function buildOnce(finalDir: string, build: (tmpDir: string) => Promise<void>): Promise<string> {
  if (await isDirectory(finalDir)) return finalDir;
  await mkdir(dirname(finalDir), { recursive: true });
  await sweepGoneSiblings(finalDir);
  const tmpDir = await mkdtemp(join(dirname(finalDir), `.${basename(finalDir)}.${OWNER_TAG}.tmp-`));
  try {
    await build(tmpDir);
    await rename(tmpDir, finalDir);
  } catch (error) {
    await rm(tmpDir, { recursive: true, force: true });
    const code = (error as NodeJS.ErrnoException).code;
    // Another process finished first: its directory is as good as ours.
    if ((code === 'ENOTEMPTY' || code === 'EEXIST') && (await isDirectory(finalDir))) return finalDir;
    throw error;
  }
  return finalDir;
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/** Removes the temporaries of `finalDir` that a process no longer running on this host left. */
async function sweepGoneSiblings(finalDir: string): Promise<void> {
  const prefix = `.${basename(finalDir)}.`;
  for (const name of await readdir(dirname(finalDir))) {
    if (name.startsWith(prefix) && MATERIALIZE_TEMPORARY.test(name) && ownership(name) === 'gone') {
      await rm(join(dirname(finalDir), name), { recursive: true, force: true });
    }
  }
}
