// Cached downloads: the factory against nginx serving the same file from the
// same disk, 200 concurrent connections: throughput of GETs (wrk) and rate and
// latency of HEADs (ab -i); then the factory behind nginx with
// IF_ACCEL_REDIRECT (README's location block), where nginx sends the bytes.
// nginx runs a worker per core (`worker_processes auto`), the factory as many
// HTTP processes (IF_HTTP_PROCESSES; the one behind nginx runs one, as before:
// there nginx sends the bytes). The factories log every request into a file,
// as under a process manager. Each round runs its measurements in a mirrored
// order (nginx first and last, A B C C B A), so that a drift of the machine's
// speed during the round, which moved single 5-second figures by ±15 %,
// weighs on each side alike. Prints factory / nginx ratios.
//
//   npm run bench:download -- [--seconds 5] [--rounds 5]

import { execFile } from 'node:child_process';
import { rmSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import { dirname, join } from 'node:path';
import { startNginx } from '../test/helpers/nginx.js';
import { startService } from '../test/helpers/server.js';
import { numberOption } from './lib/args.js';
import { createSchematic, ensureDevRelease, startFactory } from './lib/service.js';
import { median, mirrored } from './lib/timing.js';

const seconds = numberOption('--seconds', 5);
const rounds = numberOption('--rounds', 5);
const ACCEL_PREFIX = '/_factory_cache/';
const HTTP_PROCESSES = String(availableParallelism());
const run = async (command: string, args: string[]): Promise<string> => (await promisify(execFile)(command, args, { encoding: 'utf8' })).stdout;

interface WrkResult {
  requestsPerSec: number;
  transferMBps: number;
  latencyMs: number;
}

/** GET throughput with wrk. */
async function wrk(url: string): Promise<WrkResult> {
  const out = await run('wrk', ['-t2', '-c200', `-d${seconds}s`, '--latency', url]);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (non2xx) throw new Error(`wrk got ${non2xx[1]} error responses from ${url}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const transfer = /Transfer\/sec:\s+([\d.]+)(\w+)/.exec(out);
  const unit = { B: 1 / 1e6, KB: 1 / 1024, MB: 1, GB: 1024 }[transfer?.[2] ?? 'MB'] ?? 1;
  const latency = /Latency\s+([\d.]+)(us|ms|s)/.exec(out);
  const latencyMs = Number(latency?.[1]) * ({ us: 0.001, ms: 1, s: 1000 }[latency?.[2] ?? 'ms'] ?? 1);
  return { requestsPerSec: rps, transferMBps: Number(transfer?.[1]) * unit, latencyMs };
}

/** HEAD requests with ab -i (wrk waits for a body after HEAD and never completes one). */
async function headLoad(url: string): Promise<WrkResult> {
  const out = await run('ab', ['-i', '-q', '-c', '200', '-t', String(seconds), '-n', '10000000', url]);
  const failed = Number(/Failed requests:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const non2xx = /Non-2xx responses:\s+(\d+)/.exec(out);
  if (failed > 0 || non2xx) throw new Error(`ab saw ${failed} failed and ${non2xx?.[1] ?? 0} non-2xx requests against ${url}`);
  return {
    requestsPerSec: Number(/Requests per second:\s+([\d.]+)/.exec(out)?.[1]),
    transferMBps: 0,
    latencyMs: Number(/Time per request:\s+([\d.]+) \[ms\] \(mean\)/.exec(out)?.[1]),
  };
}

const factory = await startFactory({ IF_METRICS_LISTEN: '', IF_HTTP_PROCESSES: HTTP_PROCESSES });
const stops: Array<() => Promise<void>> = [];
try {
  const id = await createSchematic(factory.url, 'customization: {}\n');
  const path = `/image/${id}/${factory.version}/kernel-amd64`;
  await (await fetch(`${factory.url}${path}`)).arrayBuffer(); // now cached
  const { key } = (await (await fetch(`${factory.url}/status/${id}/${factory.version}/kernel-amd64`)).json()) as { key: string };
  const cacheDir = join(factory.dataDir, 'cache');
  const file = join(cacheDir, key.slice(0, 2), `${key}.data`);
  const nginx = await startNginx({ root: dirname(file) });
  stops.push(nginx.stop);
  const layout = { IF_RELEASE_LAYOUT_DIR: (await ensureDevRelease()).layoutDir, IF_METRICS_LISTEN: '' };
  // The default: one HTTP process, on the same data directory.
  const single = await startService(factory.dataDir, layout);
  stops.push(() => single.stop());
  // The opt-in mode: another factory on the same data directory behind nginx, answering with X-Accel-Redirect.
  const accel = await startService(factory.dataDir, { ...layout, IF_ACCEL_REDIRECT: ACCEL_PREFIX });
  stops.push(() => accel.stop());
  const front = await startNginx({ factory: accel.url, cacheDir, prefix: ACCEL_PREFIX });
  stops.push(front.stop);

  const nginxUrl = `${nginx.url}/${key}.data`;
  const size = statSync(file).size;
  console.log(
    `asset: kernel-amd64 from the cache, ${(size / 1e6).toFixed(1)} MB; factory IF_HTTP_PROCESSES=${HTTP_PROCESSES}, nginx worker_processes auto; GET: wrk -t2 -c200 -d${seconds}s; HEAD: ab -i -c200 -t${seconds}; ` +
      `${rounds} rounds, each in mirrored order (nginx, factory, one process, behind nginx, then back); medians of the rounds below`,
  );
  type Row = Record<'getOurs' | 'getSingle' | 'getNginx' | 'getBehind' | 'headOurs' | 'headSingle' | 'headNginx' | 'latencyOurs' | 'latencyNginx', number>;
  const rows: Row[] = [];
  for (let round = 0; round < rounds; round++) {
    const urls = { nginx: nginxUrl, ours: `${factory.url}${path}`, single: `${single.url}${path}`, behind: `${front.url}${path}` };
    const get = await mirrored(['nginx', 'ours', 'single', 'behind'] as const, async (name) => (await wrk(urls[name])).transferMBps);
    const latency = { nginx: 0, ours: 0 };
    const head = await mirrored(['nginx', 'ours', 'single'] as const, async (name) => {
      const result = await headLoad(urls[name]);
      if (name !== 'single') latency[name] += result.latencyMs / 2;
      return result.requestsPerSec;
    });
    const row: Row = {
      getOurs: get.ours,
      getSingle: get.single,
      getNginx: get.nginx,
      getBehind: get.behind,
      headOurs: head.ours,
      headSingle: head.single,
      headNginx: head.nginx,
      latencyOurs: latency.ours,
      latencyNginx: latency.nginx,
    };
    rows.push(row);
    console.log(
      `round ${round + 1}: GET ${(row.getOurs / row.getNginx).toFixed(2)} (one process ${(row.getSingle / row.getNginx).toFixed(2)}), ` +
        `HEAD ${(row.headOurs / row.headNginx).toFixed(2)} (one process ${(row.headSingle / row.headNginx).toFixed(2)}), ` +
        `X-Accel-Redirect ${(row.getBehind / row.getNginx).toFixed(2)}; nginx ${row.getNginx.toFixed(0)} MB/s, ${row.headNginx.toFixed(0)} HEAD/s`,
    );
  }
  const mid = (pick: (row: Row) => number) => median(rows.map(pick));
  const one = (ours: (row: Row) => number, nginx: (row: Row) => number): string => `(one HTTP process: ${mid(ours).toFixed(0)}, ratio ${mid((r) => ours(r) / nginx(r)).toFixed(2)})`;
  console.log(
    `GET  throughput  factory ${mid((r) => r.getOurs).toFixed(0)} MB/s, nginx ${mid((r) => r.getNginx).toFixed(0)} MB/s, ratio ${mid((r) => r.getOurs / r.getNginx).toFixed(2)} ${one((r) => r.getSingle, (r) => r.getNginx)}`,
  );
  console.log(
    `HEAD requests/s  factory ${mid((r) => r.headOurs).toFixed(0)}, nginx ${mid((r) => r.headNginx).toFixed(0)}, ratio ${mid((r) => r.headOurs / r.headNginx).toFixed(2)} ${one((r) => r.headSingle, (r) => r.headNginx)}`,
  );
  console.log(`HEAD latency     factory ${mid((r) => r.latencyOurs).toFixed(2)} ms, nginx ${mid((r) => r.latencyNginx).toFixed(2)} ms, ratio ${mid((r) => r.latencyOurs / r.latencyNginx).toFixed(2)}`);
  console.log(`GET  X-Accel-Redirect behind nginx ${mid((r) => r.getBehind).toFixed(0)} MB/s, nginx alone ${mid((r) => r.getNginx).toFixed(0)} MB/s, ratio ${mid((r) => r.getBehind / r.getNginx).toFixed(2)}`);
} finally {
  for (const stop of stops.reverse()) await stop();
  await factory.stop();
  rmSync(factory.dataDir, { recursive: true, force: true });
}
