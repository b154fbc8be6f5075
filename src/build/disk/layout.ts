// The partition table of a Talos disk image per boot loader and version
// (talos-imager.md §1.2, §4.2): EFI, BIOS and BOOT for GRUB; one big EFI for
// systemd-boot (it holds the UKIs); all three with a UKI-sized EFI for
// dual-boot; META last (then STATE and EPHEMERAL before 1.8). The disk grows
// with the boot partitions, as the imager's profile does.

import { GPT_ATTR, GPT_TYPE, type GptPartitionSpec } from '../../formats/gpt.js';
import type { BootloaderKind } from '../../talos/bootloader.js';
import { Quirks } from '../../talos/quirks.js';
import type { TalosVersion } from '../../talos/version.js';

const MIB = 1024 * 1024;
const GRUB_EFI_SIZE = 100 * MIB;
const BIOS_SIZE = MIB;
const META_SIZE = MIB;
const STATE_SIZE = 100 * MIB;

export const PARTITION = { efi: 'EFI', bios: 'BIOS', boot: 'BOOT', meta: 'META', state: 'STATE', ephemeral: 'EPHEMERAL' } as const;

export interface DiskLayout {
  /** Bytes. */
  size: number;
  partitions: GptPartitionSpec[];
}

/** BOOT is 2000 MiB from 1.11 (both A and B copies must fit), 1000 MiB before. */
export function bootPartitionSize(version: TalosVersion): number {
  return (new Quirks(version).doublesBootPartition() ? 2000 : 1000) * MIB;
}

/**
 * The final disk size: the platform's size plus what a bigger BOOT adds, and
 * for dual-boot the BIOS and BOOT partitions on top of the UKI-sized EFI.
 */
export function diskImageSize(baseSize: number, version: TalosVersion, bootloader: BootloaderKind): number {
  const boot = bootPartitionSize(version);
  let size = baseSize + boot - 1000 * MIB;
  if (bootloader === 'dual-boot') size += BIOS_SIZE + boot;
  return size;
}

export function diskLayout(baseSize: number, version: TalosVersion, bootloader: BootloaderKind): DiskLayout {
  const boot = bootPartitionSize(version);
  const efi = (size: number): GptPartitionSpec => ({ name: PARTITION.efi, type: GPT_TYPE.efiSystem, size });
  const grubParts: GptPartitionSpec[] = [
    { name: PARTITION.bios, type: GPT_TYPE.biosBoot, size: BIOS_SIZE, attributes: GPT_ATTR.legacyBiosBootable },
    { name: PARTITION.boot, type: GPT_TYPE.linuxFilesystem, size: boot },
  ];
  const ukiEfi = efi(GRUB_EFI_SIZE + BIOS_SIZE + boot);
  const partitions: GptPartitionSpec[] =
    bootloader === 'grub' ? [efi(GRUB_EFI_SIZE), ...grubParts] : bootloader === 'dual-boot' ? [ukiEfi, ...grubParts] : [ukiEfi];
  partitions.push({ name: PARTITION.meta, type: GPT_TYPE.linuxFilesystem, size: META_SIZE });
  if (!new Quirks(version).skipsDataPartitions()) {
    partitions.push({ name: PARTITION.state, type: GPT_TYPE.linuxFilesystem, size: STATE_SIZE }, { name: PARTITION.ephemeral, type: GPT_TYPE.linuxFilesystem, size: 'rest' });
  }
  return { size: diskImageSize(baseSize, version, bootloader), partitions };
}
