// Builds through BullMQ on a real Redis with real worker processes: one build
// per asset however many ask, builds that survive clients, workers and Redis,
// failures that leave nothing behind, and a damaged cache entry rebuilt.

import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDevRelease, publishDevRelease } from '../helpers/dev-release.js';
import { type FlakyProxy, startFlakyProxy } from '../helpers/flaky-proxy.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';
import { startRegistry } from '../helpers/registry.js';
import { startService, type ServiceProcess } from '../helpers/server.js';
import { startWorker, type WorkerProcess } from '../helpers/worker.js';

const release = await ensureDevRelease();
const version = release.versions.at(-1)!;
const registry = await startRegistry();
await publishDevRelease(registry.host);

let proxy: FlakyProxy;
let redis: RedisServer;
let web: ServiceProcess;
const workers: WorkerProcess[] = [];
const dataDir = mkdtempSync(join(tmpdir(), 'if-jobs-'));
let env: Record<string, string>;

beforeAll(async () => {
  proxy = await startFlakyProxy(registry.host);
  redis = await startRedis();
  env = {
    REDIS_URL: redis.url,
    IF_RELEASE_REGISTRY: proxy.host,
    IF_RELEASE_INSECURE: 'true',
    IF_DATA_DIR: dataDir,
    IF_JOB_LOCK_SECONDS: '3',
    IF_BUILD_ATTEMPTS: '2',
    IF_METRICS_LISTEN: '',
  };
  web = await startService(dataDir, { ...env, IF_WORKERS: '0', IF_METRICS_LISTEN: '127.0.0.1:0' });
  workers.push(await startWorker(env), await startWorker(env));
}, 120_000);

