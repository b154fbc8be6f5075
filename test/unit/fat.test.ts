// Our FAT32 writer judged by dosfstools and mtools: fsck.fat finds nothing to
// fix, mdir lists and mcopy extracts exactly the source tree (long and UTF-8
// names, sizes around cluster boundaries, multi-cluster directories, empty
// files and directories), mlabel/minfo/mattrib read the label, serial and
// attributes we asked for (read-only from a mode without write bits), and the geometry is mkfs.vfat's for the same size.
// The image streams, embeds at an offset in a bigger file, and the same
// tree gives the same bytes whatever order it was built in. Our reader is
// checked against mtools-made images too.

import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FAT32_MIN_CLUSTERS,
  FatError,
  FatReader,
  defaultSectorsPerCluster,
  dosTime,
  espSectorsPerCluster,
  exactShortName,
  fat32Geometry,
  planFat,
  tailedShortName,
  writeFat,
  writeFatImage,
  writeFatImageAt,
  type FatWriteOptions,
} from '../../src/formats/fat/index.js';
import { FileTree } from '../../src/formats/file-tree.js';
import { fatToolsSkipReason, fsckFat, makeMtoolsFat, mattribList, mcopyExtract, mdirPaths, minfo, mlabelShow, runTool } from '../helpers/fat-oracle.js';
import { snapshot } from '../helpers/squashfs-oracle.js';
import { noise, text } from '../helpers/squashfs-trees.js';

const WORK = mkdtempSync(join(tmpdir(), 'fat-test-'));
const SKIP = fatToolsSkipReason();
const EPOCH = 1_700_000_000; // 2023-11-14 22:13:20 UTC
let counter = 0;
const scratch = (label: string): string => join(WORK, `${label}-${counter++}`);

afterAll(() => rmSync(WORK, { recursive: true, force: true }));

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** path → size/digest (directories: 'dir'), for comparing trees on disk. */
function contents(root: string): Record<string, string> {
  return Object.fromEntries(snapshot(root).map((e) => [e.path, e.type === 'directory' ? 'dir' : `${e.size}:${e.sha256}`]));
}

// The sample tree: long, UTF-8 and awkward names, 8.3 names of
// every case, names whose short forms collide (~1..~12), sizes on and around
// cluster boundaries, a 300-entry directory (several clusters), empty things.
const SAMPLE: Array<{ path: string; content?: Buffer; readOnly?: boolean }> = [
  { path: 'EFI/BOOT/BOOTX64.EFI', content: noise('boot', 70_001) },
  { path: 'EFI/Linux/Talos-v1.12.0.efi', content: noise('uki', 1_048_583) },
  { path: 'loader/loader.conf', content: Buffer.from('secure-boot-enroll off\n') },
  { path: 'loader/random-seed', content: Buffer.alloc(32), readOnly: true },
  { path: 'loader/entries' },
  { path: 'lower.txt', content: text('l', 10) },
  { path: 'UPPER.TXT', content: text('u', 11) },
  { path: 'abc.TXT', content: text('a', 12) },
  { path: 'ABD.txt', content: text('b', 13) },
  { path: 'Mixed.Txt', content: text('m', 14) },
  { path: 'archive.bin', content: text('h', 3) },
  { path: '.dotfile', content: text('d', 5) },
  { path: 'name with spaces.txt', content: text('s', 6) },
  { path: 'many.dots.in.a.name.tar.gz', content: text('t', 7) },
  { path: 'ünïcødé/日本語のファイル名.txt', content: Buffer.from('日本語\n') },
  { path: `long/${'x'.repeat(200)}.data`, content: text('x', 1000) },
  { path: 'long/nested/deeper/and deeper/still going/leaf.txt', content: text('leaf', 100) },
  { path: 'empty-dir' },
  { path: 'sizes/zero', content: Buffer.alloc(0) },
  ...[1, 511, 512, 513, 4095, 4096, 4097, 65_537].map((n) => ({ path: `sizes/s${n}`, content: noise(`s${n}`, n) })),
  ...Array.from({ length: 12 }, (_, i) => ({ path: `collide/long file name ${i}.text`, content: text(`c${i}`, i + 1) })),
  ...Array.from({ length: 300 }, (_, i) => ({ path: `many/entry-${String(i).padStart(3, '0')}.dat`, content: Buffer.from(String(i)) })),
];

