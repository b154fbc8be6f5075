// mkfs.xfs stamps every inode it creates from a protofile with the current
// time (xfsprogs 6.1 knows no SOURCE_DATE_EPOCH), which makes two builds of
// the same BOOT partition differ. This rewrites the four timestamps of every
// v3 inode (atime, mtime, ctime, crtime) to a fixed instant and recomputes
// the inode's CRC32C, so the filesystem is byte-for-byte reproducible.
// Only inodes whose checksum is valid are touched, so file data that happens
// to look like an inode is left alone.

import { open } from 'node:fs/promises';
import type { Extent } from './disk/sparse.js';

const SB_MAGIC = 'XFSB';
const SB_INODE_SIZE = 104;
const INODE_MAGIC = 0x494e; // "IN"
const INODE_VERSION = 4;
const INODE_CRC = 100;
const INODE_FLAGS2 = 0x78;
const FLAG2_BIGTIME = 8n;
const TIMESTAMPS = [32, 40, 48, 144];
/** bigtime counts nanoseconds from 1901-12-13T20:45:52Z, the old 32-bit epoch's minimum. */
const BIGTIME_OFFSET = 2n ** 31n;

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return crc >>> 0;
}

/** The checksum as XFS stores it: inverted, little-endian, computed with the field zeroed. */
function inodeChecksum(inode: Buffer): number {
  const saved = inode.readUInt32LE(INODE_CRC);
  inode.writeUInt32LE(0, INODE_CRC);
  const sum = ~crc32c(inode) >>> 0;
  inode.writeUInt32LE(saved, INODE_CRC);
  return sum;
}

function pinInode(inode: Buffer, seconds: number): boolean {
  if (inode.readUInt16BE(0) !== INODE_MAGIC || inode[INODE_VERSION] !== 3) return false;
  if (inodeChecksum(inode) !== inode.readUInt32LE(INODE_CRC)) return false;
  const bigtime = (inode.readBigUInt64BE(INODE_FLAGS2) & FLAG2_BIGTIME) !== 0n;
  for (const at of TIMESTAMPS) {
    if (bigtime) inode.writeBigUInt64BE((BigInt(seconds) + BIGTIME_OFFSET) * 1_000_000_000n, at);
    else {
      inode.writeUInt32BE(seconds, at);
      inode.writeUInt32BE(0, at + 4);
    }
  }
  inode.writeUInt32LE(inodeChecksum(inode), INODE_CRC);
  return true;
}

/**
 * Pins the inode times of the XFS image at `path` to `seconds` since the
 * epoch. `dataExtents` are where the image has data (inodes are never in a
 * hole); returns how many inodes were rewritten.
 */
export async function pinXfsInodeTimes(path: string, dataExtents: readonly Extent[], seconds: number): Promise<number> {
  const handle = await open(path, 'r+');
  try {
    const sb = Buffer.alloc(512);
    await handle.read(sb, 0, sb.length, 0);
    if (sb.toString('latin1', 0, 4) !== SB_MAGIC) throw new Error(`${path} is not an XFS filesystem`);
    const inodeSize = sb.readUInt16BE(SB_INODE_SIZE);
    let pinned = 0;
    for (const extent of dataExtents) {
      const start = Math.ceil(extent.offset / inodeSize) * inodeSize;
      const end = extent.offset + extent.length;
      const chunk = Buffer.alloc(inodeSize * 256);
      for (let at = start; at + inodeSize <= end; at += chunk.length) {
        const length = Math.min(chunk.length, Math.floor((end - at) / inodeSize) * inodeSize);
        const { bytesRead } = await handle.read(chunk, 0, length, at);
        let dirty = false;
        for (let i = 0; i + inodeSize <= bytesRead; i += inodeSize) {
          if (pinInode(chunk.subarray(i, i + inodeSize), seconds)) {
            dirty = true;
            pinned++;
          }
        }
        if (dirty) await handle.write(chunk, 0, bytesRead, at);
      }
    }
    return pinned;
  } finally {
    await handle.close();
  }
}
