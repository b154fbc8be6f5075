// Writes a SquashFS 4.0 image from a tree. Layout, in file order:
//   superblock (written last, at offset 0) | compressor options |
//   data and fragment blocks | inode table | directory table |
//   fragment table | id table | zero padding to 4 KiB
// Every inode is owned by uid/gid 0 (a one-entry id table), has the same
// mtime, and the superblock has a fixed creation time: the same tree and
// options always give the same bytes. No xattrs, no export table.
// Memory: file data is read and compressed a block at a time with at most
// `concurrency` blocks in flight, written in order; only the metadata tables
// (tens of bytes per entry) are held until the end. The superblock is patched
// in last, so the output must be seekable; streams go through a spool file.

import { createReadStream, promises as fs } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BlockPipeline } from './block-pipeline.js';
import { createCompressor, type WriteCompression } from './codec.js';
import type { Compressor } from './codec-types.js';
import {
  DEFAULT_BLOCK_SIZE,
  DEVICE_BLOCK,
  Flag,
  InodeType,
  MAX_BLOCK_SIZE,
  MIN_BLOCK_SIZE,
  SUPERBLOCK_SIZE,
} from './constants.js';
import { writeListing, type DirEntry } from './directory.js';
import { SquashfsError } from './errors.js';
import { fileSizes, writeFileData, type FileLayout } from './file-data.js';
import { FragmentPacker } from './fragments.js';
import { encodeDirectory, encodeFile, encodeSymlink } from './inode.js';
import { encodeLookupTable, encodeMetadataBlock, MetadataWriter, packRef, type MetadataRef } from './metadata-writer.js';
import { depthFirst, planTree, type PlannedNode } from './plan.js';
import { FileSink, type SeekableSink } from './sink.js';
import { encodeSuperblock } from './superblock.js';
import type { FileTree, TreeFile } from '../file-tree.js';

export interface SquashfsWriteOptions {
  /** Default zstd (Talos >= 1.8); xz for older Talos. */
  compression?: WriteCompression;
  /** zstd 1..22 (default 18, as Talos) or gzip 1..9 (default 9); xz takes none. */
  level?: number;
  /** Power of two from 4 KiB to 1 MiB; default 128 KiB. */
  blockSize?: number;
  /** Pack files smaller than a block into fragment blocks (default true, as mksquashfs; false = -no-fragments). */
  fragments?: boolean;
  /** Store all-zero full blocks as holes (default true, as mksquashfs). */
  holes?: boolean;
  /** mtime of every inode (default 0). */
  mtime?: number;
  /** Superblock creation time (default 0). */
  mkfsTime?: number;
  /**
   * Data blocks queued for compression at once (default: eight per CPU, so the
   * compression workers always have the next block at hand while the oldest is awaited).
   */
  concurrency?: number;
  /** Store every block uncompressed (mksquashfs -noI -noD -noF -noId); the compressor is still named. */
  uncompressed?: boolean;
}

export interface SquashfsWriteResult {
  /** Bytes of image content (the superblock's bytes_used). */
  bytesUsed: number;
  /** File size, padded to 4 KiB. */
  size: number;
  inodes: number;
  fragments: number;
}

interface Settings {
  compressor: Compressor;
  blockSize: number;
  fragments: boolean;
  holes: boolean;
  mtime: number;
  mkfsTime: number;
  concurrency: number;
  /** undefined when everything is stored uncompressed. */
  blockCompressor: Compressor | undefined;
}

function u32(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new SquashfsError(`squashfs: ${what} ${value} is not an unsigned 32-bit integer`);
  return value;
}

function settings(options: SquashfsWriteOptions): Settings {
  const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
  if (!Number.isInteger(blockSize) || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) !== 0) {
    throw new SquashfsError(`squashfs: block size ${blockSize} is not a power of two from 4 KiB to 1 MiB`);
  }
  const concurrency = options.concurrency ?? 8 * availableParallelism();
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new SquashfsError(`squashfs: concurrency ${concurrency} is not a positive integer`);
  const compressor = createCompressor(options.compression ?? 'zstd', blockSize, options.level);
  return {
    compressor,
    blockCompressor: options.uncompressed ? undefined : compressor,
    blockSize,
    fragments: options.fragments ?? true,
    holes: options.holes ?? true,
    mtime: u32(options.mtime ?? 0, 'mtime'),
    mkfsTime: u32(options.mkfsTime ?? 0, 'mkfs time'),
    concurrency,
  };
}

/** Data phase: every file's blocks and tails, in depth-first order. */
async function writeData(root: PlannedNode, s: Settings, sink: SeekableSink, start: number) {
  const pipeline = new BlockPipeline(s.blockCompressor, sink, start, s.concurrency);
  const packer = s.fragments ? new FragmentPacker(pipeline, s.blockSize) : undefined;
  const ctx = { pipeline, packer, blockSize: s.blockSize, holes: s.holes };
  const files = [...depthFirst(root)].filter((p) => p.node.kind === 'file');
  const sized = await fileSizes(files.map((p) => ({ source: (p.node as TreeFile).source, label: p.path })));
  const layouts = new Map<PlannedNode, FileLayout>();
  for (const [i, file] of sized.entries()) layouts.set(files[i]!, await writeFileData(file, ctx));
  await packer?.flush();
  await pipeline.drain();
  return { layouts, fragments: packer?.blocks ?? [], end: pipeline.position };
}

