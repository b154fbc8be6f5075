// Starting the factory (and the development release it serves) for benchmarks.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDevRelease } from '../../test/helpers/dev-release.js';
import { startService, type ServiceProcess } from '../../test/helpers/server.js';

export { ensureDevRelease };

/** A factory on `env.IF_DATA_DIR` (the command line's `--data-dir` would override the variable), else on a new directory. */
export async function startFactory(env: Record<string, string> = {}): Promise<ServiceProcess & { version: string }> {
  const release = await ensureDevRelease();
  const svc = await startService(env.IF_DATA_DIR ?? mkdtempSync(join(tmpdir(), 'if-bench-')), { IF_RELEASE_LAYOUT_DIR: release.layoutDir, ...env });
  return Object.assign(svc, { version: release.versions.at(-1)! });
}

export async function createSchematic(url: string, yaml: string): Promise<string> {
  const res = await fetch(`${url}/schematics`, { method: 'POST', body: yaml });
  return ((await res.json()) as { id: string }).id;
}

export function ratio(ours: number, baseline: number): string {
  return (ours / baseline).toFixed(2);
}
