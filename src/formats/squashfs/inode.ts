// Inode records of the inode table: a 16-byte common header, then a body that
// depends on the type. Basic types are compact; extended ("L") types add
// 64-bit sizes, sparse accounting, link counts, xattr ids and directory indexes.

import { INVALID_FRAGMENT, INVALID_XATTR, InodeType } from './constants.js';
import { SquashfsError } from './errors.js';

const HEADER_SIZE = 16;

export interface InodeHeader {
  type: number;
  /** Permission bits only (12 bits); the type comes from `type`. */
  mode: number;
  uidIndex: number;
  gidIndex: number;
  mtime: number;
  inodeNumber: number;
}

/** One directory index entry: where a directory header starts and the first name after it. */
export interface DirIndexEntry {
  /** Offset of the header from the start of the directory's listing (uncompressed). */
  index: number;
  /** Directory-table-relative position of the metadata block holding the header. */
  startBlock: number;
  name: Buffer;
}

export interface DirectoryInode extends InodeHeader {
  kind: 'directory';
  nlink: number;
  /** Listing size in bytes plus 3 (for the "." and ".." the kernel makes up). */
  fileSize: number;
  startBlock: number;
  offset: number;
  parentInode: number;
  index: DirIndexEntry[];
  xattr: number;
}

export interface FileInode extends InodeHeader {
  kind: 'file';
  nlink: number;
  blocksStart: number;
  fileSize: number;
  /** Bytes not stored because whole blocks were zero (extended inodes only). */
  sparse: number;
  fragment: number;
  fragmentOffset: number;
  /** On-disk size of each full block (bit 24: stored uncompressed; 0: a hole). */
  blockSizes: number[];
  xattr: number;
}

export interface SymlinkInode extends InodeHeader {
  kind: 'symlink';
  nlink: number;
  target: Buffer;
  xattr: number;
}

export interface DeviceInode extends InodeHeader {
  kind: 'block-device' | 'char-device';
  nlink: number;
  rdev: number;
  xattr: number;
}

export interface IpcInode extends InodeHeader {
  kind: 'fifo' | 'socket';
  nlink: number;
  xattr: number;
}

export type Inode = DirectoryInode | FileInode | SymlinkInode | DeviceInode | IpcInode;

function header(h: InodeHeader, body: number): Buffer {
  const out = Buffer.alloc(HEADER_SIZE + body);
  out.writeUInt16LE(h.type, 0);
  out.writeUInt16LE(h.mode & 0o7777, 2);
  out.writeUInt16LE(h.uidIndex, 4);
  out.writeUInt16LE(h.gidIndex, 6);
  out.writeUInt32LE(h.mtime, 8);
  out.writeUInt32LE(h.inodeNumber, 12);
  return out;
}

/** Number of full blocks a file stores (the tail is in a fragment or is one more block). */
export function blockCount(fileSize: number, blockSize: number, fragment: number): number {
  return fragment === INVALID_FRAGMENT ? Math.ceil(fileSize / blockSize) : Math.floor(fileSize / blockSize);
}

// ---------------------------------------------------------------------------
// Encoding (what the writer needs: directories, files, symlinks)

export type DirectoryFields = Omit<DirectoryInode, 'kind' | 'type' | 'xattr'>;

