// A small FAT32 reader for checks: the boot sector and FSInfo, directories
// (long names put together and checked against their short entry's
// checksum, NT case flags applied), and file contents by following the FAT.
// It reads the whole FAT into memory, which is fine for ESP-sized volumes.

import type { FileHandle } from 'node:fs/promises';
import { openForReader, readExactly } from '../read-at.js';
import { BS, FSINFO_SECTOR } from './boot-sector.js';
import { ATTR_DIRECTORY, ATTR_VOLUME_ID, ENTRY_SIZE, fromDosTime } from './directory.js';
import { FatError } from './errors.js';
import { SECTOR, checkSectorSize } from './geometry.js';
import { ATTR_LFN, CASE_LOWER_BASE, CASE_LOWER_EXT, LFN_LAST, decodeLfnPart, nameKey, shortNameChecksum } from './names.js';

export interface FatVolumeInfo {
  /** Bytes per logical sector. */
  sectorSize: number;
  oemName: string;
  sectorsPerCluster: number;
  reservedSectors: number;
  fatCount: number;
  fatSectors: number;
  totalSectors: number;
  hiddenSectors: number;
  rootCluster: number;
  volumeId: number;
  /** From the boot sector, trailing spaces removed. */
  bootLabel: string;
  /** From the root directory's volume entry, if any. */
  label: string | undefined;
  fsType: string;
  clusterCount: number;
  fsInfo: { freeClusters: number; nextFree: number };
}

export interface FatDirEntry {
  /** The long name, or the short name with its case flags applied. */
  name: string;
  /** "BASE.EXT" as stored. */
  shortName: string;
  hasLongName: boolean;
  attributes: number;
  isDirectory: boolean;
  firstCluster: number;
  size: number;
  /** Last write time, seconds since the epoch (UTC). */
  modified: number;
}

const EOC_MIN = 0x0ffffff8;

/** "BASE.EXT" from the 11 stored bytes (a leading 0x05 stands for 0xE5). */
function storedShortName(raw: Buffer): string {
  const bytes = Buffer.from(raw);
  if (bytes[0] === 0x05) bytes[0] = 0xe5;
  const base = bytes.toString('latin1', 0, 8).trimEnd();
  const ext = bytes.toString('latin1', 8, 11).trimEnd();
  return ext ? `${base}.${ext}` : base;
}

export class FatReader {
  private constructor(
    private readonly handle: FileHandle,
    private readonly offset: number,
    readonly volume: FatVolumeInfo,
    private readonly fat: Buffer,
    private readonly dataStart: number,
  ) {}

