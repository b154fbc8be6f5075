// An ISO's EFI system partition (the development release's systemd-boot, a
// 100 MiB UKI-sized file, loader.conf and random-seed, sized as Talos sizes
// it) and a tree of 2,000 small files in 20 directories: our FAT32 writer against `mkfs.vfat -F 32 --invariant` +
// `mcopy -s -p -Q -m` (+ `mattrib +r`), the way Talos' imager makes it, on the
// same files (on the same disk) in the same run, runs interleaved; median wall
// time and CPU time (this process and its children) of nine runs. Both images
// must pass `fsck.fat -n`, hold the source tree byte for byte (copied back out
// with mcopy and compared with diff -r) and the read-only attribute.
//
//   npm run bench:fat -- [--runs 9]

import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { espSectorsPerCluster, planFat, writeFatImage } from '../src/formats/fat/index.js';
import { FileTree } from '../src/formats/file-tree.js';
import { ensureDevRelease, ratio } from './lib/service.js';
import { measure, median } from './lib/timing.js';
import { numberOption } from './lib/args.js';

const MIB = 1024 * 1024;
const RUNS = numberOption('--runs', 9);
const env = { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin`, MTOOLS_SKIP_CHECK: '1', SOURCE_DATE_EPOCH: '0' };
const work = mkdtempSync(join(tmpdir(), 'if-bench-fat-'));

/** fsck.fat -n accepts the image, mcopy reads the source tree back byte for byte, the read-only file is read-only. */
function check(image: string, root: string, readOnly?: string): void {
  execFileSync('fsck.fat', ['-n', image], { env, stdio: 'pipe' });
  const out = mkdtempSync(join(work, 'out-'));
  execFileSync('mcopy', ['-s', '-n', '-i', image, ...readdirSync(root).map((name) => `::/${name}`), out], { env });
  execFileSync('diff', ['-r', root, out], { stdio: 'pipe' });
  rmSync(out, { recursive: true, force: true });
  if (readOnly && !/^[^:]*\bR\b/.test(execFileSync('mattrib', ['-i', image, `::/${readOnly}`], { env, encoding: 'utf8' }))) throw new Error(`${image}: ${readOnly} is not read-only`);
}

/** A source tree on disk (path → bytes), written once. */
function sourceTree(name: string, files: Record<string, Buffer>): string {
  const root = join(work, name);
  for (const [path, data] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), data);
  }
  return root;
}

async function compare(name: string, root: string, size: number, readOnly?: string): Promise<void> {
  const spc = espSectorsPerCluster(size);
  const ours = join(work, `${name}-ours.img`);
  const theirs = join(work, `${name}-mtools.img`);
  const top = readdirSync(root).map((name) => join(root, name));
  const oursRuns: Array<{ wall: number; cpu: number }> = [];
  const theirRuns: Array<{ wall: number; cpu: number }> = [];
  for (let i = 0; i < RUNS; i++) {
    oursRuns.push(
      await measure(async () => {
        const tree = await FileTree.fromDirectory(root);
        // FAT marks a file no one may write read-only.
        if (readOnly && tree.remove(readOnly)) tree.file(readOnly, { path: join(root, readOnly) }, { mode: 0o444 });
        await writeFatImage(await planFat(tree, { size, sectorsPerCluster: spc, label: 'EFI' }), ours);
      }),
    );
    theirRuns.push(
      await measure(() => {
        rmSync(theirs, { force: true });
        execFileSync('mkfs.vfat', ['-C', '-F', '32', '-n', 'EFI', '--invariant', '-s', String(spc), theirs, String(size / 1024)], { env, stdio: 'pipe' });
        execFileSync('mcopy', ['-s', '-p', '-Q', '-m', '-i', theirs, ...top, '::'], { env });
        if (readOnly) execFileSync('mattrib', ['-i', theirs, '+r', `::/${readOnly}`], { env });
      }),
    );
  }
  for (const image of [ours, theirs]) check(image, root, readOnly);
  const wall = [median(oursRuns.map((r) => r.wall)), median(theirRuns.map((r) => r.wall))] as const;
  const cpu = [median(oursRuns.map((r) => r.cpu)), median(theirRuns.map((r) => r.cpu))] as const;
  console.log(
    `${name} (${size / MIB} MiB volume): ours ${wall[0].toFixed(3)} s wall, ${cpu[0].toFixed(2)} s CPU; mkfs.vfat + mcopy ${wall[1].toFixed(3)} s wall, ${cpu[1].toFixed(2)} s CPU; ` +
      `ratio wall ${ratio(wall[0], wall[1])}, CPU ${ratio(cpu[0], cpu[1])}; on disk ${((statSync(ours).blocks * 512) / MIB).toFixed(1)} vs ${((statSync(theirs).blocks * 512) / MIB).toFixed(1)} MiB; both pass fsck.fat -n and read back`,
  );
}

try {
  const esp = sourceTree('esp', {
    'EFI/BOOT/BOOTX64.EFI': readFileSync((await ensureDevRelease()).boot['v1.12.0']!.systemdBoot),
    'EFI/Linux/Talos-v1.12.0.efi': randomBytes(100 * MIB),
    'loader/loader.conf': Buffer.from('# systemd-boot configuration\n\ntimeout 10\n\nsecure-boot-enroll off\n'),
    'loader/random-seed': Buffer.alloc(32),
  });
  await compare('ISO ESP', esp, 10 * MIB + MIB + 100 * MIB, 'loader/random-seed');
  const many: Record<string, Buffer> = {};
  for (let d = 0; d < 20; d++) for (let f = 0; f < 100; f++) many[`dir-${d}/a file with a long name ${f}.txt`] = randomBytes(1 + ((d * 100 + f) % 7) * 1000);
  await compare('2,000 small files', sourceTree('many', many), 64 * MIB);
} finally {
  rmSync(work, { recursive: true, force: true });
}
