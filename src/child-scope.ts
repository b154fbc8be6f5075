// The child processes a piece of work starts, so that none outlives it. A
// build runs in a scope; the tools it spawns count themselves in (through
// async context, however deep in streams they are started), and the scope
// settles only once each has exited, killing those still running. Stopping a
// stream kills its tool, but nothing else waits for the process to be reaped.

import { AsyncLocalStorage } from 'node:async_hooks';
import type { ChildProcess } from 'node:child_process';

const scopes = new AsyncLocalStorage<Set<ChildProcess>>();

/** Counts `child` in the scope of the work that started it, if any. */
export function trackChild(child: ChildProcess): void {
  const scope = scopes.getStore();
  if (!scope || child.pid === undefined) return;
  scope.add(child);
  child.once('exit', () => scope.delete(child));
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** Runs `work`, then waits for every child process it started to exit (those still running are killed). */
export async function withChildScope<T>(work: () => Promise<T>): Promise<T> {
  const scope = new Set<ChildProcess>();
  try {
    return await scopes.run(scope, work);
  } finally {
    await Promise.all([...scope].map(exited));
  }
}
