// Our SquashFS writer against mksquashfs on the same tree, with the settings
// Talos uses (zstd level 18; xz with a block-sized dictionary) and gzip.
// Prints wall time and output size of each, and ours / mksquashfs ratios.
//
//   npx tsx bench/squashfs.ts [tree] [--comp zstd,xz,gzip] [--runs N]
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

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const value = args[i + 1] ?? fallback;
  args.splice(i, 2);
  return value;
};
const compressions = option('--comp', 'zstd,xz,gzip').split(',') as WriteCompression[];
const runs = Number(option('--runs', '1'));
// Default: the Debian packages the development release unpacks (kernel modules, GRUB, systemd-boot, busybox: ~130 MB).
const DEV_RELEASE_PACKAGES = '.cache/dev-release/debs/extracted';
const tree = args[0] ?? (existsSync(DEV_RELEASE_PACKAGES) ? DEV_RELEASE_PACKAGES : '/usr/lib/python3');

const MKSQUASHFS_ARGS: Record<WriteCompression, string[]> = {
  zstd: ['-comp', 'zstd', '-Xcompression-level', '18'],
  xz: ['-comp', 'xz', '-Xdict-size', '100%'],
  gzip: ['-comp', 'gzip'],
};

const work = mkdtempSync(join(tmpdir(), 'squashfs-bench-'));

/** Best wall time of `runs` runs, in seconds. */
async function best(run: () => Promise<void> | void): Promise<number> {
  let min = Infinity;
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await run();
    min = Math.min(min, Number(process.hrtime.bigint() - start) / 1e9);
  }
  return min;
}

try {
  const input = await FileTree.fromDirectory(tree);
  const du = execFileSync('du', ['-sb', tree], { encoding: 'utf8' }).split('\t')[0];
  console.log(`tree ${tree} (${(Number(du) / 2 ** 20).toFixed(1)} MiB), best of ${runs} run(s)`);
  console.log('compression | ours s | mksquashfs s | time ratio | ours MiB | mksquashfs MiB | size ratio');
  for (const compression of compressions) {
    const ours = join(work, `ours-${compression}.sqsh`);
    const theirs = join(work, `mksquashfs-${compression}.sqsh`);
    const ourTime = await best(() => writeSquashfs(input, ours, { compression }).then(() => {}));
    const theirTime = await best(() => {
      execFileSync('mksquashfs', [tree, theirs, '-all-root', '-noappend', '-mkfs-time', '0', '-all-time', '0', '-quiet', '-no-progress', ...MKSQUASHFS_ARGS[compression]]);
    });
    const ourSize = statSync(ours).size;
    const theirSize = statSync(theirs).size;
    const mib = (n: number) => (n / 2 ** 20).toFixed(2);
    console.log(
      `${compression.padEnd(11)} | ${ourTime.toFixed(2).padStart(6)} | ${theirTime.toFixed(2).padStart(12)} | ${(ourTime / theirTime).toFixed(2).padStart(10)} | ` +
        `${mib(ourSize).padStart(8)} | ${mib(theirSize).padStart(14)} | ${(ourSize / theirSize).toFixed(3).padStart(10)}`,
    );
  }
  console.log(`peak RSS of this process (ours; mksquashfs runs as a child): ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
