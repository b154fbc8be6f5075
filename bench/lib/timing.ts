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

/**
 * Runs each measurement twice in a mirrored order (A B C, then C B A) and
 * gives each name the mean of its two results. A drift of the machine's speed
 * during the sequence (seen here: ±10 % within a minute) then weighs on every
 * name alike, where A-then-B would charge it all to one side.
 */
export async function mirrored<Name extends string>(order: readonly Name[], run: (name: Name) => Promise<number>): Promise<Record<Name, number>> {
  const means = {} as Record<Name, number>;
  for (const name of [...order, ...[...order].reverse()]) means[name] = (means[name] ?? 0) + (await run(name)) / 2;
  return means;
}
