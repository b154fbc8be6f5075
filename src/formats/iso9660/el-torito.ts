// El Torito: the boot catalog (a validation entry, the initial/default entry
// and, when there are both, a final section for the second platform), the
// boot-info table that mkisofs' -boot-info-table patches into a BIOS
// no-emulation image, and GRUB's hybrid patch (xorriso --grub2-boot-info).

import { BLOCK, SECTOR } from './constants.js';
import { Iso9660Error } from './errors.js';

const HEADER_VALIDATION = 0x01;
const BOOTABLE = 0x88;
const SECTION_MORE = 0x90;
const SECTION_FINAL = 0x91;
const MEDIA_NO_EMULATION = 0;
/** Largest El Torito sector count; larger images get 0, which UEFI (edk2) reads as "to the end of the volume". */
const MAX_SECTOR_COUNT = 0xffff;

export interface CatalogEntry {
  platform: number;
  /** 512-byte sectors to load (BIOS) or the image's size in sectors (EFI). */
  sectorCount: number;
  /** Absolute 2048-byte block of the image. */
  block: number;
}

function bootEntry(entry: CatalogEntry): Buffer {
  const out = Buffer.alloc(32);
  out[0] = BOOTABLE;
  out[1] = MEDIA_NO_EMULATION;
  // load segment 0 (the BIOS default 0x7c0), system type 0
  out.writeUInt16LE(entry.sectorCount > MAX_SECTOR_COUNT ? 0 : entry.sectorCount, 6);
  out.writeUInt32LE(entry.block, 8);
  return out;
}

function validationEntry(platform: number): Buffer {
  const out = Buffer.alloc(32);
  out[0] = HEADER_VALIDATION;
  out[1] = platform;
  out[30] = 0x55;
  out[31] = 0xaa;
  // The 16-bit words of the entry must sum to zero.
  let total = 0;
  for (let i = 0; i < 32; i += 2) total += out.readUInt16LE(i);
  out.writeUInt16LE((0x10000 - (total & 0xffff)) & 0xffff, 28);
  return out;
}

function sectionHeader(platform: number, count: number, final: boolean): Buffer {
  const out = Buffer.alloc(32);
  out[0] = final ? SECTION_FINAL : SECTION_MORE;
  out[1] = platform;
  out.writeUInt16LE(count, 2);
  return out;
}

/**
 * The catalog block. The first entry is the default entry (its platform goes
 * into the validation entry); each further entry gets its own section, the
 * last one marked final.
 */
export function encodeCatalog(entries: CatalogEntry[]): Buffer {
  const [first, ...rest] = entries;
  if (!first) throw new Iso9660Error('iso9660: an El Torito catalog needs at least one boot entry');
  const parts = [validationEntry(first.platform), bootEntry(first)];
  rest.forEach((entry, i) => parts.push(sectionHeader(entry.platform, 1, i === rest.length - 1), bootEntry(entry)));
  const out = Buffer.alloc(BLOCK);
  Buffer.concat(parts).copy(out);
  return out;
}

/**
 * 512-byte sectors of an EFI image as its entry and partition count them: the
 * image is padded to whole 2048-byte blocks, and xorriso counts the padding too.
 */
export function paddedSectors(size: number): number {
  return Math.ceil(size / BLOCK) * (BLOCK / SECTOR);
}

export const BOOT_INFO_TABLE_OFFSET = 8;
/** Where GRUB's i386-pc El Torito image keeps the start of its core image blocklist (after cdboot.img's 2048 bytes). */
export const GRUB2_BOOT_INFO_OFFSET = 2548;

/**
 * Patches the 56-byte boot-info table at offset 8: the primary descriptor's
 * block, the image's block, its length and a 32-bit sum of its little-endian
 * words from offset 64 on (taken after every other patch).
 */
export function patchBootInfoTable(image: Buffer, pvdBlock: number, imageBlock: number): void {
  if (image.length < 64) throw new Iso9660Error('iso9660: a boot image with a boot-info table must be at least 64 bytes');
  image.fill(0, BOOT_INFO_TABLE_OFFSET, 64);
  image.writeUInt32LE(pvdBlock, 8);
  image.writeUInt32LE(imageBlock, 12);
  image.writeUInt32LE(image.length, 16);
  let sum = 0;
  for (let at = 64; at < image.length; at += 4) {
    const word = at + 4 <= image.length ? image.readUInt32LE(at) : Buffer.concat([image.subarray(at), Buffer.alloc(4)]).readUInt32LE(0);
    sum = (sum + word) >>> 0;
  }
  image.writeUInt32LE(sum, 20);
}

/**
 * GRUB's hybrid boot: booted from a disk, boot_hybrid.img loads the sector after
 * cdboot.img, whose blocklist must name the 512-byte sector after it.
 */
export function patchGrub2BootInfo(image: Buffer, imageBlock: number): void {
  if (image.length < GRUB2_BOOT_INFO_OFFSET + 8) throw new Iso9660Error('iso9660: the BIOS boot image is too small for GRUB boot info');
  image.writeBigUInt64LE(BigInt(imageBlock) * 4n + 5n, GRUB2_BOOT_INFO_OFFSET);
}