/** Metadata phase: inodes and listings bottom-up, so every reference points backwards. */
async function writeTables(root: PlannedNode, s: Settings, layouts: Map<PlannedNode, FileLayout>, inodeCount: number) {
  const inodes = new MetadataWriter(s.blockCompressor);
  const dirs = new MetadataWriter(s.blockCompressor);
  const common = (p: PlannedNode) => ({ mode: p.node.mode, uidIndex: 0, gidIndex: 0, mtime: s.mtime, inodeNumber: p.inodeNumber });

  const writeNode = async (p: PlannedNode): Promise<MetadataRef> => {
    const node = p.node;
    let record: Buffer;
    if (node.kind === 'directory') {
      const entries: DirEntry[] = [];
      for (const child of p.children) {
        const type = child.node.kind === 'directory' ? InodeType.Dir : child.node.kind === 'file' ? InodeType.File : InodeType.Symlink;
        entries.push({ name: child.name, inode: await writeNode(child), inodeNumber: child.inodeNumber, type });
      }
      const listing = await writeListing(dirs, entries);
      record = encodeDirectory({
        ...common(p),
        nlink: 2 + p.children.filter((c) => c.node.kind === 'directory').length,
        fileSize: listing.size + 3,
        startBlock: listing.start.block,
        offset: listing.start.offset,
        // mksquashfs gives the root the parent "inode count + 1".
        parentInode: p.parent ? p.parent.inodeNumber : inodeCount + 1,
        index: listing.index,
      });
    } else if (node.kind === 'file') {
      record = encodeFile({ ...common(p), ...layouts.get(p)! });
    } else {
      record = encodeSymlink({ ...common(p), type: InodeType.Symlink, target: Buffer.from(node.target, 'utf8') });
    }
    const ref = inodes.ref;
    await inodes.write(record);
    return ref;
  };

  const rootRef = await writeNode(root);
  return { rootRef, inodeTable: await inodes.finish(), directoryTable: await dirs.finish() };
}

async function writeImage(tree: FileTree, sink: SeekableSink, options: SquashfsWriteOptions): Promise<SquashfsWriteResult> {
  const s = settings(options);
  const plan = planTree(tree.root);
  let position = 0;
  const append = async (bytes: Buffer) => {
    await sink.write(bytes);
    position += bytes.length;
  };

  await append(Buffer.alloc(SUPERBLOCK_SIZE)); // placeholder
  // Compressor options are always stored as an uncompressed metadata block.
  if (s.compressor.options) await append(await encodeMetadataBlock(undefined, s.compressor.options));

  const data = await writeData(plan.root, s, sink, position);
  position = data.end;

  const tables = await writeTables(plan.root, s, data.layouts, plan.count);
  const inodeTableStart = position;
  await append(tables.inodeTable);
  const directoryTableStart = position;
  await append(tables.directoryTable);

  const fragmentRecords = Buffer.alloc(16 * data.fragments.length);
  data.fragments.forEach((f, i) => {
    fragmentRecords.writeBigUInt64LE(BigInt(f.position), 16 * i);
    fragmentRecords.writeUInt32LE(f.sizeField, 16 * i + 8);
  });
  const fragmentTable = await encodeLookupTable(s.blockCompressor, fragmentRecords, position);
  await append(fragmentTable.bytes);

  const idTable = await encodeLookupTable(s.blockCompressor, Buffer.alloc(4), position); // one id: 0
  await append(idTable.bytes);

  const bytesUsed = position;
  const padding = (DEVICE_BLOCK - (bytesUsed % DEVICE_BLOCK)) % DEVICE_BLOCK;
  if (padding > 0) await append(Buffer.alloc(padding));

  let flags = Flag.NoXattrs;
  if (!s.fragments) flags |= Flag.NoFragments;
  if (s.compressor.options) flags |= Flag.CompressorOptions;
  if (!s.blockCompressor) flags |= Flag.UncompressedInodes | Flag.UncompressedData | Flag.UncompressedFragments | Flag.UncompressedIds;
  await sink.writeAt(
    0,
    encodeSuperblock({
      inodes: plan.count,
      mkfsTime: s.mkfsTime,
      blockSize: s.blockSize,
      fragments: data.fragments.length,
      compressor: s.compressor.id,
      blockLog: Math.log2(s.blockSize),
      flags,
      ids: 1,
      rootInode: packRef(tables.rootRef),
      bytesUsed,
      idTableStart: idTable.indexStart,
      xattrIdTableStart: undefined,
      inodeTableStart,
      directoryTableStart,
      fragmentTableStart: fragmentTable.indexStart,
      exportTableStart: undefined,
    }),
  );
  return { bytesUsed, size: position, inodes: plan.count, fragments: data.fragments.length };
}

/**
 * Writes the image to a file (created or truncated; removed again if writing
 * fails) or to any seekable sink.
 */
export async function writeSquashfs(tree: FileTree, destination: string | SeekableSink, options: SquashfsWriteOptions = {}): Promise<SquashfsWriteResult> {
  if (typeof destination !== 'string') return writeImage(tree, destination, options);
  const sink = await FileSink.create(destination);
  try {
    const result = await writeImage(tree, sink, options);
    await sink.close();
    return result;
  } catch (error) {
    await sink.close().catch(() => {});
    await fs.rm(destination, { force: true });
    throw error;
  }
}

/**
 * Writes the image to a stream. The superblock comes first but is known last,
 * so the image is spooled to a temporary file (in `tmpDir`, default the OS
 * temp dir) and then streamed; `out` is ended afterwards.
 */
export async function writeSquashfsToStream(
  tree: FileTree,
  out: Writable,
  options: SquashfsWriteOptions & { tmpDir?: string } = {},
): Promise<SquashfsWriteResult> {
  const dir = await fs.mkdtemp(join(options.tmpDir ?? tmpdir(), 'squashfs-'));
  try {
    const file = join(dir, 'image.sqsh');
    const result = await writeSquashfs(tree, file, options);
    await pipeline(createReadStream(file), out);
    return result;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
