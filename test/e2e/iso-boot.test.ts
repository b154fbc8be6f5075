// A real hybrid ISO from our writer, booted four ways: SeaBIOS from CD and
// from disk (GRUB i386-pc El Torito image, GRUB's boot_hybrid.img MBR), and
// OVMF from CD and from disk (GRUB x86_64-efi in the ESP appended as GPT
// partition 2, also the El Torito EFI entry). GRUB reads grub.cfg, the kernel
// and the initramfs through our ISO 9660 + Rock Ridge tree and boots the
// development release, whose init reports on the serial console. Then the
// Linux kernel's isofs mounts a bigger tree, whole disk and as partition 1.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { talosIsoVolume } from '../../src/build/iso/volume.js';
import { IsoTree, writeIso } from '../../src/formats/iso9660/index.js';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { buildIsoProbeInitramfs, parseIsoProbe } from '../helpers/iso-kernel.js';
import { snapshot } from '../helpers/squashfs-oracle.js';
import { buildTree, sampleTrees } from '../helpers/squashfs-trees.js';
import { fitNames } from '../helpers/iso-trees.js';
import { bootHybridImage, espToolsSkipReason, grubConfig, grubSkipReason, makeBiosEltorito, makeEfiGrub, makeEsp } from '../helpers/iso-grub.js';
import { OVMF_FD, bootQemu, qemuSkipReason } from '../helpers/qemu.js';

const release = await ensureDevRelease();
const version = release.versions.at(-1)!;
const boot = release.boot[version]!;
const biosSkip = qemuSkipReason() ?? grubSkipReason(['i386-pc'], release.outDir);
const uefiSkip = biosSkip ?? grubSkipReason(['x86_64-efi'], release.outDir) ?? espToolsSkipReason();
const work = mkdtempSync(join(tmpdir(), 'iso-boot-'));
const iso = join(work, 'talos.iso');
const CMDLINE = 'console=ttyS0 factory.test=iso-boot';

beforeAll(async () => {
  if (biosSkip) return;
  const volume = talosIsoVolume(version, 1_700_000_000);
  const eltorito = join(work, 'eltorito.img');
  makeBiosEltorito(eltorito, release.outDir);
  const tree = new IsoTree();
  tree.file('boot/vmlinuz', { path: boot.kernel });
  tree.file('boot/initramfs.xz', { path: boot.initramfs });
  tree.file('boot/grub/grub.cfg', { data: Buffer.from(grubConfig('/boot/vmlinuz', '/boot/initramfs.xz', CMDLINE)) });
  tree.file('boot/grub/i386-pc/eltorito.img', { path: eltorito });
  let esp: string | undefined;
  if (!uefiSkip) {
    const efi = join(work, 'BOOTX64.EFI');
    makeEfiGrub(efi, volume.volumeId, work, release.outDir);
    esp = join(work, 'efiboot.img');
    makeEsp(esp, 4096, { 'EFI/BOOT/BOOTX64.EFI': efi });
  }
  await writeIso(tree, iso, {
    volumeId: volume.volumeId,
    volumeSetId: volume.volumeSetId,
    date: volume.date,
    bios: { image: 'boot/grub/i386-pc/eltorito.img', grub2BootInfo: true },
    ...(esp ? { efi: { appendedPartition: true as const } } : {}),
    hybrid: {
      guidSeed: volume.volumeSetId,
      mbrBootCode: readFileSync(bootHybridImage(release.outDir)),
      grub2Mbr: true,
      // 1 MiB alignment, as Talos' imager asks xorriso for.
      cylinderAlign: true,
      ...(esp ? { esp: { path: esp } } : {}),
    },
  });
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** QEMU under TCG: a firmware boot takes 5-10 s here, the isofs probe about 40 s. */
const BOOT_TIMEOUT = 180_000;

async function expectBoot(args: string[], firmwareSays?: RegExp): Promise<void> {
  const result = await bootQemu({ args, timeoutMs: BOOT_TIMEOUT - 10_000 });
  const tail = result.console.slice(-3000);
  expect(result.report.status, tail).toBe('ok');
  expect(result.report.talos, tail).toBe(version);
  expect(result.report.cmdline, tail).toContain('factory.test=iso-boot');
  if (firmwareSays) expect(result.console).toMatch(firmwareSays);
}

const disk = (): string => `file=${iso},format=raw,snapshot=on`;

describe.skipIf(biosSkip !== undefined)('hybrid ISO boots with SeaBIOS', () => {
  it('as a CD-ROM (El Torito, GRUB i386-pc)', async () => {
    await expectBoot(['-cdrom', iso]);
  }, BOOT_TIMEOUT);

  it('as a hard disk (MBR boot code, GRUB core found through the patched blocklist)', async () => {
    await expectBoot(['-drive', disk()], /Booting from Hard Disk/);
  }, BOOT_TIMEOUT);
});

describe.skipIf(uefiSkip !== undefined)('hybrid ISO boots with OVMF', () => {
  it('as a CD-ROM (El Torito EFI entry on the appended ESP)', async () => {
    await expectBoot(['-bios', OVMF_FD, '-cdrom', iso], /UEFI QEMU DVD-ROM/);
  }, BOOT_TIMEOUT);

  it('as a hard disk (the ESP as GPT partition 2)', async () => {
    await expectBoot(['-bios', OVMF_FD, '-drive', disk()], /UEFI QEMU HARDDISK/);
  }, BOOT_TIMEOUT);
});

describe.skipIf(qemuSkipReason() !== undefined)("Linux's isofs reads our tree, whole disk and as GPT partition 1", () => {
  it('every entry with its Rock Ridge name, type, mode, size, contents and symlink target', async () => {
    const src = join(work, 'probe-tree');
    // The shared sample trees: 253-byte names (the longest isofs reads), 4095-byte symlink targets, multi-block directories.
    const samples = sampleTrees(2048);
    buildTree(
      src,
      fitNames([
        ...samples.nested.map((s) => ({ ...s, path: `nested/${s.path}` })),
        ...samples.sizes.map((s) => ({ ...s, path: `sizes/${s.path}` })),
        ...samples.many.map((s) => ({ ...s, path: `many/${s.path}` })),
      ]),
    );
    const image = join(work, 'probe.iso');
    await writeIso(await IsoTree.fromDirectory(src), image, { volumeId: 'PROBE', date: new Date('2023-11-14T22:13:13Z'), hybrid: { guidSeed: 'probe' } });
    const initrd = join(work, 'probe.cpio');
    await buildIsoProbeInitramfs(release, boot.kernel, initrd);
    const result = await bootQemu({
      kernel: boot.kernel,
      initrd,
      append: 'console=ttyS0 quiet loglevel=1',
      args: ['-drive', `file=${image},format=raw,if=virtio,snapshot=on`],
      timeoutMs: 240_000,
    });
    const probe = parseIsoProbe(result.console);
    const tail = result.console.slice(-3000);
    expect(probe.errors, tail).toEqual([]);
    expect(probe.done, tail).toEqual(['vda', 'vda1']);
    const expected = snapshot(src).map((e) => ({
      type: e.type,
      mode: e.mode,
      size: e.type === 'file' ? e.size : 0,
      path: e.path,
      ...(e.type === 'file' ? { sha256: e.sha256 } : {}),
      ...(e.type === 'symlink' ? { target: e.target } : {}),
    }));
    expect(probe.devices.vda).toEqual(expected);
    expect(probe.devices.vda1).toEqual(expected);
  }, 300_000);
});
