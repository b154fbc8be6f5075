// Lays a file tree out as a FAT32 image, described as extents (boot sectors,
// both FATs, directory clusters and file contents; gaps are zeros), so the
// writer can stream it with only the metadata in memory.
//
// What FAT cannot hold is refused here: symlinks, names FAT forbids, names
// that clash ignoring case. Of a mode only the write bits count: a file no one
// may write is marked read-only, as Linux' vfat driver does.
//
// Layout choices, all deterministic:
// - entries of a directory sorted by name (UTF-8 bytes), so insertion order
//   does not matter; short names given to exact 8.3 names first, then "~N"
//   names in that order;
// - every directory and file is one contiguous cluster run: the root at
//   cluster 2, then the other directories breadth-first, then the files in
//   the same order, each run chained in the FAT and ended with 0x0FFFFFFF;
// - one timestamp for every entry (and the label), the volume id fixed
//   (0x1234ABCD, mkfs.vfat --invariant's) unless given.

import { type FileSource, type FileTree, type TreeDirectory, type TreeFile, childPath, sourceSize } from '../file-tree.js';
import { type Extent, type SparseDisk, bytesExtent, fileExtent, sparseDisk, streamExtent } from '../disk/sparse.js';
import { BACKUP_BOOT_SECTOR, FSINFO_SECTOR, MEDIA_FIXED, NO_NAME, encodeBootSector, encodeFsInfo, volumeLabel } from './boot-sector.js';
import {
  ATTR_ARCHIVE,
  ATTR_DIRECTORY,
  ATTR_READ_ONLY,
  ATTR_VOLUME_ID,
  DOTDOT_NAME,
  DOT_NAME,
  type DosTime,
  ENTRY_SIZE,
  MAX_DIRECTORY_ENTRIES,
  dosTime,
  encodeShortEntry,
} from './directory.js';
import { FatError } from './errors.js';
import { FAT_COUNT, type FatGeometry, SECTOR, checkSectorSize, checkSectorsPerCluster, defaultSectorsPerCluster, fat32Geometry, fat32SizeFor, MIB } from './geometry.js';
import { type ShortName, checkLongName, encodeLfnEntries, exactShortName, lfnEntryCount, nameKey, shortNameChecksum, tailedShortName } from './names.js';

/** mkfs.vfat --invariant's volume id. */
export const INVARIANT_VOLUME_ID = 0x1234abcd;
export const DEFAULT_OEM_NAME = 'MSWIN4.1';
/** Free space left when the size is computed. */
export const DEFAULT_SLACK = MIB;
/** End of a cluster chain. */
export const FAT_EOC = 0x0fffffff;

export interface FatWriteOptions {
  /** Image size in bytes (a multiple of 512); computed to fit the content plus `slack` when omitted (whole MiB). */
  size?: number;
  /** Free bytes to leave when the size is computed (default 1 MiB). */
  slack?: number;
  /** Bytes per logical sector (mkfs.vfat -S), 512 by default; others need an explicit `size`. */
  sectorSize?: number;
  /** Default: mkfs.vfat's choice for the size (see defaultSectorsPerCluster; espSectorsPerCluster for ISO ESPs). */
  sectorsPerCluster?: number;
  /** Volume label (1..11 characters); none by default. */
  label?: string;
  /** Volume serial number (default 0x1234ABCD). */
  volumeId?: number;
  /** Every entry's time, seconds since the epoch (SOURCE_DATE_EPOCH); default 0, stored as 1980-01-01 00:00:00. */
  timestamp?: number;
  /** Sectors before the volume on its disk (the partition's start LBA), for the boot sector; default 0 like mkfs.vfat on an image file. */
  hiddenSectors?: number;
  /** OEM name in the boot sector (8 characters). */
  oemName?: string;
}

interface FilePlan {
  path: string;
  source: FileSource;
  size: number;
  firstCluster: number;
  clusters: number;
}

interface ChildPlan {
  name: string;
  short: ShortName;
  attributes: number;
  dir?: DirPlan;
  file?: FilePlan;
}

interface DirPlan {
  path: string;
  parent?: DirPlan;
  children: ChildPlan[];
  entryCount: number;
  firstCluster: number;
  clusters: number;
}

