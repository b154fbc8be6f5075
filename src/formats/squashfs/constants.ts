// Numbers from the SquashFS 4.0 on-disk format (all integers little-endian).

export const SQUASHFS_MAGIC = 0x73717368; // "hsqs" on disk
export const SUPERBLOCK_SIZE = 96;
export const VERSION_MAJOR = 4;
export const VERSION_MINOR = 0;

/** Metadata (inode, directory, lookup tables) is cut into blocks of this many uncompressed bytes. */
export const METADATA_SIZE = 8192;
/** Bit in a metadata block's 16-bit length header: the block is stored uncompressed. */
export const METADATA_UNCOMPRESSED = 0x8000;
/** Bit in a data/fragment block size field: the block is stored uncompressed. */
export const DATA_UNCOMPRESSED = 1 << 24;
export const DATA_SIZE_MASK = DATA_UNCOMPRESSED - 1;

export const MIN_BLOCK_SIZE = 4096;
export const MAX_BLOCK_SIZE = 1 << 20;
export const DEFAULT_BLOCK_SIZE = 128 * 1024;

export const INVALID_FRAGMENT = 0xffffffff;
export const INVALID_XATTR = 0xffffffff;
/** Superblock value for an absent table (xattr, export, ...). */
export const NO_TABLE = 0xffffffffffffffffn;

/** A directory header may be followed by at most this many entries. */
export const DIR_HEADER_MAX_ENTRIES = 256;
/** The kernel accepts names of up to 256 bytes; Linux itself (NAME_MAX) only 255, which is what we write. */
export const READ_NAME_MAX = 256;
export const WRITE_NAME_MAX = 255;
/** The kernel refuses symlink inodes whose target is longer than a page; PATH_MAX minus the NUL is what Linux can hold. */
export const SYMLINK_MAX = 4095;

/** Device blocks: mksquashfs pads the image to 4 KiB so that it can be loop-mounted. */
export const DEVICE_BLOCK = 4096;

export const InodeType = {
  Dir: 1,
  File: 2,
  Symlink: 3,
  BlockDev: 4,
  CharDev: 5,
  Fifo: 6,
  Socket: 7,
  LDir: 8,
  LFile: 9,
  LSymlink: 10,
  LBlockDev: 11,
  LCharDev: 12,
  LFifo: 13,
  LSocket: 14,
} as const;
export type InodeTypeCode = (typeof InodeType)[keyof typeof InodeType];

/** Directory entries always carry the basic type of their inode. */
export function basicType(type: number): number {
  return type > 7 ? type - 7 : type;
}

export const Flag = {
  UncompressedInodes: 0x0001,
  UncompressedData: 0x0002,
  UncompressedFragments: 0x0008,
  NoFragments: 0x0010,
  AlwaysFragments: 0x0020,
  Duplicates: 0x0040,
  Exportable: 0x0080,
  UncompressedXattrs: 0x0100,
  NoXattrs: 0x0200,
  CompressorOptions: 0x0400,
  UncompressedIds: 0x0800,
} as const;

export const CompressorId = {
  gzip: 1,
  lzma: 2,
  lzo: 3,
  xz: 4,
  lz4: 5,
  zstd: 6,
} as const;
export type CompressorName = keyof typeof CompressorId;

export function compressorName(id: number): string {
  for (const [name, value] of Object.entries(CompressorId)) if (value === id) return name;
  return `unknown (${id})`;
}

// File type bits of st_mode, as the reader reports them.
export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;
