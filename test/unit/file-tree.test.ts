// The one file-tree model every image writer (squashfs, ISO 9660, FAT) takes:
// built by hand or from a directory on disk, refusing what no format can hold
// (bad paths and modes, clashes, device nodes, names that are not UTF-8). The
// per-format limits are checked by each format's own tests where it plans.

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileTree, FileTreeError, sourceSize, splitPath } from '../../src/formats/file-tree.js';

const WORK = mkdtempSync(join(tmpdir(), 'file-tree-test-'));
let counter = 0;
const scratch = (label: string): string => join(WORK, `${label}-${counter++}`);

afterAll(() => rmSync(WORK, { recursive: true, force: true }));

describe('file trees built by hand', () => {
  it('makes parents on the way, keeps modes and sources as given', () => {
    const tree = new FileTree({ rootMode: 0o700 });
    const file = tree.file('usr/local/share/a', { data: Buffer.from('x') }, { mode: 0o600 });
    tree.directory('usr/local', { mode: 0o750 });
    tree.symlink('usr/bin', 'local/bin');
    expect(tree.root.mode).toBe(0o700);
    expect(tree.get('usr/local')).toMatchObject({ kind: 'directory', mode: 0o750 });
    expect(tree.get('/usr/local/share')).toMatchObject({ kind: 'directory', mode: 0o755 });
    expect(tree.get('usr/local/share/a')).toBe(file);
    expect(tree.get('usr/bin')).toEqual({ kind: 'symlink', mode: 0o777, target: 'local/bin' });
    expect(tree.get('usr/bin/x')).toBeUndefined();
    expect(tree.get('')).toBe(tree.root);
  });

  it('refuses bad paths, modes and targets, and clashes', () => {
    const tree = new FileTree();
    tree.file('a/b', { data: Buffer.from('') });
    expect(() => tree.file('a/b', { data: Buffer.from('') })).toThrow(/a\/b already exists/);
    expect(() => tree.symlink('a', 'x')).toThrow(/already exists/);
    expect(() => tree.directory('a/b/c')).toThrow(/a\/b exists and is not a directory/);
    expect(() => tree.file('x/../y', { data: Buffer.from('') })).toThrow(/'\.' and '\.\.'/);
    expect(() => tree.file('x\0y', { data: Buffer.from('') })).toThrow(/NUL in a name/);
    expect(() => tree.file('/', { data: Buffer.from('') })).toThrow(/root is a directory/);
    expect(() => tree.file('m', { data: Buffer.from('') }, { mode: 0o10000 })).toThrow(/mode/);
    expect(() => tree.directory('d', { mode: -1 })).toThrow(FileTreeError);
    expect(() => tree.symlink('l', '')).toThrow(/empty symlink target/);
    expect(() => tree.symlink('l', 'a\0b')).toThrow(/NUL in symlink target/);
    expect(() => splitPath('a/./b')).toThrow(FileTreeError);
    expect(splitPath('//a//b/')).toEqual(['a', 'b']);
  });

  it('removes entries, whole directories included', () => {
    const tree = new FileTree();
    tree.file('lib/firmware/a.bin', { data: Buffer.from('a') });
    tree.file('lib/modules/m.ko', { data: Buffer.from('m') });
    expect(tree.remove('lib/firmware')).toBe(true);
    expect(tree.remove('lib/firmware')).toBe(false);
    expect(tree.remove('nope/deeper')).toBe(false);
    expect([...(tree.get('lib') as { children: Map<string, unknown> }).children.keys()]).toEqual(['modules']);
    expect(() => tree.remove('')).toThrow(/root cannot be removed/);
  });
});

describe('file trees read from a directory', () => {
  it('copies directories, files (by path) and symlinks with their modes, and merges into existing directories', async () => {
    const dir = scratch('src');
    mkdirSync(join(dir, 'etc/conf.d'), { recursive: true });
    writeFileSync(join(dir, 'etc/conf.d/x.conf'), 'x');
    chmodSync(join(dir, 'etc/conf.d/x.conf'), 0o640);
    chmodSync(join(dir, 'etc'), 0o711);
    symlinkSync('../etc/conf.d', join(dir, 'etc/link'));
    chmodSync(dir, 0o750);
    const tree = await FileTree.fromDirectory(dir);
    expect(tree.root.mode).toBe(0o750);
    expect(tree.get('etc')).toMatchObject({ kind: 'directory', mode: 0o711 });
    expect(tree.get('etc/conf.d/x.conf')).toEqual({ kind: 'file', mode: 0o640, source: { path: join(dir, 'etc/conf.d/x.conf') } });
    expect(tree.get('etc/link')).toMatchObject({ kind: 'symlink', target: '../etc/conf.d' });
    const other = scratch('other');
    mkdirSync(join(other, 'etc'), { recursive: true });
    writeFileSync(join(other, 'etc/y.conf'), 'y');
    await tree.addDirectoryContents(other);
    expect([...(tree.get('etc') as { children: Map<string, unknown> }).children.keys()].sort()).toEqual(['conf.d', 'link', 'y.conf']);
    expect(tree.get('etc')).toMatchObject({ mode: 0o755 });
    await expect(tree.addDirectoryContents(other)).rejects.toThrow(/etc\/y\.conf already exists/);
  });

  it('refuses device nodes, fifos and sockets, names that are not UTF-8, and a file as the root', async () => {
    const fifo = scratch('fifo');
    mkdirSync(fifo);
    execFileSync('mkfifo', [join(fifo, 'pipe')]);
    await expect(FileTree.fromDirectory(fifo)).rejects.toThrow(/is a fifo; only directories, regular files and symlinks/);
    const latin1 = scratch('latin1');
    mkdirSync(latin1);
    writeFileSync(Buffer.concat([Buffer.from(`${latin1}/caf`), Buffer.from([0xe9])]), 'x');
    await expect(FileTree.fromDirectory(latin1)).rejects.toThrow(/is not valid UTF-8/);
    const file = scratch('file');
    writeFileSync(file, 'x');
    await expect(FileTree.fromDirectory(file)).rejects.toThrow(/is not a directory/);
  });

  it('sizes sources, refusing paths that are not regular files', async () => {
    const file = scratch('sized');
    writeFileSync(file, Buffer.alloc(1234));
    expect(await sourceSize({ path: file }, 'f')).toBe(1234);
    expect(await sourceSize({ data: new Uint8Array(7) }, 'd')).toBe(7);
    await expect(sourceSize({ path: '/dev/zero' }, 'zero')).rejects.toThrow(/zero: \/dev\/zero is not a regular file/);
  });
});
