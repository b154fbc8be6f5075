// Reads ISO 9660 images (ours and xorriso's) well enough for tests and
// checks: volume descriptors, both path tables, the directory tree with Rock
// Ridge names, modes and symlink targets (following CE continuation areas),
// file contents and the El Torito boot catalog. `offset` reads a filesystem
// that starts inside a bigger image, such as the partition-relative copy at
// 32 KiB of a hybrid image.

import type { FileHandle } from 'node:fs/promises';
import { BLOCK, DescriptorType, EL_TORITO_ID, FIRST_DESCRIPTOR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, STANDARD_ID } from './constants.js';
import type { VolumeIdentity } from './descriptors.js';
import { parseDescriptorDate, parseRecordDate } from './encoding.js';
import { Iso9660Error } from './errors.js';
import { parsePathTable, type PathTableRecord } from './path-table.js';
import { decodeSymlink, parseSusp, type SuspEntry } from './susp.js';
import { splitPath } from '../file-tree.js';
import { openForReader, readExactly } from '../read-at.js';

/** The primary descriptor's fields; an unset date reads as undefined. */
export interface VolumeInfo extends Omit<VolumeIdentity, 'created' | 'modified'> {
  volumeBlocks: number;
  blockSize: number;
  created?: Date;
  modified?: Date;
  expires?: Date;
  effective?: Date;
  pathTableSize: number;
  lPathTable: number;
  mPathTable: number;
}

export interface IsoEntry {
  /** Path without a leading slash; '' for the root. */
  path: string;
  /** Rock Ridge name, or the ISO identifier without ';1' and a trailing dot. */
  name: string;
  /** The ISO 9660 identifier as stored. */
  isoName: string;
  type: 'directory' | 'file' | 'symlink';
  /** Permission bits. */
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  /** Data length of the record (directories: extent bytes; symlinks: 0). */
  size: number;
  /** First block of the extent, relative to the filesystem start. */
  extent: number;
  mtime: Date;
  target?: string;
  /** SUSP signatures found for the entry, in order (continuation areas included). */
  susp: string[];
}

export interface BootCatalogEntry {
  platform: number;
  bootable: boolean;
  media: number;
  loadSegment: number;
  systemType: number;
  sectorCount: number;
  /** Block of the image (absolute: El Torito addresses are never partition-relative). */
  block: number;
}

export interface BootCatalog {
  block: number;
  validationPlatform: number;
  idString: string;
  entries: BootCatalogEntry[];
}

interface RawRecord {
  extent: number;
  size: number;
  flags: number;
  id: Buffer;
  date: Date;
  susp: SuspEntry[];
}

const text = (buf: Buffer, from: number, to: number): string => buf.toString('latin1', from, to).replace(/[ \0]+$/, '');

export class IsoReader {
  private constructor(
    private readonly handle: FileHandle,
    private readonly offset: number,
    readonly volume: VolumeInfo,
    private readonly rootRecord: RawRecord,
    private readonly descriptors: Buffer[],
    private suspSkip: number,
    private rockRidge: boolean,
  ) {}

