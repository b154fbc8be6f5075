// Scratch space for builds under <data-dir>/tmp is named after the process
// that owns it (ownedTempDir in ownership.ts). A build removes its own directory when it ends;
// what a killed process (kill -9, power loss, a crash loop) left is swept when a
// process starts and periodically after: everything whose owner is gone at
// once, and what another host's process made (the data directory may be
// shared) or what has no owner mark only once it is older than any build can run.

import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { abandoned } from '../ownership.js';

/** Removes the scratch directories (in `workDir` and the directories listed in `nested`) that no live build owns. */
export async function sweepScratch(workDir: string, unownedAfterMs: number, logger: Logger, nested: readonly string[] = ['shared-cache']): Promise<void> {
  for (const dir of [workDir, ...nested.map((n) => join(workDir, n))]) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (dir === workDir && nested.includes(name)) continue;
      const path = join(dir, name);
      if (!(await abandoned(path, name, unownedAfterMs))) continue;
      await rm(path, { recursive: true, force: true });
      logger.info({ path }, 'removed the scratch space of an interrupted build');
    }
  }
}
