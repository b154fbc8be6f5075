// Our SquashFS writer and reader, judged by squashfs-tools: unsquashfs lists
// and extracts every image we write exactly as the source tree, and our reader
// agrees with unsquashfs on images mksquashfs makes.

import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  extractSquashfs,
  SquashfsError,
  SquashfsReader,
  writeSquashfs,
  writeSquashfsToStream,
  type SquashfsEntry,
  type SquashfsWriteOptions,
  type WriteCompression,
} from '../../src/formats/squashfs/index.js';
import { FileTree } from '../../src/formats/file-tree.js';
import { InodeType, METADATA_SIZE } from '../../src/formats/squashfs/constants.js';
import { decodeInode, encodeFile, type DirectoryInode, type FileInode } from '../../src/formats/squashfs/inode.js';
import { readListing } from '../../src/formats/squashfs/directory.js';
import { MetadataReader } from '../../src/formats/squashfs/metadata-reader.js';
import { createDecompressor } from '../../src/formats/squashfs/codec.js';
import { workBlock } from '../../src/formats/squashfs/block-workers.js';
import { buildTree, sampleTrees, text, type TreeSpec } from '../helpers/squashfs-trees.js';
import { canMountSquashfs, mountSquashfs } from '../helpers/squashfs-mount.js';
import {
  mksquashfs,
  permString,
  snapshot,
  unsquashfsExtract,
  unsquashfsList,
  unsquashfsPseudo,
  unsquashfsStat,
  type DiskEntry,
} from '../helpers/squashfs-oracle.js';

const WORK = mkdtempSync(join(tmpdir(), 'squashfs-test-'));
/** Small blocks keep the block-boundary files small; the 128 KiB default is covered separately. */
const BLOCK = 4096;
const COMPRESSIONS: WriteCompression[] = ['zstd', 'xz', 'gzip'];
const TREES = sampleTrees(BLOCK);
const SOURCES: Record<string, string> = {};
let counter = 0;

const scratch = (label: string) => join(WORK, `${label}-${counter++}`);
/** Loop-mounting works here (root, squashfs, loop devices): the kernel is then an oracle too. */
/** python3 sets xattrs on the source files (Node has no xattr API). */
const PYTHON = (() => {
  try {
    execFileSync('python3', ['-c', 'import os; os.setxattr']);
    return true;
  } catch {
    return false;
  }
})();
const KERNEL = canMountSquashfs(() => {
  const empty = scratch('probe');
  mkdirSync(empty);
  mksquashfs(empty, `${empty}.sqsh`, ['-comp', 'gzip']);
  return `${empty}.sqsh`;
}, WORK);
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

beforeAll(() => {
  for (const [name, specs] of Object.entries(TREES)) {
    SOURCES[name] = join(WORK, 'src', name);
    buildTree(SOURCES[name], specs);
  }
  SOURCES.big = join(WORK, 'src', 'big');
  buildTree(SOURCES.big, sampleTrees(128 * 1024).sizes);
});

afterAll(() => {
  rmSync(WORK, { recursive: true, force: true });
});

async function writeImage(source: string, options: SquashfsWriteOptions): Promise<string> {
  const image = `${scratch('image')}.sqsh`;
  await writeSquashfs(await FileTree.fromDirectory(source), image, options);
  return image;
}

/** What unsquashfs -lls must print for a source tree (directory sizes come from our reader). */
function expectedListing(source: DiskEntry[], dirSizes: Map<string, number>) {
  return source.map((e) => ({
    path: e.path,
    perms: permString(e.type as 'file', e.mode),
    owner: 'root/root',
    size: e.type === 'file' ? e.size! : e.type === 'symlink' ? Buffer.byteLength(e.target!) : dirSizes.get(e.path)!,
    ...(e.type === 'symlink' ? { target: e.target } : {}),
  }));
}

async function readAll(image: string): Promise<{ entries: SquashfsEntry[]; digests: Map<string, string> }> {
  const reader = await SquashfsReader.open(image);
  try {
    const entries = await reader.list();
    const digests = new Map<string, string>();
    for (const e of entries) if (e.type === 'file') digests.set(e.path, sha256(await reader.readFile(e)));
    return { entries, digests };
  } finally {
    await reader.close();
  }
}

