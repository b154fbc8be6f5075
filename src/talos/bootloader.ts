// Which boot loader an ISO or a disk image gets (talos-imager.md §1.2, §3):
// SecureBoot means systemd-boot; from 1.10 UEFI boots systemd-boot + UKI, on
// amd64 next to GRUB for BIOS ("dual-boot"), on arm64 alone; before 1.10 GRUB
// does both. A schematic may choose, except with SecureBoot, and for ISOs only
// from 1.12 (before, 1.10 and 1.11 ISOs are always hybrid).

import { BOOTLOADERS, type Bootloader } from '../schematic/model.js';
import type { Arch } from './platforms.js';
import { Quirks } from './quirks.js';
import type { TalosVersion } from './version.js';

export type BootloaderKind = Exclude<Bootloader, 'none'>;

export interface BootloaderChoice {
  version: TalosVersion;
  arch: Arch;
  secureBoot: boolean;
  kind: 'iso' | 'image';
  /** The schematic's `customization.bootloader` (an index into BOOTLOADERS; 0 = not set). */
  schematicChoice: number;
}

function defaultBootloader(quirks: Quirks, arch: Arch): BootloaderKind {
  if (!quirks.usesSdBootForUefi()) return 'grub';
  return arch === 'arm64' ? 'sd-boot' : 'dual-boot';
}

export function selectBootloader(choice: BootloaderChoice): BootloaderKind {
  const quirks = new Quirks(choice.version);
  if (choice.secureBoot) return 'sd-boot';
  if (choice.kind === 'iso' && !quirks.isoHonoursBootloader()) return quirks.usesSdBootForUefi() ? 'dual-boot' : 'grub';
  const asked = BOOTLOADERS[choice.schematicChoice] ?? 'none';
  return asked === 'none' ? defaultBootloader(quirks, choice.arch) : asked;
}
