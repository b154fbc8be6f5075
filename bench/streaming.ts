// Cold assets streamed while they are built, against build-then-serve in the
// same run: for each asset a never-built schematic, time to the first body
// byte and to the last byte of a plain GET (streamed), and of a GET with
// `Range: bytes=0-` (which waits for the cache entry: today's behaviour before
// streaming). Then a build past its deadline: how long after the deadline the
// body is cut, the CPU of the service and its children in the second after
// that (against the same process idle for a second before), and the children
// left. The client is curl (first byte: curl's time_starttransfer, the head
// being sent with the first body bytes).
//
// Fairness: the first build of a kind in a process is slower than the next
// (files read for the first time, code compiled), so each asset is built once
// unmeasured first, and then measured in the order streamed, build-then-serve,
// build-then-serve, streamed, so neither side gains from going second or
// from a load that rises or falls during the run (five such cycles for the
// assets built in under a second, one for the disk image); the figures are
// the means of each side's requests.
//
//   npm run bench:streaming

import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { createSchematic, ratio, startFactory } from './lib/service.js';

const execFileAsync = promisify(execFile);

const ASSETS = ['metal-amd64.raw.zst', 'metal-amd64.iso', 'metal-amd64-uki.efi', 'initramfs-amd64.xz'];
/** streamed-baseline-baseline-streamed cycles per asset: builds of well under a second vary by tens of milliseconds, so they get more. */
const CYCLES: Record<string, number> = { 'metal-amd64.raw.zst': 1, 'metal-amd64.iso': 5, 'metal-amd64-uki.efi': 5, 'initramfs-amd64.xz': 5 };
const TICK_MS = 1000 / 100; // USER_HZ

interface Timing {
  status: number;
  firstMs: number;
  lastMs: number;
  bytes: number;
}

/**
 * A GET by curl, its body thrown away: the same client on both sides, and one that costs the two cores
 * the service builds on little CPU (receiving 65 MB in this process took as much as a small build).
 * Rejects when curl fails (a cut body among others).
 */
async function timedGet(url: string, headers: Record<string, string> = {}): Promise<Timing> {
  const args = ['-s', '-o', '/dev/null', '-w', '%{http_code} %{time_starttransfer} %{time_total} %{size_download}'];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
  const { stdout } = await execFileAsync('curl', [...args, url]);
  const [status, first, total, bytes] = stdout.trim().split(' ').map(Number);
  return { status: status!, firstMs: first! * 1000, lastMs: total! * 1000, bytes: bytes! };
}

let n = 0;
const freshSchematic = (url: string): Promise<string> =>
  createSchematic(url, `customization:\n  extraKernelArgs: [bench.streaming=${Date.now()}-${n++}]\n  systemExtensions:\n    officialExtensions: [siderolabs/hello-service]\n`);

const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

const mean = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0) / values.length;

const factory = await startFactory({ IF_METRICS_LISTEN: '', IF_WORKERS: '1' });
try {
  // Warm up: the release inputs unpacked, the extension pulled.
  await timedGet(`${factory.url}/image/${await freshSchematic(factory.url)}/${factory.version}/initramfs-amd64.xz`);
  console.log('asset                  streamed: first byte   last byte | build-then-serve: last byte | first/last  streamed/baseline');
  for (const asset of ASSETS) {
    const cold = (headers: Record<string, string> = {}): Promise<Timing> =>
      freshSchematic(factory.url).then((id) => timedGet(`${factory.url}/image/${id}/${factory.version}/${asset}`, headers));
    await cold(); // the first build of this kind, not measured
    const streamed: Timing[] = [];
    const baseline: Timing[] = [];
    for (let cycle = 0; cycle < CYCLES[asset]!; cycle++) {
      for (const side of ['streamed', 'baseline', 'baseline', 'streamed'] as const) {
        if (side === 'streamed') streamed.push(await cold());
        else baseline.push(await cold({ range: 'bytes=0-' }));
      }
    }
    // Every request has its own schematic (each must be cold), so the sizes differ by a few bytes of command line.
    const statuses = new Set([...streamed.map((t) => `streamed ${t.status}`), ...baseline.map((t) => `baseline ${t.status}`)]);
    if ([...statuses].join() !== 'streamed 200,baseline 206') throw new Error(`${asset}: answered ${[...statuses].join(', ')}`);
    const first = mean(streamed.map((t) => t.firstMs));
    const last = mean(streamed.map((t) => t.lastMs));
    const served = mean(baseline.map((t) => t.lastMs));
    console.log(
      `${asset.padEnd(22)} ${seconds(first).padStart(19)} ${seconds(last).padStart(11)} | ${seconds(served).padStart(27)} | ${ratio(first, last).padStart(10)} ${ratio(last, served).padStart(18)}`,
    );
  }
} finally {
  await factory.stop();
}

/** CPU ticks of a process and its live children. */
function cpuTicks(pid: number): { ticks: number; children: number[] } {
  let ticks = 0;
  const children: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let fields: string[];
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    } catch {
      continue;
    }
    const ppid = Number(fields[1]);
    if (Number(name) !== pid && ppid !== pid) continue;
    if (Number(name) !== pid) children.push(Number(name));
    // utime, stime, cutime, cstime (fields 14-17, 0-based 11-14 after the name).
    ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
  }
  return { ticks, children };
}

const TIMEOUT_S = 3;
const timed = await startFactory({ IF_METRICS_LISTEN: '', IF_WORKERS: '1', IF_BUILD_TIMEOUT_SECONDS: String(TIMEOUT_S) });
try {
  const pid = timed.child.pid!;
  const id = await freshSchematic(timed.url);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const idleStart = cpuTicks(pid).ticks;
  await sleep(1000);
  const idle = (cpuTicks(pid).ticks - idleStart) * TICK_MS;
  const started = performance.now();
  const res = await timedGet(`${timed.url}/image/${id}/${timed.version}/metal-amd64.raw.zst`).catch(() => undefined);
  const stoppedAfterDeadlineMs = performance.now() - started - TIMEOUT_S * 1000;
  const afterStop = cpuTicks(pid).ticks;
  await sleep(1000);
  const after = cpuTicks(pid);
  const cpuAfter = (after.ticks - afterStop) * TICK_MS;
  console.log(
    `\ntimed-out build (${TIMEOUT_S} s deadline, metal-amd64.raw.zst): answered ${res ? `${res.status} after ${res.bytes} B` : 'with a cut connection'} ` +
      `${seconds(stoppedAfterDeadlineMs)} after the deadline (request start + ${TIMEOUT_S} s, an upper bound); ` +
      `CPU in the next second ${cpuAfter.toFixed(0)} ms against ${idle.toFixed(0)} ms idle (ratio ${ratio(cpuAfter + TICK_MS, idle + TICK_MS)}, ±1 tick); ` +
      `child processes left: ${after.children.length}`,
  );
} finally {
  await timed.stop();
}