/** A basic directory inode when it fits, else an extended one (big listing or an index). */
export function encodeDirectory(d: DirectoryFields): Buffer {
  const basic = d.index.length === 0 && d.fileSize <= 0xffff;
  if (basic) {
    const out = header({ ...d, type: InodeType.Dir }, 16);
    out.writeUInt32LE(d.startBlock, 16);
    out.writeUInt32LE(d.nlink, 20);
    out.writeUInt16LE(d.fileSize, 24);
    out.writeUInt16LE(d.offset, 26);
    out.writeUInt32LE(d.parentInode, 28);
    return out;
  }
  if (d.index.length > 0xffff) throw new SquashfsError('squashfs: directory index too long');
  const out = header({ ...d, type: InodeType.LDir }, 24);
  out.writeUInt32LE(d.nlink, 16);
  out.writeUInt32LE(d.fileSize, 20);
  out.writeUInt32LE(d.startBlock, 24);
  out.writeUInt32LE(d.parentInode, 28);
  out.writeUInt16LE(d.index.length, 32);
  out.writeUInt16LE(d.offset, 34);
  out.writeUInt32LE(INVALID_XATTR, 36);
  const parts = [out];
  for (const entry of d.index) {
    const fixed = Buffer.alloc(12);
    fixed.writeUInt32LE(entry.index, 0);
    fixed.writeUInt32LE(entry.startBlock, 4);
    fixed.writeUInt32LE(entry.name.length - 1, 8);
    parts.push(fixed, entry.name);
  }
  return Buffer.concat(parts);
}

export type FileFields = Omit<FileInode, 'kind' | 'type' | 'xattr' | 'nlink'>;

/** A basic file inode when it fits (32-bit start and size, no holes), else an extended one. */
export function encodeFile(f: FileFields): Buffer {
  const basic = f.sparse === 0 && f.blocksStart <= 0xffffffff && f.fileSize <= 0xffffffff;
  let out: Buffer;
  let at: number;
  if (basic) {
    out = header({ ...f, type: InodeType.File }, 16 + 4 * f.blockSizes.length);
    out.writeUInt32LE(f.blocksStart, 16);
    out.writeUInt32LE(f.fragment, 20);
    out.writeUInt32LE(f.fragmentOffset, 24);
    out.writeUInt32LE(f.fileSize, 28);
    at = 32;
  } else {
    out = header({ ...f, type: InodeType.LFile }, 40 + 4 * f.blockSizes.length);
    out.writeBigUInt64LE(BigInt(f.blocksStart), 16);
    out.writeBigUInt64LE(BigInt(f.fileSize), 24);
    out.writeBigUInt64LE(BigInt(f.sparse), 32);
    out.writeUInt32LE(1, 40);
    out.writeUInt32LE(f.fragment, 44);
    out.writeUInt32LE(f.fragmentOffset, 48);
    out.writeUInt32LE(INVALID_XATTR, 52);
    at = 56;
  }
  for (const size of f.blockSizes) {
    out.writeUInt32LE(size, at);
    at += 4;
  }
  return out;
}

export function encodeSymlink(s: InodeHeader & { target: Buffer }): Buffer {
  const out = header({ ...s, type: InodeType.Symlink }, 8 + s.target.length);
  out.writeUInt32LE(1, 16);
  out.writeUInt32LE(s.target.length, 20);
  s.target.copy(out, 24);
  return out;
}

// ---------------------------------------------------------------------------
// Decoding (every type, for images made by anyone)

/** Sequential reads from the metadata stream, crossing block boundaries as needed. */
export interface MetadataSource {
  read(length: number): Promise<Buffer>;
}

const u64 = (buf: Buffer, at: number): number => {
  const value = buf.readBigUInt64LE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new SquashfsError(`squashfs: inode field ${value} is out of range`);
  return Number(value);
};

async function blockList(src: MetadataSource, count: number): Promise<number[]> {
  const raw = await src.read(4 * count);
  const sizes = new Array<number>(count);
  for (let i = 0; i < count; i++) sizes[i] = raw.readUInt32LE(4 * i);
  return sizes;
}

