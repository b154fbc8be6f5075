// Reads SquashFS 4.0 images (ours and mksquashfs'): lists entries, streams
// file contents block by block, resolves paths. Extraction is in extract.ts (extractSquashfs).

import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { createDecompressor } from './codec.js';
import type { Decompressor } from './codec-types.js';
import {
  DATA_SIZE_MASK,
  DATA_UNCOMPRESSED,
  Flag,
  INVALID_FRAGMENT,
  METADATA_SIZE,
  SUPERBLOCK_SIZE,
  basicType,
  compressorName,
} from './constants.js';
import { readListing, type DirEntry } from './directory.js';
import { SquashfsError } from './errors.js';
import { decodeInode, type DirectoryInode, type FileInode, type Inode } from './inode.js';
import { MetadataReader } from './metadata-reader.js';
import { unpackRef, type MetadataRef } from './metadata-writer.js';
import { decodeSuperblock, type Superblock } from './superblock.js';
import { splitPath } from '../file-tree.js';
import { openForReader, readExactly } from '../read-at.js';

export type EntryType = 'directory' | 'file' | 'symlink' | 'block-device' | 'char-device' | 'fifo' | 'socket';

export interface SquashfsEntry {
  /** Path inside the image without a leading slash; '' for the root. */
  path: string;
  name: string;
  /** The name as stored (names need not be UTF-8). */
  nameBytes: Buffer;
  type: EntryType;
  /** Permission bits (0..0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Files: content bytes. Symlinks: target length. Directories: listing size + 3 (what unsquashfs -lls shows). */
  size: number;
  /** Symlinks only. */
  target?: string;
  mtime: number;
  inodeNumber: number;
  nlink: number;
  /** Device nodes only (Linux new_encode_dev form). */
  rdev?: number;
  inode: Inode;
}

/** Data blocks decompressed ahead of the consumer when streaming a file. */
const READ_AHEAD = 4;

function checkName(name: Buffer, where: string): void {
  if (name.length === 0 || name.includes(0x2f) || name.includes(0) || (name.length <= 2 && /^\.\.?$/.test(name.toString('latin1')))) {
    throw new SquashfsError(`squashfs: invalid name ${JSON.stringify(name.toString('utf8'))} in ${where || '/'}`);
  }
}

export class SquashfsReader {
  private readonly meta: MetadataReader;
  private readonly decompressor: Decompressor;
  private ids: number[] = [];
  private fragmentTable: Promise<Buffer> | undefined;
  private fragmentCache = new Map<number, Promise<Buffer>>();

  private constructor(
    private readonly handle: FileHandle,
    readonly superblock: Superblock,
    readonly size: number,
  ) {
    this.decompressor = createDecompressor(superblock.compressor);
    this.meta = new MetadataReader((position, length) => this.readAt(position, length), this.decompressor);
  }

  static async open(path: string): Promise<SquashfsReader> {
    return openForReader(path, async (handle) => {
      const { size } = await handle.stat();
      const superblock = decodeSuperblock(await readImage(handle, 0, SUPERBLOCK_SIZE));
      if (superblock.bytesUsed > size) throw new SquashfsError(`squashfs: image is truncated (${size} of ${superblock.bytesUsed} bytes)`);
      const reader = new SquashfsReader(handle, superblock, size);
      await reader.loadIds();
      return reader;
    });
  }

  async close(): Promise<void> {
    await this.handle.close();
  }

  /** Name of the image's compressor (gzip, xz, zstd, ...). */
  get compression(): string {
    return compressorName(this.superblock.compressor);
  }

  /** Payload of the compressor-options block, if the image has one. */
  async compressorOptions(): Promise<Buffer | undefined> {
    if (!(this.superblock.flags & Flag.CompressorOptions)) return undefined;
    const header = (await this.readAt(SUPERBLOCK_SIZE, 2)).readUInt16LE(0);
    return this.readAt(SUPERBLOCK_SIZE + 2, header & 0x7fff);
  }

  /** Exactly `length` bytes at an offset inside bytes_used. */
  async readAt(position: number, length: number): Promise<Buffer> {
    if (position + length > this.superblock.bytesUsed) throw new SquashfsError(`squashfs: read of ${length} bytes at ${position} is past the end of the image`);
    return readImage(this.handle, position, length);
  }

  /** Reads a lookup table: the index of block positions at `start`, then `bytes` bytes of records. */
  private async lookupTable(start: number, bytes: number): Promise<Buffer> {
    if (bytes === 0) return Buffer.alloc(0);
    const blocks = Math.ceil(bytes / METADATA_SIZE);
    const index = await this.readAt(start, 8 * blocks);
    const parts: Buffer[] = [];
    for (let i = 0; i < blocks; i++) {
      const length = Math.min(METADATA_SIZE, bytes - i * METADATA_SIZE);
      parts.push(await this.meta.readRun(Number(index.readBigUInt64LE(8 * i)), length));
    }
    return Buffer.concat(parts, bytes);
  }

