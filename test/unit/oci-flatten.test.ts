import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestHex, sha256Digest } from '../../src/oci/digest.js';
import { extractImage, flattenToTar, normalizeEntryPath } from '../../src/oci/flatten.js';
import { OciLayout } from '../../src/oci/layout.js';
import { MEDIA_TYPE } from '../../src/oci/media-types.js';
import { type StoredImage, type TestEntry, type TestLayer, bufferStream, dir, file, hardlink, opaque, storeImage, symlink, whiteout } from '../helpers/layers.js';
import { rejection } from '../helpers/oci-errors.js';

const scratch = mkdtempSync(join(tmpdir(), 'oci-flatten-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let counter = 0;
const freshDir = (name: string): string => join(scratch, `${name}-${++counter}`);

let layout: OciLayout;
beforeAll(async () => {
  layout = await OciLayout.create(join(scratch, 'layout'));
});

async function image(layers: TestLayer[], tag?: string): Promise<StoredImage> {
  return storeImage(layout, layers, tag === undefined ? {} : { tag });
}

async function extracted(img: StoredImage, options?: Parameters<typeof extractImage>[3]): Promise<string> {
  const out = freshDir('out');
  await extractImage(layout, img.manifest, out, options);
  return out;
}

/** A directory tree as `path → description`, for comparing trees. */
function tree(root: string): Record<string, string> {
  const result: Record<string, string> = {};
  const walk = (relative: string): void => {
    for (const name of readdirSync(join(root, relative)).sort()) {
      const path = relative === '' ? name : `${relative}/${name}`;
      const full = join(root, path);
      const stat = lstatSync(full);
      const mode = (stat.mode & 0o7777).toString(8).padStart(4, '0');
      if (stat.isSymbolicLink()) result[path] = `symlink -> ${readlinkSync(full)}`;
      else if (stat.isDirectory()) {
        result[path] = `dir ${mode}`;
        walk(path);
      } else if (stat.isFile()) result[path] = `file ${mode} ${readFileSync(full, 'utf8')}`;
      else result[path] = 'other';
    }
  };
  walk('');
  return result;
}

/** What umoci, as a reference implementation of layer application, makes of the same image. */
function umociTree(tag: string): Record<string, string> {
  const bundle = freshDir('bundle');
  execFileSync('umoci', ['unpack', '--rootless', '--image', `${layout.dir}:${tag}`, bundle], { stdio: 'pipe' });
  return tree(join(bundle, 'rootfs'));
}

interface TarItem {
  type: string;
  mode: number;
  content: string;
  linkname?: string;
}

async function readTar(stream: Readable): Promise<Map<string, TarItem>> {
  const items = new Map<string, TarItem>();
  const reader = extract();
  const done = (async () => {
    for await (const entry of reader) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      const { name, type, mode, linkname } = entry.header;
      items.set(name, { type, mode, content: Buffer.concat(chunks).toString(), ...(linkname ? { linkname } : {}) });
    }
  })();
  for await (const chunk of stream) reader.write(chunk);
  reader.end(undefined);
  await done;
  return items;
}

const layers = (...entryLists: TestEntry[][]): TestLayer[] => entryLists.map((entries) => ({ entries, codec: 'gzip' }));

describe('normalizeEntryPath', () => {
  it('makes names relative and clean, and refuses to leave the root', () => {
    expect(normalizeEntryPath('./etc/')).toBe('etc');
    expect(normalizeEntryPath('/etc//hosts')).toBe('etc/hosts');
    expect(normalizeEntryPath('a/./b/../c')).toBe('a/c');
    expect(normalizeEntryPath('./')).toBe('');
    expect(normalizeEntryPath('../etc/passwd')).toBeUndefined();
    expect(normalizeEntryPath('a/../../b')).toBeUndefined();
  });
});

describe('merging layers', () => {
  it('applies whiteouts and opaque directories across three layers, as umoci does', async () => {
    const img = await image(
      layers(
        [
          dir('etc'),
          file('etc/keep', 'k1'),
          file('etc/gone', 'g'),
          file('etc/replaced', 'r1'),
          dir('var'),
          dir('var/lib'),
          file('var/lib/old', 'o'),
          file('var/lib/sub/deep', 'd'),
          dir('opt'),
          dir('opt/app'),
          file('opt/app/x', 'x'),
          file('usr/bin/tool', 't', 0o755),
        ],
        [whiteout('etc/gone'), file('etc/replaced', 'r2'), dir('var/lib', 0o750), opaque('var/lib'), file('var/lib/new', 'n'), whiteout('opt'), file('etc/added', 'a2')],
        [dir('opt', 0o700), file('opt/app/y', 'y'), whiteout('etc/added'), file('etc/replaced', 'r3')],
      ),
      'whiteouts',
    );
    const ours = tree(await extracted(img));
    expect(ours).toEqual({
      etc: 'dir 0755',
      'etc/keep': 'file 0644 k1',
      'etc/replaced': 'file 0644 r3',
      opt: 'dir 0700',
      'opt/app': 'dir 0755',
      'opt/app/y': 'file 0644 y',
      usr: 'dir 0755',
      'usr/bin': 'dir 0755',
      'usr/bin/tool': 'file 0755 t',
      var: 'dir 0755',
      'var/lib': 'dir 0750',
      'var/lib/new': 'file 0644 n',
    });
    expect(ours).toEqual(umociTree('whiteouts'));
  });

  it('replaces a file by a directory and a directory by a file across layers', async () => {
    const img = await image(
      layers(
        [file('a', 'was a file'), dir('b'), file('b/inner', 'i'), dir('b/sub'), file('b/sub/x', 'x'), symlink('c', 'a')],
        [dir('a'), file('a/child', 'c'), file('b', 'now a file'), dir('c'), file('c/f', 'f')],
        [symlink('a/child', '../b')],
      ),
      'replace',
    );
    const ours = tree(await extracted(img));
    expect(ours).toEqual({
      a: 'dir 0755',
      'a/child': 'symlink -> ../b',
      b: 'file 0644 now a file',
      c: 'dir 0755',
      'c/f': 'file 0644 f',
    });
    expect(ours).toEqual(umociTree('replace'));
  });

  it('within one layer, a later entry for the same path replaces the earlier one', async () => {
    const img = await image(layers([file('x', 'first'), file('x', 'second'), dir('d'), file('d/f', 'f'), file('d', 'file now')]));
    expect(tree(await extracted(img))).toEqual({ x: 'file 0644 second', d: 'file 0644 file now' });
  });

  it('normalises entry names (./x, /x, trailing slashes)', async () => {
    const img = await image(layers([dir('./etc/'), file('./etc/hosts', 'h'), file('/abs/file', 'inside'), file('etc//double', 'd')]));
    expect(tree(await extracted(img))).toEqual({ abs: 'dir 0755', 'abs/file': 'file 0644 inside', etc: 'dir 0755', 'etc/double': 'file 0644 d', 'etc/hosts': 'file 0644 h' });
  });

  it('keeps permission bits, including on read-only directories filled by lower layers', async () => {
    const img = await image(
      layers([dir('ro', 0o755), file('ro/a', 'a'), file('secret', 's', 0o600), file('suid', 'x', 0o4755)], [dir('ro', 0o555), file('ro/b', 'b', 0o444)]),
    );
    const ours = tree(await extracted(img));
    expect(ours).toEqual({ ro: 'dir 0555', 'ro/a': 'file 0644 a', 'ro/b': 'file 0444 b', secret: 'file 0600 s', suid: 'file 4755 x' });
  });

  it('reads gzip, zstd and plain layers, and trusts the content over a wrong media type', async () => {
    const img = await image([
      { entries: [file('gzip', 'g')], codec: 'gzip' },
      { entries: [file('zstd', 'z')], codec: 'zstd' },
      { entries: [file('plain', 'p')], codec: 'none' },
      { entries: [file('gzip-labelled-plain', 'gp')], codec: 'gzip', mediaType: MEDIA_TYPE.ociLayer },
      { entries: [file('plain-labelled-gzip', 'pg')], codec: 'none', mediaType: MEDIA_TYPE.ociLayerGzip },
      { entries: [file('zstd-labelled-gzip', 'zg')], codec: 'zstd', mediaType: MEDIA_TYPE.dockerLayerGzip },
    ]);
    expect(tree(await extracted(img))).toEqual({
      gzip: 'file 0644 g',
      zstd: 'file 0644 z',
      plain: 'file 0644 p',
      'gzip-labelled-plain': 'file 0644 gp',
      'plain-labelled-gzip': 'file 0644 pg',
      'zstd-labelled-gzip': 'file 0644 zg',
    });
  });

  it('streams large files intact', async () => {
    const big = randomBytes(6 << 20).toString('base64');
    const img = await image([{ entries: [file('big', big)], codec: 'zstd' }]);
    const out = await extracted(img);
    const sha = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
    expect(sha(readFileSync(join(out, 'big')))).toBe(sha(big));
  });

  it('extracts only what include selects, with the directories leading to it', async () => {
    const img = await image(
      layers(
        [dir('usr'), dir('usr/install', 0o700), file('usr/install/amd64/vmlinuz', 'kernel'), file('usr/installer', 'not selected'), file('etc/os-release', 'x')],
        [file('usr/install/arm64/vmlinuz', 'kernel2'), whiteout('usr/install/amd64/vmlinuz')],
      ),
    );
    const out = await extracted(img, { include: (path) => path.startsWith('usr/install/') });
    expect(tree(out)).toEqual({
      usr: 'dir 0755',
      'usr/install': 'dir 0755',
      'usr/install/amd64': 'dir 0755',
      'usr/install/arm64': 'dir 0755',
      'usr/install/arm64/vmlinuz': 'file 0644 kernel2',
    });
  });

  it('skips device nodes and fifos when extracting; the tar keeps them', async () => {
    const img = await image(layers([{ name: 'dev/null', type: 'character-device' }, { name: 'run/fifo', type: 'fifo' }, file('dev/ok', 'ok')]));
    expect(tree(await extracted(img))).toEqual({ dev: 'dir 0755', 'dev/ok': 'file 0644 ok', run: 'dir 0755' });
    const items = await readTar(flattenToTar(layout, img.manifest));
    expect(items.get('dev/null')?.type).toBe('character-device');
    expect(items.get('dev/')?.type).toBe('directory');
    expect(items.get('run/fifo')?.type).toBe('fifo');
  });
});

describe('hard links', () => {
  const inode = (path: string): number => lstatSync(path).ino;

  it('links names of the same file within a layer', async () => {
    const img = await image(layers([file('bin/busybox', 'bb', 0o755), hardlink('bin/sh', 'bin/busybox'), hardlink('./bin/ls', './bin/busybox')]), 'links');
    const out = await extracted(img);
    expect(inode(join(out, 'bin/sh'))).toBe(inode(join(out, 'bin/busybox')));
    expect(inode(join(out, 'bin/ls'))).toBe(inode(join(out, 'bin/busybox')));
    expect(lstatSync(join(out, 'bin/busybox')).nlink).toBe(3);
    expect(tree(out)).toEqual(umociTree('links'));
  });

  it('keeps the content of a link whose target an upper layer replaced or removed', async () => {
    const img = await image(
      layers(
        [file('bin/busybox', 'bb', 0o755), hardlink('bin/sh', 'bin/busybox'), hardlink('bin/ls', 'bin/busybox'), file('lib/a.so', 'lib'), hardlink('lib/b.so', 'lib/a.so')],
        [file('bin/busybox', 'new busybox', 0o755), whiteout('lib/a.so')],
      ),
      'hidden-targets',
    );
    const out = await extracted(img);
    expect(tree(out)).toEqual({
      bin: 'dir 0755',
      'bin/busybox': 'file 0755 new busybox',
      'bin/ls': 'file 0755 bb',
      'bin/sh': 'file 0755 bb',
      lib: 'dir 0755',
      'lib/b.so': 'file 0644 lib',
    });
    expect(inode(join(out, 'bin/ls'))).toBe(inode(join(out, 'bin/sh')));
    expect(inode(join(out, 'bin/sh'))).not.toBe(inode(join(out, 'bin/busybox')));
    expect(tree(out)).toEqual(umociTree('hidden-targets'));

    const items = await readTar(flattenToTar(layout, img.manifest));
    expect(items.get('bin/sh')).toMatchObject({ type: 'file', content: 'bb' });
    expect(items.get('bin/ls')).toMatchObject({ type: 'link', linkname: 'bin/sh' });
  });

  it('fails on a link to something the layer does not have', async () => {
    const img = await image(layers([hardlink('bin/sh', 'bin/missing')]));
    const error = await rejection(extractImage(layout, img.manifest, freshDir('out')));
    expect(error.kind).toBe('invalid');
    expect(error.message).toContain('bin/missing');
  });
});

describe('hostile layers', () => {
  let outside: string;
  beforeAll(() => {
    outside = join(scratch, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'passwd'), 'untouched');
  });
  afterAll(() => {
    // Whatever happened in these tests, nothing outside the destination changed.
    expect(readdirSync(outside)).toEqual(['passwd']);
    expect(readFileSync(join(outside, 'passwd'), 'utf8')).toBe('untouched');
    expect(existsSync(join(scratch, 'escaped'))).toBe(false);
  });

  it('refuses entries that climb out with ..', async () => {
    const img = await image(layers([file('ok', 'ok'), file('../escaped', 'x')]));
    const out = freshDir('out');
    expect((await rejection(extractImage(layout, img.manifest, out))).kind).toBe('invalid');
    expect(existsSync(join(out, '..', 'escaped'))).toBe(false);
    await expect(readTar(flattenToTar(layout, img.manifest))).rejects.toThrow(/outside the image root/);
  });

  it('never writes through a symlink made earlier in the same layer', async () => {
    const img = await image(layers([symlink('a', outside), file('a/passwd', 'owned')]));
    const out = freshDir('out');
    const error = await rejection(extractImage(layout, img.manifest, out));
    expect(error.message).toContain('not a directory');
    expect(lstatSync(join(out, 'a')).isSymbolicLink()).toBe(true);
  });

  it('never writes through a symlink of a lower layer: the upper layer directory replaces it', async () => {
    const img = await image(layers([symlink('a', outside)], [file('a/passwd', 'in the image')]));
    const out = await extracted(img);
    expect(tree(out)).toEqual({ a: 'dir 0755', 'a/passwd': 'file 0644 in the image' });
  });

  it('a symlink in an upper layer hides the lower layer files below it', async () => {
    const img = await image(layers([file('etc/passwd', 'lower')], [symlink('etc', outside)]));
    expect(tree(await extracted(img))).toEqual({ etc: `symlink -> ${outside}` });
  });

  it('a directory replaced by a symlink later in the same layer takes nothing of lower layers with it', async () => {
    const img = await image(layers([file('d/lower', 'l')], [dir('d'), file('d/f', 'f'), symlink('d', outside)]));
    expect(tree(await extracted(img))).toEqual({ d: `symlink -> ${outside}` });
  });

  it('refuses hard links out of the root or through a symlink', async () => {
    const escaping = await image(layers([hardlink('h', '../../../etc/passwd')]));
    expect((await rejection(extractImage(layout, escaping.manifest, freshDir('out')))).kind).toBe('invalid');
    const throughSymlink = await image(layers([symlink('s', outside), hardlink('h', 's/passwd')]));
    const out = freshDir('out');
    expect((await rejection(extractImage(layout, throughSymlink.manifest, out))).kind).toBe('invalid');
    expect(existsSync(join(out, 'h'))).toBe(false);
  });
});

