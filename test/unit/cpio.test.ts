import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, readdirSync, lstatSync, readlinkSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cpioArchive,
  cpioArchiveSize,
  CpioError,
  directoryEntries,
  readCpio,
  type CpioEntry,
  type CpioReadEntry,
  type CpioWriteOptions,
} from '../../src/formats/cpio.js';

const MTIME = 1_700_000_000;

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

async function archive(entries: Iterable<CpioEntry> | AsyncIterable<CpioEntry>, options?: CpioWriteOptions): Promise<Buffer> {
  return collect(cpioArchive(entries, options));
}

async function* chunked(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

interface ReadBack {
  name: string;
  type: string;
  mode: number;
  mtime: number;
  ino: number;
  nlink: number;
  data: Buffer;
  linkTarget?: string;
}

async function readAll(source: AsyncIterable<Uint8Array>, options?: { concatenated?: boolean }): Promise<ReadBack[]> {
  const out: ReadBack[] = [];
  for await (const entry of readCpio(source, options)) {
    out.push({
      name: entry.name,
      type: entry.type,
      mode: entry.header.mode,
      mtime: entry.header.mtime,
      ino: entry.header.ino,
      nlink: entry.header.nlink,
      data: await entry.buffer(),
      ...(entry.linkTarget !== undefined ? { linkTarget: entry.linkTarget } : {}),
    });
  }
  return out;
}

function gnuCpio(args: string[], options: { cwd?: string; input?: Buffer | string } = {}): Buffer {
  return execFileSync('cpio', args, { cwd: options.cwd, input: options.input, maxBuffer: 64 << 20 });
}

/** GNU cpio over `find . | LC_ALL=C sort`, the way Talos packs its initramfs. */
function gnuArchiveOf(dir: string): Buffer {
  const list = execFileSync('sh', ['-c', 'find . | LC_ALL=C sort'], { cwd: dir });
  return gnuCpio(['-o', '-H', 'newc', '--reproducible', '-R', '0:0', '--quiet'], { cwd: dir, input: list });
}

let work: string;
let tree: string;

/** A tree with the awkward cases: nested and empty dirs, sizes around the 4-byte padding, modes, symlinks, odd names. */
function makeTree(root: string): void {
  mkdirSync(join(root, 'usr/lib/modules'), { recursive: true });
  mkdirSync(join(root, 'empty-dir'));
  mkdirSync(join(root, 'a'));
  mkdirSync(join(root, 'private'), { mode: 0o700 });
  chmodSync(join(root, 'private'), 0o700);
  for (const size of [0, 1, 2, 3, 4, 5, 7, 8, 511, 512, 513, 70_001]) writeFileSync(join(root, `a/size-${size}`), randomBytes(size));
  writeFileSync(join(root, 'a-b'), 'sorts before a/ in C order\n');
  writeFileSync(join(root, 'init'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  chmodSync(join(root, 'init'), 0o755);
  writeFileSync(join(root, 'private/secret'), 'x', { mode: 0o600 });
  chmodSync(join(root, 'private/secret'), 0o600);
  writeFileSync(join(root, 'setuid'), 'x');
  chmodSync(join(root, 'setuid'), 0o4755);
  writeFileSync(join(root, 'usr/lib/modules/name with spaces.ko'), randomBytes(1234));
  writeFileSync(join(root, 'usr/lib/ünïcödé'), 'utf-8 name');
  symlinkSync('usr/lib', join(root, 'lib'));
  symlinkSync('/does/not/exist', join(root, 'dangling'));
  symlinkSync('../init', join(root, 'a/up'));
  execFileSync('sh', ['-c', `find . -exec touch -h -d @${MTIME} {} +`], { cwd: root });
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'cpio-test-'));
  tree = join(work, 'tree');
  mkdirSync(tree);
  makeTree(tree);
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('cpio writer against GNU cpio 2.13', () => {
  it('writes the same bytes as `find . | LC_ALL=C sort | cpio -o -H newc --reproducible -R 0:0`', async () => {
    const gnu = gnuArchiveOf(tree);
    expect(await archive(directoryEntries(tree, { mtime: MTIME }))).toEqual(gnu);
    expect(await archive(directoryEntries(tree, { mtime: 'source' }))).toEqual(gnu);
  });

  it('writes what GNU cpio lists and extracts to the same tree', async () => {
    const bytes = await archive(directoryEntries(tree, { mtime: MTIME }));
    const listed = gnuCpio(['-t', '--quiet'], { input: bytes }).toString('utf8').trim().split('\n');
    const expected = execFileSync('sh', ['-c', 'find . | LC_ALL=C sort | sed "s#^\\./##"'], { cwd: tree }).toString('utf8').trim().split('\n');
    expect(listed).toEqual(expected);

    const out = join(work, 'extracted');
    mkdirSync(out);
    gnuCpio(['-i', '-d', '-m', '--quiet', '--no-absolute-filenames'], { cwd: out, input: bytes });
    expect(snapshot(out)).toEqual(snapshot(tree));
  });

  it('streams sources of every kind, and GNU cpio reads them back', async () => {
    const big = randomBytes(3 * 1024 * 1024 + 3);
    const bigPath = join(work, 'big.bin');
    writeFileSync(bigPath, big);
    const entries: CpioEntry[] = [
      { type: 'directory', name: '.' },
      { type: 'file', name: 'from-path', size: big.length, source: bigPath },
      { type: 'file', name: 'from-buffer', size: 5, source: Buffer.from('hello') },
      { type: 'file', name: 'from-readable', size: 6, source: Readable.from([Buffer.from('wor'), Buffer.from('ld!')]) },
      { type: 'file', name: 'from-iterable', size: 4, source: chunked(Buffer.from('abcd'), 1), mode: 0o600 },
      { type: 'symlink', name: 'link', target: 'from-path' },
    ];
    const bytes = await archive(entries, { mtime: MTIME });
    expect(bytes.length % 512).toBe(0);
    const out = join(work, 'streamed');
    mkdirSync(out);
    gnuCpio(['-i', '-d', '--quiet'], { cwd: out, input: bytes });
    expect(readFileSync(join(out, 'from-path')).equals(big)).toBe(true);
    expect(readFileSync(join(out, 'from-buffer'), 'utf8')).toBe('hello');
    expect(readFileSync(join(out, 'from-readable'), 'utf8')).toBe('world!');
    expect(readFileSync(join(out, 'from-iterable'), 'utf8')).toBe('abcd');
    expect(lstatSync(join(out, 'from-iterable')).mode & 0o7777).toBe(0o600);
    expect(readlinkSync(join(out, 'link'))).toBe('from-path');
  });

  it('numbers inodes from 0 in entry order and ends with GNU cpio\'s trailer and block padding', async () => {
    const bytes = await archive([
      { type: 'directory', name: 'd' },
      { type: 'file', name: 'd/f', size: 0, source: Buffer.alloc(0) },
    ]);
    const entries = await readAll(chunked(bytes, 7));
    expect(entries.map((e) => [e.name, e.ino, e.nlink, e.mtime, e.mode])).toEqual([
      ['d', 0, 2, 0, 0o40755],
      ['d/f', 1, 1, 0, 0o100644],
    ]);
    const trailer = bytes.indexOf('070701', 112 + 4);
    expect(bytes.subarray(trailer, trailer + 110).toString('latin1')).toBe(`070701${'00000000'.repeat(4)}00000001${'00000000'.repeat(6)}0000000B00000000`);
    expect(bytes.length).toBe(512);
    expect((await archive([], { blockSize: 0 })).length).toBe(124);
  });

  it('states the exact length of an archive before writing it', async () => {
    const nameArb = fc.oneof(fc.stringMatching(/^[a-z0-9._-]{1,12}(\/[a-z0-9._-]{1,12}){0,2}$/), fc.constantFrom('ünïcödé', '名前/ファイル', 'x'.repeat(300)));
    const entryArb: fc.Arbitrary<CpioEntry> = fc.oneof(
      fc.record({ type: fc.constant('directory' as const), name: nameArb }),
      fc.record({ type: fc.constant('symlink' as const), name: nameArb, target: fc.oneof(fc.string({ minLength: 1, maxLength: 30 }), fc.constant('→ ziel')) }),
      fc.record({ name: nameArb, data: fc.uint8Array({ maxLength: 700 }) }).map(({ name, data }) => ({ type: 'file' as const, name, size: data.length, source: Buffer.from(data) })),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(entryArb, { maxLength: 8 }), fc.constantFrom(0, 4, 512, 4096), async (entries, blockSize) => {
        return (await archive(entries, { blockSize })).length === cpioArchiveSize(entries, { blockSize });
      }),
      { numRuns: 100 },
    );
  });

  it('refuses sources whose length differs from the declared size, and sizes newc cannot hold', async () => {
    await expect(archive([{ type: 'file', name: 'short', size: 10, source: Buffer.from('abc') }])).rejects.toThrow(
      new CpioError('cpio: short: got 3 bytes, declared 10'),
    );
    await expect(archive([{ type: 'file', name: 'long', size: 2, source: Buffer.from('abc') }])).rejects.toThrow(CpioError);
    await expect(archive([{ type: 'file', name: 'huge', size: 2 ** 32, source: Buffer.alloc(0) }])).rejects.toThrow(
      'does not fit a newc header',
    );
    await expect(archive([{ type: 'directory', name: 'TRAILER!!!' }])).rejects.toThrow(CpioError);
  });
});

/** Names, types, modes, contents and link targets of a tree (mtimes are compared via the byte test). */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const full = join(root, path);
      const stat = lstatSync(full);
      const mode = (stat.mode & 0o7777).toString(8);
      if (stat.isSymbolicLink()) out[path] = `link ${readlinkSync(full)}`;
      else if (stat.isDirectory()) {
        out[path] = `dir ${mode}`;
        walk(path);
      } else out[path] = `file ${mode} ${createHash('sha256').update(readFileSync(full)).digest('hex')}`;
    }
  };
  walk('');
  return out;
}

