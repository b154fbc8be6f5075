// GRUB for an ISO, made from the release's modules: the BIOS El Torito
// image (which also boots the ISO written to a disk, through GRUB's
// boot_hybrid.img MBR code and the core blocklist the ISO writer patches),
// and for GRUB-only ISOs an EFI image that finds the ISO by its volume UUID.
// Every module grub.cfg needs is built in, so the ISO carries no module tree.

import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { grubEfiPlatform, grubModuleDir, makeGrubImage } from '../grub/mkimage.js';
import type { Arch } from '../../talos/platforms.js';

const COMMON_MODULES = ['iso9660', 'part_gpt', 'part_msdos', 'normal', 'linux', 'configfile', 'echo', 'test', 'terminal', 'all_video', 'search', 'search_fs_uuid'];

/** GRUB's El Torito no-emulation image (grub-mkimage -O i386-pc-eltorito), prefix /boot/grub. */
export async function makeBiosEltorito(grubDir: string, output: string, signal?: AbortSignal): Promise<void> {
  await makeGrubImage({ grubDir, platform: 'i386-pc', format: 'i386-pc-eltorito', prefix: '/boot/grub', modules: ['biosdisk', ...COMMON_MODULES], output, ...(signal && { signal }) });
}

/** The MBR boot code of a hybrid ISO that chains to the El Torito image. */
export async function bootHybridImage(grubDir: string): Promise<string> {
  return join(await grubModuleDir(grubDir, 'i386-pc'), 'boot_hybrid.img');
}

/**
 * GRUB's ISO 9660 "UUID": the volume's modification date as GRUB prints it
 * (YYYY-MM-DD-hh-mm-ss-cc), which our ISO writer stamps in UTC.
 */
export function isoGrubUuid(date: Date): string {
  const iso = date.toISOString();
  const centis = String(Math.floor(date.getUTCMilliseconds() / 10)).padStart(2, '0');
  return `${iso.slice(0, 10)}-${iso.slice(11, 13)}-${iso.slice(14, 16)}-${iso.slice(17, 19)}-${centis}`;
}

/** An EFI GRUB that searches for the ISO by UUID and reads /boot/grub/grub.cfg from it. */
export async function makeEfiGrub(grubDir: string, arch: Arch, isoDate: Date, scratch: string, output: string, signal?: AbortSignal): Promise<void> {
  const early = join(scratch, 'grub-early.cfg');
  await writeFile(early, `search --no-floppy --set=root --fs-uuid ${isoGrubUuid(isoDate)}\nset prefix=($root)/boot/grub\nconfigfile $prefix/grub.cfg\n`);
  const platform = grubEfiPlatform(arch);
  await makeGrubImage({ grubDir, platform, format: platform, prefix: '/boot/grub', modules: ['fat', ...COMMON_MODULES], config: early, output, ...(signal && { signal }) });
}