describe('layer integrity', () => {
  it('a layer whose bytes do not match its digest fails the extraction and the tar stream', async () => {
    const img = await image([{ entries: [file('a', 'original content')], codec: 'none' }]);
    const path = join(layout.dir, 'blobs', 'sha256', digestHex(img.layers[0]!.digest));
    const bytes = readFileSync(path);
    const at = bytes.indexOf('original content');
    bytes.write('ORIGINAL', at); // same size, still a valid tar
    writeFileSync(path, bytes);
    expect((await rejection(extractImage(layout, img.manifest, freshDir('out')))).kind).toBe('digest-mismatch');
    await expect(readTar(flattenToTar(layout, img.manifest))).rejects.toThrow(/digest mismatch/);
  });

  it('a layer that is not a tar (its digest right) fails with the layer named', async () => {
    for (const [bytes, what] of [
      [Buffer.alloc(4096, 'this is not a tar archive '), 'cannot read the layer as a tar: '],
      [Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0]), Buffer.alloc(2048, 7)]), 'cannot read the layer as a gzip-compressed tar: '],
    ] as const) {
      const descriptor = { mediaType: MEDIA_TYPE.ociLayerGzip, digest: sha256Digest(bytes), size: bytes.length };
      await layout.putBlob(descriptor, () => bufferStream(bytes));
      const img = await image([{ entries: [file('a', 'a')] }]);
      const manifest = { ...img.manifest, layers: [...img.manifest.layers, descriptor] };
      const error = await rejection(extractImage(layout, manifest, freshDir('out')));
      expect(error.kind).toBe('invalid');
      expect(error.message).toContain(descriptor.digest);
      expect(error.message).toContain(what);
    }
  });
});