/** Our reader's view of an image, in the shape of a disk snapshot. */
function asSnapshot(read: { entries: SquashfsEntry[]; digests: Map<string, string> }): DiskEntry[] {
  return read.entries
    .filter((e) => e.path !== '')
    .map((e): DiskEntry => {
      if (e.type === 'file') return { path: e.path, type: 'file', mode: e.mode, size: e.size, sha256: read.digests.get(e.path)! };
      if (e.type === 'symlink') return { path: e.path, type: 'symlink', mode: e.mode, target: e.target! };
      return { path: e.path, type: e.type === 'directory' ? 'directory' : 'other', mode: e.mode };
    });
}

/** The checks every image we write must pass. */
async function checkImage(image: string, source: string, compression: WriteCompression, blockSize: number) {
  const stat = unsquashfsStat(image);
  expect(stat.compression).toBe(compression);
  expect(stat.blockSize).toBe(blockSize);

  const src = snapshot(source);
  const ours = await readAll(image);
  const dirSizes = new Map(ours.entries.filter((e) => e.type === 'directory').map((e) => [e.path, e.size]));
  const listed = unsquashfsList(image);
  expect(listed[0]).toMatchObject({ path: '', perms: permString('directory', 0o755), owner: 'root/root' });
  expect(listed.slice(1)).toEqual(expectedListing(src, dirSizes));

  for (const p of unsquashfsPseudo(image, WORK)) expect([p.path, p.uid, p.gid, p.mtime]).toEqual([p.path, 0, 0, 0]);

  const dest = scratch('unsquashfs');
  unsquashfsExtract(image, dest);
  expect(snapshot(dest)).toEqual(src);

  expect(asSnapshot(ours)).toEqual(src);
  expect(ours.entries.every((e) => e.uid === 0 && e.gid === 0 && e.mtime === 0)).toBe(true);
}

