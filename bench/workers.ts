// Build throughput with one worker process against two (BullMQ on a private
// Redis, a web-only factory in front): the same batch of distinct initramfs
// builds, cold, timed from the first request to the last byte (after one
// untimed build that unpacks the release inputs into the shared data directory).
// Twice: with the workers sharing the machine's cores (one build already
// keeps two cores busy: squashfs blocks on worker threads, zstd -T0), and with
// each worker held to a core of its own (taskset), which is what a second
// worker on a machine of its own adds.
//
//   npm run bench:workers -- [--builds 16]

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis } from '../test/helpers/redis.js';
import { startWorker } from '../test/helpers/worker.js';
import { createSchematic, ensureDevRelease, ratio, startFactory } from './lib/service.js';
import { numberOption } from './lib/args.js';

const builds = numberOption('--builds', 16);
const release = await ensureDevRelease();
const extensions = release.extensions[release.versions.at(-1)!]!.map((e) => e.repository);

/** Timed seconds for the batch with `workerCount` worker processes, each held to one core of its own when `pinned`. */
async function run(workerCount: number, pinned: boolean): Promise<number> {
  const redis = await startRedis();
  const dataDir = mkdtempSync(join(tmpdir(), 'if-bench-workers-'));
  const env = { REDIS_URL: redis.url, IF_DATA_DIR: dataDir, IF_RELEASE_LAYOUT_DIR: release.layoutDir, IF_METRICS_LISTEN: '', IF_WORKERS: '1' };
  // The bench is one client asking for every build at once.
  const web = await startFactory({ ...env, IF_WORKERS: '0', IF_MAX_QUEUED_BUILDS_PER_CLIENT: String(builds) });
  const workers = await Promise.all(Array.from({ length: workerCount }, () => startWorker(env)));
  // Every thread of the process, and what it starts later (thread pool, worker threads, zstd, depmod), stays on that core.
  if (pinned) workers.forEach((w, i) => execFileSync('taskset', ['-a', '-p', '-c', String(i % availableParallelism()), String(w.child.pid)], { stdio: 'ignore' }));
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

const cores = availableParallelism();
if (cores < 2) throw new Error('bench:workers needs two cores');
const sharedOne = await run(1, false);
const sharedTwo = await run(2, false);
const pinnedOne = await run(1, true);
const pinnedTwo = await run(2, true);
const line = (label: string, seconds: number) => `  ${label} ${seconds.toFixed(2)} s  (${(builds / seconds).toFixed(2)} builds/s)`;
console.log(`${builds} cold initramfs builds (${extensions.length} extensions each), one build per worker at a time, ${cores} cores`);
console.log('workers sharing the cores (a build may use them all):');
console.log(line('1 worker ', sharedOne));
console.log(line('2 workers', sharedTwo));
console.log(`  throughput ratio 2 workers / 1 worker: ${ratio(sharedOne, sharedTwo)}`);
console.log('one core per worker (taskset), as workers on machines of their own:');
console.log(line('1 worker ', pinnedOne));
console.log(line('2 workers', pinnedTwo));
console.log(`  throughput ratio 2 workers / 1 worker: ${ratio(pinnedOne, pinnedTwo)}`);
