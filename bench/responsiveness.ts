// Does the service stay responsive while it builds? One factory with the
// in-process queue (two builds at a time) keeps two cold initramfs builds with
// the four sample extensions in flight (squashfs, cpio and compression all run
// in the service process) while a client asks GET /healthz back to back; the
// baseline is the same client against the same process when it is idle.
// Prints latency percentiles and the busy / idle ratio of p99.
//
//   npm run bench:responsiveness -- [--seconds 10]

import { numberOption } from './lib/args.js';
import { createSchematic, ensureDevRelease, ratio, startFactory } from './lib/service.js';

const seconds = numberOption('--seconds', 10);
const release = await ensureDevRelease();
const extensions = release.extensions[release.versions.at(-1)!]!.map((e) => e.repository);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** /healthz latencies in ms, one request after the other, for the given time. */
async function probe(url: string, ms: number): Promise<number[]> {
  const latencies: number[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const start = process.hrtime.bigint();
    const res = await fetch(`${url}/healthz`);
    await res.arrayBuffer();
    latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return latencies.sort((a, b) => a - b);
}

function summary(latencies: number[]): string {
  return `p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms (${latencies.length} requests)`;
}

const factory = await startFactory({ IF_METRICS_LISTEN: '', IF_WORKERS: '2' });
try {
  // Pull the release inputs first, so that the builds measured are builds, not downloads.
  const warm = await createSchematic(factory.url, `customization:\n  systemExtensions:\n    officialExtensions: [${extensions.join(', ')}]\n`);
  await (await fetch(`${factory.url}/image/${warm}/${factory.version}/initramfs-amd64.xz`)).arrayBuffer();

  const idle = await probe(factory.url, seconds * 1000);

  let stop = false;
  let built = 0;
  let n = 0;
  const builder = async (): Promise<void> => {
    while (!stop) {
      const id = await createSchematic(factory.url, `customization:\n  extraKernelArgs: [bench=${n++}]\n  systemExtensions:\n    officialExtensions: [${extensions.join(', ')}]\n`);
      const res = await fetch(`${factory.url}/image/${id}/${factory.version}/initramfs-amd64.xz`);
      if (!res.ok) throw new Error(`build failed: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
      built++;
    }
  };
  const builders = [builder(), builder()];
  await new Promise((r) => setTimeout(r, 200)); // both builds under way
  const busy = await probe(factory.url, seconds * 1000);
  stop = true;
  await Promise.all(builders);

  console.log(`GET /healthz back to back for ${seconds} s; cold initramfs builds with ${extensions.length} extensions, two at a time, in the service process`);
  console.log(`idle          ${summary(idle)}`);
  console.log(`two builds    ${summary(busy)}; ${built} builds finished`);
  console.log(`p99 ratio busy / idle: ${ratio(percentile(busy, 99), percentile(idle, 99))} (target: busy p99 under 50 ms)`);
} finally {
  await factory.stop();
}
