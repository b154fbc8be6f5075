// kill -9 while schematics are being created: after a restart on the same
// data directory every acknowledged schematic is there, byte for byte, and
// nothing stored is corrupt. Scratch space and cache temporaries left by
// processes killed mid-way are swept when a process starts, by owner.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OWNER_TAG } from '../../src/ownership.js';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { startService } from '../helpers/server.js';

/** The owner mark a process with this PID on this host would put in its names. */
const tagOf = (pid: number): string => OWNER_TAG.replace(/_\d+_/, `_${pid}_`);

async function until(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  for (const started = Date.now(); !check(); await new Promise((r) => setTimeout(r, 100))) {
    if (Date.now() - started > ms) throw new Error(`timed out waiting for ${what}`);
  }
}

describe('crash safety of the schematic store', () => {
  it('loses no acknowledged schematic and corrupts none on kill -9', async () => {
    const first = await startService();
    const acknowledged = new Map<string, string>();
    let n = 0;
    let killed = false;
    const worker = async (): Promise<void> => {
      while (!killed) {
        const i = n++;
        try {
          const res = await fetch(`${first.url}/schematics`, {
            method: 'POST',
            body: `customization:\n  extraKernelArgs: ["crash.test=${i}"]\n  meta: [{key: 10, value: "${'v'.repeat(i % 500)}"}]\n`,
          });
          if (res.status === 201) {
            const { id, schematic } = (await res.json()) as { id: string; schematic: string };
            acknowledged.set(id, schematic);
          }
        } catch {
          return; // the connection died with the process
        }
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    await new Promise((r) => setTimeout(r, 1500));
    killed = true;
    await first.stop('SIGKILL');
    await Promise.all(workers);
    expect(acknowledged.size).toBeGreaterThan(20);

    const second = await startService(first.dataDir);
    try {
      for (const [id, schematic] of acknowledged) {
        const res = await fetch(`${second.url}/schematics/${id}`);
        expect(res.status).toBe(200);
        expect(await res.text()).toBe(schematic);
      }
      // Every file that made it to its final name is complete and hashes to that name.
      const root = join(first.dataDir, 'schematics');
      for (const shard of readdirSync(root)) {
        for (const name of readdirSync(join(root, shard)).filter((f) => f.endsWith('.yaml') && !f.startsWith('.'))) {
          const text = readFileSync(join(root, shard, name), 'utf8');
          expect(createHash('sha256').update(text).digest('hex')).toBe(name.replace('.yaml', ''));
        }
      }
    } finally {
      await second.stop();
    }
  });

  it('sweeps scratch directories older than any build could run, and keeps fresh ones', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'if-test-'));
    const stale = join(dataDir, 'tmp', 'build-killed');
    const fresh = join(dataDir, 'tmp', 'build-running');
    for (const dir of [stale, fresh]) {
      mkdirSync(join(dir, 'initramfs'), { recursive: true });
      writeFileSync(join(dir, 'initramfs', 'part'), 'half-written');
    }
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
    utimesSync(stale, twoDaysAgo, twoDaysAgo);
    const svc = await startService(dataDir, { IF_BUILD_TIMEOUT_SECONDS: '3600' });
    try {
      for (let i = 0; i < 50 && existsSync(stale); i++) await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(stale)).toBe(false);
      expect(readFileSync(join(fresh, 'initramfs', 'part'), 'utf8')).toBe('half-written');
    } finally {
      await svc.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('sweeps scratch, cache and release-unpack temporaries whose owner is gone at once, keeps those of live processes', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'if-test-'));
    const deadPid = spawnSync('true').pid!;
    const key = 'ab'.repeat(32);
    const paths = {
      deadBuild: join(dataDir, 'tmp', `build-${tagOf(deadPid)}-x1`),
      deadPull: join(dataDir, 'tmp', 'shared-cache', `pull-${tagOf(deadPid)}-x2`),
      deadData: join(dataDir, 'cache', 'ab', `${key}.data.tmp-${tagOf(deadPid)}-1`),
      deadMeta: join(dataDir, 'cache', 'ab', `.${key}.json.${tagOf(deadPid)}.0000.tmp`),
      deadSchematic: join(dataDir, 'schematics', 'ab', `.${key}.yaml.${tagOf(deadPid)}.0000.tmp`),
      deadRelease: join(dataDir, 'releases', 'v1.12.0', `.imager-0123456789abcdef.${tagOf(deadPid)}.tmp-Ab12Cd`),
      deadExtension: join(dataDir, 'extensions', key, `.amd64.${tagOf(deadPid)}.tmp-Ef34Gh`),
      liveRelease: join(dataDir, 'releases', 'v1.12.0', `.imager-fedcba9876543210.${tagOf(process.pid)}.tmp-Ij56Kl`),
      liveBuild: join(dataDir, 'tmp', `build-${tagOf(process.pid)}-x3`),
      liveData: join(dataDir, 'cache', 'ab', `${key}.data.tmp-${tagOf(process.pid)}-2`),
    };
    for (const dir of [paths.deadBuild, paths.deadPull, paths.liveBuild, join(dataDir, 'cache', 'ab'), join(dataDir, 'schematics', 'ab')]) mkdirSync(dir, { recursive: true });
    // Half-unpacked release and extension trees: directories with files in them.
    for (const dir of [paths.deadRelease, paths.deadExtension, paths.liveRelease]) {
      mkdirSync(join(dir, 'usr', 'install'), { recursive: true });
      writeFileSync(join(dir, 'usr', 'install', 'vmlinuz'), 'half-written');
    }
    for (const file of [paths.deadData, paths.deadMeta, paths.deadSchematic, paths.liveData]) writeFileSync(file, Buffer.alloc(1 << 20));
    const svc = await startService(dataDir, { IF_BUILD_TIMEOUT_SECONDS: '3600' });
    try {
      await until('the sweep', () => ![paths.deadBuild, paths.deadPull, paths.deadData, paths.deadMeta, paths.deadSchematic, paths.deadRelease, paths.deadExtension].some((p) => existsSync(p)));
      expect(existsSync(paths.liveBuild)).toBe(true);
      expect(existsSync(join(paths.liveRelease, 'usr', 'install', 'vmlinuz'))).toBe(true);
      expect(existsSync(paths.liveData)).toBe(true);
    } finally {
      await svc.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('a build killed with its process leaves scratch space that the next start removes', async () => {
    const release = await ensureDevRelease();
    const first = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir });
    const scratch = (): string[] => readdirSync(join(first.dataDir, 'tmp')).filter((n) => n.startsWith('build-'));
    const created = await fetch(`${first.url}/schematics`, { method: 'POST', body: 'customization:\n  extraKernelArgs: [crash.test=scratch]\n' });
    const { id } = (await created.json()) as { id: string };
    void fetch(`${first.url}/image/${id}/${release.versions.at(-1)!}/metal-amd64.iso`).catch(() => undefined);
    await until('the build to make its scratch directory', () => existsSync(join(first.dataDir, 'tmp')) && scratch().length > 0);
    await first.stop('SIGKILL');
    const left = scratch();
    expect(left.length).toBe(1);
    const second = await startService(first.dataDir, { IF_RELEASE_LAYOUT_DIR: release.layoutDir, IF_BUILD_TIMEOUT_SECONDS: '3600' });
    try {
      await until('the sweep and its log line', () => !existsSync(join(first.dataDir, 'tmp', left[0]!)) && second.logs().includes(left[0]!));
      expect(second.logs()).toContain('removed the scratch space of an interrupted build');
    } finally {
      await second.stop();
    }
  }, 60_000);
});