function sampleOnDisk(root: string): void {
  for (const e of SAMPLE) {
    const full = join(root, e.path);
    if (e.content === undefined) mkdirSync(full, { recursive: true });
    else {
      mkdirSync(join(full, '..'), { recursive: true });
      writeFileSync(full, e.content);
    }
  }
}

function sampleTree(order: 'forward' | 'reverse' = 'forward', fromDisk?: string): FileTree {
  const tree = new FileTree();
  const entries = order === 'forward' ? SAMPLE : [...SAMPLE].reverse();
  for (const e of entries) {
    if (e.content === undefined) tree.directory(e.path);
    else tree.file(e.path, fromDisk ? { path: join(fromDisk, e.path) } : { data: e.content }, e.readOnly ? { mode: 0o444 } : {});
  }
  return tree;
}

describe('short names', () => {
  const raw = (s: { raw: Buffer } | undefined) => s?.raw.toString('latin1');

  it('keeps 8.3 names, flagging lower-case parts instead of adding long names', () => {
    expect(exactShortName('BOOTX64.EFI')).toMatchObject({ caseFlags: 0, needsLfn: false });
    expect(raw(exactShortName('BOOTX64.EFI'))).toBe('BOOTX64 EFI');
    expect(exactShortName('loader')).toMatchObject({ caseFlags: 0x08, needsLfn: false });
    expect(raw(exactShortName('loader'))).toBe('LOADER     ');
    expect(exactShortName('abc.TXT')).toMatchObject({ caseFlags: 0x08, needsLfn: false });
    expect(exactShortName('ABC.txt')).toMatchObject({ caseFlags: 0x10, needsLfn: false });
    expect(exactShortName('a1.b2')).toMatchObject({ caseFlags: 0x18, needsLfn: false });
  });

  it('gives mixed-case 8.3 names a long name and the upper-cased short name, no tail', () => {
    expect(exactShortName('Linux')).toMatchObject({ caseFlags: 0, needsLfn: true });
    expect(raw(exactShortName('Linux'))).toBe('LINUX      ');
  });

  it('makes BASE~N.EXT for everything else, skipping names already taken', () => {
    for (const name of ['random-seed', 'loader.conf', 'Talos-v1.12.0.efi', '.dotfile', 'a+b.txt', 'ü.txt', 'two.dots.txt', 'with space']) {
      expect(exactShortName(name), name).toBeUndefined();
    }
    expect(raw(tailedShortName('random-seed', new Set()))).toBe('RANDOM~1   ');
    expect(raw(tailedShortName('loader.conf', new Set()))).toBe('LOADER~1CON');
    expect(raw(tailedShortName('Talos-v1.12.0.efi', new Set()))).toBe('TALOS-~1EFI');
    expect(raw(tailedShortName('.dotfile', new Set()))).toBe('DOTFIL~1   ');
    expect(raw(tailedShortName('a+b.txt', new Set()))).toBe('A_B~1   TXT');
    const taken = new Set(['RANDOM~1   ', ...Array.from({ length: 8 }, (_, i) => `RANDOM~${i + 2}   `)]);
    expect(raw(tailedShortName('random-seed', taken))).toBe('RANDO~10   ');
  });

  it('resumes the ~N search per basis and still gives the names a search from ~1 gives', () => {
    // Two bases that meet once the tail grows (ABCDEFGH~1 and ABCDEFGX~1, but ABCDE~10 for both).
    const names = Array.from({ length: 120 }, (_, i) => (i % 3 === 0 ? `abcdefgx-${i}` : `abcdefgh-${i}.log`));
    const fresh = new Set<string>();
    const resumed = new Set<string>();
    const tried = new Map<string, number>();
    for (const name of names) {
      const a = tailedShortName(name, fresh).raw.toString('latin1');
      const b = tailedShortName(name, resumed, tried).raw.toString('latin1');
      expect(b, name).toBe(a);
      fresh.add(a);
      resumed.add(b);
    }
    expect(fresh.size).toBe(names.length);
  });
});

