// What a caller can ask of an ISO: volume identity and dates, El Torito boot
// entries, and the hybrid (MBR + GPT) system area with an appended ESP.

import type { FileSource } from '../file-tree.js';

export interface IsoBiosBoot {
  /** Path in the tree of the no-emulation boot image (e.g. GRUB's i386-pc-eltorito image). */
  image: string;
  /** 512-byte sectors the BIOS loads (mkisofs -boot-load-size; default 4). */
  loadSectors?: number;
  /** Patch the boot-info table into the image (mkisofs -boot-info-table; default true). */
  bootInfoTable?: boolean;
  /** Patch GRUB's core blocklist at byte 2548 so the image also boots from a disk (xorriso --grub2-boot-info; default false). */
  grub2BootInfo?: boolean;
}

/** The EFI entry's image: a FAT image in the tree, or the ESP appended as partition 2 (needs `hybrid.esp`). */
export type IsoEfiBoot = { image: string } | { appendedPartition: true };

export interface IsoHybrid {
  /** Seed of the disk and partition GUIDs (e.g. the volume label): same seed, same GUIDs. */
  guidSeed: string;
  /** MBR boot code: its first 440 bytes go to sector 0 (e.g. GRUB's boot_hybrid.img). */
  mbrBootCode?: Uint8Array;
  /** Store the BIOS image's 512-byte sector address + 4 at MBR byte 0x1b0, as GRUB's boot_hybrid.img expects (xorriso --grub2-mbr). */
  grub2Mbr?: boolean;
  /** The EFI system partition image, appended after the ISO filesystem as GPT partition 2. */
  esp?: FileSource;
  /**
   * End the ISO partition, and start and end the ESP, on 1 MiB (cylinder)
   * boundaries, as xorriso -partition_cyl_align all does (Talos' imager passes
   * it); default false: 2 KiB blocks, as the toolchain.md recipe.
   */
  cylinderAlign?: boolean;
}

export interface IsoWriteOptions {
  /** Up to 32 characters (default 'ISOIMAGE', xorriso's default). */
  volumeId?: string;
  /** Up to 128 characters (default empty). */
  volumeSetId?: string;
  systemId?: string;
  publisherId?: string;
  preparerId?: string;
  applicationId?: string;
  /** Volume creation and modification date (default 1970-01-01T00:00:00Z); GRUB's ISO "UUID" is made from it. */
  date?: Date;
  /** Date of every file and directory (default `date`). */
  fileDate?: Date;
  bios?: IsoBiosBoot;
  efi?: IsoEfiBoot;
  /** Without it, the system area is zeros and the image is a plain CD image. */
  hybrid?: IsoHybrid;
}

export const DEFAULT_VOLUME_ID = 'ISOIMAGE';
export const DEFAULT_LOAD_SECTORS = 4;