  /** Opens the FAT32 volume that starts at byte `offset` of `path`. Close it when done. */
  static async open(path: string, offset = 0): Promise<FatReader> {
    return openForReader(path, async (handle) => {
      const boot = await readAt(handle, offset, SECTOR);
      if (boot.readUInt16LE(510) !== 0xaa55) throw new FatError('fat: no boot signature');
      const ss = checkSectorSize(boot.readUInt16LE(BS.bytesPerSector));
      const fatSectors = boot.readUInt32LE(BS.fatSize32);
      if (boot.readUInt16LE(BS.fatSize16) !== 0 || fatSectors === 0) throw new FatError('fat: not a FAT32 volume');
      const spc = boot[BS.sectorsPerCluster]!;
      const reservedSectors = boot.readUInt16LE(BS.reservedSectors);
      const fatCount = boot[BS.fatCount]!;
      const totalSectors = boot.readUInt32LE(BS.totalSectors32);
      const dataStartSector = reservedSectors + fatCount * fatSectors;
      const info = await readAt(handle, offset + boot.readUInt16LE(BS.fsInfoSector) * ss, SECTOR);
      const fat = await readAt(handle, offset + reservedSectors * ss, fatSectors * ss);
      const volume: FatVolumeInfo = {
        sectorSize: ss,
        oemName: boot.toString('latin1', BS.oemName, BS.oemName + 8),
        sectorsPerCluster: spc,
        reservedSectors,
        fatCount,
        fatSectors,
        totalSectors,
        hiddenSectors: boot.readUInt32LE(BS.hiddenSectors),
        rootCluster: boot.readUInt32LE(BS.rootCluster),
        volumeId: boot.readUInt32LE(BS.volumeId),
        bootLabel: boot.toString('latin1', BS.volumeLabel, BS.volumeLabel + 11).trimEnd(),
        label: undefined,
        fsType: boot.toString('latin1', BS.fsType, BS.fsType + 8),
        clusterCount: Math.floor((totalSectors - dataStartSector) / spc),
        fsInfo: { freeClusters: info.readUInt32LE(488), nextFree: info.readUInt32LE(492) },
      };
      if (FSINFO_SECTOR !== boot.readUInt16LE(BS.fsInfoSector) || info.readUInt32LE(0) !== 0x41615252) throw new FatError('fat: no FSInfo sector');
      const reader = new FatReader(handle, offset, volume, fat, dataStartSector * ss);
      volume.label = (await reader.scan(volume.rootCluster)).label;
      return reader;
    });
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  /** The FAT entry of a cluster (28 bits). */
  fatEntry(cluster: number): number {
    return this.fat.readUInt32LE(cluster * 4) & 0x0fffffff;
  }

  /** The cluster chain starting at `first`. */
  chain(first: number): number[] {
    const clusters: number[] = [];
    for (let c = first; c >= 2 && c < EOC_MIN; c = this.fatEntry(c)) {
      if (c >= this.volume.clusterCount + 2) throw new FatError(`fat: cluster ${c} is out of range`);
      if (clusters.length > this.volume.clusterCount) throw new FatError(`fat: the chain from ${first} loops`);
      clusters.push(c);
    }
    return clusters;
  }

  private async readChain(first: number, length?: number): Promise<Buffer> {
    const clusterBytes = this.volume.sectorsPerCluster * this.volume.sectorSize;
    const clusters = this.chain(first);
    const out = Buffer.alloc(length ?? clusters.length * clusterBytes);
    if (clusters.length * clusterBytes < out.length) throw new FatError(`fat: the chain from ${first} is shorter than ${out.length} bytes`);
    for (let i = 0; i * clusterBytes < out.length; i++) {
      const piece = Math.min(clusterBytes, out.length - i * clusterBytes);
      const data = await readAt(this.handle, this.offset + this.dataStart + (clusters[i]! - 2) * clusterBytes, piece);
      data.copy(out, i * clusterBytes);
    }
    return out;
  }

  /** A directory's entries (without "." and ".."), and the volume label when it is the root. */
  private async scan(cluster: number): Promise<{ entries: FatDirEntry[]; label: string | undefined }> {
    const data = await this.readChain(cluster);
    const entries: FatDirEntry[] = [];
    let label: string | undefined;
    let lfn: { units: number[][]; expected: number; checksum: number } | undefined;
    for (let at = 0; at + ENTRY_SIZE <= data.length; at += ENTRY_SIZE) {
      const e = data.subarray(at, at + ENTRY_SIZE);
      if (e[0] === 0x00) break;
      if (e[0] === 0xe5) {
        lfn = undefined;
        continue;
      }
      const attributes = e[11]!;
      if ((attributes & 0x3f) === ATTR_LFN) {
        const order = e[0]! & 0x3f;
        if (e[0]! & LFN_LAST) lfn = { units: [], expected: order, checksum: e[13]! };
        if (!lfn || order !== lfn.expected - lfn.units.length || e[13] !== lfn.checksum) {
          lfn = undefined;
          continue;
        }
        lfn.units.push(decodeLfnPart(e).units);
        continue;
      }
      const raw = e.subarray(0, 11);
      if (attributes & ATTR_VOLUME_ID) {
        label = raw.toString('latin1').trimEnd();
        lfn = undefined;
        continue;
      }
      const stored = storedShortName(raw);
      let name: string | undefined;
      if (lfn && lfn.units.length === lfn.expected && lfn.checksum === shortNameChecksum(raw)) {
        name = String.fromCharCode(...lfn.units.reverse().flat());
      }
      lfn = undefined;
      if (stored === '.' || stored === '..') continue;
      const caseFlags = e[12]!;
      const dot = stored.indexOf('.');
      const base = dot === -1 ? stored : stored.slice(0, dot);
      const ext = dot === -1 ? '' : stored.slice(dot + 1);
      const shown = (caseFlags & CASE_LOWER_BASE ? base.toLowerCase() : base) + (ext ? `.${caseFlags & CASE_LOWER_EXT ? ext.toLowerCase() : ext}` : '');
      entries.push({
        name: name ?? shown,
        shortName: stored,
        hasLongName: name !== undefined,
        attributes,
        isDirectory: (attributes & ATTR_DIRECTORY) !== 0,
        firstCluster: (e.readUInt16LE(20) << 16) | e.readUInt16LE(26),
        size: e.readUInt32LE(28),
        modified: fromDosTime(e.readUInt16LE(24), e.readUInt16LE(22)),
      });
    }
    return { entries, label };
  }

  /** The entry at `path` (case-insensitive, long or short name); undefined for the root. */
  async stat(path: string): Promise<FatDirEntry | undefined> {
    let cluster = this.volume.rootCluster;
    let found: FatDirEntry | undefined;
    const names = path.split('/').filter((n) => n !== '');
    for (const [i, name] of names.entries()) {
      if (found && !found.isDirectory) throw new FatError(`fat: ${names.slice(0, i).join('/')} is not a directory`, 'ENOTDIR');
      const { entries } = await this.scan(cluster);
      const key = nameKey(name);
      found = entries.find((e) => nameKey(e.name) === key) ?? entries.find((e) => nameKey(e.shortName) === key);
      if (!found) throw new FatError(`fat: ${names.slice(0, i + 1).join('/')} not found`, 'ENOENT');
      cluster = found.firstCluster;
    }
    return found;
  }

  async readdir(path = ''): Promise<FatDirEntry[]> {
    const entry = await this.stat(path);
    if (entry && !entry.isDirectory) throw new FatError(`fat: ${path} is not a directory`, 'ENOTDIR');
    return (await this.scan(entry ? entry.firstCluster : this.volume.rootCluster)).entries;
  }

  async readFile(path: string): Promise<Buffer> {
    const entry = await this.stat(path);
    if (!entry || entry.isDirectory) throw new FatError(`fat: ${path} is not a file`);
    return entry.size === 0 ? Buffer.alloc(0) : this.readChain(entry.firstCluster, entry.size);
  }

  /** Every entry under the root, parents before children, with its path. */
  async walk(): Promise<Array<{ path: string; entry: FatDirEntry }>> {
    const out: Array<{ path: string; entry: FatDirEntry }> = [];
    const visit = async (cluster: number, prefix: string): Promise<void> => {
      for (const entry of (await this.scan(cluster)).entries) {
        const path = prefix ? `${prefix}/${entry.name}` : entry.name;
        out.push({ path, entry });
        if (entry.isDirectory) await visit(entry.firstCluster, path);
      }
    };
    await visit(this.volume.rootCluster, '');
    return out;
  }
}

function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  return readExactly(handle, position, length, (end) => new FatError(`fat: unexpected end of image at byte ${end}`));
}