describe('cpio reader', () => {
  it('reads what GNU cpio writes, hard links included', async () => {
    const dir = join(work, 'gnu-src');
    mkdirSync(dir);
    writeFileSync(join(dir, 'one'), 'first\n');
    execFileSync('ln', [join(dir, 'one'), join(dir, 'two')]);
    writeFileSync(join(dir, 'three'), randomBytes(10_000));
    symlinkSync('three', join(dir, 'four'));
    const bytes = gnuArchiveOf(dir);
    const entries = await readAll(chunked(bytes, 1000));
    // GNU cpio writes the earlier name of a hard-linked file last-but-one, empty, and the data with the last name.
    expect(entries.map((e) => [e.name, e.type, e.data.length])).toEqual([
      ['.', 'directory', 0],
      ['four', 'symlink', 5],
      ['three', 'file', 10_000],
      ['one', 'file', 0],
      ['two', 'file', 6],
    ]);
    expect(entries[1]?.linkTarget).toBe('three');
    expect(entries[2]?.data.equals(readFileSync(join(dir, 'three')))).toBe(true);
    expect(entries[3]?.ino).toBe(entries[4]?.ino);
    expect(entries[4]?.nlink).toBe(2);

    const full = await readAll(chunked(gnuArchiveOf(tree), 4096));
    for (const entry of full.filter((e) => e.type === 'file')) {
      expect(entry.data.equals(readFileSync(join(tree, entry.name))), entry.name).toBe(true);
    }
    expect(full.find((e) => e.name === 'dangling')?.linkTarget).toBe('/does/not/exist');
  });

  it('pulls one big entry out of a compressed initramfs as a stream, skipping the rest', async () => {
    // Shaped like Talos' base initramfs: `.`, `init`, `rootfs.sqsh`, compressed as one segment.
    const rootfs = randomBytes(5 * 1024 * 1024 + 1);
    const rootfsPath = join(work, 'rootfs.sqsh');
    writeFileSync(rootfsPath, rootfs);
    const segment = gzipSync(
      await archive([
        { type: 'directory', name: '.' },
        { type: 'file', name: 'init', size: 100_000, source: randomBytes(100_000), mode: 0o755 },
        { type: 'file', name: 'rootfs.sqsh', size: rootfs.length, source: rootfsPath },
      ]),
    );
    const target = join(work, 'rootfs.out');
    const seen: string[] = [];
    for await (const entry of readCpio(Readable.from(segment).pipe(createGunzip()))) {
      seen.push(entry.name);
      if (entry.name === 'rootfs.sqsh') await pipeline(entry.stream(), createWriteStream(target));
    }
    expect(seen).toEqual(['.', 'init', 'rootfs.sqsh']);
    expect(readFileSync(target).equals(rootfs)).toBe(true);
  });

  it('skips what a consumer leaves unread, and ends an abandoned body', async () => {
    const bytes = await archive([
      { type: 'file', name: 'a', size: 10, source: Buffer.from('0123456789') },
      { type: 'file', name: 'b', size: 3, source: Buffer.from('xyz') },
    ]);
    const names: string[] = [];
    let first: CpioReadEntry | undefined;
    let partial = '';
    for await (const entry of readCpio(chunked(bytes, 3))) {
      names.push(entry.name);
      if (entry.name === 'a') {
        first = entry;
        const iterator = entry.body()[Symbol.asyncIterator]();
        partial = String((await iterator.next()).value);
      } else {
        expect((await entry.buffer()).toString()).toBe('xyz');
      }
    }
    expect(names).toEqual(['a', 'b']);
    // The first chunk of a's data is whatever remained of the 3-byte input chunk its header ended in.
    expect(partial).toBe('01');
    expect(first).toBeDefined();
    await expect(first?.buffer()).rejects.toThrow('already read');
  });

  it('reads concatenated archives when asked, and stops at the first trailer otherwise', async () => {
    const one = await archive([{ type: 'file', name: 'one', size: 1, source: Buffer.from('1') }]);
    const two = gnuCpio(['-o', '-H', 'newc', '--quiet'], { cwd: tree, input: 'init\n' });
    const both = Buffer.concat([one, two]);
    expect((await readAll(chunked(both, 100))).map((e) => e.name)).toEqual(['one']);
    expect((await readAll(chunked(both, 100), { concatenated: true })).map((e) => e.name)).toEqual(['one', 'init']);
    const unpadded = Buffer.concat([await archive([], { blockSize: 0 }), Buffer.alloc(4), one]);
    expect((await readAll(chunked(unpadded, 5), { concatenated: true })).map((e) => e.name)).toEqual(['one']);
  });

  it('rejects broken input with a clear error', async () => {
    const good = await archive([{ type: 'file', name: 'f', size: 8, source: Buffer.from('abcdefgh') }], { blockSize: 0 });
    await expect(readAll(chunked(Buffer.from('070707' + '0'.repeat(200)), 50))).rejects.toThrow('bad magic "070707" at offset 0');
    await expect(readAll(chunked(good.subarray(0, 60), 50))).rejects.toThrow('truncated archive: header at offset 0');
    await expect(readAll(chunked(good.subarray(0, 116), 50))).rejects.toThrow('truncated archive: data of f');
    await expect(readAll(chunked(good.subarray(0, 124), 50))).rejects.toThrow('truncated archive: header at offset 120');
    const badHex = Buffer.from(good);
    badHex.write('0000000G', 6 + 8, 'latin1');
    await expect(readAll(chunked(badHex, 50))).rejects.toThrow('bad mode field "0000000G"');
  });

  it('round-trips any entries, keeping 4-byte alignment', async () => {
    const nameArb = fc.stringMatching(/^[a-z0-9._-]{1,12}(\/[a-z0-9._-]{1,12}){0,2}$/).filter((n) => n !== 'TRAILER!!!');
    const entryArb: fc.Arbitrary<CpioEntry> = fc.oneof(
      fc.record({ type: fc.constant('directory' as const), name: nameArb, mode: fc.integer({ min: 0, max: 0o7777 }) }),
      fc.record({ type: fc.constant('symlink' as const), name: nameArb, target: fc.string({ minLength: 1, maxLength: 30 }) }),
      fc
        .record({ name: nameArb, data: fc.uint8Array({ maxLength: 300 }), mtime: fc.integer({ min: 0, max: 2 ** 32 - 1 }) })
        .map(({ name, data, mtime }) => ({ type: 'file' as const, name, size: data.length, source: Buffer.from(data), mtime })),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(entryArb, { maxLength: 8 }), fc.integer({ min: 1, max: 50 }), async (entries, chunk) => {
        const bytes = await archive(entries, { mtime: 42 });
        if (bytes.length % 512 !== 0) return false;
        const back = await readAll(chunked(bytes, chunk));
        return (
          back.length === entries.length &&
          back.every((got, i) => {
            const want = entries[i];
            if (!want || got.name !== want.name || got.type !== want.type || got.ino !== i) return false;
            if (want.type === 'file') return got.data.equals(want.source as Buffer) && got.mtime === want.mtime;
            if (want.type === 'symlink') return got.linkTarget === want.target && (got.mode & 0o7777) === 0o777 && got.mtime === 42;
            return (got.mode & 0o7777) === want.mode;
          })
        );
      }),
      { numRuns: 60 },
    );
  });
});
