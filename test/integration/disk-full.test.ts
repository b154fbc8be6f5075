// The factory's data directory on a small tmpfs, filled up: builds answer 507
// "the factory is out of disk space" (no server path, no command line), cache
// nothing and leave no scratch space; remounted read-only, creating a schematic
// answers 503 saying so. Mounting needs CAP_SYS_ADMIN: where it is not
// permitted the tests are skipped, and the output says why.

import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { startService, type ServiceProcess } from '../helpers/server.js';
import { skipUnlessCi } from '../helpers/tool-skip.js';

const mountPoint = mkdtempSync(join(tmpdir(), 'if-tmpfs-'));
const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=160m', 'tmpfs', mountPoint], { encoding: 'utf8' });
// A missing `mount` is a missing tool (a failure in CI); a refused mount is a machine without the privilege.
if (mounted.error) skipUnlessCi('mount is not installed (Debian package mount)');
else if (mounted.status !== 0) {
  console.warn(`disk-full tests skipped: mounting a tmpfs is not permitted here (${mounted.stderr.trim()}); run them as root with CAP_SYS_ADMIN`);
}

const release = await ensureDevRelease();
const version = release.versions.at(-1)!;
const dataDir = join(mountPoint, 'data');
let svc: ServiceProcess;
let id: string;

/** Every file under a directory, relative names. */
function files(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name));
  } catch {
    return [];
  }
}

/**
 * Fills the file system up to `leaveBytes` free: until ENOSPC, then gives that much back
 * (the service may be writing meanwhile, so the free space read up front is no measure).
 */
function fill(leaveBytes: number): void {
  const filler = join(mountPoint, 'filler');
  const fd = openSync(filler, 'w');
  const chunk = Buffer.alloc(1 << 20);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  truncateSync(filler, Math.max(0, statSync(filler).size - leaveBytes));
}

describe.skipIf(mounted.status !== 0)('a full disk', () => {
  beforeAll(async () => {
    mkdirSync(dataDir);
    svc = await startService(dataDir, { IF_RELEASE_LAYOUT_DIR: release.layoutDir });
    const res = await fetch(`${svc.url}/schematics`, { method: 'POST', body: 'customization:\n  extraKernelArgs: [disk.full=1]\n' });
    id = ((await res.json()) as { id: string }).id;
    // The release inputs are in place (a kernel download brings them), then the disk is full but for 1 MiB.
    // Read to the end: a cold asset streams while it is built, and is cached only when its body ends.
    const kernel = await fetch(`${svc.url}/image/${id}/${version}/kernel-amd64`);
    expect(kernel.status).toBe(200);
    await kernel.arrayBuffer();
    fill(1 << 20);
  }, 120_000);
  afterAll(async () => {
    await svc?.stop();
    spawnSync('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  async function expectFailedCleanly(path: string, cached: number): Promise<void> {
    expect(files(join(dataDir, 'cache')).length).toBe(cached);
    expect(files(join(dataDir, 'tmp'))).toEqual([]);
    expect(JSON.parse(await (await fetch(`${svc.url}/status${path.slice('/image'.length)}`)).text())).toMatchObject({
      state: 'failed',
      error: 'the factory is out of disk space',
    });
    // The log has the real cause.
    expect(svc.logs()).toMatch(/"msg":"asset build failed"/);
    expect(svc.logs()).toMatch(/ENOSPC|No space left on device/);
  }

  it('an ISO answers 507 with the cause in words, and caches nothing', async () => {
    const path = `/image/${id}/${version}/metal-amd64.iso`;
    const cached = files(join(dataDir, 'cache')).length;
    const res = await fetch(`${svc.url}${path}`);
    expect(res.status).toBe(507);
    expect(await res.text()).toBe('asset build failed: the factory is out of disk space\n');
    await expectFailedCleanly(path, cached);
  }, 120_000);

  it('a disk image streamed is cut once its MBR and GPT went out; one waited for answers 507; nothing is cached', async () => {
    const path = `/image/${id}/${version}/metal-amd64.raw.xz`;
    const cached = files(join(dataDir, 'cache')).length;
    // Streamed: when its first frame went out before the disk filled up (the usual case), the download must
    // fail, never end short; when the build failed first, the answer is the 507.
    const streamed = await fetch(`${svc.url}${path}`);
    if (streamed.status === 200) await expect(streamed.arrayBuffer()).rejects.toThrow();
    else expect([streamed.status, await streamed.text()]).toEqual([507, 'asset build failed: the factory is out of disk space\n']);
    await expectFailedCleanly(path, cached);
    // A range request waits for the cache entry: nothing is sent before the build fails.
    const waited = await fetch(`${svc.url}${path}`, { headers: { range: 'bytes=0-' } });
    expect(waited.status).toBe(507);
    expect(await waited.text()).toBe('asset build failed: the factory is out of disk space\n');
    await expectFailedCleanly(path, cached);
  }, 120_000);

  it('an installer pulled through /v2 says the same in the registry envelope', async () => {
    const res = await fetch(`${svc.url}/v2/installer/${id}/manifests/${version}`);
    expect(res.status).toBe(507);
    expect(await res.json()).toEqual({ errors: [{ code: 'UNKNOWN', message: 'asset build failed: the factory is out of disk space' }] });
  }, 120_000);

  it('read-only storage: creating a schematic answers 503 saying so, and nothing internal', async () => {
    execFileSync('mount', ['-o', 'remount,ro', mountPoint]);
    try {
      const res = await fetch(`${svc.url}/schematics`, { method: 'POST', body: 'customization:\n  extraKernelArgs: [read.only=1]\n' });
      expect(res.status).toBe(503);
      expect(await res.text()).toBe("the factory's storage is read-only\n");
      expect(res.headers.get('x-request-id')).toBeTruthy();
    } finally {
      execFileSync('mount', ['-o', 'remount,rw', mountPoint]);
    }
    expect((await fetch(`${svc.url}/healthz`)).status).toBe(200);
  });
});
