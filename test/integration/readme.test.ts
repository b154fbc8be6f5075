// Every shell example in README.md runs as written, from the checkout as a
// user would (only the address is pointed at the test's service), and prints
// the output shown under it.

import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { startService, type ServiceProcess } from '../helpers/server.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

interface Example {
  command: string;
  expected?: string;
}

/** The ```sh blocks after the "## API" heading, each with the ```text block that follows it. */
function examples(): Example[] {
  const api = readme.slice(readme.indexOf('## API'));
  const blocks = [...api.matchAll(/```(sh|text)\n([\s\S]*?)```/g)].map((m) => ({ kind: m[1], body: m[2] ?? '' }));
  const out: Example[] = [];
  blocks.forEach((b, i) => {
    if (b.kind !== 'sh') return;
    const next = blocks[i + 1];
    out.push({ command: b.body, expected: next?.kind === 'text' ? next.body : undefined });
  });
  return out;
}

let svc: ServiceProcess;
beforeAll(async () => {
  // As the README says: the development release, read from its layout directories.
  const release = await ensureDevRelease();
  svc = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir });
});
afterAll(async () => {
  await svc.stop();
  rmSync(join(ROOT, 'schematic.yaml'), { force: true });
  rmSync(join(ROOT, 'dev-schematic.yaml'), { force: true });
  rmSync('/tmp/initramfs-amd64.xz', { force: true });
  rmSync('/tmp/metal-amd64.iso', { force: true });
  rmSync('/tmp/nocloud-amd64.raw.tar.gz', { force: true });
  rmSync('/tmp/disk.raw', { force: true });
});

describe('README examples', () => {
  const all = examples();
  it('has the examples this test expects', () => {
    expect(all.filter((e) => e.command.includes('curl')).length).toBeGreaterThanOrEqual(5);
  });
  for (const [i, ex] of all.entries()) {
    it(`example ${i + 1}: ${ex.command.split('\n')[0]}`, () => {
      const command = ex.command.replaceAll('127.0.0.1:8080', svc.url.replace('http://', ''));
      const output = execFileSync('bash', ['-euo', 'pipefail', '-c', command], {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, npm_config_yes: 'false' },
      });
      if (ex.expected !== undefined) expect(output).toBe(ex.expected);
    });
  }
});
