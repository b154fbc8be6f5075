// One build at a time per output directory, across processes (test files run
// in parallel workers and each may ask for the release): a lock file holding
// the owner's PID, taken over when that process is gone.

import { open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

const POLL_MS = 250;

export async function withBuildLock<T>(dir: string, task: () => Promise<T>, timeoutMs = 30 * 60_000): Promise<T> {
  const path = join(dir, '.build.lock');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      // No PID yet is normal for a moment; for long, the writer died in between.
      const orphan = !(owner > 0) && Date.now() - (await stat(path).then((s) => s.mtimeMs, () => Date.now())) > 10_000;
      if ((owner > 0 && !alive(owner)) || orphan) {
        await rm(path, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${path}: another build (pid ${owner}) has held the lock too long`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
  try {
    return await task();
  } finally {
    await rm(path, { force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