describe('geometry', () => {
  it('picks the cluster size mkfs.vfat picks (FAT32 table) and the one Talos picks for ISO ESPs', () => {
    const MiB = 1 << 20;
    expect(defaultSectorsPerCluster(260 * MiB)).toBe(1);
    expect(defaultSectorsPerCluster(261 * MiB)).toBe(8);
    expect(defaultSectorsPerCluster(8192 * MiB)).toBe(8);
    expect(defaultSectorsPerCluster(8193 * MiB)).toBe(16);
    expect(defaultSectorsPerCluster(32769 * MiB)).toBe(64);
    // 10 MiB + sd-boot + UKI: 33 MiB stays at 1, ~140 MiB (a 100+ MiB UKI) gets 4, 300 MiB 8.
    expect(espSectorsPerCluster(33 * MiB)).toBe(1);
    expect(espSectorsPerCluster(65 * MiB)).toBe(1);
    expect(espSectorsPerCluster(66 * MiB)).toBe(2);
    expect(espSectorsPerCluster(140 * MiB)).toBe(4);
    expect(espSectorsPerCluster(300 * MiB)).toBe(8);
  });

  it('refuses sizes with too few clusters for FAT32', () => {
    expect(() => fat32Geometry(60_000, 1)).toThrow(/FAT32 needs at least 65525/);
    expect(() => fat32Geometry(300_000, 8)).toThrow(FatError);
  });

  it.skipIf(SKIP !== undefined)('lays the volume out as mkfs.vfat -F 32 does for the same size (reserved, FAT length, clusters, boot sector fields)', () => {
    for (const [kib, spc] of [
      [34_000, undefined],
      [40_000, undefined],
      [65_536, undefined],
      [110_000, 2],
      [143_360, 4],
      [307_200, undefined],
      [600_000, 8],
    ] as const) {
      const ref = scratch('mkfs');
      makeMtoolsFat(ref, kib, {}, { label: 'EFI', ...(spc ? { sectorsPerCluster: spc } : {}) });
      const theirs = Buffer.alloc(512);
      const fd = openSync(ref, 'r');
      readSync(fd, theirs, 0, 512, 0);
      closeSync(fd);
      const total = theirs.readUInt32LE(32);
      const geometry = fat32Geometry(total, theirs[13]!);
      if (spc === undefined) expect(defaultSectorsPerCluster(kib * 1024), `${kib} KiB`).toBe(theirs[13]);
      expect(geometry.reservedSectors, `${kib} KiB reserved`).toBe(theirs.readUInt16LE(14));
      expect(geometry.fatSectors, `${kib} KiB FAT length`).toBe(theirs.readUInt32LE(36));
      const fsck = fsckFat(ref).stdout;
      expect(fsck).toContain(`${geometry.clusterCount} data clusters`);
      rmSync(ref);
    }
  });

  it.skipIf(SKIP !== undefined)('writes the boot sector mkfs.vfat --invariant writes, apart from the OEM name, boot code and CHS values', async () => {
    const ref = scratch('mkfs');
    makeMtoolsFat(ref, 40_000, {}, { label: 'EFI' });
    const ours = scratch('ours');
    await writeFat(new FileTree(), ours, { size: 40_000 * 1024, label: 'EFI' });
    const a = readFileSync(ref).subarray(0, 512);
    const b = readFileSync(ours).subarray(0, 512);
    expect(b.subarray(11, 24)).toEqual(a.subarray(11, 24));
    expect(b.subarray(28, 90)).toEqual(a.subarray(28, 90));
    expect(b.subarray(510)).toEqual(a.subarray(510));
  });
});

