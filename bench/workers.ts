// Build throughput with one worker process against two (BullMQ on a private
// Redis, a web-only factory in front): the same batch of distinct initramfs
// builds, cold, timed from the first request to the last byte (after one
// untimed build that unpacks the release inputs into the shared data directory).
//
//   npm run bench:workers -- [--builds 8]

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis } from '../test/helpers/redis.js';
import { startWorker } from '../test/helpers/worker.js';
import { createSchematic, ensureDevRelease, ratio, startFactory } from './lib/service.js';
import { numberOption } from './lib/args.js';

const builds = numberOption('--builds', 8);
const release = await ensureDevRelease();
const extensions = release.extensions[release.versions.at(-1)!]!.map((e) => e.repository);

async function run(workerCount: number): Promise<number> {
  const redis = await startRedis();
  const dataDir = mkdtempSync(join(tmpdir(), 'if-bench-workers-'));
  const env = { REDIS_URL: redis.url, IF_DATA_DIR: dataDir, IF_RELEASE_LAYOUT_DIR: release.layoutDir, IF_METRICS_LISTEN: '', IF_WORKERS: '1' };
  const web = await startFactory({ ...env, IF_WORKERS: '0' });
  const workers = await Promise.all(Array.from({ length: workerCount }, () => startWorker(env)));
  try {
    const schematic = (i: number) => createSchematic(web.url, `customization:\n  extraKernelArgs: [bench=${i}]\n  systemExtensions:\n    officialExtensions: [${extensions.join(', ')}]\n`);
    const download = async (id: string) => {
      const res = await fetch(`${web.url}/image/${id}/${web.version}/initramfs-amd64.xz`);
      const body = await res.arrayBuffer();
      // A failed build answers quickly too: only complete downloads count.
      if (res.status !== 200 || body.byteLength === 0) throw new Error(`initramfs of ${id}: ${res.status}, ${body.byteLength} bytes: ${Buffer.from(body).toString('utf8', 0, 200)}`);
    };
    // One build first, untimed: the release inputs are then unpacked in the shared data directory.
    await download(await schematic(-1));
    const ids = [];
    for (let i = 0; i < builds; i++) ids.push(await schematic(i));
    const start = process.hrtime.bigint();
    await Promise.all(ids.map(download));
    return Number(process.hrtime.bigint() - start) / 1e9;
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
    await web.stop();
    await redis.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const one = await run(1);
const two = await run(2);
console.log(`${builds} cold initramfs builds (${extensions.length} extensions each), one build per worker at a time`);
console.log(`1 worker  ${one.toFixed(2)} s  (${(builds / one).toFixed(2)} builds/s)`);
console.log(`2 workers ${two.toFixed(2)} s  (${(builds / two).toFixed(2)} builds/s)`);
console.log(`throughput ratio 2 workers / 1 worker: ${ratio(one, two)}`);