describe('squashfs writer, checked by unsquashfs', () => {
  for (const compression of COMPRESSIONS) {
    for (const tree of Object.keys(TREES)) {
      it(`${tree} tree, ${compression}`, async () => {
        const image = await writeImage(SOURCES[tree]!, { compression, blockSize: BLOCK });
        await checkImage(image, SOURCES[tree]!, compression, BLOCK);
      });
    }
  }

  it('boundary sizes with the default 128 KiB blocks and zstd level 18, as Talos builds extensions', async () => {
    const image = await writeImage(SOURCES.big!, {});
    await checkImage(image, SOURCES.big!, 'zstd', 128 * 1024);
    const stat = unsquashfsStat(image);
    expect(stat.level).toBe(18);
    expect(stat.text).toContain('Xattrs are not stored');
    expect(stat.text).toContain('Filesystem is not exportable via NFS');
    // Padded to 4 KiB for loop mounting.
    expect(readFileSync(image).length % 4096).toBe(0);
  });

  it('packs only files smaller than a block into fragments, as mksquashfs by default (-no-tailends)', async () => {
    const ours = await writeImage(SOURCES.sizes!, { compression: 'gzip', blockSize: BLOCK });
    await checkImage(ours, SOURCES.sizes!, 'gzip', BLOCK);
    const theirs = `${scratch('mk')}.sqsh`;
    mksquashfs(SOURCES.sizes!, theirs, ['-comp', 'gzip', '-b', String(BLOCK)]);
    expect(unsquashfsStat(ours).fragments).toBeGreaterThan(0);
    expect(unsquashfsStat(ours).fragments).toBe(unsquashfsStat(theirs).fragments);
  });

  it('without fragments, and with every block stored uncompressed', async () => {
    const noFragments = await writeImage(SOURCES.sizes!, { compression: 'gzip', blockSize: BLOCK, fragments: false });
    await checkImage(noFragments, SOURCES.sizes!, 'gzip', BLOCK);
    expect(unsquashfsStat(noFragments).fragments).toBe(0);

    const raw = await writeImage(SOURCES.nested!, { compression: 'xz', blockSize: BLOCK, uncompressed: true });
    await checkImage(raw, SOURCES.nested!, 'xz', BLOCK);
    const text = unsquashfsStat(raw).text;
    expect(text).toContain('Inodes are uncompressed');
    expect(text).toContain('Data is uncompressed');
    expect(text).toContain('Fragments are uncompressed');
  });

  it('stores compressor options only for non-default levels, as mksquashfs', async () => {
    const gzip6 = await writeImage(SOURCES.nested!, { compression: 'gzip', level: 6 });
    expect(unsquashfsStat(gzip6).level).toBe(6);
    await checkImage(gzip6, SOURCES.nested!, 'gzip', 128 * 1024);
    const zstd15 = await writeImage(SOURCES.nested!, { compression: 'zstd', level: 15 });
    expect(unsquashfsStat(zstd15).level).toBeUndefined();
    expect(readFileSync(zstd15).readUInt16LE(24) & 0x400).toBe(0);
  });

  it('sets every mtime and the creation time from the options', async () => {
    const image = await writeImage(SOURCES.nested!, { mtime: 1_700_000_000, mkfsTime: 1_700_000_001 });
    expect(unsquashfsStat(image).created).toBe('Tue Nov 14 22:13:21 2023');
    const pseudo = unsquashfsPseudo(image, WORK);
    expect(pseudo.length).toBe(snapshot(SOURCES.nested!).length + 1);
    for (const p of pseudo) expect(p.mtime).toBe(1_700_000_000);
  });

  it('is deterministic: same tree, same bytes, whatever the parallelism', async () => {
    for (const compression of COMPRESSIONS) {
      const a = await writeImage(SOURCES.sizes!, { compression, blockSize: BLOCK, concurrency: 1 });
      const b = await writeImage(SOURCES.sizes!, { compression, blockSize: BLOCK, concurrency: 16 });
      expect(sha256(readFileSync(a))).toBe(sha256(readFileSync(b)));
    }
    const c = await writeImage(SOURCES.nested!, {});
    const d = await writeImage(SOURCES.nested!, {});
    expect(sha256(readFileSync(c))).toBe(sha256(readFileSync(d)));
  });

  it('writes to a stream the same bytes it writes to a file', async () => {
    const tree = await FileTree.fromDirectory(SOURCES.nested!);
    const file = `${scratch('file')}.sqsh`;
    await writeSquashfs(tree, file);
    const streamed = `${scratch('stream')}.sqsh`;
    await writeSquashfsToStream(tree, createWriteStream(streamed), { tmpDir: WORK });
    expect(readFileSync(streamed).equals(readFileSync(file))).toBe(true);
  });

  it('builds trees by hand: in-memory files, explicit modes, parents made on the way', async () => {
    const tree = new FileTree();
    tree.file('usr/local/share/schematic/abc123', { data: new Uint8Array(0) });
    tree.file('extensions.yaml', { data: Buffer.from('layers: []\n') }, { mode: 0o600 });
    tree.directory('usr/local', { mode: 0o700 });
    tree.symlink('usr/bin', 'local/bin');
    const image = `${scratch('manual')}.sqsh`;
    await writeSquashfs(tree, image, { compression: 'gzip' });
    expect(unsquashfsList(image).map((e) => `${e.perms} ${e.path}${e.target ? ` -> ${e.target}` : ''}`)).toEqual([
      'drwxr-xr-x ',
      '-rw------- extensions.yaml',
      'drwxr-xr-x usr',
      'lrwxrwxrwx usr/bin -> local/bin',
      'drwx------ usr/local',
      'drwxr-xr-x usr/local/share',
      'drwxr-xr-x usr/local/share/schematic',
      '-rw-r--r-- usr/local/share/schematic/abc123',
    ]);
  });
});