describe.skipIf(SKIP !== undefined)('FAT32 images judged by fsck.fat and mtools', () => {
  const src = join(WORK, 'sample-src');
  let image: string;
  let planned: Awaited<ReturnType<typeof writeFat>>;

  beforeAll(async () => {
    sampleOnDisk(src);
    image = scratch('sample');
    planned = await writeFat(sampleTree('forward', src), image, { label: 'TESTVOL', timestamp: EPOCH });
  });

  it('fsck.fat finds nothing wrong and counts the clusters we used', () => {
    const { status, stdout, stderr } = fsckFat(image);
    expect(status, stdout + stderr).toBe(0);
    expect(stdout).not.toMatch(/differ|invalid|bad|free cluster summary wrong|Dirty bit|Orphan|unused clusters freed/i);
    expect(stdout).toContain(`${planned.usedClusters}/${planned.geometry.clusterCount} clusters`);
  });

  it('mdir lists every path by its long name', () => {
    const expected = SAMPLE.flatMap((e) => {
      const parts = e.path.split('/');
      return parts.map((_, i) => parts.slice(0, i + 1).join('/') + (i < parts.length - 1 || e.content === undefined ? '/' : ''));
    });
    expect(mdirPaths(image)).toEqual([...new Set(expected)].sort());
  });

  it('mcopy extracts exactly the source tree (names, sizes, contents)', () => {
    const out = scratch('extract');
    mkdirSync(out);
    mcopyExtract(image, out);
    expect(contents(out)).toEqual(contents(src));
  });

  it('mlabel, minfo and mattrib read the label, serial, geometry and attributes', () => {
    expect(mlabelShow(image)).toBe('TESTVOL');
    const info = minfo(image);
    expect(info['serial number']).toBe('1234ABCD');
    expect(info['disk type']?.trim()).toBe('FAT32');
    expect(Number.parseInt(info['cluster size'] ?? '', 10)).toBe(planned.geometry.sectorsPerCluster);
    const attrs = mattribList(image);
    expect(attrs.get('loader/random-seed')).toBe('AR');
    expect(attrs.get('archive.bin')).toBe('A');
    expect(attrs.get('loader/loader.conf')).toBe('A');
    expect(attrs.get('loader')).toBe('');
  });

  it('every entry carries the one timestamp', () => {
    const out = runTool('mdir', ['-i', image, '::/loader']).stdout;
    expect(out).toMatch(/loader\.conf/);
    expect(out.match(/2023-11-14\s+22:13/g)?.length).toBe(5);
    expect(dosTime(EPOCH)).toEqual({ date: ((2023 - 1980) << 9) | (11 << 5) | 14, time: (22 << 11) | (13 << 5) | 10, tenths: 0 });
    expect(dosTime(0)).toEqual({ date: (1 << 5) | 1, time: 0, tenths: 0 });
  });

  it('our reader sees the same tree', async () => {
    const reader = await FatReader.open(image);
    try {
      expect(reader.volume.label).toBe('TESTVOL');
      expect(reader.volume.fsInfo.freeClusters).toBe(planned.freeClusters);
      const walked = await reader.walk();
      const fromReader: Record<string, string> = {};
      for (const { path, entry } of walked) {
        fromReader[path] = entry.isDirectory ? 'dir' : `${entry.size}:${sha256(await reader.readFile(path))}`;
        expect(entry.modified, path).toBe(EPOCH);
      }
      expect(fromReader).toEqual(contents(src));
      expect((await reader.stat('LOADER/RANDOM~1'))?.name).toBe('random-seed');
      await expect(reader.readFile('nope')).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await reader.close();
    }
  });

  it('our reader reads an image made by mkfs.vfat and mcopy', async () => {
    const ref = scratch('mtools');
    makeMtoolsFat(ref, 40_000, { 'EFI/BOOT/BOOTX64.EFI': join(src, 'EFI/BOOT/BOOTX64.EFI'), 'loader/random-seed': join(src, 'loader/random-seed'), 'abc.TXT': join(src, 'abc.TXT') }, { label: 'EFI' });
    const reader = await FatReader.open(ref);
    try {
      expect(reader.volume.label).toBe('EFI');
      expect(reader.volume.volumeId).toBe(0x1234abcd);
      expect((await reader.walk()).map((w) => w.path).sort()).toEqual(['EFI', 'EFI/BOOT', 'EFI/BOOT/BOOTX64.EFI', 'abc.TXT', 'loader', 'loader/random-seed']);
      expect(await reader.readFile('EFI/BOOT/BOOTX64.EFI')).toEqual(readFileSync(join(src, 'EFI/BOOT/BOOTX64.EFI')));
    } finally {
      await reader.close();
    }
  });

  it('larger clusters (Talos ISO ESP sizing) check out as well', async () => {
    const size = 140 << 20;
    const img = scratch('spc4');
    const result = await writeFat(sampleTree('forward', src), img, { size, sectorsPerCluster: espSectorsPerCluster(size), label: 'EFI' });
    expect(result.geometry.sectorsPerCluster).toBe(4);
    expect(fsckFat(img).status).toBe(0);
    const out = scratch('extract');
    mkdirSync(out);
    mcopyExtract(img, out);
    expect(contents(out)).toEqual(contents(src));
  });
});

