// materializeDirectory: built once, complete or absent, and what a killed
// process left beside it swept by the next build.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { materializeDirectory } from '../../src/materialize.js';
import { OWNER_TAG } from '../../src/ownership.js';

const work = mkdtempSync(join(tmpdir(), 'materialize-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('materializeDirectory', () => {
  it('builds once for concurrent callers and hands out only a complete directory', async () => {
    const final = join(work, 'once');
    let builds = 0;
    const build = async (tmp: string) => {
      builds++;
      await new Promise((resolve) => setTimeout(resolve, 20));
      writeFileSync(join(tmp, 'file'), 'content');
    };
    const [a, b] = await Promise.all([materializeDirectory(final, build), materializeDirectory(final, build)]);
    expect(a).toBe(final);
    expect(b).toBe(final);
    expect(builds).toBe(1);
    expect(readFileSync(join(final, 'file'), 'utf8')).toBe('content');
    await materializeDirectory(final, build);
    expect(builds).toBe(1);
  });

  it('leaves nothing when the build fails', async () => {
    const final = join(work, 'failing');
    await expect(
      materializeDirectory(final, async (tmp) => {
        writeFileSync(join(tmp, 'half'), 'x');
        throw new Error('broken input');
      }),
    ).rejects.toThrow('broken input');
    expect(existsSync(final)).toBe(false);
    expect(readdirSync(work).filter((name) => name.includes('failing'))).toEqual([]);
  });

  it("sweeps a temporary of its own directory that a process no longer running left, and keeps a live one's", async () => {
    const host = OWNER_TAG.split('_')[0]!;
    const deadPid = spawnSync('true').pid!;
    const gone = `.swept.${host}_${deadPid}_0badc0de.tmp-ABC123`;
    const live = `.swept.${host}_1_0badc0de.tmp-DEF456`; // PID 1 runs wherever the tests do
    const otherDir = `.unrelated.${host}_${deadPid}_0badc0de.tmp-GHI789`;
    for (const name of [gone, live, otherDir]) mkdirSync(join(work, name));
    await materializeDirectory(join(work, 'swept'), async () => {});
    const left = readdirSync(work);
    expect(left).not.toContain(gone);
    expect(left).toContain(live);
    expect(left).toContain(otherDir); // another directory's temporary: the runtime's sweep decides
    expect(left).toContain('swept');
  });
});