export async function decodeInode(src: MetadataSource, blockSize: number): Promise<Inode> {
  const h = await src.read(HEADER_SIZE);
  const base: InodeHeader = {
    type: h.readUInt16LE(0),
    mode: h.readUInt16LE(2) & 0o7777,
    uidIndex: h.readUInt16LE(4),
    gidIndex: h.readUInt16LE(6),
    mtime: h.readUInt32LE(8),
    inodeNumber: h.readUInt32LE(12),
  };
  switch (base.type) {
    case InodeType.Dir: {
      const b = await src.read(16);
      return {
        ...base,
        kind: 'directory',
        startBlock: b.readUInt32LE(0),
        nlink: b.readUInt32LE(4),
        fileSize: b.readUInt16LE(8),
        offset: b.readUInt16LE(10),
        parentInode: b.readUInt32LE(12),
        index: [],
        xattr: INVALID_XATTR,
      };
    }
    case InodeType.LDir: {
      const b = await src.read(24);
      const count = b.readUInt16LE(16);
      const index: DirIndexEntry[] = [];
      for (let i = 0; i < count; i++) {
        const e = await src.read(12);
        const nameSize = e.readUInt32LE(8) + 1;
        if (nameSize > 256) throw new SquashfsError('squashfs: directory index name too long');
        index.push({ index: e.readUInt32LE(0), startBlock: e.readUInt32LE(4), name: await src.read(nameSize) });
      }
      return {
        ...base,
        kind: 'directory',
        nlink: b.readUInt32LE(0),
        fileSize: b.readUInt32LE(4),
        startBlock: b.readUInt32LE(8),
        parentInode: b.readUInt32LE(12),
        offset: b.readUInt16LE(18),
        xattr: b.readUInt32LE(20),
        index,
      };
    }
    case InodeType.File: {
      const b = await src.read(16);
      const fragment = b.readUInt32LE(4);
      const fileSize = b.readUInt32LE(12);
      return {
        ...base,
        kind: 'file',
        nlink: 1,
        blocksStart: b.readUInt32LE(0),
        fragment,
        fragmentOffset: b.readUInt32LE(8),
        fileSize,
        sparse: 0,
        blockSizes: await blockList(src, blockCount(fileSize, blockSize, fragment)),
        xattr: INVALID_XATTR,
      };
    }
    case InodeType.LFile: {
      const b = await src.read(40);
      const fileSize = u64(b, 8);
      const fragment = b.readUInt32LE(28);
      return {
        ...base,
        kind: 'file',
        blocksStart: u64(b, 0),
        fileSize,
        sparse: u64(b, 16),
        nlink: b.readUInt32LE(24),
        fragment,
        fragmentOffset: b.readUInt32LE(32),
        xattr: b.readUInt32LE(36),
        blockSizes: await blockList(src, blockCount(fileSize, blockSize, fragment)),
      };
    }
    case InodeType.Symlink:
    case InodeType.LSymlink: {
      const b = await src.read(8);
      const size = b.readUInt32LE(4);
      if (size > 65536) throw new SquashfsError(`squashfs: symlink target of ${size} bytes`);
      const target = await src.read(size);
      const xattr = base.type === InodeType.LSymlink ? (await src.read(4)).readUInt32LE(0) : INVALID_XATTR;
      return { ...base, kind: 'symlink', nlink: b.readUInt32LE(0), target, xattr };
    }
    case InodeType.BlockDev:
    case InodeType.CharDev:
    case InodeType.LBlockDev:
    case InodeType.LCharDev: {
      const extended = base.type >= InodeType.LBlockDev;
      const b = await src.read(extended ? 12 : 8);
      const block = base.type === InodeType.BlockDev || base.type === InodeType.LBlockDev;
      return {
        ...base,
        kind: block ? 'block-device' : 'char-device',
        nlink: b.readUInt32LE(0),
        rdev: b.readUInt32LE(4),
        xattr: extended ? b.readUInt32LE(8) : INVALID_XATTR,
      };
    }
    case InodeType.Fifo:
    case InodeType.Socket:
    case InodeType.LFifo:
    case InodeType.LSocket: {
      const extended = base.type >= InodeType.LFifo;
      const b = await src.read(extended ? 8 : 4);
      const fifo = base.type === InodeType.Fifo || base.type === InodeType.LFifo;
      return { ...base, kind: fifo ? 'fifo' : 'socket', nlink: b.readUInt32LE(0), xattr: extended ? b.readUInt32LE(4) : INVALID_XATTR };
    }
    default:
      throw new SquashfsError(`squashfs: unknown inode type ${base.type}`);
  }
}