export interface FatLayoutEntry {
  path: string;
  kind: 'directory' | 'file';
  firstCluster: number;
  clusters: number;
  size: number;
}

export interface FatImage {
  geometry: FatGeometry;
  /** Bytes. */
  size: number;
  volumeId: number;
  /** Padded to 11 characters; "NO NAME    " without a label. */
  label: string;
  usedClusters: number;
  freeClusters: number;
  /** Where every directory and file went (root first). */
  layout: FatLayoutEntry[];
  /** The image as extents. */
  image: SparseDisk;
}

function fileAttributes(file: TreeFile): number {
  return ATTR_ARCHIVE | ((file.mode & 0o222) === 0 ? ATTR_READ_ONLY : 0);
}

function byName(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Short names for a directory's sorted children: exact 8.3 names first, then tailed ones. */
function shortNames(names: readonly string[], path: string): ShortName[] {
  const keys = new Map<string, string>();
  for (const name of names) {
    const key = nameKey(name);
    const other = keys.get(key);
    if (other !== undefined) throw new FatError(`fat: ${childPath(path, name)} clashes with ${JSON.stringify(other)} (FAT names are case-insensitive)`);
    keys.set(key, name);
  }
  const exact = names.map((name) => exactShortName(name));
  const taken = new Set(exact.flatMap((s) => (s ? [s.raw.toString('latin1')] : [])));
  const tried = new Map<string, number>();
  return names.map((name, i) => {
    const own = exact[i];
    if (own) return own;
    const short = tailedShortName(name, taken, tried);
    taken.add(short.raw.toString('latin1'));
    return short;
  });
}

/** Directories breadth-first with their sorted children, short names and file sizes. */
async function collect(tree: FileTree, hasLabel: boolean): Promise<DirPlan[]> {
  const root: DirPlan = { path: '', children: [], entryCount: 0, firstCluster: 0, clusters: 0 };
  const queue: Array<{ plan: DirPlan; node: TreeDirectory }> = [{ plan: root, node: tree.root }];
  const dirs: DirPlan[] = [];
  for (let i = 0; i < queue.length; i++) {
    const { plan, node } = queue[i]!;
    dirs.push(plan);
    const names = [...node.children.keys()].sort(byName);
    for (const name of names) checkLongName(name, childPath(plan.path, name));
    const shorts = shortNames(names, plan.path);
    for (const [j, name] of names.entries()) {
      const child = node.children.get(name)!;
      const path = childPath(plan.path, name);
      const short = shorts[j]!;
      if (child.kind === 'directory') {
        const dir: DirPlan = { path, parent: plan, children: [], entryCount: 0, firstCluster: 0, clusters: 0 };
        plan.children.push({ name, short, attributes: ATTR_DIRECTORY, dir });
        queue.push({ plan: dir, node: child });
      } else if (child.kind === 'file') {
        const size = await sourceSize(child.source, `fat: ${path}`);
        if (size > 0xffffffff) throw new FatError(`fat: ${path}: ${size} bytes is more than a FAT file can hold (4 GiB - 1)`);
        plan.children.push({ name, short, attributes: fileAttributes(child), file: { path, source: child.source, size, firstCluster: 0, clusters: 0 } });
      } else {
        throw new FatError(`fat: ${path} is a symlink; FAT cannot hold symlinks`);
      }
    }
    const own = plan === root ? (hasLabel ? 1 : 0) : 2;
    plan.entryCount = own + plan.children.reduce((n, c) => n + 1 + (c.short.needsLfn ? lfnEntryCount(c.name) : 0), 0);
    if (plan.entryCount > MAX_DIRECTORY_ENTRIES) throw new FatError(`fat: ${plan.path || '/'}: ${plan.entryCount} directory entries, more than FAT's ${MAX_DIRECTORY_ENTRIES}`);
  }
  return dirs;
}

function clustersNeeded(dirs: readonly DirPlan[], clusterBytes: number): number {
  let n = 0;
  for (const dir of dirs) {
    n += Math.max(1, Math.ceil((dir.entryCount * ENTRY_SIZE) / clusterBytes));
    for (const c of dir.children) if (c.file) n += Math.ceil(c.file.size / clusterBytes);
  }
  return n;
}

function chooseGeometry(dirs: readonly DirPlan[], options: FatWriteOptions): FatGeometry {
  const sectorSize = checkSectorSize(options.sectorSize ?? SECTOR);
  if (options.size !== undefined) {
    const { size } = options;
    if (!Number.isSafeInteger(size) || size <= 0 || size % sectorSize !== 0) throw new FatError(`fat: size ${size} is not a positive multiple of ${sectorSize}`);
    const spc = checkSectorsPerCluster(options.sectorsPerCluster ?? defaultSectorsPerCluster(size));
    return fat32Geometry(size / sectorSize, spc, sectorSize);
  }
  if (sectorSize !== SECTOR) throw new FatError(`fat: a volume with ${sectorSize}-byte sectors needs an explicit size`);
  const slack = options.slack ?? DEFAULT_SLACK;
  if (!Number.isSafeInteger(slack) || slack < 0) throw new FatError(`fat: slack ${slack} is not a non-negative integer`);
  const sizeWith = (spc: number): number => {
    const bytes = spc * SECTOR;
    return fat32SizeFor(clustersNeeded(dirs, bytes) + Math.ceil(slack / bytes), spc);
  };
  let spc = checkSectorsPerCluster(options.sectorsPerCluster ?? 1);
  let size = sizeWith(spc);
  // Without a given cluster size, take mkfs.vfat's for the size this comes to.
  if (options.sectorsPerCluster === undefined && defaultSectorsPerCluster(size) !== spc) {
    spc = defaultSectorsPerCluster(size);
    size = sizeWith(spc);
  }
  return fat32Geometry(size / SECTOR, spc);
}

/** Contiguous runs, root first, then the other directories, then the files. */
function allocate(dirs: readonly DirPlan[], clusterBytes: number): number {
  let next = 2;
  for (const dir of dirs) {
    dir.clusters = Math.max(1, Math.ceil((dir.entryCount * ENTRY_SIZE) / clusterBytes));
    dir.firstCluster = next;
    next += dir.clusters;
  }
  for (const dir of dirs) {
    for (const { file } of dir.children) {
      if (!file) continue;
      file.clusters = Math.ceil(file.size / clusterBytes);
      file.firstCluster = file.clusters > 0 ? next : 0;
      next += file.clusters;
    }
  }
  return next;
}

function encodeDirectory(dir: DirPlan, time: DosTime, label: string | undefined): Buffer {
  const out = Buffer.alloc(dir.entryCount * ENTRY_SIZE);
  let at = 0;
  const short = (name: Uint8Array, attributes: number, firstCluster: number, size = 0, caseFlags = 0): void => {
    encodeShortEntry({ name, attributes, caseFlags, firstCluster, size, time }, out, at);
    at += ENTRY_SIZE;
  };
  if (!dir.parent) {
    if (label) short(Buffer.from(label, 'latin1'), ATTR_VOLUME_ID, 0);
  } else {
    short(DOT_NAME, ATTR_DIRECTORY, dir.firstCluster);
    // ".." of a directory in the root points at cluster 0, not at the root's cluster.
    short(DOTDOT_NAME, ATTR_DIRECTORY, dir.parent.parent ? dir.parent.firstCluster : 0);
  }
  for (const child of dir.children) {
    if (child.short.needsLfn) {
      const lfn = encodeLfnEntries(child.name, shortNameChecksum(child.short.raw));
      lfn.copy(out, at);
      at += lfn.length;
    }
    const firstCluster = child.dir ? child.dir.firstCluster : child.file!.firstCluster;
    short(child.short.raw, child.attributes, firstCluster, child.file?.size ?? 0, child.short.caseFlags);
  }
  return out;
}

/** FAT entries 0..end-1: the media marker, the reserved entry, then every run chained and ended. */
async function* fatChunks(runs: ReadonlyArray<readonly [number, number]>, end: number): AsyncGenerator<Buffer> {
  const perChunk = 1 << 18;
  let run = 0;
  for (let start = 0; start < end; start += perChunk) {
    const count = Math.min(perChunk, end - start);
    const buf = Buffer.alloc(count * 4);
    for (let i = 0; i < count; i++) {
      const cluster = start + i;
      let value: number;
      if (cluster === 0) value = 0x0fffff00 | MEDIA_FIXED;
      else if (cluster === 1) value = FAT_EOC;
      else {
        while (cluster >= runs[run]![0] + runs[run]![1]) run++;
        value = cluster === runs[run]![0] + runs[run]![1] - 1 ? FAT_EOC : cluster + 1;
      }
      buf.writeUInt32LE(value, i * 4);
    }
    yield buf;
  }
}

function checkU32(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new FatError(`fat: ${what} ${value} is not a 32-bit unsigned integer`);
  return value;
}

/** Plans the image (file sizes are taken now and must not change before it is written). */
export async function planFat(tree: FileTree, options: FatWriteOptions = {}): Promise<FatImage> {
  const label = options.label === undefined ? undefined : volumeLabel(options.label);
  const volumeId = checkU32(options.volumeId ?? INVARIANT_VOLUME_ID, 'volume id');
  const hiddenSectors = checkU32(options.hiddenSectors ?? 0, 'hidden sector count');
  const oemName = options.oemName ?? DEFAULT_OEM_NAME;
  if (!/^[\x20-\x7e]{1,8}$/.test(oemName)) throw new FatError(`fat: OEM name ${JSON.stringify(oemName)} must be 1..8 printable ASCII characters`);
  const time = dosTime(options.timestamp ?? 0);

  const dirs = await collect(tree, label !== undefined);
  const geometry = chooseGeometry(dirs, options);
  const end = allocate(dirs, geometry.clusterBytes);
  const used = end - 2;
  if (used > geometry.clusterCount) {
    throw new FatError(`fat: the content needs ${used} clusters of ${geometry.clusterBytes} bytes, the volume has ${geometry.clusterCount}`);
  }
  const ss = geometry.sectorSize;
  const size = geometry.totalSectors * ss;
  const clusterOffset = (cluster: number): number => (geometry.dataStartSector + (cluster - 2) * geometry.sectorsPerCluster) * ss;

  const boot = encodeBootSector({ geometry, volumeId, label: label ?? NO_NAME, hiddenSectors, oemName });
  const info = encodeFsInfo(geometry.clusterCount - used, end - 1);
  const reserved = Buffer.alloc((BACKUP_BOOT_SECTOR + 2) * ss);
  boot.copy(reserved, 0);
  info.copy(reserved, FSINFO_SECTOR * ss);
  boot.copy(reserved, BACKUP_BOOT_SECTOR * ss);
  info.copy(reserved, (BACKUP_BOOT_SECTOR + FSINFO_SECTOR) * ss);

  const runs: Array<[number, number]> = [];
  const layout: FatLayoutEntry[] = [];
  const extents: Extent[] = [bytesExtent(0, reserved)];
  for (const dir of dirs) {
    runs.push([dir.firstCluster, dir.clusters]);
    layout.push({ path: dir.path, kind: 'directory', firstCluster: dir.firstCluster, clusters: dir.clusters, size: 0 });
    extents.push(bytesExtent(clusterOffset(dir.firstCluster), encodeDirectory(dir, time, label)));
  }
  for (const dir of dirs) {
    for (const { file } of dir.children) {
      if (!file) continue;
      layout.push({ path: file.path, kind: 'file', firstCluster: file.firstCluster, clusters: file.clusters, size: file.size });
      if (file.clusters === 0) continue;
      runs.push([file.firstCluster, file.clusters]);
      const at = clusterOffset(file.firstCluster);
      extents.push('data' in file.source ? bytesExtent(at, file.source.data) : fileExtent(at, file.source.path, file.size));
    }
  }
  for (let copy = 0; copy < FAT_COUNT; copy++) {
    extents.push(streamExtent((geometry.reservedSectors + copy * geometry.fatSectors) * ss, end * 4, () => fatChunks(runs, end)));
  }
  return {
    geometry,
    size,
    volumeId,
    label: label ?? NO_NAME,
    usedClusters: used,
    freeClusters: geometry.clusterCount - used,
    layout,
    image: sparseDisk(size, extents),
  };
}
