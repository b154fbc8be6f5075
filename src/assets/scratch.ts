// Scratch directories of builds that were killed (kill -9, power loss) stay
// behind in <data-dir>/tmp. A process sweeps those older than any build can
// run when it starts; newer ones may belong to a live build of another
// process sharing the data directory, so they stay.

import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';

export async function sweepStaleScratch(workDir: string, olderThanMs: number, logger: Logger): Promise<void> {
  const names = await readdir(workDir).catch(() => [] as string[]);
  const cutoff = Date.now() - olderThanMs;
  for (const name of names) {
    const path = join(workDir, name);
    const info = await stat(path).catch(() => undefined);
    if (!info || info.mtimeMs >= cutoff) continue;
    await rm(path, { recursive: true, force: true });
    logger.info({ path }, 'removed the scratch space of an interrupted build');
  }
}