describe('squashfs writer: format details the kernel depends on', () => {
  /** A file's inode and its first data block, read with our own reader. */
  async function firstBlock(image: string, path: string): Promise<{ inode: FileInode; block: Buffer }> {
    const reader = await SquashfsReader.open(image);
    try {
      const entry = await reader.stat(path);
      const inode = entry.inode as FileInode;
      const block = await reader.readAt(inode.blocksStart, inode.blockSizes[0]! & 0xffffff);
      return { inode, block };
    } finally {
      await reader.close();
    }
  }

  it('zstd frames are single-segment with the content size, like ZSTD_compressCCtx output', async () => {
    const image = await writeImage(SOURCES.big!, {});
    const { inode, block } = await firstBlock(image, 'size-3bs+17');
    expect(inode.blockSizes[0]! & (1 << 24)).toBe(0); // compressed
    expect(block.readUInt32LE(0)).toBe(0xfd2fb528);
    expect(block[4]! & 0x20).toBe(0x20); // Single_Segment
    expect(block[4]! >> 6).toBe(2); // 4-byte Frame_Content_Size
    expect(block.readUInt32LE(5)).toBe(128 * 1024);
    // And a metadata block (the inode table's first).
    const sb = readFileSync(image);
    const inodeTable = Number(sb.readBigUInt64LE(64));
    const header = sb.readUInt16LE(inodeTable);
    expect(header & 0x8000).toBe(0);
    expect(sb[inodeTable + 2 + 4]! & 0x20).toBe(0x20);
  });

  it('every zstd frame (data, fragments, metadata) has the shape the kernel decodes page by page', async () => {
    for (const [source, blockSize] of [[SOURCES.big!, 128 * 1024], [SOURCES.many!, BLOCK]] as const) {
      const image = await writeImage(source, { blockSize });
      const reader = await SquashfsReader.open(image);
      const sb = reader.superblock;
      const frames: Buffer[] = [];
      const metadataRun = async (from: number, to: number) => {
        for (let at = from; at < to; ) {
          const header = (await reader.readAt(at, 2)).readUInt16LE(0);
          if (!(header & 0x8000)) frames.push(await reader.readAt(at + 2, header));
          at += 2 + (header & 0x7fff);
        }
      };
      await metadataRun(sb.inodeTableStart, sb.fragmentTableStart!);
      await metadataRun(sb.fragmentTableStart! + 8 * Math.ceil((16 * sb.fragments) / METADATA_SIZE), sb.idTableStart);
      for (const entry of await reader.list()) {
        if (entry.inode.kind !== 'file') continue;
        let at = entry.inode.blocksStart;
        for (const field of entry.inode.blockSizes) {
          if (field !== 0 && !(field & (1 << 24))) frames.push(await reader.readAt(at, field));
          at += field & 0xffffff;
        }
      }
      const fragmentTable = readFileSync(image).subarray(0, sb.bytesUsed);
      const fragmentIndex = Number(fragmentTable.readBigUInt64LE(sb.fragmentTableStart!));
      const meta = new MetadataReader((p, n) => reader.readAt(p, n), createDecompressor(sb.compressor));
      const records = await meta.readRun(fragmentIndex, 16 * sb.fragments);
      for (let i = 0; i < sb.fragments; i++) {
        const field = records.readUInt32LE(16 * i + 8);
        if (!(field & (1 << 24))) frames.push(await reader.readAt(Number(records.readBigUInt64LE(16 * i)), field));
      }
      expect(frames.length).toBeGreaterThan(5); // not vacuous
      for (const frame of frames) {
        const content = execFileSync('zstd', ['-d', '-c'], { input: frame, maxBuffer: 1 << 21 });
        expect(frame.readUInt32LE(0)).toBe(0xfd2fb528);
        const fhd = frame[4]!;
        expect(fhd & 0x27).toBe(0x20); // Single_Segment, no checksum, no dictionary
        const fcsSize = [1, 2, 4, 8][fhd >> 6]!;
        const fcs = fcsSize === 1 ? frame[5]! : fcsSize === 2 ? frame.readUInt16LE(5) + 256 : frame.readUInt32LE(5);
        expect(fcs).toBe(content.length);
        // The last block carries data: a frame must not end in an empty block.
        let at = 5 + fcsSize;
        let last = 0;
        for (;;) {
          const header = frame.readUIntLE(at, 3);
          last = header;
          at += 3 + (((header >> 1) & 3) === 1 ? 1 : header >>> 3);
          if (header & 1) break;
        }
        expect(at).toBe(frame.length);
        expect(last >>> 3).toBeGreaterThan(0);
      }
      await reader.close();
    }
  });

  it.skipIf(!KERNEL)('the running kernel mounts every image and reads back the source tree', async () => {
    for (const compression of COMPRESSIONS) {
      const trees = [['nested', BLOCK], ['sizes', BLOCK], ['big', 128 * 1024]] as Array<[string, number]>;
      // Big directories (index, extended inodes) once; zstd level 18 makes them slow to write.
      if (compression === 'gzip') trees.push(['many', 128 * 1024]);
      for (const [tree, blockSize] of trees) {
        const image = await writeImage(SOURCES[tree]!, { compression, blockSize });
        const mounted = mountSquashfs(image, WORK);
        try {
          expect(snapshot(mounted.dir)).toEqual(snapshot(SOURCES[tree]!));
        } finally {
          mounted.unmount();
        }
      }
    }
  });

  it('xz streams use CRC32 and an LZMA2 dictionary of the block size, no BCJ filter', async () => {
    const image = await writeImage(SOURCES.sizes!, { compression: 'xz', blockSize: BLOCK });
    const { block } = await firstBlock(image, 'size-3bs+17');
    expect(block.subarray(0, 6).toString('hex')).toBe('fd377a585a00');
    expect(block.readUInt16BE(6)).toBe(0x0001); // stream flags: CRC32
    // Block header: size byte, flags (one filter, no sizes), filter id 0x21 (LZMA2), 1 property byte.
    expect(block[13]).toBe(0x00);
    expect([block[14], block[15]]).toEqual([0x21, 0x01]);
    const props = block[16]!;
    expect((2 | (props & 1)) << ((props >> 1) + 11)).toBe(BLOCK);
    expect(readFileSync(image).readUInt16LE(24) & 0x400).toBe(0); // no options: kernel defaults to dict = block size
  });

  it('stores all-zero blocks as holes in an extended file inode', async () => {
    const image = await writeImage(SOURCES.sizes!, { compression: 'gzip', blockSize: BLOCK });
    const reader = await SquashfsReader.open(image);
    const holes = (await reader.stat('holes')).inode as FileInode;
    expect(holes.type).toBe(InodeType.LFile);
    expect(holes.blockSizes.slice(1, 3)).toEqual([0, 0]);
    expect(holes.sparse).toBe(2 * BLOCK);
    const zeros = (await reader.stat('zeros-2bs')).inode as FileInode;
    expect(zeros.blockSizes).toEqual([0, 0]);
    expect((await reader.stat('size-bs')).inode.type).toBe(InodeType.File);
    await reader.close();
  });

  it('large directories: extended inode, headers per 256 entries and per metadata block, an index the kernel can follow', async () => {
    const image = await writeImage(SOURCES.many!, { compression: 'gzip' });
    const reader = await SquashfsReader.open(image);
    const sb = reader.superblock;
    const meta = new MetadataReader((p, n) => reader.readAt(p, n), createDecompressor(sb.compressor));
    for (const name of ['many', 'long']) {
      const dir = (await reader.stat(name)).inode as DirectoryInode;
      expect(dir.type).toBe(InodeType.LDir);
      expect(dir.index.length).toBeGreaterThan(0);
      const listing = await readListing(meta.cursor(sb.directoryTableStart, { block: dir.startBlock, offset: dir.offset }), dir.fileSize - 3);
      expect(listing.length).toBe(name === 'many' ? 600 : 300);
      // The kernel's lookup: header at (start offset + index) % 8 KiB in the block the entry names.
      for (const entry of dir.index) {
        const cursor = meta.cursor(sb.directoryTableStart, { block: entry.startBlock, offset: (dir.offset + entry.index) % METADATA_SIZE });
        const header = await cursor.read(12);
        const first = await cursor.read(8);
        const firstName = await cursor.read(first.readUInt16LE(6) + 1);
        expect(header.readUInt32LE(0) + 1).toBeLessThanOrEqual(256);
        expect(firstName.equals(entry.name)).toBe(true);
      }
    }
    const long = (await reader.stat('long')).inode as DirectoryInode;
    expect(long.fileSize).toBeGreaterThan(0xffff);
    await reader.close();
  });

  it('encodes files beyond 4 GiB as extended inodes', async () => {
    const record = encodeFile({
      mode: 0o644, uidIndex: 0, gidIndex: 0, mtime: 0, inodeNumber: 7,
      blocksStart: 96, fileSize: 5 * 2 ** 30, sparse: 0, fragment: 0xffffffff, fragmentOffset: 0,
      blockSizes: Array.from({ length: 40960 }, (_, i) => i + 1),
    });
    let at = 0;
    const inode = (await decodeInode({ read: async (n) => record.subarray(at, (at += n)) }, 128 * 1024)) as FileInode;
    expect(inode.type).toBe(InodeType.LFile);
    expect(inode.fileSize).toBe(5 * 2 ** 30);
    expect(inode.blockSizes.length).toBe(40960);
    expect(inode.blockSizes.at(-1)).toBe(40960);
  });
});

