// A real hybrid ISO from our writer, booted four ways: SeaBIOS from CD and
// from disk (GRUB i386-pc El Torito image, GRUB's boot_hybrid.img MBR), and
// OVMF from CD and from disk (GRUB x86_64-efi in the ESP appended as GPT
// partition 2, also the El Torito EFI entry). GRUB reads grub.cfg, the kernel
// and the initramfs through our ISO 9660 + Rock Ridge tree and boots the
// development release, whose init reports on the serial console.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { talosIsoVolume } from '../../src/build/iso/volume.js';
import { IsoTree, writeIso } from '../../src/formats/iso9660/index.js';
import { ensureDevRelease } from '../helpers/dev-release.js';
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
    hybrid: { guidSeed: volume.volumeSetId, mbrBootCode: readFileSync(bootHybridImage(release.outDir)), grub2Mbr: true, ...(esp ? { esp: { path: esp } } : {}) },
  });
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

async function expectBoot(args: string[], firmwareSays?: RegExp): Promise<void> {
  const result = await bootQemu({ args, timeoutMs: 150_000 });
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
  });

  it('as a hard disk (MBR boot code, GRUB core found through the patched blocklist)', async () => {
    await expectBoot(['-drive', disk()], /Booting from Hard Disk/);
  });
});

describe.skipIf(uefiSkip !== undefined)('hybrid ISO boots with OVMF', () => {
  it('as a CD-ROM (El Torito EFI entry on the appended ESP)', async () => {
    await expectBoot(['-bios', OVMF_FD, '-cdrom', iso], /UEFI QEMU DVD-ROM/);
  });

  it('as a hard disk (the ESP as GPT partition 2)', async () => {
    await expectBoot(['-bios', OVMF_FD, '-drive', disk()], /UEFI QEMU HARDDISK/);
  });
});
