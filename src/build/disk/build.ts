// A Talos disk image as a sparse description (talos-imager.md §4): the GPT
// with label-derived GUIDs, each partition's content placed at its offset
// (our FAT ESP, GRUB's core image and MBR code, the XFS BOOT made by
// mkfs.xfs, the META ADV), zeros everywhere else. Nothing here writes the
// disk: the output stage streams it as raw, qcow2, VHD or VMDK, compressed or
// not, so a multi-GiB image never exists in memory or on disk.
//
// The layout follows from the version, boot loader and sizes alone, so the
// description is there at once: the MBR, the GPT and META are bytes, and each
// partition's content is a region made concurrently (waiting for the UKI or
// the initramfs where it holds them). A raw stream sends the disk's first
// MiB while the partitions are still being made.

import { join } from 'node:path';
import { bufferDataExtents, fileDataExtents } from '../../formats/disk/scan.js';
import { type DeferredRegion, type Extent, type StreamableDisk, deferredRegion, shiftExtents, streamableDisk } from '../../formats/disk/sparse.js';
import { type GptPartition, gptExtents, guidFromLabel, planGpt } from '../../formats/gpt.js';
import { type MetaValue, metaPartitionExtents } from '../../formats/talos-meta.js';
import { pinXfsInodeTimes } from '../../formats/xfs-inode-times.js';
import type { BootloaderKind } from '../../talos/bootloader.js';
import type { Arch } from '../../talos/platforms.js';
import { Quirks } from '../../talos/quirks.js';
import type { TalosVersion } from '../../talos/version.js';
import { buildBootPartition } from './boot-partition.js';
import { fileDataRanges } from './data-ranges.js';
import { type DiskEspContent, planDiskEsp } from './esp.js';
import { grubCoreImage, grubEfiImage, grubMbrCode } from './grub-bios.js';
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
  /** The initramfs BOOT holds; may still be being built (BOOT waits for it). */
  initramfs: string | Promise<string>;
  /** The command line GRUB boots with (the UKI carries its own). */
  cmdline: string;
  /** The UKI the ESP holds for systemd-boot; may still be being built (the ESP waits for it). */
  uki?: string | Promise<string | undefined>;
  systemdBoot?: string;
  grubDir: string;
  /** The schematic's META values (written into the META partition). */
  meta: readonly MetaValue[];
  sourceDateEpoch: number;
  /** Holds BOOT.img and GRUB's images until the disk has been streamed. */
  workDir: string;
  /** Stops making the partitions' contents (grub-mkimage, mkfs.xfs) when aborted. */
  signal?: AbortSignal;
}

/**
 * The disk, described as soon as the MBR boot code is read: partition
 * contents are regions being made (regionsSettled() says when all are done,
 * failed or stopped, e.g. before their scratch files are removed).
 */
export async function planTalosDisk(input: DiskBuildInput): Promise<StreamableDisk> {
  // Talos' dual-boot installer refuses arm64: there is no BIOS there to boot GRUB.
  if (input.bootloader === 'dual-boot' && input.arch !== 'amd64') throw new Error(`disk: dual-boot is not supported on ${input.arch}, use grub or sd-boot`);
  if (input.bootloader !== 'grub' && (input.uki === undefined || !input.systemdBoot)) throw new Error(`disk: a ${input.bootloader} image needs a UKI and systemd-boot`);
  const quirks = new Quirks(input.version);
  const layout = diskLayout(input.baseSize, input.version, input.bootloader);
  const gpt = planGpt({ size: layout.size, sectorSize: input.sectorSize, diskGuid: guidFromLabel('talos-image-disk'), partitions: layout.partitions });
  const part = (name: string): GptPartition => gpt.partitions.find((p) => p.name === name)!;
  const region = (partition: GptPartition, content: Promise<readonly Extent[]>): DeferredRegion => deferredRegion(partition.offset, partition.size, content);
  // GRUB's BIOS path exists on amd64 only; its EFI image (arm64 too) reads the same BOOT.
  const bios = input.bootloader !== 'sd-boot' && input.arch === 'amd64' ? part(PARTITION.bios) : undefined;
  // Read before any content is started, so failing here leaves nothing running.
  const mbrBootCode = bios && (await grubMbrCode(input.grubDir, bios.firstLba));

  const parts: Array<Extent | DeferredRegion> = [region(part(PARTITION.efi), espExtents(input, part(PARTITION.efi)))];
  if (bios) {
    const core = grubCoreImage(input.grubDir, bios.firstLba, input.workDir, input.signal);
    parts.push(region(bios, core.then((image) => bufferDataExtents(image, { diskOffset: bios.offset }))));
  }
  if (input.bootloader !== 'sd-boot') parts.push(region(part(PARTITION.boot), bootExtents(input, part(PARTITION.boot), quirks)));

  const meta = [...input.meta];
  // As the imager: only where systemd-boot is the UEFI default (1.10+), so Talos drops the path it did not boot.
  if (input.bootloader === 'dual-boot' && quirks.usesSdBootForUefi()) meta.push({ key: DISK_IMAGE_BOOTLOADER_KEY, value: 'dual-boot' });
  // With nothing to write the imager leaves META zeroed (Talos starts an empty one on first boot).
  if (meta.length > 0) parts.push(...metaPartitionExtents(meta, part(PARTITION.meta).offset));
  parts.push(...gptExtents(gpt, mbrBootCode ? { mbrBootCode } : {}));
  return streamableDisk(layout.size, parts);
}

/** The ESP: GRUB's EFI image, or systemd-boot and the UKI (once built). */
async function espExtents(input: DiskBuildInput, efi: GptPartition): Promise<Extent[]> {
  let content: DiskEspContent;
  if (input.bootloader === 'grub') {
    const grubEfi = join(input.workDir, 'grub-efi.img');
    await grubEfiImage(input.grubDir, input.arch, grubEfi, input.signal);
    content = { kind: 'grub', grubEfi };
  } else {
    const uki = await input.uki;
    if (uki === undefined || !input.systemdBoot) throw new Error(`disk: a ${input.bootloader} image needs a UKI and systemd-boot`);
    content = { kind: 'sd-boot', systemdBoot: input.systemdBoot, uki, version: input.versionTag };
  }
  const esp = await planDiskEsp(input.arch, content, efi.size, input.sectorSize, input.sourceDateEpoch);
  return shiftExtents(esp.image.extents, efi.offset);
}

/** BOOT: mkfs.xfs over the kernel and the initramfs (once built), its data found without reading its holes, its inode times pinned. */
async function bootExtents(input: DiskBuildInput, boot: GptPartition, quirks: Quirks): Promise<Extent[]> {
  const bootImage = await buildBootPartition({
    version: input.versionTag,
    kernel: input.kernel,
    initramfs: await input.initramfs,
    cmdline: input.cmdline,
    resetEntry: quirks.grubResetEntry(),
    xfsConfig: quirks.xfsMkfsConfig(),
    size: boot.size,
    sectorSize: input.sectorSize,
    workDir: input.workDir,
    ...(input.signal && { signal: input.signal }),
  });
  const bootData = await fileDataExtents(bootImage, { dataRanges: await fileDataRanges(bootImage, input.signal) });
  await pinXfsInodeTimes(bootImage, bootData, input.sourceDateEpoch);
  return shiftExtents(bootData, boot.offset);
}