  private async loadIds(): Promise<void> {
    const table = await this.lookupTable(this.superblock.idTableStart, 4 * this.superblock.ids);
    this.ids = Array.from({ length: this.superblock.ids }, (_, i) => table.readUInt32LE(4 * i));
  }

  private id(index: number): number {
    const id = this.ids[index];
    if (id === undefined) throw new SquashfsError(`squashfs: id index ${index} is not in the id table`);
    return id;
  }

  async readInode(ref: MetadataRef): Promise<Inode> {
    return decodeInode(this.meta.cursor(this.superblock.inodeTableStart, ref), this.superblock.blockSize);
  }

  private entry(path: string, nameBytes: Buffer, inode: Inode): SquashfsEntry {
    const out: SquashfsEntry = {
      path,
      name: nameBytes.toString('utf8'),
      nameBytes,
      type: inode.kind,
      mode: inode.mode,
      uid: this.id(inode.uidIndex),
      gid: this.id(inode.gidIndex),
      size: inode.kind === 'file' || inode.kind === 'directory' ? inode.fileSize : inode.kind === 'symlink' ? inode.target.length : 0,
      mtime: inode.mtime,
      inodeNumber: inode.inodeNumber,
      nlink: inode.nlink,
      inode,
    };
    if (inode.kind === 'symlink') out.target = inode.target.toString('utf8');
    if (inode.kind === 'block-device' || inode.kind === 'char-device') out.rdev = inode.rdev;
    return out;
  }

  async root(): Promise<SquashfsEntry> {
    const inode = await this.readInode(unpackRef(this.superblock.rootInode));
    if (inode.kind !== 'directory') throw new SquashfsError('squashfs: the root inode is not a directory');
    return this.entry('', Buffer.alloc(0), inode);
  }

  /** A directory's listing, names checked (no '/', '.', '..', NUL or duplicates). */
  private async listing(parent: SquashfsEntry): Promise<DirEntry[]> {
    if (parent.inode.kind !== 'directory') throw new SquashfsError(`squashfs: /${parent.path} is not a directory`, 'ENOTDIR');
    const inode: DirectoryInode = parent.inode;
    const size = inode.fileSize - 3;
    if (size <= 0) return [];
    const listing = await readListing(
      this.meta.cursor(this.superblock.directoryTableStart, { block: inode.startBlock, offset: inode.offset }),
      size,
    );
    const seen = new Set<string>();
    for (const e of listing) {
      checkName(e.name, parent.path);
      const key = e.name.toString('latin1');
      if (seen.has(key)) throw new SquashfsError(`squashfs: duplicate name ${e.name.toString('utf8')} in /${parent.path}`);
      seen.add(key);
    }
    return listing;
  }

  private async child(parent: SquashfsEntry, e: DirEntry): Promise<SquashfsEntry> {
    const inode = await this.readInode(e.inode);
    const name = e.name.toString('utf8');
    if (basicType(inode.type) !== e.type) throw new SquashfsError(`squashfs: entry ${name} in /${parent.path} disagrees with its inode type`);
    return this.entry(parent.path === '' ? name : `${parent.path}/${name}`, e.name, inode);
  }

  /** The entries of a directory, in stored (sorted) order. */
  async readdir(dir: SquashfsEntry | string): Promise<SquashfsEntry[]> {
    const parent = typeof dir === 'string' ? await this.stat(dir) : dir;
    const out: SquashfsEntry[] = [];
    for (const e of await this.listing(parent)) out.push(await this.child(parent, e));
    return out;
  }

  /** The entry at a path ('' or '/' is the root); symlinks are not followed. */
  async stat(path: string): Promise<SquashfsEntry> {
    let current = await this.root();
    for (const name of splitPath(path)) {
      if (current.type !== 'directory') throw new SquashfsError(`squashfs: /${current.path} is not a directory`, 'ENOTDIR');
      // Compare names first: only the matching entry's inode is read.
      const wanted = Buffer.from(name, 'utf8');
      const match = (await this.listing(current)).find((e) => e.name.equals(wanted));
      if (!match) throw new SquashfsError(`squashfs: /${path.replace(/^\/+/, '')} does not exist`, 'ENOENT');
      current = await this.child(current, match);
    }
    return current;
  }

  /** Whether a path exists (false also when a parent is not a directory). */
  async exists(path: string): Promise<boolean> {
    try {
      await this.stat(path);
      return true;
    } catch (error) {
      if (error instanceof SquashfsError && error.code !== undefined) return false;
      throw error;
    }
  }

