// The EFI system partition of a disk image, in our FAT writer: for
// systemd-boot the installed Talos layout (systemd-boot as the removable-media
// loader, the UKI under EFI/Linux, loader.conf with a 10 s menu); for GRUB
// only GRUB's EFI image, which reads its configuration from BOOT.

import { type FatImage, planFat } from '../../formats/fat/index.js';
import { FileTree } from '../../formats/file-tree.js';
import type { Arch } from '../../talos/platforms.js';

/** loader/loader.conf as Talos installs it (no SecureBoot key enrollment here). */
export const DISK_LOADER_CONF = '# systemd-boot configuration\n\ntimeout 10\n';

export function diskRemovableMediaLoader(arch: Arch): string {
  return arch === 'arm64' ? 'EFI/boot/BOOTAA64.efi' : 'EFI/boot/BOOTX64.efi';
}

export type DiskEspContent = { kind: 'sd-boot'; systemdBoot: string; uki: string; version: string } | { kind: 'grub'; grubEfi: string };

/**
 * The ESP as FAT32 of the partition's size, with the disk's sector size
 * (mkfs.vfat -S). No hidden sectors: the imager runs mkfs.vfat on a file of
 * its own, then copies it into the partition.
 */
export async function planDiskEsp(arch: Arch, content: DiskEspContent, size: number, sectorSize: number, sourceDateEpoch: number): Promise<FatImage> {
  const tree = new FileTree();
  if (content.kind === 'sd-boot') {
    tree.file(diskRemovableMediaLoader(arch), { path: content.systemdBoot });
    tree.file(`EFI/Linux/Talos-${content.version}.efi`, { path: content.uki });
    tree.file('loader/loader.conf', { data: Buffer.from(DISK_LOADER_CONF) });
  } else {
    tree.file(diskRemovableMediaLoader(arch), { path: content.grubEfi });
  }
  return planFat(tree, { size, sectorSize, label: 'EFI', timestamp: sourceDateEpoch });
}
