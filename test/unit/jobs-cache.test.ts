import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { FsAssetCache } from '../../src/cache/fs-cache.js';
import { InProcessQueue } from '../../src/jobs/in-process.js';
import { BuildFailedError } from '../../src/jobs/queue.js';
import type { BuildSpec } from '../../src/jobs/spec.js';

const logger = pino({ level: 'silent' });
const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'if-unit-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const key = (n: number): string => n.toString(16).padStart(64, '0');
const spec = (n: number): BuildSpec => ({ key: key(n), canonical: '', versionTag: 'v1.12.0', path: 'kernel-amd64' });

describe('in-process queue', () => {
  it('runs one build per key for concurrent callers and at most `concurrency` at once', async () => {
    let running = 0;
    let peak = 0;
    const calls: string[] = [];
    const queue = new InProcessQueue(
      async (s, { progress }) => {
        calls.push(s.key);
        running++;
        peak = Math.max(peak, running);
        progress(50, 'half');
        await new Promise((r) => setTimeout(r, 30));
        running--;
      },
      { concurrency: 2, timeoutMs: 5000 },
    );
    const states: string[] = [];
    queue.watch(key(1), (s) => states.push(s.state));
    await Promise.all([1, 1, 1, 2, 3, 4, 4].map((n) => queue.run(spec(n))));
    expect(calls.sort()).toEqual([key(1), key(2), key(3), key(4)]);
    expect(peak).toBe(2);
    expect(states).toEqual(['queued', 'building', 'building', 'done']);
  });

  it('reports a failure to every waiter and remembers it', async () => {
    const queue = new InProcessQueue(
      async () => {
        throw new Error('no such extension');
      },
      { concurrency: 1, timeoutMs: 5000 },
    );
    const results = await Promise.allSettled([queue.run(spec(1)), queue.run(spec(1))]);
    for (const r of results) expect(r).toMatchObject({ status: 'rejected', reason: expect.any(BuildFailedError) });
    expect(await queue.state(key(1))).toEqual({ state: 'failed', error: 'no such extension' });
  });

  it('stops a build at its deadline and holds its slot and its key until it has stopped', async () => {
    const events: string[] = [];
    const queue = new InProcessQueue(
      async (s, { signal }) => {
        events.push(`start ${s.key.slice(-1)}`);
        // A build that takes 150 ms to wind down once told to stop (a child process exiting, scratch removal).
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => setTimeout(resolve, 150), { once: true }));
        events.push(`stopped ${s.key.slice(-1)}`);
        throw signal.reason as Error;
      },
      { concurrency: 1, timeoutMs: 50 },
    );
    const first = queue.run(spec(1));
    const second = queue.run(spec(2));
    await new Promise((r) => setTimeout(r, 100)); // past the deadline, still stopping
    const again = queue.run(spec(1)); // joins the stopping build, starts no second one
    expect(again).toBe(first);
    expect(await queue.counts()).toEqual({ waiting: 1, active: 1 });
    await expect(first).rejects.toThrow('build timed out after 0 s');
    await expect(second).rejects.toThrow('build timed out after 0 s');
    expect(events).toEqual(['start 1', 'stopped 1', 'start 2', 'stopped 2']);
    expect(await queue.counts()).toEqual({ waiting: 0, active: 0 });
  });
});

describe('filesystem asset cache', () => {
  const put = async (cache: FsAssetCache, dir: string, n: number, content: string) => {
    const file = join(dir, `in-${n}`);
    writeFileSync(file, content);
    return cache.put(key(n), file, 'application/octet-stream');
  };

  it('stores atomically with digests and serves ranges', async () => {
    const dir = tmp();
    const cache = new FsAssetCache({ dir: join(dir, 'cache'), maxBytes: 0, logger });
    const entry = await put(cache, dir, 1, 'hello world');
    expect(entry.metadata).toMatchObject({ size: 11, sha256: 'b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9' });
    expect(readdirSync(dir)).not.toContain('in-1'); // moved in
    const again = await cache.get(key(1));
    expect(await text(again!.open({ start: 6, end: 10 }))).toBe('world');
  });

  it('drops an entry whose file was truncated or altered (another process: digest re-checked)', async () => {
    const dir = tmp();
    const cacheDir = join(dir, 'cache');
    await put(new FsAssetCache({ dir: cacheDir, maxBytes: 0, logger }), dir, 1, 'hello world');
    const data = join(cacheDir, key(1).slice(0, 2), `${key(1)}.data`);
    writeFileSync(data, 'hello WORLD');
    expect(await new FsAssetCache({ dir: cacheDir, maxBytes: 0, logger }).get(key(1))).toBeUndefined();
    expect(readdirSync(join(cacheDir, key(1).slice(0, 2)))).toEqual([]);
  });

  it('evicts the least recently used entries above its budget', async () => {
    const dir = tmp();
    const cacheDir = join(dir, 'cache');
    const cache = new FsAssetCache({ dir: cacheDir, maxBytes: 25, logger });
    await put(cache, dir, 1, '0123456789');
    await put(cache, dir, 2, '0123456789');
    const old = new Date(Date.now() - 60_000);
    utimesSync(join(cacheDir, key(2).slice(0, 2), `${key(2)}.json`), old, old); // 2 is the least recently used
    await put(cache, dir, 3, '0123456789');
    await new Promise((r) => setTimeout(r, 200)); // eviction runs after the put
    expect(await cache.get(key(2))).toBeUndefined();
    expect(await cache.get(key(1))).toBeDefined();
    expect(await cache.get(key(3))).toBeDefined();
  });
});
