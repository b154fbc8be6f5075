// Disk images at full size from the development release: metal-amd64.raw.zst
// (4247 MiB dual-boot disk) and aws-amd64.raw.xz (11193 MiB). Each is built
// in a child process of its own, whose peak RSS is reported (the goal is
// under 300 MB whatever the disk size): ours streams the sparse description
// through the compressor; the baseline is the upstream way, the same raw
// disk written to a file first and then `zstd -T0 -18` / `xz -T0 -0
// --check=crc32` over it, in the same run.
//
//   npm run bench:disk

import { execFileSync, spawnSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { planTalosDisk } from '../src/build/disk/build.js';
import { diskImageStream } from '../src/build/disk/output.js';
import { buildTalosUki } from '../src/build/uki/build.js';
import { writeSparseFile } from '../src/formats/disk/sparse.js';
import { getPlatform } from '../src/talos/platforms.js';
import { parsePathVersion } from '../src/talos/version.js';
import { ensureDevRelease, ratio } from './lib/service.js';

const MIB = 1024 * 1024;
const release = await ensureDevRelease();
const tag = release.versions.at(-1)!;
const boot = release.boot[tag]!;

/** Child mode: build one image (`ours` streams it compressed; `raw` writes the sparse raw file) and print its peak RSS. */
async function child(mode: 'ours' | 'raw', platform: string, compression: 'zst' | 'xz', out: string, work: string): Promise<void> {
  const uki = join(work, `uki-${platform}.efi`);
  const cmdline = `talos.platform=${platform} console=ttyS0`;
  await buildTalosUki({ version: tag, kind: 'image', systemdStub: boot.systemdStub, kernel: boot.kernel, initramfs: boot.initramfs, cmdline, sourceDateEpoch: 0 }, uki);
  const disk = await planTalosDisk({
    version: parsePathVersion(tag),
    versionTag: tag,
    arch: 'amd64',
    bootloader: 'dual-boot',
    baseSize: getPlatform(platform).diskImage!.size,
    sectorSize: 512,
    kernel: boot.kernel,
    initramfs: boot.initramfs,
    cmdline,
    uki,
    systemdBoot: boot.systemdBoot,
    grubDir: release.grubDir,
    meta: [],
    sourceDateEpoch: 0,
    workDir: mkdtempSync(join(work, 'disk-')),
  });
  if (mode === 'raw') await writeSparseFile(disk, out);
  else await pipeline(await diskImageStream(disk, { format: 'raw', compression, sourceDateEpoch: 0 }), createWriteStream(out));
  process.stdout.write(`${JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS, size: disk.size })}\n`);
}

function timed(run: () => string): { seconds: number; output: string } {
  const start = process.hrtime.bigint();
  const output = run();
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, output };
}

function inChild(args: string[]): { seconds: number; maxRssMiB: number; size: number } {
  const { seconds, output } = timed(() => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--child', ...args], { encoding: 'utf8', env: process.env });
    if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
    return r.stdout;
  });
  const last = JSON.parse(output.trim().split('\n').at(-1)!) as { maxRssKiB: number; size: number };
  return { seconds, maxRssMiB: last.maxRssKiB / 1024, size: last.size };
}

const argv = process.argv.slice(2);
if (argv[0] === '--child') {
  await child(argv[1] as 'ours' | 'raw', argv[2]!, argv[3] as 'zst' | 'xz', argv[4]!, argv[5]!);
} else {
  const work = mkdtempSync(join(tmpdir(), 'if-bench-disk-'));
  try {
    const baselines = {
      zst: (raw: string) => `zstd -T0 -18 -q -f ${raw} -o ${raw}.zst`,
      xz: (raw: string) => `xz -T0 -0 --check=crc32 -k -f -c ${raw} > ${raw}.xz`,
    };
    for (const [platform, compression] of [
      ['metal', 'zst'],
      ['aws', 'xz'],
    ] as const) {
      const ours = join(work, `${platform}.raw.${compression}`);
      const o = inChild(['ours', platform, compression, ours, work]);
      const raw = join(work, `${platform}.raw`);
      const r = inChild(['raw', platform, compression, raw, work]);
      const tool = compression === 'zst' ? 'zstd' : 'xz';
      const c = timed(() => execFileSync('bash', ['-c', baselines[compression](raw)], { encoding: 'utf8' }));
      const baseline = r.seconds + c.seconds;
      console.log(
        `${platform}-amd64.raw.${compression} (${(o.size / MIB).toFixed(0)} MiB disk): ours ${o.seconds.toFixed(1)} s, peak RSS ${o.maxRssMiB.toFixed(0)} MiB, ${(statSync(ours).size / MIB).toFixed(1)} MiB; ` +
          `raw file then ${tool} ${r.seconds.toFixed(1)} + ${c.seconds.toFixed(1)} s, ${(statSync(`${raw}.${compression}`).size / MIB).toFixed(1)} MiB; ratio ${ratio(o.seconds, baseline)}`,
      );
      rmSync(raw, { force: true });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
