// The FAT32 boot sector (BPB + extended BPB) and the FSInfo sector. Both are
// also written as backups at sectors 6 and 7, as Microsoft's format does.

import { FatError } from './errors.js';
import { FAT_COUNT, type FatGeometry, SECTOR } from './geometry.js';

export const MEDIA_FIXED = 0xf8;
export const FSINFO_SECTOR = 1;
export const BACKUP_BOOT_SECTOR = 6;
export const ROOT_CLUSTER = 2;
/** The label a volume without one carries in its boot sector. */
export const NO_NAME = 'NO NAME    ';

// Offsets in the boot sector.
export const BS = {
  oemName: 3,
  bytesPerSector: 11,
  sectorsPerCluster: 13,
  reservedSectors: 14,
  fatCount: 16,
  rootEntries: 17,
  totalSectors16: 19,
  media: 21,
  fatSize16: 22,
  sectorsPerTrack: 24,
  heads: 26,
  hiddenSectors: 28,
  totalSectors32: 32,
  fatSize32: 36,
  extFlags: 40,
  fsVersion: 42,
  rootCluster: 44,
  fsInfoSector: 48,
  backupBootSector: 50,
  driveNumber: 64,
  bootSignature: 66,
  volumeId: 67,
  volumeLabel: 71,
  fsType: 82,
  bootCode: 90,
} as const;

// Not bootable: ask the BIOS to try the next device (int 18h), else halt forever.
const BOOT_CODE = Buffer.from([0xcd, 0x18, 0xf4, 0xeb, 0xfd]);

export interface BootSectorFields {
  geometry: FatGeometry;
  volumeId: number;
  /** 11 bytes, space padded. */
  label: string;
  hiddenSectors: number;
  oemName: string;
}

/** Checks a volume label (what mkfs.fat accepts) and pads it to 11 bytes. */
export function volumeLabel(label: string): string {
  if (label.length === 0 || label.length > 11) throw new FatError(`fat: volume label ${JSON.stringify(label)} must be 1..11 characters`);
  if (!/^[\x20-\x7e]+$/.test(label)) throw new FatError(`fat: volume label ${JSON.stringify(label)} must be printable ASCII`);
  if (/[*?.,;:/\\|+=<>[\]"]/.test(label)) throw new FatError(`fat: volume label ${JSON.stringify(label)} may not contain any of *?.,;:/\\|+=<>[]"`);
  if (label.startsWith(' ')) throw new FatError('fat: a volume label may not start with a space');
  return label.padEnd(11, ' ');
}

export function encodeBootSector(f: BootSectorFields): Buffer {
  const g = f.geometry;
  const b = Buffer.alloc(SECTOR);
  // Jump over the BPB to the boot code.
  b[0] = 0xeb;
  b[1] = BS.bootCode - 2;
  b[2] = 0x90;
  b.write(f.oemName.padEnd(8, ' ').slice(0, 8), BS.oemName, 'latin1');
  b.writeUInt16LE(g.sectorSize, BS.bytesPerSector);
  b[BS.sectorsPerCluster] = g.sectorsPerCluster;
  b.writeUInt16LE(g.reservedSectors, BS.reservedSectors);
  b[BS.fatCount] = FAT_COUNT;
  b[BS.media] = MEDIA_FIXED;
  b.writeUInt16LE(g.sectorsPerTrack, BS.sectorsPerTrack);
  b.writeUInt16LE(g.heads, BS.heads);
  b.writeUInt32LE(f.hiddenSectors, BS.hiddenSectors);
  b.writeUInt32LE(g.totalSectors, BS.totalSectors32);
  b.writeUInt32LE(g.fatSectors, BS.fatSize32);
  // extFlags 0: the FATs are mirrored; version 0.0.
  b.writeUInt32LE(ROOT_CLUSTER, BS.rootCluster);
  b.writeUInt16LE(FSINFO_SECTOR, BS.fsInfoSector);
  b.writeUInt16LE(BACKUP_BOOT_SECTOR, BS.backupBootSector);
  b[BS.driveNumber] = 0x80;
  b[BS.bootSignature] = 0x29;
  b.writeUInt32LE(f.volumeId >>> 0, BS.volumeId);
  b.write(f.label, BS.volumeLabel, 'latin1');
  b.write('FAT32   ', BS.fsType, 'latin1');
  BOOT_CODE.copy(b, BS.bootCode);
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

/** FSInfo: free cluster count and the allocation hint (the last cluster in use). */
export function encodeFsInfo(freeClusters: number, lastAllocated: number): Buffer {
  const b = Buffer.alloc(SECTOR);
  b.writeUInt32LE(0x41615252, 0);
  b.writeUInt32LE(0x61417272, 484);
  b.writeUInt32LE(freeClusters, 488);
  b.writeUInt32LE(lastAllocated, 492);
  b.writeUInt32LE(0xaa550000, 508);
  return b;
}
