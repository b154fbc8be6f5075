// A dual-boot ISO (v1.12.0: GRUB for BIOS, systemd-boot + UKI for UEFI) and a
// GRUB ISO (v1.7.6: GRUB for BIOS and UEFI) from the development release's
// inputs: our builder (our FAT and ISO 9660 writers, GRUB images from
// grub-mkimage) against the way Talos' imager makes them (talos-imager.md
// §3.1–3.3): the scratch tree with copies of the inputs and touched mtimes,
// efiboot.img by mkfs.vfat + mcopy + mattrib, then grub-mkrescue with
// upstream's arguments (--verbose, the volume ids from 1.8, the
// SOURCE_DATE_EPOCH dates). Same inputs, same disk, same run, runs
// interleaved; the UKI is assembled once up front and is an input to both.
// Prints the median wall time and the median CPU time (this process and its
// children: grub-mkimage on our side, every tool on the other), the ratios
// ours / baseline, the output sizes and both ISOs' El Torito entries.
//
//   npm run bench:iso -- [--runs 5]

import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isoGrubConfig } from '../src/build/iso/grub-cfg.js';
import { buildTalosIso } from '../src/build/iso/build.js';
import { ISO_LOADER_CONF, RANDOM_SEED } from '../src/build/iso/esp.js';
import { setsIsoLabel, talosIsoLabel, isoVolumeId } from '../src/build/iso/volume.js';
import { buildTalosUki } from '../src/build/uki/build.js';
import { FAT32_MIN_CLUSTERS, espSectorsPerCluster, fat32SizeFor } from '../src/formats/fat/index.js';
import { ensureDevRelease, ratio } from './lib/service.js';
import { measure, median } from './lib/timing.js';
import { numberOption } from './lib/args.js';

const MIB = 1024 * 1024;
const RUNS = numberOption('--runs', 5);
const EPOCH = 0;
const CMDLINE = 'talos.platform=metal console=ttyS0 console=tty0 init_on_alloc=1 slab_nomerge pti=on';
const release = await ensureDevRelease();
const work = mkdtempSync(join(tmpdir(), 'if-bench-iso-'));
const env = {
  ...process.env,
  PATH: `${process.env.PATH}:/usr/sbin:/sbin`,
  MTOOLS_SKIP_CHECK: '1',
  SOURCE_DATE_EPOCH: String(EPOCH),
  GRUB_FAT_SERIAL_NUMBER: EPOCH.toString(16),
};
const grubDir = release.grubDir;

// Upstream's GRUB ISO runs grub-mkrescue without --directory, so it takes every
// platform under /usr/lib/grub. That is the same input only if the host's GRUB
// is the release's (both are Debian's grub 2.06 here); else the baseline falls
// back to the release's i386-pc alone (BIOS only, less work than ours).
const hostGrubIsRelease = ['i386-pc', 'x86_64-efi'].every((platform) => {
  try {
    execFileSync('diff', ['-rq', join(grubDir, platform), join('/usr/lib/grub', platform)], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
});

function touchTree(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) touchTree(join(dir, entry.name));
    utimesSync(join(dir, entry.name), EPOCH, EPOCH);
  }
}

/** "1970010100000000": xorriso's -volume_date uuid form of SOURCE_DATE_EPOCH. */
function uuidDate(epoch: number): string {
  return `${new Date(epoch * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 14)}00`;
}

interface Uefi {
  uki: string;
  sdBoot: string;
}

