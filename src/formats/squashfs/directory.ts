// Directory listings of the directory table. A listing is a run of headers
// {count - 1, inode block, base inode number}, each followed by at most 256
// entries {offset in inode block, inode number - base (s16), basic type,
// name length - 1, name}. Entries are sorted by name bytes (the kernel stops a
// lookup at the first greater name). A new header starts whenever the entries'
// inodes move to another metadata block, the inode number no longer fits the
// 16-bit delta, 256 entries are reached, or the listing crosses into a new
// 8 KiB metadata block; the last kind is also recorded in the directory index
// (extended directory inodes) so the kernel can jump close to a name.

import { DIR_HEADER_MAX_ENTRIES, METADATA_SIZE, READ_NAME_MAX } from './constants.js';
import { SquashfsError } from './errors.js';
import type { DirIndexEntry, MetadataSource } from './inode.js';
import type { MetadataRef, MetadataWriter } from './metadata-writer.js';

const HEADER_SIZE = 12;
const ENTRY_SIZE = 8;

export interface DirEntry {
  name: Buffer;
  /** Where the entry's inode is: block relative to the inode table start, offset inside it. */
  inode: MetadataRef;
  inodeNumber: number;
  /** Basic inode type (1..7). */
  type: number;
}

export interface Listing {
  start: MetadataRef;
  /** Bytes of the listing (the inode's file size is 3 more). */
  size: number;
  index: DirIndexEntry[];
}

function blockOf(position: number): number {
  return Math.floor(position / METADATA_SIZE);
}

/** Writes the listing of one directory (entries already sorted) and describes where it went. */
export async function writeListing(writer: MetadataWriter, entries: readonly DirEntry[]): Promise<Listing> {
  const startPos = writer.position;
  const start = writer.ref;
  const parts: Buffer[] = [];
  const headers: Array<{ pos: number; name: Buffer }> = [];
  let pos = startPos;
  let current: { buf: Buffer; pos: number; count: number; block: number; base: number } | undefined;

  for (const entry of entries) {
    const delta = current ? entry.inodeNumber - current.base : 0;
    const split =
      !current ||
      current.count === DIR_HEADER_MAX_ENTRIES ||
      entry.inode.block !== current.block ||
      delta < -32768 ||
      delta > 32767 ||
      blockOf(pos) !== blockOf(current.pos);
    if (split) {
      const buf = Buffer.alloc(HEADER_SIZE);
      buf.writeUInt32LE(entry.inode.block, 4);
      buf.writeUInt32LE(entry.inodeNumber, 8);
      current = { buf, pos, count: 0, block: entry.inode.block, base: entry.inodeNumber };
      headers.push({ pos, name: entry.name });
      parts.push(buf);
      pos += HEADER_SIZE;
    }
    const c = current!;
    const e = Buffer.alloc(ENTRY_SIZE);
    e.writeUInt16LE(entry.inode.offset, 0);
    e.writeInt16LE(entry.inodeNumber - c.base, 2);
    e.writeUInt16LE(entry.type, 4);
    e.writeUInt16LE(entry.name.length - 1, 6);
    parts.push(e, entry.name);
    pos += ENTRY_SIZE + entry.name.length;
    c.count++;
    c.buf.writeUInt32LE(c.count - 1, 0);
  }

  await writer.write(Buffer.concat(parts));

  const index: DirIndexEntry[] = [];
  let lastBlock = blockOf(startPos);
  for (const h of headers) {
    if (blockOf(h.pos) === lastBlock) continue;
    lastBlock = blockOf(h.pos);
    index.push({ index: h.pos - startPos, startBlock: writer.refAt(h.pos).block, name: h.name });
  }
  return { start, size: pos - startPos, index };
}

/** Reads a listing of `size` bytes (the inode's file size minus 3). */
export async function readListing(src: MetadataSource, size: number): Promise<DirEntry[]> {
  const entries: DirEntry[] = [];
  let read = 0;
  while (read < size) {
    const h = await src.read(HEADER_SIZE);
    read += HEADER_SIZE;
    const count = h.readUInt32LE(0) + 1;
    if (count > DIR_HEADER_MAX_ENTRIES) throw new SquashfsError(`squashfs: directory header with ${count} entries`);
    const block = h.readUInt32LE(4);
    const base = h.readUInt32LE(8);
    for (let i = 0; i < count; i++) {
      const e = await src.read(ENTRY_SIZE);
      const nameSize = e.readUInt16LE(6) + 1;
      if (nameSize > READ_NAME_MAX) throw new SquashfsError(`squashfs: directory entry name of ${nameSize} bytes`);
      const name = await src.read(nameSize);
      read += ENTRY_SIZE + nameSize;
      entries.push({
        name,
        inode: { block, offset: e.readUInt16LE(0) },
        inodeNumber: base + e.readInt16LE(2),
        type: e.readUInt16LE(4),
      });
    }
    if (read > size) throw new SquashfsError('squashfs: directory listing runs past its size');
  }
  return entries;
}