describe('squashfs reader, checked against unsquashfs on mksquashfs images', () => {
  // The large-directory tree is slow to build at zstd level 18, so only some variants take it.
  const variants: Array<[string, string[], string[]]> = [
    ['zstd -Xcompression-level 18', ['-comp', 'zstd', '-Xcompression-level', '18'], ['nested', 'sizes', 'many']],
    ['zstd -no-fragments', ['-comp', 'zstd', '-no-fragments'], ['nested', 'sizes']],
    ['xz -Xdict-size 100%', ['-comp', 'xz', '-Xdict-size', '100%'], ['nested', 'sizes', 'many']],
    ['xz -no-fragments -b 4096', ['-comp', 'xz', '-no-fragments', '-b', '4096'], ['nested', 'sizes']],
    ['gzip', ['-comp', 'gzip'], ['nested', 'sizes', 'many']],
    ['gzip -b 4096 -noI -noD -noF', ['-comp', 'gzip', '-b', '4096', '-noI', '-noD', '-noF'], ['nested', 'sizes', 'many']],
    ['lzma', ['-comp', 'lzma'], ['nested', 'sizes']],
  ];
  for (const [label, args, trees] of variants) {
    it(label, async () => {
      for (const tree of trees) {
        const image = `${scratch('mk')}.sqsh`;
        mksquashfs(SOURCES[tree]!, image, args);
        const ours = await readAll(image);
        const src = snapshot(SOURCES[tree]!);
        expect(asSnapshot(ours)).toEqual(src);

        const pseudo = unsquashfsPseudo(image, WORK);
        expect(ours.entries.map((e) => [e.path, e.mode, e.uid, e.gid, e.mtime, e.type === 'file' ? e.size : undefined, e.target])).toEqual(
          pseudo.map((p) => [p.path, p.mode, p.uid, p.gid, p.mtime, p.size, p.target]),
        );
        const listed = unsquashfsList(image);
        expect(ours.entries.map((e) => [e.path, e.size])).toEqual(listed.map((l) => [l.path, l.size]));

        const dest = scratch('ours');
        const reader = await SquashfsReader.open(image);
        await extractSquashfs(reader, '', dest);
        await reader.close();
        expect(snapshot(dest)).toEqual(src);
      }
    });
  }

  it('reads the big-block tree (holes, 128 KiB blocks) from mksquashfs', async () => {
    const image = `${scratch('mk')}.sqsh`;
    mksquashfs(SOURCES.big!, image, ['-comp', 'zstd', '-Xcompression-level', '18']);
    expect(asSnapshot(await readAll(image))).toEqual(snapshot(SOURCES.big!));
  });

  it('reads hard links, device nodes, fifos and sockets; extracts links as links and skips specials on request', async () => {
    const src = scratch('specials');
    buildTree(src, [{ path: 'd/f', type: 'file', content: Buffer.from('hi\n') }]);
    linkSync(join(src, 'd/f'), join(src, 'd/hard'));
    const image = `${src}.sqsh`;
    const pseudo = ['d/null c 666 0 0 1 3', 'd/blk b 660 0 0 8 1', 'd/pipe i 644 0 0 f', 'd/sock i 600 0 0 s'];
    mksquashfs(src, image, ['-comp', 'gzip', ...pseudo.flatMap((p) => ['-p', p])]);
    const reader = await SquashfsReader.open(image);
    const entries = await reader.list();
    const perms = (e: SquashfsEntry) => ({ 'block-device': 'b', 'char-device': 'c', fifo: 'p', socket: 's', directory: 'd', symlink: 'l', file: '-' })[e.type];
    expect(entries.map((e) => [e.path, perms(e)])).toEqual(unsquashfsList(image).map((l) => [l.path, l.perms[0]]));
    const byPath = new Map(entries.map((e) => [e.path, e]));
    expect(byPath.get('d/null')).toMatchObject({ type: 'char-device', mode: 0o666, rdev: (1 << 8) | 3 });
    expect(byPath.get('d/blk')).toMatchObject({ type: 'block-device', mode: 0o660, rdev: (8 << 8) | 1 });
    expect(unsquashfsList(image).find((l) => l.path === 'd/blk')?.device).toBe('8,1');
    expect(byPath.get('d/f')).toMatchObject({ nlink: 2, inodeNumber: byPath.get('d/hard')!.inodeNumber });

    await expect(extractSquashfs(reader, '', scratch('strict'))).rejects.toThrow(/is a block-device/);
    const dest = scratch('lenient');
    await extractSquashfs(reader, '', dest, { special: 'skip' });
    await reader.close();
    expect(snapshot(dest).map((e) => e.path)).toEqual(['d', 'd/f', 'd/hard']);
    expect(statSync(join(dest, 'd/f')).ino).toBe(statSync(join(dest, 'd/hard')).ino);
  });

  it.skipIf(!PYTHON)('reads extended inodes that carry xattrs (as Talos rootfs.sqsh has), ignoring the xattrs', async () => {
    const src = scratch('xattrs');
    buildTree(src, [
      { path: 'etc/f', type: 'file', content: text('xattr', 5000) },
      { path: 'etc/l', type: 'symlink', target: 'f' },
    ]);
    const set = (path: string, name: string, follow: boolean) =>
      `os.setxattr(${JSON.stringify(join(src, path))}, ${JSON.stringify(name)}, b'system_u:object_r:etc_t:s0', follow_symlinks=${follow ? 'True' : 'False'})`;
    execFileSync('python3', ['-c', ['import os', set('etc/f', 'user.selinux-like', true), set('etc', 'user.dir', true), set('etc/l', 'trusted.link', false)].join('\n')]);
    const image = `${src}.sqsh`;
    mksquashfs(src, image, ['-comp', 'zstd', '-Xcompression-level', '18']);
    const reader = await SquashfsReader.open(image);
    expect(reader.superblock.xattrIdTableStart).toBeDefined();
    expect((await reader.stat('etc')).inode.type).toBe(InodeType.LDir);
    expect((await reader.stat('etc/f')).inode.type).toBe(InodeType.LFile);
    expect((await reader.stat('etc/l')).inode).toMatchObject({ type: InodeType.LSymlink, target: Buffer.from('f') });
    expect(asSnapshot(await readAll(image))).toEqual(snapshot(src));
    await reader.close();
  });

  it('names an unsupported compressor clearly', async () => {
    const image = `${scratch('lz4')}.sqsh`;
    mksquashfs(SOURCES.nested!, image, ['-comp', 'lz4']);
    await expect(SquashfsReader.open(image)).rejects.toThrow(/unsupported compressor lz4/);
  });
});

