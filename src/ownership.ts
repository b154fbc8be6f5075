// Which process a temporary file or scratch directory belongs to, so that
// what a killed process left behind can be removed while what a live one is
// writing stays. Names carry `<host>_<pid>_<instance>`: the host (hashed) says
// whether the PID can be checked here at all, the PID whether the owner runs,
// and the instance (random per process) tells this process from an earlier
// one that had the same PID — as every restart of a container's PID 1 does.

import { createHash, randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { hostname } from 'node:os';

const HOST = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
const INSTANCE = randomBytes(4).toString('hex');

/** This process's mark, to put in the names of the temporaries it makes. */
export const OWNER_TAG = `${HOST}_${process.pid}_${INSTANCE}`;

const TAG = /([0-9a-f]{8})_(\d+)_([0-9a-f]{8})/;

export type Ownership = 'mine' | 'live' | 'gone' | 'unknown';

/**
 * Who owns a name: this process ('mine'), another process running on this
 * host ('live'), nobody any more ('gone'), or it cannot be told — another
 * host, or a name without a mark ('unknown'; the caller falls back on age).
 */
export function ownership(name: string): Ownership {
  const m = TAG.exec(name);
  if (!m) return 'unknown';
  const [, host, pidText, instance] = m;
  if (host !== HOST) return 'unknown';
  if (instance === INSTANCE) return 'mine';
  const pid = Number(pidText);
  // Our own PID with another instance: a predecessor of this process (a restarted container).
  if (pid === process.pid) return 'gone';
  try {
    process.kill(pid, 0);
    return 'live';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? 'live' : 'gone';
  }
}

/** Whether a leftover may go: its owner is gone, or it cannot be told and the leftover is older than `unownedAfterMs`. */
export async function abandoned(path: string, name: string, unownedAfterMs: number): Promise<boolean> {
  const owner = ownership(name);
  if (owner === 'gone') return true;
  if (owner !== 'unknown') return false;
  const info = await stat(path).catch(() => undefined);
  return info !== undefined && info.mtimeMs < Date.now() - unownedAfterMs;
}
