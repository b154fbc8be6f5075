// The hybrid system area: what a BIOS or UEFI firmware sees when the ISO is
// written to a USB stick or disk. Sector 0 is an MBR (optional boot code, e.g.
// GRUB's boot_hybrid.img, and one protective 0xEE partition); sector 1 is the
// primary GPT header and 2..63 its 248 entries (filling the space up to the
// ISO partition, as xorriso does, so no tool sees a gap); the backup entries
// and header end the image. The GPT lists the ISO filesystem as partition 1 (starting 32
// KiB in, where the partition-relative descriptors live) and the appended ESP
// as partition 2, as xorriso's -partition_offset 16 -append_partition 2 0xef
// -appended_part_as_gpt does.

import { crc32 } from 'node:zlib';
import { SECTOR } from './constants.js';
import { Iso9660Error } from './errors.js';
import { guidToBytes } from '../gpt.js';

export const GPT_ENTRIES = 248;
export const GPT_ENTRY_SIZE = 128;
export const GPT_ENTRY_SECTORS = (GPT_ENTRIES * GPT_ENTRY_SIZE) / SECTOR;
/** Sectors the backup GPT takes at the end of the image (entries + header). */
export const GPT_BACKUP_SECTORS = GPT_ENTRY_SECTORS + 1;
/** Bytes of MBR boot code before the disk signature. */
export const MBR_CODE_SIZE = 440;

export const BASIC_DATA_TYPE = 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7';
export const ESP_TYPE = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
/** GPT attribute bits: 0 "required partition", 60 "read-only" (what xorriso sets on the ISO partition). */
export const ATTR_REQUIRED = 1n;
export const ATTR_READ_ONLY = 1n << 60n;

export interface GptPartition {
  number: number;
  type: string;
  guid: string;
  firstSector: number;
  /** Inclusive. */
  lastSector: number;
  attributes: bigint;
  name: string;
}

export interface GptLayout {
  diskGuid: string;
  totalSectors: number;
  firstUsable: number;
  partitions: GptPartition[];
}

/** CHS address in the 64 heads x 32 sectors geometry xorriso uses; out of range gives the customary maximum. */
function chs(lba: number): Buffer {
  const cylinder = Math.floor(lba / (64 * 32));
  if (cylinder > 1023) return Buffer.from([0xfe, 0xff, 0xff]);
  const head = Math.floor(lba / 32) % 64;
  const sector = (lba % 32) + 1;
  return Buffer.from([head, sector | ((cylinder >> 8) << 6), cylinder & 0xff]);
}

/** Sector 0: boot code (up to 440 bytes), the patched GRUB word if any, one protective partition. */
export function encodeProtectiveMbr(totalSectors: number, bootCode: Uint8Array | undefined, grub2ImageBlock?: number): Buffer {
  const out = Buffer.alloc(SECTOR);
  if (bootCode) Buffer.from(bootCode.buffer, bootCode.byteOffset, Math.min(bootCode.length, MBR_CODE_SIZE)).copy(out);
  if (grub2ImageBlock !== undefined) {
    // GRUB's boot_hybrid.img reads the 512-byte sector address of its core image at 0x1b0.
    if (!bootCode) throw new Iso9660Error('iso9660: the GRUB MBR patch needs MBR boot code');
    out.writeBigUInt64LE(BigInt(grub2ImageBlock) * 4n + 4n, 0x1b0);
  }
  const entry = 0x1be;
  out[entry] = 0x00;
  chs(1).copy(out, entry + 1);
  out[entry + 4] = 0xee;
  chs(totalSectors - 1).copy(out, entry + 5);
  out.writeUInt32LE(1, entry + 8);
  out.writeUInt32LE(Math.min(totalSectors - 1, 0xffff_ffff), entry + 12);
  out[510] = 0x55;
  out[511] = 0xaa;
  return out;
}

function encodeEntries(partitions: GptPartition[]): Buffer {
  const out = Buffer.alloc(GPT_ENTRIES * GPT_ENTRY_SIZE);
  for (const p of partitions) {
    if (p.number < 1 || p.number > GPT_ENTRIES) throw new Iso9660Error(`iso9660: GPT partition number ${p.number} out of range`);
    const at = (p.number - 1) * GPT_ENTRY_SIZE;
    guidToBytes(p.type).copy(out, at);
    guidToBytes(p.guid).copy(out, at + 16);
    out.writeBigUInt64LE(BigInt(p.firstSector), at + 32);
    out.writeBigUInt64LE(BigInt(p.lastSector), at + 40);
    out.writeBigUInt64LE(p.attributes, at + 48);
    if (p.name.length > 36) throw new Iso9660Error(`iso9660: GPT partition name ${JSON.stringify(p.name)} is longer than 36 characters`);
    out.write(p.name, at + 56, 'utf16le');
  }
  return out;
}

function encodeHeader(layout: GptLayout, entriesCrc: number, primary: boolean): Buffer {
  const last = layout.totalSectors - 1;
  const out = Buffer.alloc(SECTOR);
  out.write('EFI PART', 0, 'latin1');
  out.writeUInt32LE(0x0001_0000, 8);
  out.writeUInt32LE(92, 12);
  out.writeBigUInt64LE(BigInt(primary ? 1 : last), 24);
  out.writeBigUInt64LE(BigInt(primary ? last : 1), 32);
  out.writeBigUInt64LE(BigInt(layout.firstUsable), 40);
  out.writeBigUInt64LE(BigInt(last - GPT_BACKUP_SECTORS), 48);
  guidToBytes(layout.diskGuid).copy(out, 56);
  out.writeBigUInt64LE(BigInt(primary ? 2 : last - GPT_ENTRY_SECTORS), 72);
  out.writeUInt32LE(GPT_ENTRIES, 80);
  out.writeUInt32LE(GPT_ENTRY_SIZE, 84);
  out.writeUInt32LE(entriesCrc, 88);
  out.writeUInt32LE(crc32(out.subarray(0, 92)), 16);
  return out;
}

export interface EncodedGpt {
  /** Sectors 1..63: primary header and entries. */
  primary: Buffer;
  /** The last 63 sectors of the image: backup entries, then the backup header. */
  backup: Buffer;
}

export function encodeGpt(layout: GptLayout): EncodedGpt {
  const lastUsable = layout.totalSectors - 1 - GPT_BACKUP_SECTORS;
  for (const p of layout.partitions) {
    if (p.firstSector < layout.firstUsable || p.lastSector > lastUsable || p.lastSector < p.firstSector) {
      throw new Iso9660Error(`iso9660: GPT partition ${p.number} (${p.firstSector}..${p.lastSector}) is outside ${layout.firstUsable}..${lastUsable}`);
    }
  }
  const entries = encodeEntries(layout.partitions);
  const entriesCrc = crc32(entries);
  return {
    primary: Buffer.concat([encodeHeader(layout, entriesCrc, true), entries]),
    backup: Buffer.concat([entries, encodeHeader(layout, entriesCrc, false)]),
  };
}