describe('writing', () => {
  it('gives the same bytes for the same tree, whatever order it was built in', async () => {
    const options: FatWriteOptions = { label: 'EFI', timestamp: EPOCH };
    const a = scratch('a');
    const b = scratch('b');
    await writeFat(sampleTree('forward'), a, options);
    await writeFat(sampleTree('reverse'), b, options);
    expect(sha256(readFileSync(a))).toBe(sha256(readFileSync(b)));
    const c = scratch('c');
    await writeFat(sampleTree('forward'), c, { ...options, volumeId: 0xdeadbeef });
    expect(readFileSync(c).readUInt32LE(67)).toBe(0xdeadbeef);
  });

  it('streams the same bytes it writes to a file', async () => {
    const image = await planFat(sampleTree(), { label: 'EFI' });
    const file = scratch('file');
    await writeFatImage(image, file);
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on('data', (c: Buffer) => chunks.push(c));
    await writeFatImage(image, sink);
    const streamed = Buffer.concat(chunks);
    expect(streamed.length).toBe(image.size);
    expect(sha256(streamed)).toBe(sha256(readFileSync(file)));
  });

  it.skipIf(SKIP !== undefined)('writes into a byte range of a bigger file, over whatever was there', async () => {
    const image = await planFat(sampleTree(), { label: 'EFI' });
    const alone = scratch('alone');
    await writeFatImage(image, alone);
    const disk = scratch('disk');
    const offset = 1 << 20;
    writeFileSync(disk, Buffer.alloc(offset + image.size + 4096, 0xa5));
    await writeFatImageAt(image, disk, offset);
    const bytes = readFileSync(disk);
    expect(sha256(bytes.subarray(offset, offset + image.size))).toBe(sha256(readFileSync(alone)));
    expect(bytes[offset - 1]).toBe(0xa5);
    expect(bytes[offset + image.size]).toBe(0xa5);
    expect(mlabelShow(disk, offset)).toBe('EFI');
    expect(mdirPaths(disk, offset)).toContain('EFI/Linux/Talos-v1.12.0.efi');
    const reader = await FatReader.open(disk, offset);
    expect(await reader.readFile('EFI/BOOT/BOOTX64.EFI')).toEqual(noise('boot', 70_001));
    await reader.close();
  });

  it('grows a short target file and skips zero gaps when asked', async () => {
    const image = await planFat(sampleTree(), {});
    const target = scratch('fresh');
    await writeFatImageAt(image, target, 4096, { zeroGaps: false });
    expect(statSync(target).size).toBe(4096 + image.size);
    const alone = scratch('alone');
    await writeFatImage(image, alone);
    expect(sha256(readFileSync(target).subarray(4096))).toBe(sha256(readFileSync(alone)));
  });

  it('sizes the volume to the content plus slack, in whole MiB, never below the FAT32 minimum', async () => {
    const small = await planFat(sampleTree(), {});
    expect(small.size % (1 << 20)).toBe(0);
    expect(small.geometry.clusterCount).toBeGreaterThanOrEqual(FAT32_MIN_CLUSTERS);
    const big = new FileTree();
    big.file('blob', { data: Buffer.alloc(40 << 20) });
    const fitted = await planFat(big, { slack: 3 << 20 });
    expect(fitted.freeClusters * fitted.geometry.clusterBytes).toBeGreaterThanOrEqual(3 << 20);
    expect(fitted.freeClusters * fitted.geometry.clusterBytes).toBeLessThan(5 << 20);
    await expect(planFat(big, { size: 40 << 20 })).rejects.toThrow(/needs \d+ clusters/);
    await expect(planFat(big, { size: 1000 })).rejects.toThrow(/multiple of 512/);
  });

  it('streams file contents from disk instead of holding them', async () => {
    const path = scratch('big-file');
    writeFileSync(path, noise('big', 3 << 20));
    const tree = new FileTree();
    tree.file('EFI/Linux/big.efi', { path });
    const image = await planFat(tree, {});
    const extent = image.image.extents.find((e) => e.source.kind === 'file');
    expect(extent?.length).toBe(3 << 20);
    expect(image.image.extents.every((e) => e.source.kind !== 'bytes' || e.length < 1 << 20)).toBe(true);
  });

  // mtools 4.0.32 prints each half of a surrogate pair as '_', so astral names are checked on the raw entries.
  it('stores names beyond the BMP as UTF-16 surrogate pairs in the long-name entries', async () => {
    const name = 'emoji 😀 name.txt';
    const tree = new FileTree();
    tree.file(name, { data: Buffer.from('😀') });
    const path = scratch('astral');
    const image = await writeFat(tree, path, {});
    const root = readFileSync(path).subarray(image.geometry.dataStartSector * 512, image.geometry.dataStartSector * 512 + 96);
    // Two LFN entries (17 units), last part first, then the short entry.
    const units = [...[root.subarray(32, 64), root.subarray(0, 32)].flatMap((e) => [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30].map((o) => e.readUInt16LE(o)))];
    expect(Buffer.from(Uint16Array.from(units.slice(0, name.length)).buffer).toString('utf16le')).toBe(name);
    expect(units[name.length]).toBe(0);
    expect(root.toString('latin1', 64, 75)).toBe('EMOJI_~1TXT');
    const reader = await FatReader.open(path);
    expect((await reader.readdir()).map((e) => e.name)).toEqual([name]);
    expect((await reader.readFile(name)).toString()).toBe('😀');
    await reader.close();
  });

  it('refuses names FAT cannot hold, names that clash ignoring case, and symlinks', async () => {
    const planOf = (build: (tree: FileTree) => void): Promise<unknown> => {
      const tree = new FileTree();
      build(tree);
      return planFat(tree);
    };
    await expect(planOf((t) => t.file('dir/a:b', { data: Buffer.alloc(1) }))).rejects.toThrow(FatError);
    await expect(planOf((t) => t.file('trailing.', { data: Buffer.alloc(1) }))).rejects.toThrow(/end with a dot/);
    await expect(planOf((t) => t.file('x'.repeat(256), { data: Buffer.alloc(1) }))).rejects.toThrow(/longer than 255/);
    await expect(planOf((t) => (t.directory('EFI'), t.directory('efi')))).rejects.toThrow(/efi clashes with "EFI" \(FAT names are case-insensitive\)/);
    await expect(planOf((t) => t.symlink('EFI/link', 'target'))).rejects.toThrow(/EFI\/link is a symlink; FAT cannot hold symlinks/);
    await expect(planFat(new FileTree(), { label: 'BAD.LABEL' })).rejects.toThrow(FatError);
  });
});