  /** Every entry under (and including) `path`, depth first, parents before children. */
  async *walk(path: string | SquashfsEntry = ''): AsyncGenerator<SquashfsEntry> {
    const start = typeof path === 'string' ? await this.stat(path) : path;
    const active = new Set<number>();
    const visit = async function* (this: SquashfsReader, entry: SquashfsEntry): AsyncGenerator<SquashfsEntry> {
      yield entry;
      if (entry.type !== 'directory') return;
      // A directory that contains itself would walk forever.
      if (active.has(entry.inodeNumber)) throw new SquashfsError(`squashfs: directory loop at /${entry.path}`);
      active.add(entry.inodeNumber);
      for (const child of await this.readdir(entry)) yield* visit.call(this, child);
      active.delete(entry.inodeNumber);
    };
    yield* visit.call(this, start);
  }

  async list(path: string = ''): Promise<SquashfsEntry[]> {
    const out: SquashfsEntry[] = [];
    for await (const entry of this.walk(path)) out.push(entry);
    return out;
  }

  private fragmentEntries(): Promise<Buffer> {
    this.fragmentTable ??= this.superblock.fragmentTableStart === undefined
      ? Promise.resolve(Buffer.alloc(0))
      : this.lookupTable(this.superblock.fragmentTableStart, 16 * this.superblock.fragments);
    return this.fragmentTable;
  }

  private async fragmentBlock(index: number): Promise<Buffer> {
    let block = this.fragmentCache.get(index);
    if (!block) {
      block = (async () => {
        const table = await this.fragmentEntries();
        if (index >= this.superblock.fragments) throw new SquashfsError(`squashfs: fragment ${index} is not in the fragment table`);
        const start = Number(table.readBigUInt64LE(16 * index));
        return this.dataBlock(start, table.readUInt32LE(16 * index + 8), 0);
      })();
      block.catch(() => this.fragmentCache.delete(index));
      if (this.fragmentCache.size >= 8) this.fragmentCache.delete(this.fragmentCache.keys().next().value!);
      this.fragmentCache.set(index, block);
    }
    return block;
  }

  /** One data block; `expected` > 0 pads a short block (and sizes a hole), 0 takes the block as it is. */
  private async dataBlock(start: number, sizeField: number, expected: number): Promise<Buffer> {
    const blockSize = this.superblock.blockSize;
    if (sizeField === 0) return Buffer.alloc(expected);
    const size = sizeField & DATA_SIZE_MASK;
    if (size > blockSize || sizeField & ~(DATA_SIZE_MASK | DATA_UNCOMPRESSED)) throw new SquashfsError(`squashfs: bad block size field ${sizeField}`);
    const raw = await this.readAt(start, size);
    const data = sizeField & DATA_UNCOMPRESSED ? raw : await this.decompressor.decompress(raw, blockSize);
    if (expected > 0 && data.length !== expected) {
      // The kernel zero-fills a block that decompresses short; more is corruption.
      if (data.length > expected) throw new SquashfsError(`squashfs: data block at ${start} holds ${data.length} bytes, expected ${expected}`);
      return Buffer.concat([data, Buffer.alloc(expected - data.length)]);
    }
    return data;
  }

  /** A file's content, block by block. */
  async *chunks(file: SquashfsEntry | string): AsyncGenerator<Buffer> {
    const entry = typeof file === 'string' ? await this.stat(file) : file;
    if (entry.inode.kind !== 'file') throw new SquashfsError(`squashfs: /${entry.path} is not a regular file`);
    const inode: FileInode = entry.inode;
    const blockSize = this.superblock.blockSize;
    const jobs: Array<() => Promise<Buffer>> = [];
    let position = inode.blocksStart;
    inode.blockSizes.forEach((sizeField, i) => {
      const start = position;
      const expected = Math.min(blockSize, inode.fileSize - i * blockSize);
      jobs.push(() => this.dataBlock(start, sizeField, expected));
      position += sizeField & DATA_SIZE_MASK;
    });
    if (inode.fragment !== INVALID_FRAGMENT) {
      const tail = inode.fileSize % blockSize;
      jobs.push(async () => {
        const block = await this.fragmentBlock(inode.fragment);
        if (inode.fragmentOffset + tail > block.length) throw new SquashfsError(`squashfs: /${entry.path}: tail lies outside its fragment block`);
        return block.subarray(inode.fragmentOffset, inode.fragmentOffset + tail);
      });
    }
    const ahead: Array<Promise<Buffer>> = [];
    let next = 0;
    while (next < jobs.length || ahead.length > 0) {
      while (ahead.length < READ_AHEAD && next < jobs.length) {
        const job = jobs[next++]!();
        job.catch(() => {}); // surfaces when awaited below
        ahead.push(job);
      }
      const chunk = await ahead.shift()!;
      if (chunk.length > 0) yield chunk;
    }
  }

  createReadStream(file: SquashfsEntry | string): Readable {
    return Readable.from(this.chunks(file), { objectMode: false });
  }

  async readFile(file: SquashfsEntry | string): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const chunk of this.chunks(file)) parts.push(chunk);
    return Buffer.concat(parts);
  }
}

function readImage(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  return readExactly(handle, position, length, (end) => new SquashfsError(`squashfs: unexpected end of image at byte ${end}`));
}
