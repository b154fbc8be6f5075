// GRUB for BIOS on a GPT disk without grub-install: a core image made by
// grub-mkimage from the release's modules (everything embedded, prefix on
// BOOT), written at the start of the BIOS boot partition, and boot.img's
// first 446 bytes as the MBR boot code. Like Talos' imager we patch the two
// blocklists grub-install would: boot.img learns where core.img starts (and
// its jump over the drive check becomes NOPs, as on GPT), and core.img's
// first sector learns where the rest of itself is.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { grubEfiPlatform, grubModuleDir, makeGrubImage } from '../grub/mkimage.js';

/** What GRUB needs to read BOOT (partition 3) and boot Linux, as upstream embeds it. */
export const GRUB_MODULES = [
  'part_gpt',
  'ext2',
  'fat',
  'xfs',
  'normal',
  'configfile',
  'linux',
  'boot',
  'search',
  'search_fs_uuid',
  'search_fs_file',
  'ls',
  'cat',
  'echo',
  'test',
  'help',
  'reboot',
  'halt',
  'all_video',
];
/** EFI, BIOS, BOOT: GRUB's configuration lives on the third partition. */
export const GRUB_PREFIX = '(hd0,gpt3)/grub';

const BOOT_IMG_KERNEL_SECTOR = 0x5c;
const BOOT_IMG_DRIVE_CHECK_JUMP = 0x66;
const CORE_IMG_BLOCKLIST = 0x1f4;
/** The MBR boot code ends where the partition table starts. */
const MBR_CODE_SIZE = 446;

/**
 * boot.img's first 446 bytes as the MBR boot code, told that core.img starts
 * at `biosFirstLba` (the BIOS partition): known without making core.img, so
 * the disk's first sector can be written before it.
 */
export async function grubMbrCode(grubDir: string, biosFirstLba: number): Promise<Buffer> {
  const boot = await readFile(join(await grubModuleDir(grubDir, 'i386-pc'), 'boot.img'));
  boot.writeBigUInt64LE(BigInt(biosFirstLba), BOOT_IMG_KERNEL_SECTOR);
  boot[BOOT_IMG_DRIVE_CHECK_JUMP] = 0x90;
  boot[BOOT_IMG_DRIVE_CHECK_JUMP + 1] = 0x90;
  return boot.subarray(0, MBR_CODE_SIZE);
}

/** core.img for a BIOS partition starting at `biosFirstLba` (in `sectorSize` sectors): it goes at the partition's first byte. */
export async function grubCoreImage(grubDir: string, biosFirstLba: number, workDir: string, signal?: AbortSignal): Promise<Buffer> {
  const coreFile = join(workDir, 'core.img');
  await makeGrubImage({ grubDir, platform: 'i386-pc', format: 'i386-pc', prefix: GRUB_PREFIX, modules: [...GRUB_MODULES, 'biosdisk', 'part_msdos'], output: coreFile, ...(signal && { signal }) });
  const core = await readFile(coreFile);
  core.writeBigUInt64LE(BigInt(biosFirstLba + 1), CORE_IMG_BLOCKLIST);
  return core;
}

/** GRUB's EFI image for the pure-GRUB layout, reading the same configuration from BOOT. */
export async function grubEfiImage(grubDir: string, arch: 'amd64' | 'arm64', output: string, signal?: AbortSignal): Promise<void> {
  const platform = grubEfiPlatform(arch);
  await makeGrubImage({ grubDir, platform, format: platform, prefix: GRUB_PREFIX, modules: GRUB_MODULES, output, compression: 'xz', ...(signal && { signal }) });
}
