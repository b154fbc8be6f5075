// The 96-byte superblock at offset 0. Table positions are byte offsets from the
// start of the image; an absent table is stored as all ones (undefined here).

import { NO_TABLE, SQUASHFS_MAGIC, SUPERBLOCK_SIZE, VERSION_MAJOR, VERSION_MINOR } from './constants.js';
import { SquashfsError } from './errors.js';

export interface Superblock {
  inodes: number;
  mkfsTime: number;
  blockSize: number;
  fragments: number;
  compressor: number;
  blockLog: number;
  flags: number;
  ids: number;
  /** Inode reference of the root directory: metadata block offset << 16 | offset in block. */
  rootInode: bigint;
  /** Bytes of the image in use, before the padding to the device block size. */
  bytesUsed: number;
  idTableStart: number;
  xattrIdTableStart: number | undefined;
  inodeTableStart: number;
  directoryTableStart: number;
  fragmentTableStart: number | undefined;
  exportTableStart: number | undefined;
}

function table(value: number | undefined): bigint {
  return value === undefined ? NO_TABLE : BigInt(value);
}

export function encodeSuperblock(sb: Superblock): Buffer {
  const out = Buffer.alloc(SUPERBLOCK_SIZE);
  out.writeUInt32LE(SQUASHFS_MAGIC, 0);
  out.writeUInt32LE(sb.inodes, 4);
  out.writeUInt32LE(sb.mkfsTime, 8);
  out.writeUInt32LE(sb.blockSize, 12);
  out.writeUInt32LE(sb.fragments, 16);
  out.writeUInt16LE(sb.compressor, 20);
  out.writeUInt16LE(sb.blockLog, 22);
  out.writeUInt16LE(sb.flags, 24);
  out.writeUInt16LE(sb.ids, 26);
  out.writeUInt16LE(VERSION_MAJOR, 28);
  out.writeUInt16LE(VERSION_MINOR, 30);
  out.writeBigUInt64LE(sb.rootInode, 32);
  out.writeBigUInt64LE(BigInt(sb.bytesUsed), 40);
  out.writeBigUInt64LE(BigInt(sb.idTableStart), 48);
  out.writeBigUInt64LE(table(sb.xattrIdTableStart), 56);
  out.writeBigUInt64LE(BigInt(sb.inodeTableStart), 64);
  out.writeBigUInt64LE(BigInt(sb.directoryTableStart), 72);
  out.writeBigUInt64LE(table(sb.fragmentTableStart), 80);
  out.writeBigUInt64LE(table(sb.exportTableStart), 88);
  return out;
}

function position(buf: Buffer, offset: number, optional: true): number | undefined;
function position(buf: Buffer, offset: number, optional: false): number;
function position(buf: Buffer, offset: number, optional: boolean): number | undefined {
  const value = buf.readBigUInt64LE(offset);
  if (value === NO_TABLE && optional) return undefined;
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new SquashfsError(`squashfs: superblock table offset ${value} is out of range`);
  return Number(value);
}

/** Parses and sanity-checks a superblock; throws on anything but a little-endian 4.0 image. */
export function decodeSuperblock(buf: Buffer): Superblock {
  if (buf.length < SUPERBLOCK_SIZE) throw new SquashfsError('squashfs: image is shorter than a superblock');
  const magic = buf.readUInt32LE(0);
  if (magic !== SQUASHFS_MAGIC) {
    if (magic === 0x68737173) throw new SquashfsError('squashfs: big-endian images are not supported');
    throw new SquashfsError('squashfs: no squashfs superblock (bad magic)');
  }
  const major = buf.readUInt16LE(28);
  const minor = buf.readUInt16LE(30);
  if (major !== VERSION_MAJOR || minor !== VERSION_MINOR) throw new SquashfsError(`squashfs: version ${major}.${minor} is not supported (only 4.0)`);
  const sb: Superblock = {
    inodes: buf.readUInt32LE(4),
    mkfsTime: buf.readUInt32LE(8),
    blockSize: buf.readUInt32LE(12),
    fragments: buf.readUInt32LE(16),
    compressor: buf.readUInt16LE(20),
    blockLog: buf.readUInt16LE(22),
    flags: buf.readUInt16LE(24),
    ids: buf.readUInt16LE(26),
    rootInode: buf.readBigUInt64LE(32),
    bytesUsed: position(buf, 40, false),
    idTableStart: position(buf, 48, false),
    xattrIdTableStart: position(buf, 56, true),
    inodeTableStart: position(buf, 64, false),
    directoryTableStart: position(buf, 72, false),
    fragmentTableStart: position(buf, 80, true),
    exportTableStart: position(buf, 88, true),
  };
  if (sb.blockSize < 4096 || sb.blockSize > 1 << 20 || 1 << sb.blockLog !== sb.blockSize) {
    throw new SquashfsError(`squashfs: bad block size ${sb.blockSize} (log ${sb.blockLog})`);
  }
  if (sb.inodeTableStart >= sb.directoryTableStart || sb.directoryTableStart > sb.bytesUsed) {
    throw new SquashfsError('squashfs: inode and directory tables are out of order');
  }
  return sb;
}
