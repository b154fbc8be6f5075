// Sizes and fixed numbers of ISO 9660 (ECMA-119), El Torito and the hybrid
// system area that more than one file needs.

/** Logical block (and sector) size of the ISO filesystem. */
export const BLOCK = 2048;
/** Sector size of the MBR/GPT view and of El Torito load counts. */
export const SECTOR = 512;
export const SECTORS_PER_BLOCK = BLOCK / SECTOR;
/** Blocks 0..15 are the system area; the first volume descriptor is at 16. */
export const SYSTEM_AREA_BLOCKS = 16;
export const FIRST_DESCRIPTOR = SYSTEM_AREA_BLOCKS;

/**
 * With a GPT the ISO filesystem is also reachable as partition 1, which starts
 * this many blocks in (32 KiB, after the GPT): like xorriso -partition_offset 16,
 * a second descriptor set and tree with partition-relative addresses is written.
 */
export const PARTITION_OFFSET_BLOCKS = 16;

/** Largest directory record (records are even-sized and at most 255 bytes). */
export const MAX_RECORD = 254;
/** Fixed part of a directory record before the identifier. */
export const RECORD_HEADER = 33;

/** Largest file a single extent can describe (level 3 multi-extent files are not written). */
export const MAX_FILE_SIZE = 0xffff_ffff;

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFMT = 0o170000;

/** Volume descriptor types. */
export const enum DescriptorType {
  BootRecord = 0,
  Primary = 1,
  Supplementary = 2,
  Terminator = 255,
}

export const STANDARD_ID = 'CD001';
export const EL_TORITO_ID = 'EL TORITO SPECIFICATION';

/** El Torito platform ids. */
export const PLATFORM_X86 = 0x00;
export const PLATFORM_EFI = 0xef;
