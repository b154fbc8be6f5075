// The EFI system partition image an ISO carries as its appended partition:
// for systemd-boot the Talos layout (systemd-boot as the removable-media
// loader, the UKI under EFI/Linux, loader.conf, a read-only random seed), for
// GRUB just GRUB's EFI image. The same sd-boot files are also part of the
// ISO 9660 tree, as upstream copies one scratch directory into both.

import { stat } from 'node:fs/promises';
import { FAT32_MIN_CLUSTERS, espSectorsPerCluster, fat32SizeFor, planFat, writeFatImage } from '../../formats/fat/index.js';
import { FileTree, type FileSource } from '../../formats/file-tree.js';
import type { Arch } from '../../talos/platforms.js';

const MIB = 1024 * 1024;

/** loader/loader.conf of an ISO: a 10 s menu, key enrollment off (no SecureBoot here). */
export const ISO_LOADER_CONF = '# systemd-boot configuration\n\ntimeout 10\n\nsecure-boot-enroll off\n';

/** systemd's random seed file: zeros, marked read-only (systemd-boot 261 crashes writing it on read-only media). */
export const RANDOM_SEED = Buffer.alloc(32);

export function removableMediaLoader(arch: Arch): string {
  return arch === 'arm64' ? 'EFI/BOOT/BOOTAA64.EFI' : 'EFI/BOOT/BOOTX64.EFI';
}

export interface SdBootFiles {
  arch: Arch;
  version: string;
  systemdBoot: string;
  uki: string;
}

/** Path in the ESP (and ISO tree) → file on disk or bytes, plus which must be read-only. */
export function sdBootIsoFiles(files: SdBootFiles): Array<{ path: string; source: FileSource; readOnly?: boolean }> {
  return [
    { path: removableMediaLoader(files.arch), source: { path: files.systemdBoot } },
    { path: `EFI/Linux/Talos-${files.version}.efi`, source: { path: files.uki } },
    { path: 'loader/loader.conf', source: { data: Buffer.from(ISO_LOADER_CONF) } },
    { path: 'loader/random-seed', source: { data: RANDOM_SEED }, readOnly: true },
  ];
}

async function ceilMib(path: string): Promise<number> {
  return Math.ceil((await stat(path)).size / MIB) * MIB;
}

/**
 * Writes the sd-boot ESP: 10 MiB + systemd-boot + UKI (each rounded up to
 * MiB), FAT32 labelled EFI. Talos' UKIs (~100 MiB) always give a volume big
 * enough for FAT32; a small UKI gets the smallest FAT32 volume instead of
 * the undersized one mkfs.vfat would make.
 */
export async function writeSdBootEsp(files: SdBootFiles, sourceDateEpoch: number, out: string): Promise<void> {
  const tree = new FileTree();
  // FAT marks a file no one may write read-only.
  for (const file of sdBootIsoFiles(files)) tree.file(file.path, file.source, file.readOnly ? { mode: 0o444 } : {});
  const size = Math.max(10 * MIB + (await ceilMib(files.systemdBoot)) + (await ceilMib(files.uki)), fat32SizeFor(FAT32_MIN_CLUSTERS, 1));
  const image = await planFat(tree, { size, sectorsPerCluster: espSectorsPerCluster(size), label: 'EFI', timestamp: sourceDateEpoch });
  await writeFatImage(image, out);
}

/** Writes a GRUB ESP: just GRUB's EFI image as the removable-media loader, in the smallest FAT32 volume. */
export async function writeGrubEsp(arch: Arch, grubEfi: string, sourceDateEpoch: number, out: string): Promise<void> {
  const tree = new FileTree();
  tree.file(removableMediaLoader(arch), { path: grubEfi });
  // grub-mkrescue takes the ESP's serial from GRUB_FAT_SERIAL_NUMBER, which the imager sets to the epoch.
  const image = await planFat(tree, { label: 'EFI', timestamp: sourceDateEpoch, volumeId: sourceDateEpoch >>> 0 });
  await writeFatImage(image, out);
}