  static async open(path: string, options: { offset?: number } = {}): Promise<IsoReader> {
    return openForReader(path, async (handle) => {
      const offset = options.offset ?? 0;
      const descriptors: Buffer[] = [];
      let primary: Buffer | undefined;
      for (let block = FIRST_DESCRIPTOR; ; block++) {
        const buf = await readAt(handle, offset + block * BLOCK, BLOCK);
        if (buf.toString('latin1', 1, 6) !== STANDARD_ID) throw new Iso9660Error(`iso9660: no volume descriptor at block ${block}`);
        if (buf[0] === DescriptorType.Terminator) break;
        descriptors.push(buf);
        if (buf[0] === DescriptorType.Primary) primary ??= buf;
      }
      if (!primary) throw new Iso9660Error('iso9660: no primary volume descriptor');
      const volume: VolumeInfo = {
        systemId: text(primary, 8, 40),
        volumeId: text(primary, 40, 72),
        volumeBlocks: primary.readUInt32LE(80),
        blockSize: primary.readUInt16LE(128),
        pathTableSize: primary.readUInt32LE(132),
        lPathTable: primary.readUInt32LE(140),
        mPathTable: primary.readUInt32BE(148),
        volumeSetId: text(primary, 190, 318),
        publisherId: text(primary, 318, 446),
        preparerId: text(primary, 446, 574),
        applicationId: text(primary, 574, 702),
        created: parseDescriptorDate(primary, 813),
        modified: parseDescriptorDate(primary, 830),
        expires: parseDescriptorDate(primary, 847),
        effective: parseDescriptorDate(primary, 864),
      };
      if (volume.blockSize !== BLOCK) throw new Iso9660Error(`iso9660: block size ${volume.blockSize} is not supported`);
      const root = parseRecord(primary, 156);
      const reader = new IsoReader(handle, offset, volume, root, descriptors, 0, false);
      await reader.detectRockRidge();
      return reader;
    });
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  get hasRockRidge(): boolean {
    return this.rockRidge;
  }

  async readBlocks(block: number, count: number): Promise<Buffer> {
    return readAt(this.handle, this.offset + block * BLOCK, count * BLOCK);
  }

  async pathTable(bigEndian: boolean): Promise<PathTableRecord[]> {
    const at = bigEndian ? this.volume.mPathTable : this.volume.lPathTable;
    const buf = await readAt(this.handle, this.offset + at * BLOCK, this.volume.pathTableSize);
    return parsePathTable(buf, bigEndian);
  }

  /** Every entry, depth first, children in directory order; the root first. */
  async list(): Promise<IsoEntry[]> {
    const out: IsoEntry[] = [];
    const walk = async (record: RawRecord, path: string, name: string): Promise<void> => {
      const records = await this.readDirectory(record);
      const self = records[0];
      if (!self) throw new Iso9660Error(`iso9660: ${path || '/'}: empty directory extent`);
      out.push(await this.entry(path === '' ? { ...self, id: Buffer.from([0]) } : record, path, name));
      for (const child of records.slice(2)) {
        const entry = await this.entry(child, '', '');
        const childPath = path === '' ? entry.name : `${path}/${entry.name}`;
        if (entry.type === 'directory') await walk(child, childPath, entry.name);
        else out.push({ ...entry, path: childPath });
      }
    };
    await walk(this.rootRecord, '', '');
    return out;
  }

  /** The entry at `path`, or undefined. */
  async lookup(path: string): Promise<IsoEntry | undefined> {
    let record = this.rootRecord;
    const names = splitPath(path);
    let entry = await this.entry({ ...(await this.readDirectory(record))[0]!, id: Buffer.from([0]) }, '', '');
    for (const [i, name] of names.entries()) {
      if (entry.type !== 'directory') return undefined;
      let found: { record: RawRecord; entry: IsoEntry } | undefined;
      for (const child of (await this.readDirectory(record)).slice(2)) {
        const candidate = await this.entry(child, names.slice(0, i + 1).join('/'), '');
        if (candidate.name === name) {
          found = { record: child, entry: candidate };
          break;
        }
      }
      if (!found) return undefined;
      record = found.record;
      entry = found.entry;
    }
    return entry;
  }

  async readFile(path: string): Promise<Buffer> {
    const entry = await this.lookup(path);
    if (!entry) throw new Iso9660Error(`iso9660: ${path}: no such file`, 'ENOENT');
    if (entry.type !== 'file') throw new Iso9660Error(`iso9660: ${path} is not a regular file`);
    return readAt(this.handle, this.offset + entry.extent * BLOCK, entry.size);
  }

  /** The El Torito boot catalog, when the image has a boot record. */
  async bootCatalog(): Promise<BootCatalog | undefined> {
    const record = this.descriptors.find((d) => d[0] === DescriptorType.BootRecord && d.toString('latin1', 7, 7 + EL_TORITO_ID.length) === EL_TORITO_ID);
    if (!record) return undefined;
    const block = record.readUInt32LE(71);
    const buf = await readAt(this.handle, block * BLOCK, BLOCK);
    if (buf[0] !== 1 || buf[30] !== 0x55 || buf[31] !== 0xaa) throw new Iso9660Error('iso9660: bad El Torito validation entry');
    const catalog: BootCatalog = { block, validationPlatform: buf[1]!, idString: text(buf, 4, 28), entries: [] };
    const entryAt = (at: number, platform: number): BootCatalogEntry => ({
      platform,
      bootable: buf[at] === 0x88,
      media: buf[at + 1]!,
      loadSegment: buf.readUInt16LE(at + 2),
      systemType: buf[at + 4]!,
      sectorCount: buf.readUInt16LE(at + 6),
      block: buf.readUInt32LE(at + 8),
    });
    catalog.entries.push(entryAt(32, catalog.validationPlatform));
    for (let at = 64; at + 32 <= BLOCK; ) {
      const header = buf[at]!;
      if (header !== 0x90 && header !== 0x91) break;
      const platform = buf[at + 1]!;
      const count = buf.readUInt16LE(at + 2);
      at += 32;
      for (let i = 0; i < count && at + 32 <= BLOCK; i++, at += 32) catalog.entries.push(entryAt(at, platform));
      if (header === 0x91) break;
    }
    return catalog;
  }

  private async detectRockRidge(): Promise<void> {
    const self = (await this.readDirectory(this.rootRecord))[0];
    const sp = self?.susp[0];
    if (sp?.signature === 'SP' && sp.data[0] === 0xbe && sp.data[1] === 0xef) {
      this.rockRidge = true;
      this.suspSkip = sp.data[2]!;
    }
  }

  private async readDirectory(dir: RawRecord): Promise<RawRecord[]> {
    const buf = await readAt(this.handle, this.offset + dir.extent * BLOCK, dir.size);
    const out: RawRecord[] = [];
    for (let at = 0; at < buf.length; ) {
      const length = buf[at]!;
      if (length === 0) {
        at = (Math.floor(at / BLOCK) + 1) * BLOCK;
        continue;
      }
      out.push(parseRecord(buf, at, this.suspSkip));
      at += length;
    }
    return out;
  }

  /** Follows CE entries: the record's own entries plus every continuation area's. */
  private async allSusp(record: RawRecord): Promise<SuspEntry[]> {
    const out: SuspEntry[] = [];
    let entries = record.susp;
    for (let hops = 0; hops < 64; hops++) {
      const ce = entries.find((e) => e.signature === 'CE');
      out.push(...entries.filter((e) => e.signature !== 'CE'));
      if (!ce) return out;
      const block = ce.data.readUInt32LE(0);
      const offset = ce.data.readUInt32LE(8);
      const length = ce.data.readUInt32LE(16);
      entries = parseSusp(await readAt(this.handle, this.offset + block * BLOCK + offset, length));
    }
    throw new Iso9660Error('iso9660: continuation areas loop');
  }

  private async entry(record: RawRecord, path: string, fallbackName: string): Promise<IsoEntry> {
    const susp = this.rockRidge ? await this.allSusp(record) : [];
    const isoName = record.id.length === 1 && record.id[0]! <= 1 ? '' : record.id.toString('latin1');
    let name = isoName.replace(/;\d+$/, '').replace(/\.$/, '');
    const nm = susp.filter((e) => e.signature === 'NM');
    if (nm.length > 0) name = Buffer.concat(nm.map((e) => e.data.subarray(1))).toString('utf8');
    const px = susp.find((e) => e.signature === 'PX');
    const isDirectory = (record.flags & 0x02) !== 0;
    let mode = isDirectory ? S_IFDIR | 0o555 : S_IFREG | 0o444;
    let nlink = 1;
    let uid = 0;
    let gid = 0;
    if (px) {
      mode = px.data.readUInt32LE(0);
      nlink = px.data.readUInt32LE(8);
      uid = px.data.readUInt32LE(16);
      gid = px.data.readUInt32LE(24);
    }
    const type = (mode & S_IFMT) === S_IFDIR ? 'directory' : (mode & S_IFMT) === S_IFLNK ? 'symlink' : 'file';
    const sl = susp.filter((e) => e.signature === 'SL');
    return {
      path,
      name: name || fallbackName,
      isoName,
      type,
      mode: mode & 0o7777,
      nlink,
      uid,
      gid,
      size: record.size,
      extent: record.extent,
      mtime: record.date,
      ...(type === 'symlink' ? { target: decodeSymlink(sl) } : {}),
      susp: susp.map((e) => e.signature),
    };
  }
}

function parseRecord(buf: Buffer, at: number, suspSkip = 0): RawRecord {
  const length = buf[at]!;
  if (length < 34 || at + length > buf.length) throw new Iso9660Error(`iso9660: bad directory record length ${length}`);
  const idLength = buf[at + 32]!;
  const suspStart = at + 33 + idLength + (idLength % 2 === 0 ? 1 : 0) + suspSkip;
  return {
    extent: buf.readUInt32LE(at + 2),
    size: buf.readUInt32LE(at + 10),
    date: parseRecordDate(buf, at + 18),
    flags: buf[at + 25]!,
    id: buf.subarray(at + 33, at + 33 + idLength),
    susp: suspStart < at + length ? parseSusp(buf.subarray(suspStart, at + length)) : [],
  };
}

function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  return readExactly(handle, position, length, () => new Iso9660Error(`iso9660: image ends before byte ${position + length}`));
}