/** Upstream's recipe (hybrid.go / grub.go / uefi.go): scratch tree, efiboot.img, grub-mkrescue. */
function upstreamIso(version: string, kernel: string, initramfs: string, out: string, uefi?: Uefi): void {
  const scratch = mkdtempSync(join(work, `upstream-${version}-`));
  try {
    // GRUB prep (§3.3).
    mkdirSync(join(scratch, 'boot/grub'), { recursive: true });
    copyFileSync(kernel, join(scratch, 'boot/vmlinuz'));
    copyFileSync(initramfs, join(scratch, 'boot/initramfs.xz'));
    writeFileSync(join(scratch, 'boot/grub/grub.cfg'), isoGrubConfig({ cmdline: CMDLINE, resetEntry: true }));
    let efiboot: string | undefined;
    if (uefi) {
      // UEFI prep (§3.1): the tree in the scratch dir, then the same tree in efiboot.img.
      mkdirSync(join(scratch, 'EFI/BOOT'), { recursive: true });
      mkdirSync(join(scratch, 'EFI/Linux'), { recursive: true });
      mkdirSync(join(scratch, 'loader'), { recursive: true });
      copyFileSync(uefi.sdBoot, join(scratch, 'EFI/BOOT/BOOTX64.EFI'));
      copyFileSync(uefi.uki, join(scratch, `EFI/Linux/Talos-${version}.efi`));
      writeFileSync(join(scratch, 'loader/loader.conf'), ISO_LOADER_CONF);
      writeFileSync(join(scratch, 'loader/random-seed'), RANDOM_SEED);
      // Upstream's size (10 MiB + sd-boot + UKI, each rounded up to a MiB), but at
      // least a valid FAT32 volume as ours (the development release's UKI is small).
      const ceilMib = (path: string) => Math.ceil(statSync(path).size / MIB) * MIB;
      const size = Math.max(10 * MIB + ceilMib(uefi.sdBoot) + ceilMib(uefi.uki), fat32SizeFor(FAT32_MIN_CLUSTERS, 1));
      efiboot = join(scratch, 'efiboot.img');
      execFileSync('mkfs.vfat', ['-C', '-F', '32', '-n', 'EFI', '--invariant', '-s', String(espSectorsPerCluster(size)), efiboot, String(size / 1024)], { env, stdio: 'pipe' });
      execFileSync('mcopy', ['-s', '-p', '-Q', '-m', '-i', efiboot, join(scratch, 'EFI'), join(scratch, 'loader'), '::'], { env });
      execFileSync('mattrib', ['-i', efiboot, '+r', '::/loader/random-seed'], { env });
    }
    touchTree(scratch);
    const native = ['-volume_date', 'all_file_dates', `=${EPOCH}`, '-volume_date', 'uuid', uuidDate(EPOCH)];
    if (setsIsoLabel(version)) native.unshift('-volid', isoVolumeId(talosIsoLabel(version)), '-volset-id', talosIsoLabel(version));
    const args = efiboot
      ? [
          '--compress=xz', `--output=${out}`, '--verbose', `--directory=${join(grubDir, 'i386-pc')}`,
          '-m', 'efiboot.img', '-iso-level', '3', scratch, '-eltorito-alt-boot',
          '-e', '--interval:appended_partition_2:all::', '-append_partition', '2', '0xef', efiboot,
          '-appended_part_as_gpt', '-partition_cyl_align', 'all', '-partition_offset', '16', '-iso_mbr_part_type', '0x83', '-no-emul-boot',
          '--', ...native,
        ]
      : ['--compress=xz', `--output=${out}`, '--verbose', ...(hostGrubIsRelease ? [] : [`--directory=${join(grubDir, 'i386-pc')}`]), scratch, '-iso-level', '3', '--', ...native];
    execFileSync('grub-mkrescue', args, { env, stdio: 'pipe', maxBuffer: 64 * MIB });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** "BIOS /boot/grub/i386-pc/eltorito.img, UEFI (appended partition)": an ISO's El Torito entries. */
function eltorito(iso: string): string {
  const report = execFileSync('xorriso', ['-indev', iso, '-report_el_torito', 'plain'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const platforms = [...report.matchAll(/^El Torito boot img :\s+(\d+)\s+(\S+)/gm)].map((m) => [m[1]!, m[2]!] as const);
  const paths = new Map([...report.matchAll(/^El Torito img path :\s+(\d+)\s+(\S+)/gm)].map((m) => [m[1]!, m[2]!] as const));
  return platforms.map(([n, platform]) => `${platform} ${paths.get(n) ?? '(appended partition)'}`).join(', ');
}

const mib = (path: string) => `${(statSync(path).size / MIB).toFixed(1)} MiB`;

try {
  console.log(`${RUNS} runs each, interleaved; host GRUB ${hostGrubIsRelease ? 'is' : 'is NOT'} the release's GRUB`);
  for (const version of [release.versions.at(-1)!, release.versions[0]!]) {
    const boot = release.boot[version]!;
    const dual = version === release.versions.at(-1);
    let uefi: Uefi | undefined;
    if (dual) {
      uefi = { uki: join(work, `uki-${version}.efi`), sdBoot: boot.systemdBoot };
      await buildTalosUki({ version, kind: 'iso', systemdStub: boot.systemdStub, kernel: boot.kernel, initramfs: boot.initramfs, cmdline: CMDLINE, sourceDateEpoch: EPOCH }, uefi.uki);
    }
    console.log(`${version}: kernel ${mib(boot.kernel)}, initramfs ${mib(boot.initramfs)}${uefi ? `, UKI ${mib(uefi.uki)}, systemd-boot ${mib(uefi.sdBoot)}` : ''}`);
    const ours = join(work, `ours-${version}.iso`);
    const theirs = join(work, `upstream-${version}.iso`);
    const oursRuns: Array<{ wall: number; cpu: number }> = [];
    const theirRuns: Array<{ wall: number; cpu: number }> = [];
    for (let i = 0; i < RUNS; i++) {
      const scratch = mkdtempSync(join(work, 'ours-'));
      oursRuns.push(
        await measure(async () => {
          await buildTalosIso(
            {
              version,
              arch: 'amd64',
              bootloader: dual ? 'dual-boot' : 'grub',
              grubResetEntry: true,
              kernel: boot.kernel,
              initramfs: boot.initramfs,
              cmdline: CMDLINE,
              ...(uefi && { uki: uefi.uki, systemdBoot: uefi.sdBoot }),
              grubDir,
              sourceDateEpoch: EPOCH,
              workDir: scratch,
            },
            ours,
          );
          rmSync(scratch, { recursive: true, force: true });
        }),
      );
      theirRuns.push(await measure(() => upstreamIso(version, boot.kernel, boot.initramfs, theirs, uefi)));
    }
    const wall = [median(oursRuns.map((r) => r.wall)), median(theirRuns.map((r) => r.wall))] as const;
    const cpu = [median(oursRuns.map((r) => r.cpu)), median(theirRuns.map((r) => r.cpu))] as const;
    console.log(
      `${version} ${dual ? 'dual-boot' : 'GRUB'} ISO: ours ${wall[0].toFixed(2)} s wall, ${cpu[0].toFixed(2)} s CPU, ${mib(ours)}; ` +
        `${dual ? 'mkfs.vfat + mcopy + grub-mkrescue' : 'grub-mkrescue'} ${wall[1].toFixed(2)} s wall, ${cpu[1].toFixed(2)} s CPU, ${mib(theirs)}; ` +
        `ratio wall ${ratio(wall[0], wall[1])}, CPU ${ratio(cpu[0], cpu[1])}, size ${ratio(statSync(ours).size, statSync(theirs).size)}`,
    );
    console.log(`  El Torito: ours ${eltorito(ours)}; grub-mkrescue ${eltorito(theirs)}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
