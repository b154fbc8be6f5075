// Timing for the benches: wall and CPU seconds of one run, and the median of several.

import { readFileSync } from 'node:fs';

export function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

/** CPU seconds of this process and its waited-for children (/proc/self/stat utime, stime, cutime, cstime). */
function cpuSeconds(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return fields.slice(11, 15).reduce((sum, ticks) => sum + Number(ticks), 0) / 100;
}

export async function measure(run: () => Promise<void> | void): Promise<{ wall: number; cpu: number }> {
  const cpu = cpuSeconds();
  const start = process.hrtime.bigint();
  await run();
  return { wall: Number(process.hrtime.bigint() - start) / 1e9, cpu: cpuSeconds() - cpu };
}
