// Our SquashFS writer against mksquashfs on the same tree, with the settings
// Talos uses (zstd level 18; xz with a block-sized dictionary) and gzip.
// Prints wall time, CPU time (ours: every thread of this process; mksquashfs:
// the child) and output size of each, and ours / mksquashfs ratios. On a busy
// machine the CPU ratio says more than the wall ratio.
//
//   npx tsx bench/squashfs.ts [tree] [--comp zstd,xz,gzip] [--cycles N]
//
// Each cycle runs ours, mksquashfs, mksquashfs, ours (bench/lib/timing.ts
// mirrored); the figures are the means over all runs.
//
// The default tree is the development release's unpacked Debian packages, else
// /usr/lib/python3 (many small text files); a kernel
// modules directory is closer to what Talos extensions hold.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileTree } from '../src/formats/file-tree.js';
import { writeSquashfs, type WriteCompression } from '../src/formats/squashfs/index.js';
import { DEV_RELEASE_DIR } from '../test/helpers/dev-release.js';
import { measure, mirrored } from './lib/timing.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const value = args[i + 1] ?? fallback;
  args.splice(i, 2);
  return value;
};
const compressions = option('--comp', 'zstd,xz,gzip').split(',') as WriteCompression[];
const cycles = Number(option('--cycles', '1'));
// Default: the Debian packages the development release unpacks (kernel modules, GRUB, systemd-boot, busybox: 252 MiB).
const DEV_RELEASE_PACKAGES = join(DEV_RELEASE_DIR, 'debs/extracted');
const tree = args[0] ?? (existsSync(DEV_RELEASE_PACKAGES) ? DEV_RELEASE_PACKAGES : '/usr/lib/python3');

const MKSQUASHFS_ARGS: Record<WriteCompression, string[]> = {
  zstd: ['-comp', 'zstd', '-Xcompression-level', '18'],
  xz: ['-comp', 'xz', '-Xdict-size', '100%'],
  gzip: ['-comp', 'gzip'],
};

const work = mkdtempSync(join(tmpdir(), 'squashfs-bench-'));

try {
  const input = await FileTree.fromDirectory(tree);
  const du = execFileSync('du', ['-sb', tree], { encoding: 'utf8' }).split('\t')[0];
  console.log(`tree ${tree} (${(Number(du) / 2 ** 20).toFixed(1)} MiB), ${cycles} cycle(s) of ours, mksquashfs, mksquashfs, ours: means`);
  console.log('compression | ours s (CPU s) | mksquashfs s (CPU s) | time ratio | CPU ratio | ours MiB | mksquashfs MiB | size ratio');
  for (const compression of compressions) {
    const ours = join(work, `ours-${compression}.sqsh`);
    const theirs = join(work, `mksquashfs-${compression}.sqsh`);
    const runs = {
      ours: () => writeSquashfs(input, ours, { compression }).then(() => {}),
      mksquashfs: () => {
        execFileSync('mksquashfs', [tree, theirs, '-all-root', '-noappend', '-mkfs-time', '0', '-all-time', '0', '-quiet', '-no-progress', ...MKSQUASHFS_ARGS[compression]]);
      },
    };
    const sum = { ours: { wall: 0, cpu: 0 }, mksquashfs: { wall: 0, cpu: 0 } };
    for (let cycle = 0; cycle < cycles; cycle++) {
      const cpu = { ours: 0, mksquashfs: 0 };
      const wall = await mirrored(['ours', 'mksquashfs'] as const, async (name) => {
        const time = await measure(runs[name]);
        cpu[name] += time.cpu / 2;
        return time.wall;
      });
      for (const name of ['ours', 'mksquashfs'] as const) {
        sum[name].wall += wall[name] / cycles;
        sum[name].cpu += cpu[name] / cycles;
      }
    }
    const { ours: our, mksquashfs: their } = sum;
    const ourSize = statSync(ours).size;
    const theirSize = statSync(theirs).size;
    const mib = (n: number) => (n / 2 ** 20).toFixed(2);
    const seconds = (t: { wall: number; cpu: number }) => `${t.wall.toFixed(2)} (${t.cpu.toFixed(2)})`;
    console.log(
      `${compression.padEnd(11)} | ${seconds(our).padStart(14)} | ${seconds(their).padStart(20)} | ${(our.wall / their.wall).toFixed(2).padStart(10)} | ` +
        `${(our.cpu / their.cpu).toFixed(2).padStart(9)} | ${mib(ourSize).padStart(8)} | ${mib(theirSize).padStart(14)} | ${(ourSize / theirSize).toFixed(3).padStart(10)}`,
    );
  }
  console.log(`peak RSS of this process (ours; mksquashfs runs as a child): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
