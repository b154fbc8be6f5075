// A Talos disk image as a sparse description (talos-imager.md §4): the GPT
// with label-derived GUIDs, each partition's content placed at its offset
// (our FAT ESP, GRUB's core image and MBR code, the XFS BOOT made by
// mkfs.xfs, the META ADV), zeros everywhere else. Nothing here writes the
// disk: the output stage streams it as raw, qcow2, VHD or VMDK, compressed or
// not, so a multi-GiB image never exists in memory or on disk.

import { join } from 'node:path';
import { bufferDataExtents, fileDataExtents } from '../../formats/disk/scan.js';
import { type Extent, type SparseDisk, shiftExtents, sparseDisk } from '../../formats/disk/sparse.js';
import { gptExtents, guidFromLabel, planGpt } from '../../formats/gpt.js';
import { type MetaValue, metaPartitionExtents } from '../../formats/talos-meta.js';
import { pinXfsInodeTimes } from '../../formats/xfs-inode-times.js';
import type { BootloaderKind } from '../../talos/bootloader.js';
import type { Arch } from '../../talos/platforms.js';
import { Quirks } from '../../talos/quirks.js';
import type { TalosVersion } from '../../talos/version.js';
import { buildBootPartition } from './boot-partition.js';
import { planDiskEsp } from './esp.js';
import { grubBiosImages, grubEfiImage } from './grub-bios.js';
import { PARTITION, diskLayout } from './layout.js';

/** META key the imager sets on dual-boot images so Talos removes the boot path it did not use (0x11). */
export const DISK_IMAGE_BOOTLOADER_KEY = 0x11;

export interface DiskBuildInput {
  version: TalosVersion;
  /** The Talos version as tagged (e.g. "v1.12.0"). */
  versionTag: string;
  arch: Arch;
  bootloader: BootloaderKind;
  /** The platform's disk size before the boot partitions grow it. */
  baseSize: number;
  sectorSize: number;
  kernel: string;
  initramfs: string;
  /** The command line GRUB boots with (the UKI carries its own). */
  cmdline: string;
  uki?: string;
  systemdBoot?: string;
  grubDir: string;
  /** The schematic's META values (written into the META partition). */
  meta: readonly MetaValue[];
  sourceDateEpoch: number;
  /** Holds BOOT.img and GRUB's images until the disk has been streamed. */
  workDir: string;
  /** Stops the planning (grub-mkimage, mkfs.xfs) when aborted. */
  signal?: AbortSignal;
}

export async function planTalosDisk(input: DiskBuildInput): Promise<SparseDisk> {
  // Talos' dual-boot installer refuses arm64: there is no BIOS there to boot GRUB.
  if (input.bootloader === 'dual-boot' && input.arch !== 'amd64') throw new Error(`disk: dual-boot is not supported on ${input.arch}, use grub or sd-boot`);
  const quirks = new Quirks(input.version);
  const layout = diskLayout(input.baseSize, input.version, input.bootloader);
  const gpt = planGpt({ size: layout.size, sectorSize: input.sectorSize, diskGuid: guidFromLabel('talos-image-disk'), partitions: layout.partitions });
  const part = (name: string) => gpt.partitions.find((p) => p.name === name);
  const extents: Extent[] = [];
  let mbrBootCode: Buffer | undefined;

  const efi = part(PARTITION.efi)!;
  let espContent;
  if (input.bootloader === 'grub') {
    const grubEfi = join(input.workDir, 'grub-efi.img');
    await grubEfiImage(input.grubDir, input.arch, grubEfi, input.signal);
    espContent = { kind: 'grub' as const, grubEfi };
  } else {
    if (!input.uki || !input.systemdBoot) throw new Error(`disk: a ${input.bootloader} image needs a UKI and systemd-boot`);
    espContent = { kind: 'sd-boot' as const, systemdBoot: input.systemdBoot, uki: input.uki, version: input.versionTag };
  }
  const esp = await planDiskEsp(input.arch, espContent, efi.size, input.sectorSize, input.sourceDateEpoch);
  extents.push(...shiftExtents(esp.image.extents, efi.offset));

  // GRUB's BIOS path exists on amd64 only; its EFI image (arm64 too) reads the same BOOT.
  if (input.bootloader !== 'sd-boot' && input.arch === 'amd64') {
    const bios = part(PARTITION.bios)!;
    const images = await grubBiosImages(input.grubDir, bios.firstLba, input.workDir, input.signal);
    mbrBootCode = images.mbrCode;
    extents.push(...bufferDataExtents(images.core, { diskOffset: bios.offset }));
  }
  if (input.bootloader !== 'sd-boot') {
    const boot = part(PARTITION.boot)!;
    const bootImage = await buildBootPartition({
      version: input.versionTag,
      kernel: input.kernel,
      initramfs: input.initramfs,
      cmdline: input.cmdline,
      resetEntry: quirks.grubResetEntry(),
      xfsConfig: quirks.xfsMkfsConfig(),
      size: boot.size,
      sectorSize: input.sectorSize,
      workDir: input.workDir,
      ...(input.signal && { signal: input.signal }),
    });
    const bootData = await fileDataExtents(bootImage);
    await pinXfsInodeTimes(bootImage, bootData, input.sourceDateEpoch);
    extents.push(...shiftExtents(bootData, boot.offset));
  }

  const meta = [...input.meta];
  // As the imager: only where systemd-boot is the UEFI default (1.10+), so Talos drops the path it did not boot.
  if (input.bootloader === 'dual-boot' && quirks.usesSdBootForUefi()) meta.push({ key: DISK_IMAGE_BOOTLOADER_KEY, value: 'dual-boot' });
  // With nothing to write the imager leaves META zeroed (Talos starts an empty one on first boot).
  if (meta.length > 0) extents.push(...metaPartitionExtents(meta, part(PARTITION.meta)!.offset));
  extents.push(...gptExtents(gpt, mbrBootCode ? { mbrBootCode } : {}));
  return sparseDisk(layout.size, extents);
}
