// kill -9 while schematics are being created: after a restart on the same
// data directory every acknowledged schematic is there, byte for byte, and
// nothing stored is corrupt. Scratch space left by builds killed mid-way is
// swept when a process starts.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startService } from '../helpers/server.js';

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
});
