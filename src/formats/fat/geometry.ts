// FAT32 geometry, computed the way mkfs.fat (dosfstools 4.2) computes it for
// `-F 32`, so our images have the layout mkfs.vfat would give the same size:
// 512-byte sectors, 32 reserved sectors (rounded up to the cluster size), two
// FATs each rounded up to the cluster size, the first data cluster right
// after them, and mkfs.fat's estimate-then-recount of the cluster count.
// FAT32 needs at least 65525 clusters: below that every driver (EDK2 and
// Linux included) takes the volume for FAT16.

import { FatError } from './errors.js';

export const SECTOR = 512;
export const FAT_COUNT = 2;
export const FAT32_RESERVED_SECTORS = 32;
/** Fewer clusters than this and the volume reads as FAT16 (Microsoft's FAT spec). */
export const FAT32_MIN_CLUSTERS = 65525;
/** mkfs.fat's ceiling: FAT32 entries have 28 bits and the top 16 values are special. */
export const FAT32_MAX_CLUSTERS = 2 ** 28 - 16;
export const MIB = 1 << 20;

export interface FatGeometry {
  /** Bytes per logical sector: 512, or the disk's sector size (4096 on 4Kn disks). */
  sectorSize: number;
  totalSectors: number;
  sectorsPerCluster: number;
  clusterBytes: number;
  reservedSectors: number;
  /** Sectors of one FAT. */
  fatSectors: number;
  clusterCount: number;
  /** First sector of cluster 2. */
  dataStartSector: number;
  /** Fake CHS values for the boot sector, as mkfs.fat picks them by size. */
  sectorsPerTrack: number;
  heads: number;
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

export function checkSectorsPerCluster(spc: number): number {
  if (![1, 2, 4, 8, 16, 32, 64, 128].includes(spc)) throw new FatError(`fat: sectors per cluster ${spc} is not a power of two from 1 to 128`);
  return spc;
}

export function checkSectorSize(sectorSize: number): number {
  if (![512, 1024, 2048, 4096].includes(sectorSize)) throw new FatError(`fat: sector size ${sectorSize} is not 512, 1024, 2048 or 4096`);
  return sectorSize;
}

/** The layout of a FAT32 volume of `totalSectors` sectors (throws when that cannot be FAT32). */
export function fat32Geometry(totalSectors: number, sectorsPerCluster: number, sectorSize = SECTOR): FatGeometry {
  checkSectorsPerCluster(sectorsPerCluster);
  checkSectorSize(sectorSize);
  if (!Number.isSafeInteger(totalSectors) || totalSectors <= 0 || totalSectors > 0xffffffff) throw new FatError(`fat: ${totalSectors} sectors is not a valid volume size`);
  const spc = sectorsPerCluster;
  const reservedSectors = alignUp(FAT32_RESERVED_SECTORS, spc);
  const fatAndData = totalSectors - reservedSectors;
  // First guess at the cluster count, then the FAT size it needs, then the count that really fits.
  const guess = Math.floor((fatAndData * sectorSize + FAT_COUNT * 8) / (spc * sectorSize + FAT_COUNT * 4));
  const fatSectors = alignUp(Math.ceil(((guess + 2) * 4) / sectorSize), spc);
  const clusterCount = Math.floor((fatAndData - FAT_COUNT * fatSectors) / spc);
  const size = `${totalSectors} sectors with ${spc} sector(s) per cluster`;
  if (clusterCount < FAT32_MIN_CLUSTERS) throw new FatError(`fat: ${size} give ${Math.max(0, clusterCount)} clusters; FAT32 needs at least ${FAT32_MIN_CLUSTERS}`);
  if (clusterCount > FAT32_MAX_CLUSTERS || clusterCount + 2 > (fatSectors * sectorSize) / 4) throw new FatError(`fat: ${size} give too many clusters for FAT32`);
  const small = totalSectors * sectorSize < 512 * MIB;
  return {
    sectorSize,
    totalSectors,
    sectorsPerCluster: spc,
    clusterBytes: spc * sectorSize,
    reservedSectors,
    fatSectors,
    clusterCount,
    dataStartSector: reservedSectors + FAT_COUNT * fatSectors,
    sectorsPerTrack: small ? 32 : 63,
    heads: small ? 64 : 255,
  };
}

/** mkfs.fat's default cluster size for FAT32 (Microsoft's table): 512 B up to 260 MiB, then 4, 8, 16, 32 KiB. */
export function defaultSectorsPerCluster(sizeBytes: number): number {
  const mib = Math.floor(sizeBytes / MIB);
  return mib > 32 * 1024 ? 64 : mib > 16 * 1024 ? 32 : mib > 8 * 1024 ? 16 : mib > 260 ? 8 : 1;
}

/**
 * The cluster size Talos' imager picks for the ESP of an ISO (iso/uefi.go):
 * the largest of 1, 2, 4, 8 sectors that leaves at least 65525 + 2048
 * clusters' worth of sectors, so firmware walks a shorter chain for the
 * ~100 MiB UKI while the volume stays FAT32.
 */
export function espSectorsPerCluster(sizeBytes: number): number {
  const sectors = Math.floor(sizeBytes / SECTOR);
  let spc = 1;
  for (let next = 2; next <= 8; next *= 2) {
    if (Math.floor(sectors / next) < FAT32_MIN_CLUSTERS + 2048) break;
    spc = next;
  }
  return spc;
}

/** The smallest whole-MiB FAT32 volume with at least `clusters` clusters of `spc` sectors. */
export function fat32SizeFor(clusters: number, spc: number): number {
  const wanted = Math.max(clusters, FAT32_MIN_CLUSTERS);
  const perMib = MIB / SECTOR;
  // A lower bound (data plus FATs), rounded to MiB; then grow until the recount has enough.
  let sectors = alignUp(alignUp(FAT32_RESERVED_SECTORS, spc) + wanted * spc + FAT_COUNT * Math.ceil(((wanted + 2) * 4) / SECTOR), perMib);
  for (;;) {
    let count = 0;
    try {
      count = fat32Geometry(sectors, spc).clusterCount;
    } catch (error) {
      if (!(error instanceof FatError) || sectors > 0xffffffff) throw error;
    }
    if (count >= wanted) return sectors * SECTOR;
    sectors += perMib;
  }
}
