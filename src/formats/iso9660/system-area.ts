// The hybrid system area: what a BIOS or UEFI firmware sees when the ISO is
// written to a USB stick or disk, written by formats/gpt.ts with xorriso's
// parameters. Sector 0 is the protective MBR (optional boot code, e.g. GRUB's
// boot_hybrid.img, and its end CHS in a 64 x 32 geometry); sector 1 is the
// primary GPT header and 2..63 its 248 entries (filling the space up to the
// ISO partition, as xorriso does, so no tool sees a gap); the backup entries
// and header end the image. The GPT lists the ISO filesystem as partition 1
// (starting 32 KiB in, where the partition-relative descriptors live) and the
// appended ESP as partition 2, as xorriso's -partition_offset 16
// -append_partition 2 0xef -appended_part_as_gpt does.

import { GPT_ATTR, GPT_ENTRY_SIZE, GPT_TYPE, type GptLayout, type GptPartitionSpec, encodeGpt, planGpt, seededGuid } from '../gpt.js';
import { SECTOR } from './constants.js';
import { Iso9660Error } from './errors.js';

const GPT_ENTRIES = 248;
/** Sectors the backup GPT takes at the end of the image (entries + header). */
export const GPT_BACKUP_SECTORS = (GPT_ENTRIES * GPT_ENTRY_SIZE) / SECTOR + 1;
/** Bytes of MBR boot code before the disk signature. */
const MBR_CODE_SIZE = 440;
/** Where GRUB's boot_hybrid.img reads the 512-byte sector address of its core image. */
const GRUB2_MBR_BLOCK_OFFSET = 0x1b0;

export interface SystemAreaSpec {
  /** Seed of the disk and partition GUIDs. */
  guidSeed: string;
  totalSectors: number;
  /** Partition 1, the ISO filesystem: from its first sector to the one before `isoEndSector`. */
  isoStartSector: number;
  isoEndSector: number;
  /** Partition 2, the appended ESP. */
  esp?: { firstSector: number; sectors: number };
  /** The first 440 bytes go to sector 0. */
  mbrBootCode?: Uint8Array;
  /** For GRUB's boot_hybrid.img: the BIOS boot image's 2048-byte block (xorriso --grub2-mbr). */
  grub2ImageBlock?: number;
}

export interface SystemArea {
  gpt: GptLayout;
  /** Sectors 0..63: MBR, primary header and entries. */
  head: Buffer;
  /** The image's last sectors: backup entries, then the backup header. */
  backup: Buffer;
}

/** The MBR boot code as xorriso places it: at most 440 bytes, GRUB's core image address patched in. */
function mbrBootCode(code: Uint8Array | undefined, grub2ImageBlock: number | undefined): Buffer | undefined {
  if (grub2ImageBlock !== undefined && !code) throw new Iso9660Error('iso9660: the GRUB MBR patch needs MBR boot code');
  if (!code) return undefined;
  const out = Buffer.alloc(MBR_CODE_SIZE);
  out.set(code.subarray(0, MBR_CODE_SIZE));
  if (grub2ImageBlock !== undefined) out.writeBigUInt64LE(BigInt(grub2ImageBlock) * 4n + 4n, GRUB2_MBR_BLOCK_OFFSET);
  return out;
}

export function systemArea(spec: SystemAreaSpec): SystemArea {
  const partitions: GptPartitionSpec[] = [
    {
      name: 'ISO9660',
      type: GPT_TYPE.basicData,
      guid: seededGuid(spec.guidSeed, 'partition-1'),
      size: (spec.isoEndSector - spec.isoStartSector) * SECTOR,
      attributes: GPT_ATTR.requiredPartition | GPT_ATTR.readOnly,
    },
  ];
  if (spec.esp) partitions.push({ name: 'EFI', type: GPT_TYPE.efiSystem, guid: seededGuid(spec.guidSeed, 'partition-2'), size: spec.esp.sectors * SECTOR });
  const gpt = planGpt({
    size: spec.totalSectors * SECTOR,
    diskGuid: seededGuid(spec.guidSeed, 'disk'),
    partitions,
    entryCount: GPT_ENTRIES,
    alignment: SECTOR,
    compatFirstUsableLba: true,
  });
  // Partitions are placed one after the other from the first usable LBA: check that this is where the ISO put them.
  const [iso, esp] = gpt.partitions;
  if (iso!.firstLba !== spec.isoStartSector || (spec.esp && esp!.firstLba !== spec.esp.firstSector)) {
    throw new Iso9660Error(`iso9660: internal layout error: the GPT does not place the partitions at sectors ${spec.isoStartSector} and ${spec.esp?.firstSector}`);
  }
  const code = mbrBootCode(spec.mbrBootCode, spec.grub2ImageBlock);
  const encoded = encodeGpt(gpt, { mbrGeometry: { heads: 64, sectorsPerTrack: 32 }, ...(code ? { mbrBootCode: code } : {}) });
  return {
    gpt,
    head: Buffer.concat([encoded.protectiveMbr, encoded.primaryHeader, encoded.entries]),
    backup: Buffer.concat([encoded.entries, encoded.backupHeader]),
  };
}