describe('squashfs extraction', () => {
  it('extracts a subtree with its path, like unsquashfs -d dest image path', async () => {
    const image = `${scratch('mk')}.sqsh`;
    mksquashfs(SOURCES.nested!, image, ['-comp', 'xz']);
    const theirs = scratch('theirs');
    unsquashfsExtract(image, theirs, ['a/b']);
    const ours = scratch('ours');
    const reader = await SquashfsReader.open(image);
    await extractSquashfs(reader, '/a/b', ours);
    expect(snapshot(ours)).toEqual(snapshot(theirs));

    const stripped = scratch('stripped');
    await extractSquashfs(reader, 'a/b', stripped, { strip: true });
    expect(snapshot(stripped)).toEqual(snapshot(join(SOURCES.nested!, 'a/b')));
    const single = scratch('single');
    await extractSquashfs(reader, 'modes/setuid', single, { strip: true });
    expect(snapshot(single)).toEqual([expect.objectContaining({ path: 'setuid', mode: 0o4755 })]);
    await reader.close();
  });

  it('looks paths up like a filesystem: stat, exists, readdir, readFile', async () => {
    const image = await writeImage(SOURCES.nested!, { compression: 'gzip' });
    const reader = await SquashfsReader.open(image);
    expect(await reader.exists('/a/b/c')).toBe(true);
    expect(await reader.exists('a/missing')).toBe(false);
    expect(await reader.exists('a/file/below-a-file')).toBe(false);
    await expect(reader.stat('a/missing')).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await reader.readdir('a')).map((e) => e.name)).toEqual(['b', 'empty', 'file']);
    expect((await reader.readFile('a/b/c/d/e/f/g/deepest')).toString()).toBe('bottom\n');
    expect(await reader.stat('links/long')).toMatchObject({ type: 'symlink', target: `${'segment/'.repeat(125)}end` });
    await reader.close();
  });

  it.skipIf(process.getuid?.() !== 0)('gives entries the image owners on request, keeping set-id bits', async () => {
    const src = scratch('owners');
    buildTree(src, [{ path: 'd/f', type: 'file', content: Buffer.from('x') }]);
    const image = `${src}.sqsh`;
    mksquashfs(src, image, ['-comp', 'gzip', '-p', 'd/f m 4755 1000 1001', '-p', 'd m 750 1002 1003'], { allRoot: false });
    const reader = await SquashfsReader.open(image);
    const dest = scratch('dest');
    await extractSquashfs(reader, 'd', dest, { owner: true });
    const plain = scratch('plain');
    await extractSquashfs(reader, 'd', plain);
    await reader.close();
    expect(statSync(join(dest, 'd/f'))).toMatchObject({ uid: 1000, gid: 1001, mode: 0o104755 });
    expect(statSync(join(dest, 'd'))).toMatchObject({ uid: 1002, gid: 1003, mode: 0o40750 });
    expect(statSync(join(plain, 'd/f'))).toMatchObject({ uid: 0, gid: 0, mode: 0o104755 });
  });

  it('never writes through an existing symlink at the destination', async () => {
    const image = await writeImage(SOURCES.nested!, { compression: 'gzip' });
    const dest = scratch('dest');
    const outside = scratch('outside');
    mkdirSync(outside);
    mkdirSync(dest);
    symlinkSync(outside, join(dest, 'a'));
    const reader = await SquashfsReader.open(image);
    await expect(extractSquashfs(reader, '', dest)).rejects.toThrow(/exists and is not a directory/);
    symlinkSync(join(outside, 'victim'), join(dest, 'top'));
    await expect(extractSquashfs(reader, 'a/file', dest, { strip: true })).resolves.toBeUndefined();
    await reader.close();
    expect(existsSync(join(outside, 'file'))).toBe(false);
    expect(snapshot(outside)).toEqual([]);
  });

  it('refuses names that would leave the destination', async () => {
    // Uncompressed metadata lets us plant hostile names of the same length.
    const tree = new FileTree();
    tree.file('zz', { data: Buffer.from('x') });
    tree.file('abcdefgh', { data: Buffer.from('y') });
    const image = `${scratch('evil')}.sqsh`;
    await writeSquashfs(tree, image, { compression: 'gzip', uncompressed: true });
    const bytes = readFileSync(image);
    const plant = (from: string, to: string, file: string) => {
      const copy = Buffer.from(bytes);
      const dirTable = Number(copy.readBigUInt64LE(72));
      const at = copy.indexOf(from, dirTable);
      expect(at).toBeGreaterThan(0);
      copy.write(to, at);
      writeFileSync(file, copy);
      return file;
    };
    for (const [from, to] of [['zz', '..'], ['abcdefgh', '../../xx']] as const) {
      const evil = plant(from, to, `${scratch('evil')}.sqsh`);
      const reader = await SquashfsReader.open(evil);
      const dest = scratch('dest');
      await expect(extractSquashfs(reader, '', dest)).rejects.toThrow(SquashfsError);
      await expect(extractSquashfs(reader, '', dest)).rejects.toThrow(/invalid name/);
      await reader.close();
      expect(existsSync(join(dest, '..', 'xx'))).toBe(false);
    }
  });
});

