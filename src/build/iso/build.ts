// A Talos ISO per boot loader (talos-imager.md §3):
// - grub: GRUB for BIOS (El Torito) and UEFI (GRUB EFI on the appended ESP),
//   kernel + initramfs under /boot;
// - dual-boot: GRUB for BIOS as above, systemd-boot + UKI for UEFI;
// - sd-boot: systemd-boot + UKI only.
// Always a hybrid image: the ESP is appended as GPT partition 2 and the MBR
// carries GRUB's hybrid boot code when there is a BIOS entry, so the same
// file boots from CD and from a USB stick. Everything is written by our own
// FAT and ISO 9660 writers; only the GRUB images come from grub-mkimage.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { FileTree } from '../../formats/file-tree.js';
import { planIso, writePlannedIso, type IsoPlan, type IsoWriteOptions } from '../../formats/iso9660/index.js';
import type { BootloaderKind } from '../../talos/bootloader.js';
import type { Arch } from '../../talos/platforms.js';
import { isoGrubConfig } from './grub-cfg.js';
import { bootHybridImage, makeBiosEltorito, makeEfiGrub } from './grub-images.js';
import { sdBootIsoFiles, writeGrubEsp, writeSdBootEsp } from './esp.js';
import { talosIsoVolume } from './volume.js';

export interface IsoBuildInput {
  /** The Talos version as tagged (e.g. "v1.12.0"). */
  version: string;
  arch: Arch;
  bootloader: BootloaderKind;
  /** The GRUB reset entry (Talos >= 1.4). */
  grubResetEntry: boolean;
  kernel: string;
  /** The initramfs with extensions (GRUB boots it). */
  initramfs: string;
  /** The command line GRUB passes (the UKI carries its own). */
  cmdline: string;
  /** The UKI built for the ISO (sd-boot and dual-boot). */
  uki?: string;
  systemdBoot?: string;
  /** The release's usr/lib/grub. */
  grubDir: string;
  sourceDateEpoch: number;
  /** Scratch space for the GRUB images and the ESP, kept until the ISO is written. */
  workDir: string;
  /** Stops the build (grub-mkimage, the writing) when aborted. */
  signal?: AbortSignal;
}

const ELTORITO = 'boot/grub/i386-pc/eltorito.img';

/** Prepares every piece (GRUB images, ESP) and lays the ISO out; write it with writePlannedIso. */
export async function planTalosIso(input: IsoBuildInput): Promise<IsoPlan> {
  const volume = talosIsoVolume(input.version, input.sourceDateEpoch);
  // arm64 has no BIOS: a dual-boot request there is UEFI-only.
  const bios = input.arch === 'amd64' && input.bootloader !== 'sd-boot';
  const tree = new FileTree();
  const esp = join(input.workDir, 'efiboot.img');

  if (input.bootloader !== 'sd-boot') {
    tree.file('boot/vmlinuz', { path: input.kernel });
    tree.file('boot/initramfs.xz', { path: input.initramfs });
    tree.file('boot/grub/grub.cfg', { data: Buffer.from(isoGrubConfig({ cmdline: input.cmdline, resetEntry: input.grubResetEntry })) });
  }
  if (bios) {
    const eltorito = join(input.workDir, 'eltorito.img');
    await makeBiosEltorito(input.grubDir, eltorito, input.signal);
    tree.file(ELTORITO, { path: eltorito });
  }
  if (input.bootloader === 'grub') {
    const grubEfi = join(input.workDir, 'grub.efi');
    await makeEfiGrub(input.grubDir, input.arch, volume.date, input.workDir, grubEfi, input.signal);
    await writeGrubEsp(input.arch, grubEfi, input.sourceDateEpoch, esp);
  } else {
    if (!input.uki || !input.systemdBoot) throw new Error(`iso: a ${input.bootloader} ISO needs a UKI and systemd-boot`);
    const files = { arch: input.arch, version: input.version, systemdBoot: input.systemdBoot, uki: input.uki };
    for (const file of sdBootIsoFiles(files)) tree.file(file.path, file.source);
    await writeSdBootEsp(files, input.sourceDateEpoch, esp);
  }

  const options: IsoWriteOptions = {
    volumeId: volume.volumeId,
    volumeSetId: volume.volumeSetId,
    date: volume.date,
    efi: { appendedPartition: true },
    hybrid: {
      guidSeed: volume.volumeSetId || volume.volumeId,
      esp: { path: esp },
      cylinderAlign: true,
      ...(bios && { mbrBootCode: await readFile(await bootHybridImage(input.grubDir)), grub2Mbr: true }),
    },
    ...(bios && { bios: { image: ELTORITO, grub2BootInfo: true } }),
  };
  return planIso(tree, options);
}

export async function buildTalosIso(input: IsoBuildInput, out: string | Writable): Promise<void> {
  await writePlannedIso(await planTalosIso(input), out, input.signal);
}