describe('flattenToTar', () => {
  it('GNU tar extracts the same tree from our tar as extractImage writes', async () => {
    const img = await image(
      layers(
        [dir('etc'), file('etc/a', 'a'), file('etc/b', 'b'), dir('srv', 0o700), file('srv/x', 'x', 0o600), symlink('link', 'etc/a')],
        [whiteout('etc/a'), opaque('srv'), file('srv/y', 'y', 0o640), file('bin/tool', 'tool', 0o755), hardlink('bin/alias', 'bin/tool')],
      ),
    );
    const tarPath = join(freshDir('tar'), 'flat.tar');
    mkdirSync(join(tarPath, '..'), { recursive: true });
    const chunks: Buffer[] = [];
    for await (const chunk of flattenToTar(layout, img.manifest)) chunks.push(chunk as Buffer);
    writeFileSync(tarPath, Buffer.concat(chunks));
    const listing = execFileSync('tar', ['-tf', tarPath], { encoding: 'utf8' }).trim().split('\n');
    expect(new Set(listing).size).toBe(listing.length); // one header per path
    listing.sort();
    // bin/ is only implied by the layer, and gets a header of its own.
    expect(listing).toEqual(['bin/', 'bin/alias', 'bin/tool', 'etc/', 'etc/b', 'link', 'srv/', 'srv/y'].sort());
    const byTar = freshDir('by-tar');
    mkdirSync(byTar);
    execFileSync('tar', ['-x', '-p', '--no-same-owner', '-f', tarPath, '-C', byTar]);
    const byUs = await extracted(img);
    expect(tree(byTar)).toEqual(tree(byUs));
    expect(tree(byUs)).toMatchObject({ srv: 'dir 0700', 'srv/y': 'file 0640 y', 'bin/tool': 'file 0755 tool' });
    expect(lstatSync(join(byTar, 'bin/alias')).ino).toBe(lstatSync(join(byTar, 'bin/tool')).ino);
  });

  it('keeps long names and extended attributes', async () => {
    const long = `${'deep/'.repeat(30)}${'n'.repeat(120)}`;
    const capability = { 'SCHILY.xattr.security.capability': 'cap-bytes' };
    const img = await image(layers([file(long, 'long'), { ...file('bin/ping', 'ping', 0o755), pax: capability }, symlink(`${long}-link`, long)]));
    const chunks: Buffer[] = [];
    for await (const chunk of flattenToTar(layout, img.manifest)) chunks.push(chunk as Buffer);
    const tarPath = join(freshDir('tar'), 'long.tar');
    mkdirSync(join(tarPath, '..'), { recursive: true });
    writeFileSync(tarPath, Buffer.concat(chunks));
    const listing = execFileSync('tar', ['-tf', tarPath], { encoding: 'utf8' }).split('\n');
    expect(listing).toContain(long);
    expect(listing).toContain(`${long}-link`);
    const raw = Buffer.concat(chunks).toString('latin1');
    expect(raw).toContain('SCHILY.xattr.security.capability=cap-bytes');
    const out = await extracted(img);
    expect(readFileSync(join(out, long), 'utf8')).toBe('long');
    expect(readlinkSync(join(out, `${long}-link`))).toBe(long);
  });

  it('an image without layers is an empty tar', async () => {
    const img = await image([]);
    expect((await readTar(flattenToTar(layout, img.manifest))).size).toBe(0);
  });

  it('a consumer that stops early releases the stream', async () => {
    const img = await image([{ entries: [file('big', randomBytes(4 << 20).toString('hex'))], codec: 'zstd' }]);
    const stream = flattenToTar(layout, img.manifest);
    const closed = new Promise((resolve) => stream.once('close', resolve));
    for await (const _chunk of stream) break;
    await closed;
    expect(stream.destroyed).toBe(true);
    // The same image still reads in full afterwards.
    expect((await readTar(flattenToTar(layout, img.manifest))).get('big')?.content.length).toBe(8 << 20);
  });
});