describe('squashfs input trees', () => {
  it('refuses over-long names and symlink targets when the image is planned, leaving nothing behind', async () => {
    const image = `${scratch('refused')}.sqsh`;
    const long = new FileTree();
    long.file(`d/${'n'.repeat(256)}`, { data: Buffer.from('') });
    await expect(writeSquashfs(long, image)).rejects.toThrow(/d\/n+: name longer than 255 bytes/);
    const link = new FileTree();
    link.symlink('l', 't'.repeat(4096));
    await expect(writeSquashfs(link, image)).rejects.toThrow(SquashfsError);
    await expect(writeSquashfs(link, image)).rejects.toThrow(/symlink target longer than 4095 bytes/);
    expect(existsSync(image)).toBe(false);
  });

  it('rejects a file that changes size while the image is written', async () => {
    const dir = scratch('grow');
    buildTree(dir, [{ path: 'f', type: 'file', content: Buffer.alloc(100) } satisfies TreeSpec]);
    const tree = await FileTree.fromDirectory(dir);
    writeFileSync(join(dir, 'f'), Buffer.alloc(50));
    const image = `${scratch('grow')}.sqsh`;
    await expect(writeSquashfs(tree, image)).resolves.toBeDefined();
    // Sizes are taken before any block is read; a block worker finding another size refuses the block.
    const zstd = { codec: 'zstd', level: 18 } as const;
    const piece = { path: join(dir, 'f'), label: 'f', position: 0, length: 50 };
    await expect(workBlock([{ ...piece, fileSize: 50 }], zstd, false)).resolves.toMatchObject({ hole: false, size: 50 });
    await expect(workBlock([{ ...piece, fileSize: 100 }], zstd, false)).rejects.toThrow(/f: file changed size while being written/);
    await expect(workBlock([{ ...piece, position: 40, fileSize: 50 }], zstd, false)).rejects.toThrow(/f: file changed size/);
    const tree2 = new FileTree();
    tree2.file('f', { path: '/dev/zero' });
    await expect(writeSquashfs(tree2, image)).rejects.toThrow(/not a regular file/);
    expect(existsSync(image)).toBe(false);
  });
});