afterAll(async () => {
  await web?.stop();
  await Promise.all(workers.map((w) => w.stop('SIGKILL')));
  await redis?.stop(true);
  await proxy?.stop();
  await registry.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function schematic(extensions: string[], extra = ''): Promise<string> {
  const body = `customization:\n  extraKernelArgs: [factory.jobs=${extra || 'x'}]\n  systemExtensions:\n    officialExtensions: [${extensions.join(', ')}]\n`;
  const res = await fetch(`${web.url}/schematics`, { method: 'POST', body });
  return ((await res.json()) as { id: string }).id;
}

async function sha(url: string): Promise<{ status: number; sha256: string; body: string }> {
  const res = await fetch(url);
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, sha256: createHash('sha256').update(bytes).digest('hex'), body: res.status === 200 ? '' : bytes.toString() };
}

async function status(id: string, file: string): Promise<{ key: string; state: string; error?: string; sha256?: string }> {
  return (await (await fetch(`${web.url}/status/${id}/${version}/${file}`)).json()) as { key: string; state: string };
}

const builds = (key: string): number => workers.reduce((n, w) => n + w.lines('asset built').filter((l) => l.key === key).length, 0);

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('asset builds through BullMQ and worker processes', () => {
  it('builds once for 100 concurrent cold requests, and every client gets the same bytes', async () => {
    const id = await schematic(['siderolabs/dummy-module', 'siderolabs/hello-service'], 'hundred');
    const url = `${web.url}/image/${id}/${version}/initramfs-amd64.xz`;
    const results = await Promise.all(Array.from({ length: 100 }, () => sha(url)));
    expect(results.map((r) => r.status)).toEqual(results.map(() => 200));
    expect(new Set(results.map((r) => r.sha256)).size).toBe(1);
    const { key, state, sha256 } = await status(id, 'initramfs-amd64.xz');
    expect(state).toBe('cached');
    expect(sha256).toBe(results[0]!.sha256);
    expect(builds(key)).toBe(1);

    // And a truncated cache file is noticed and rebuilt, never served.
    truncateSync(join(dataDir, 'cache', key.slice(0, 2), `${key}.data`), 1000);
    expect(await sha(url)).toMatchObject({ status: 200, sha256: results[0]!.sha256 });
    expect(builds(key)).toBe(2);
  });

  it('finishes a build whose client went away', async () => {
    const id = await schematic(['siderolabs/hello-service'], 'gone');
    const abort = new AbortController();
    const request = fetch(`${web.url}/image/${id}/${version}/initramfs-amd64.xz`, { signal: abort.signal }).catch(() => undefined);
    await until('the build to start', async () => ((await status(id, 'initramfs-amd64.xz')).state !== 'idle' ? true : undefined));
    abort.abort();
    await request;
    const done = await until('the asset to be cached', async () => {
      const s = await status(id, 'initramfs-amd64.xz');
      return s.state === 'cached' ? s : undefined;
    });
    expect(builds(done.key)).toBe(1);
  });

  it('completes a build on another worker when its worker is killed in the middle', async () => {
    const id = await schematic(['siderolabs/dev-firmware'], 'kill');
    // The first download of the extension's blobs hangs: the build is stuck there.
    proxy.inject({ type: 'stall' }, { times: 1, match: /GET \/v2\/siderolabs\/dev-firmware\/blobs\// });
    const request = sha(`${web.url}/image/${id}/${version}/initramfs-amd64.xz`);
    const { key } = await status(id, 'initramfs-amd64.xz');
    const victim = await until('a worker to start the build', () => workers.find((w) => w.lines('asset build started').some((l) => l.key === key)));
    await until('the stalled download', () => (proxy.requests.some((r) => r.fault === 'stall') ? true : undefined));
    await victim.stop('SIGKILL');
    const result = await request;
    expect(result.status).toBe(200);
    const survivor = workers.find((w) => w !== victim)!;
    expect(survivor.lines('asset built').some((l) => l.key === key)).toBe(true);
    expect((await status(id, 'initramfs-amd64.xz')).sha256).toBe(result.sha256);
    workers.splice(workers.indexOf(victim), 1, await startWorker(env));
  }, 90_000);

  it('answers a clear error for a failed build and keeps nothing', async () => {
    const id = await schematic(['siderolabs/dev-ucode'], 'fail');
    proxy.inject({ type: 'status', status: 404 }, { times: 1000, match: /\/v2\/siderolabs\/dev-ucode\/manifests\// });
    const failed = await sha(`${web.url}/image/${id}/${version}/initramfs-amd64.xz`);
    expect(failed.status).toBe(500);
    expect(failed.body).toMatch(/^asset build failed: .*siderolabs\/dev-ucode/);
    const s = await status(id, 'initramfs-amd64.xz');
    expect(s.state).toBe('failed');
    expect(s.error).toMatch(/dev-ucode/);
    proxy.reset();
    // The next request builds it again, and now it works.
    expect((await sha(`${web.url}/image/${id}/${version}/initramfs-amd64.xz`)).status).toBe(200);
  }, 90_000);

  it('completes queued builds when Redis restarts under load', async () => {
    const ids = await Promise.all([1, 2, 3, 4].map((n) => schematic(['siderolabs/hello-service'], `redis${n}`)));
    const requests = ids.map((id) => sha(`${web.url}/image/${id}/${version}/initramfs-amd64.xz`));
    await new Promise((r) => setTimeout(r, 150));
    await redis.stop(true);
    await new Promise((r) => setTimeout(r, 1000));
    await redis.start();
    const results = await Promise.all(requests);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
  }, 120_000);

  it('reports progress as server-sent events until the asset is cached', async () => {
    const id = await schematic(['siderolabs/dummy-module'], 'sse');
    const res = await fetch(`${web.url}/status/${id}/${version}/initramfs-amd64.xz/events?build=true`);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const text = await res.text(); // the stream ends when the asset is cached
    const events = text
      .split('\n\n')
      .filter((e) => e.startsWith('data: '))
      .map((e) => JSON.parse(e.slice(6)) as { state: string });
    expect(events.at(-1)!.state).toBe('cached');
    expect(events.some((e) => e.state === 'building' || e.state === 'queued' || e.state === 'idle')).toBe(true);
  }, 60_000);
});
