// Our ISO 9660 writer judged by xorriso, isoinfo, sgdisk and sfdisk: xorriso
// lists and extracts exactly the source tree (Rock Ridge names, modes, sizes,
// symlinks), reports the El Torito entries and the MBR/GPT we meant to write,
// and its own hybrid image of the same inputs has the same structure; the
// partitioning tools read the GPT without complaint; the same inputs give the
// same bytes. Our reader is checked against xorriso too.

import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isoVolumeId, setsIsoLabel, talosIsoLabel, talosIsoVolume } from '../../src/build/iso/volume.js';
import {
  IsoReader,
  Iso9660Error,
  planIso,
  seededGuid,
  writeIso,
  writePlannedIso,
  type IsoWriteOptions,
} from '../../src/formats/iso9660/index.js';
import { FileTree } from '../../src/formats/file-tree.js';
import { compareIdentifiers, isoIdentifiers } from '../../src/formats/iso9660/names.js';
import { permString, snapshot, type DiskEntry } from '../helpers/squashfs-oracle.js';
import { buildTree, noise, sampleTrees, text, type TreeSpec } from '../helpers/squashfs-trees.js';
import { fitNames } from '../helpers/iso-trees.js';
import { readFileRange } from '../helpers/disk-fixtures.js';
import {
  isoToolsSkipReason,
  isoinfoDescriptor,
  isoinfoPaths,
  sfdiskDump,
  sfdiskJson,
  sgdiskPrint,
  sgdiskVerify,
  xorrisoExtract,
  xorrisoList,
  xorrisoMkisofs,
  xorrisoPvdInfo,
  xorrisoReport,
  type XorrisoEntry,
} from '../helpers/iso-oracle.js';

const WORK = mkdtempSync(join(tmpdir(), 'iso9660-test-'));
const SKIP = isoToolsSkipReason();
const DATE = new Date('2023-11-14T22:13:13Z');
let counter = 0;
const scratch = (label: string): string => join(WORK, `${label}-${counter++}`);

afterAll(() => rmSync(WORK, { recursive: true, force: true }));

const SAMPLES = sampleTrees(2048);
/**
 * libisofs (xorriso) refuses symlink targets of 1024 bytes and more ("Rock
 * Ridge path too long"), and so any component over 255 bytes. For the xorriso
 * trees the sample tree's 4095-byte link gets a 1023-byte target (still several
 * SL entries, in a continuation area); the long forms are checked with our
 * reader alone.
 */
const LONGEST_TARGET = `${Array.from({ length: 4 }, () => `/${'t'.repeat(250)}`).join('')}/${'e'.repeat(18)}`;
const NESTED = fitNames(SAMPLES.nested).map((s): TreeSpec => (s.path === 'links/longest' ? { path: s.path, type: 'symlink', target: LONGEST_TARGET } : s));
/** ISO-specific corners on top of the shared sample trees. */
const ISO_CORNERS: TreeSpec[] = [
  // Names that map to the same ISO identifier.
  { path: 'clash/ReadMe.TXT', type: 'file', content: Buffer.from('1\n') },
  { path: 'clash/readme.txt', type: 'file', content: Buffer.from('2\n') },
  { path: 'clash/README_TXT', type: 'file', content: Buffer.from('3\n') },
  { path: 'clash/readme-txt', type: 'dir' },
  { path: 'clash/a.b.c.d', type: 'file', content: Buffer.from('dots\n') },
  { path: 'clash/.hidden', type: 'file', content: Buffer.from('dot\n') },
  { path: 'clash/x.verylongextension', type: 'file', content: Buffer.from('ext\n') },
  { path: `clash/${'Same-Prefix-'.repeat(4)}1.txt`, type: 'file', content: Buffer.from('p1\n') },
  { path: `clash/${'Same-Prefix-'.repeat(4)}2.txt`, type: 'file', content: Buffer.from('p2\n') },
  // Deeper than ISO 9660's eight levels (Rock Ridge readers do not care).
  { path: 'd1/d2/d3/d4/d5/d6/d7/d8/d9/d10/bottom', type: 'file', content: Buffer.from('deep\n') },
  { path: 'links/dots', type: 'symlink', target: './x/../y' },
  { path: 'links/root', type: 'symlink', target: '/' },
  { path: 'links/component-255', type: 'symlink', target: `../${'c'.repeat(255)}/x` },
  { path: 'big', type: 'file', content: noise('big', 3 * 1024 * 1024 + 5) },
];

function sourceTree(name: string, specs: TreeSpec[]): string {
  const dir = scratch(name);
  buildTree(dir, specs);
  return dir;
}

/** The disk snapshot in the shape xorriso's listing has. */
function expectedListing(entries: DiskEntry[]): Array<Pick<XorrisoEntry, 'path' | 'perms' | 'size' | 'target'>> {
  return entries.map((e) => ({
    path: e.path,
    perms: permString(e.type as 'directory' | 'file' | 'symlink', e.mode),
    size: e.type === 'file' ? e.size! : 0,
    ...(e.type === 'symlink' ? { target: e.target! } : {}),
  }));
}

function listing(entries: XorrisoEntry[]): Array<Pick<XorrisoEntry, 'path' | 'perms' | 'size' | 'target'>> {
  return entries
    .filter((e) => e.path !== '')
    .map((e) => ({ path: e.path, perms: e.perms, size: e.perms.startsWith('-') ? e.size : 0, ...(e.target !== undefined ? { target: e.target } : {}) }))
    .sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const fileSha = (path: string): string => sha256(readFileSync(path));

/** Partition 1 of a hybrid image as its own file (what /dev/sdX1 would show). */
function partitionOne(iso: string, startSector: number, sectors: number): string {
  const out = `${iso}.p1`;
  writeFileSync(out, readFileRange(iso, startSector * 512, sectors * 512));
  return out;
}

describe.skipIf(SKIP !== undefined)('ISO 9660 + Rock Ridge, judged by xorriso', () => {
  const trees: Record<string, string> = {};
  const images: Record<string, string> = {};

  beforeAll(async () => {
    for (const [name, specs] of Object.entries({ nested: NESTED, many: fitNames(SAMPLES.many), sizes: SAMPLES.sizes, corners: ISO_CORNERS, empty: [] })) {
      trees[name] = sourceTree(name, specs);
      images[name] = scratch(`${name}.iso`);
      await writeIso(await FileTree.fromDirectory(trees[name]!), images[name]!, { volumeId: 'TEST', date: DATE });
    }
  });

  for (const name of ['nested', 'many', 'sizes', 'corners', 'empty']) {
    it(`${name}: xorriso lists exactly the tree (names, modes, sizes, symlink targets)`, () => {
      expect(listing(xorrisoList(images[name]!))).toEqual(expectedListing(snapshot(trees[name]!)));
    });

    it(`${name}: xorriso extracts contents equal to the source`, () => {
      const out = scratch(`${name}-extract`);
      xorrisoExtract(images[name]!, out);
      // Extraction as root keeps modes; the root directory itself is not part of either snapshot.
      expect(snapshot(out)).toEqual(snapshot(trees[name]!));
    });

    it(`${name}: isoinfo (genisoimage's reader) finds every path through Rock Ridge`, () => {
      const sort = (paths: string[]): string[] => paths.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      expect(sort(isoinfoPaths(images[name]!))).toEqual(sort(snapshot(trees[name]!).map((e) => e.path)));
    });

    it(`${name}: our reader lists and reads the same tree`, async () => {
      const reader = await IsoReader.open(images[name]!);
      try {
        expect(reader.hasRockRidge).toBe(true);
        const entries = (await reader.list()).filter((e) => e.path !== '');
        const seen = entries
          .map((e): DiskEntry => {
            if (e.type === 'symlink') return { path: e.path, type: 'symlink', mode: e.mode, target: e.target! };
            if (e.type === 'directory') return { path: e.path, type: 'directory', mode: e.mode };
            return { path: e.path, type: 'file', mode: e.mode, size: e.size, sha256: '' };
          })
          .sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
        const expected = snapshot(trees[name]!);
        expect(seen).toEqual(expected.map((e) => (e.type === 'file' ? { ...e, sha256: '' } : e)));
        for (const e of expected.filter((x) => x.type === 'file').slice(0, 50)) {
          expect(sha256(await reader.readFile(e.path)), e.path).toBe(e.sha256);
        }
      } finally {
        await reader.close();
      }
    });
  }

  it('ISO identifiers are level-3 d-character names, unique and sorted in every directory', async () => {
    const reader = await IsoReader.open(images.corners!);
    try {
      const entries = await reader.list();
      const byParent = new Map<string, typeof entries>();
      for (const e of entries.filter((x) => x.path !== '')) {
        const parent = e.path.includes('/') ? e.path.slice(0, e.path.lastIndexOf('/')) : '';
        byParent.set(parent, [...(byParent.get(parent) ?? []), e]);
      }
      for (const [parent, children] of byParent) {
        const ids = children.map((c) => c.isoName);
        for (const c of children) {
          if (c.type === 'directory') expect(c.isoName, c.path).toMatch(/^[A-Z0-9_]{1,31}$/);
          else expect(c.isoName, c.path).toMatch(/^[A-Z0-9_]*\.[A-Z0-9_]*;1$/);
          if (c.type !== 'directory') expect(c.isoName.length - 3, c.path).toBeLessThanOrEqual(30);
        }
        expect(new Set(ids).size, parent).toBe(ids.length);
        expect([...ids].sort(compareIdentifiers), parent).toEqual(ids);
      }
    } finally {
      await reader.close();
    }
  });

  it('path tables L and M list every directory with its extent and parent', async () => {
    const reader = await IsoReader.open(images.nested!);
    try {
      const l = await reader.pathTable(false);
      const m = await reader.pathTable(true);
      expect(m).toEqual(l);
      const dirs = (await reader.list()).filter((e) => e.type === 'directory');
      expect(l).toHaveLength(dirs.length);
      const extents = new Map(dirs.map((d) => [d.extent, d]));
      for (const [i, record] of l.entries()) {
        const dir = extents.get(record.extent);
        expect(dir, `path table record ${i + 1}`).toBeDefined();
        const parent = l[record.parent - 1]!;
        const parentDir = extents.get(parent.extent)!;
        expect(dir!.path === '' ? '' : dir!.path.split('/').slice(0, -1).join('/')).toBe(parentDir.path);
        if (i > 0) {
          // Ordered by depth, then parent number, then identifier.
          const prev = l[i - 1]!;
          const depth = (n: number): number => (n === 1 ? 0 : 1 + depth(l[n - 1]!.parent));
          const key = [depth(i + 1), record.parent];
          const prevKey = [depth(i), prev.parent];
          expect(key[0]! > prevKey[0]! || (key[0] === prevKey[0] && (key[1]! > prevKey[1]! || (key[1] === prevKey[1] && compareIdentifiers(prev.id.toString('latin1'), record.id.toString('latin1')) < 0)))).toBe(true);
        }
      }
    } finally {
      await reader.close();
    }
  });

  it('volume id, volume set id and fixed dates (isoinfo, xorriso -pvd_info)', async () => {
    const iso = scratch('volume.iso');
    const tree = await FileTree.fromDirectory(trees.sizes!);
    await writeIso(tree, iso, { volumeId: 'TALOS_V1_14_0', volumeSetId: 'Talos-v1.14.0', date: DATE, applicationId: 'image-factory' });
    const info = isoinfoDescriptor(iso);
    expect(info['Volume id']).toBe('TALOS_V1_14_0');
    expect(info['Volume set id']).toBe('Talos-v1.14.0');
    expect(info['Application id']).toBe('image-factory');
    expect(info['Logical block size is']).toBe('2048');
    const pvd = xorrisoPvdInfo(iso);
    expect(pvd['Creation Time']).toBe('2023111422131300');
    expect(pvd['Modif. Time']).toBe('2023111422131300');
    expect(pvd['Expir. Time']).toBe('0000000000000000');
    expect(pvd['Eff. Time']).toBe('0000000000000000');
    // Every file date is the image date too (TZ=UTC for the listing).
    const reader = await IsoReader.open(iso);
    try {
      for (const e of await reader.list()) expect(e.mtime.toISOString(), e.path).toBe(DATE.toISOString());
    } finally {
      await reader.close();
    }
  });

  it('same inputs give the same bytes, written to a file or streamed', async () => {
    const options: IsoWriteOptions = { volumeId: 'SAME', date: DATE, hybrid: { guidSeed: 'seed' } };
    const a = scratch('same-a.iso');
    const b = scratch('same-b.iso');
    await writeIso(await FileTree.fromDirectory(trees.corners!), a, options);
    await writeIso(await FileTree.fromDirectory(trees.corners!), b, options);
    expect(fileSha(b)).toBe(fileSha(a));

    const plan = await planIso(await FileTree.fromDirectory(trees.corners!), options);
    const stream = new PassThrough();
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    await writePlannedIso(plan, stream);
    const streamed = Buffer.concat(chunks);
    expect(streamed.length).toBe(plan.size);
    expect(sha256(streamed)).toBe(fileSha(a));
  });

  it('streams file contents: memory stays bounded while a 512 MiB file goes through', async () => {
    const dir = scratch('large');
    buildTree(dir, [{ path: 'small', type: 'file', content: Buffer.from('small\n') }]);
    const large = join(dir, 'large.img');
    writeFileSync(large, 'head');
    truncateSync(large, 512 << 20);
    const plan = await planIso(await FileTree.fromDirectory(dir), { date: DATE });
    const before = process.memoryUsage().rss;
    let peak = before;
    let bytes = 0;
    const hash = createHash('sha256');
    const sink = new PassThrough();
    sink.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
      peak = Math.max(peak, process.memoryUsage().rss);
    });
    await writePlannedIso(plan, sink);
    expect(bytes).toBe(plan.size);
    expect(peak - before).toBeLessThan(128 << 20);
  });

  it('reads an image xorriso made the way xorriso lists it', async () => {
    const iso = scratch('xorriso-made.iso');
    xorrisoMkisofs(['-R', '-o', iso, trees.nested!]);
    const reader = await IsoReader.open(iso);
    try {
      const ours = (await reader.list())
        .filter((e) => e.path !== '')
        .map((e) => ({ path: e.path, perms: permString(e.type, e.mode), size: e.type === 'file' ? e.size : 0, ...(e.target !== undefined ? { target: e.target } : {}) }))
        .sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
      expect(ours).toEqual(listing(xorrisoList(iso)));
    } finally {
      await reader.close();
    }
  });
});

describe.skipIf(SKIP !== undefined)('El Torito and the hybrid MBR + GPT system area', () => {
  let src: string;
  let esp: string;
  const MBR_CODE = noise('mbr', 512);
  const ESP_SIZE = 1024 * 1024 + 1000; // not a whole number of sectors: padding is checked too
  /** Like xorriso, the ESP is padded to whole 2048-byte blocks and the padding counted. */
  const ESP_SECTORS = Math.ceil(ESP_SIZE / 2048) * 4;

  beforeAll(() => {
    src = sourceTree('hybrid', [
      { path: 'boot/grub/bios.img', type: 'file', content: noise('eltorito', 30_000) },
      { path: 'boot/grub/grub.cfg', type: 'file', content: text('cfg', 300) },
      { path: 'boot/vmlinuz', type: 'file', content: noise('kernel', 200_000) },
      { path: 'Talos Readme.md', type: 'file', content: text('readme', 5000) },
    ]);
    esp = scratch('esp.img');
    writeFileSync(esp, noise('esp', ESP_SIZE));
  });

  const hybridOptions = (): IsoWriteOptions => ({
    volumeId: 'TALOS_V1_14_0',
    volumeSetId: 'Talos-v1.14.0',
    date: DATE,
    bios: { image: 'boot/grub/bios.img', grub2BootInfo: true },
    efi: { appendedPartition: true },
    hybrid: { guidSeed: 'Talos-v1.14.0', mbrBootCode: MBR_CODE, grub2Mbr: true, esp: { path: esp } },
  });

  it('xorriso reports the BIOS and UEFI boot entries, the protective MBR and the GPT', async () => {
    const iso = scratch('hybrid.iso');
    const { plan } = await writeIso(await FileTree.fromDirectory(src), iso, hybridOptions());
    const reader = await IsoReader.open(iso);
    const bios = (await reader.list()).find((e) => e.path === 'boot/grub/bios.img')!;
    await reader.close();
    const report = xorrisoReport(iso);
    expect(report.bootRecord).toBe('El Torito , MBR protective-msdos-label grub2-mbr cyl-align-off GPT');
    expect(report.catalogLba).toBe(plan.catalogBlock);
    expect(report.bootImages).toEqual([
      { number: 1, platform: 'BIOS', bootable: true, emulation: 'none', loadSize: 4, lba: bios.extent },
      { number: 2, platform: 'UEFI', bootable: true, emulation: 'none', loadSize: ESP_SECTORS, lba: plan.esp!.block },
    ]);
    expect(report.bootImagePaths[1]).toBe('/boot/grub/bios.img');
    expect(report.bootImageOptions[1]).toBe('boot-info-table grub2-boot-info');
    expect(report.partitionOffset).toBe(16);
    const sectors = plan.size / 512;
    expect(report.imageSectors).toBe(sectors);
    expect(report.mbr).toEqual([{ number: 1, status: '0x00', type: '0xee', start: 1, blocks: sectors - 1 }]);
    expect(report.gptEntryArray).toBe('2 248 separated');
    expect(report.gptLbaRange).toEqual([64, sectors - 64, sectors - 1]);
    const guid = (text: string): string => seededGuid('Talos-v1.14.0', text);
    const raw = (g: string): string => {
      const h = g.replace(/-/g, '').toLowerCase();
      const rev = (s: string): string => s.match(/../g)!.reverse().join('');
      return rev(h.slice(0, 8)) + rev(h.slice(8, 12)) + rev(h.slice(12, 16)) + h.slice(16);
    };
    expect(report.gptDiskGuid).toBe(raw(guid('disk')));
    expect(report.gpt).toEqual([
      { number: 1, name: 'ISO9660', guid: raw(guid('partition-1')), type: 'a2a0d0ebe5b9334487c068b6b72699c7', flags: '0x1000000000000001', start: 64, size: plan.isoEndBlock * 4 - 64 },
      { number: 2, name: 'EFI', guid: raw(guid('partition-2')), type: '28732ac11ff8d211ba4b00a0c93ec93b', flags: '0x0000000000000000', start: plan.esp!.block * 4, size: ESP_SECTORS },
    ]);
  });

  it('patches the boot-info table, the GRUB blocklist and the MBR, and appends the ESP bytes as they are', async () => {
    const iso = scratch('patched.iso');
    const { plan } = await writeIso(await FileTree.fromDirectory(src), iso, hybridOptions());
    const reader = await IsoReader.open(iso);
    try {
      const entry = (await reader.list()).find((e) => e.path === 'boot/grub/bios.img')!;
      const image = await reader.readFile('boot/grub/bios.img');
      const original = readFileSync(join(src, 'boot/grub/bios.img'));
      expect(image.readUInt32LE(8)).toBe(16);
      expect(image.readUInt32LE(12)).toBe(entry.extent);
      expect(image.readUInt32LE(16)).toBe(original.length);
      expect(image.readBigUInt64LE(2548)).toBe(BigInt(entry.extent) * 4n + 5n);
      let sum = 0;
      for (let at = 64; at < image.length; at += 4) sum = (sum + Buffer.concat([image.subarray(at, at + 4), Buffer.alloc(4)]).readUInt32LE(0)) >>> 0;
      expect(image.readUInt32LE(20)).toBe(sum);
      // Everything else is the caller's image.
      const rest = (b: Buffer): Buffer => Buffer.concat([b.subarray(0, 8), b.subarray(64, 2548), b.subarray(2556)]);
      expect(rest(image).equals(rest(original))).toBe(true);

      const mbr = readFileRange(iso, 0, 512);
      // The boot code up to GRUB's address word at 0x1b0; the disk signature stays 0.
      expect(mbr.subarray(0, 0x1b0).equals(MBR_CODE.subarray(0, 0x1b0))).toBe(true);
      expect(mbr.subarray(0x1b8, 0x1be).every((b) => b === 0)).toBe(true);
      expect(mbr.readBigUInt64LE(0x1b0)).toBe(BigInt(entry.extent) * 4n + 4n);
      expect(mbr.readUInt16LE(510)).toBe(0xaa55);

      const appended = readFileRange(iso, plan.esp!.block * 2048, ESP_SECTORS * 512);
      expect(appended.subarray(0, ESP_SIZE).equals(readFileSync(esp))).toBe(true);
      expect(appended.subarray(ESP_SIZE).every((b) => b === 0)).toBe(true);

      const catalog = await reader.bootCatalog();
      expect(catalog?.validationPlatform).toBe(0);
      expect(catalog?.entries.map((e) => [e.platform, e.bootable, e.media, e.sectorCount, e.block])).toEqual([
        [0, true, 0, 4, entry.extent],
        [0xef, true, 0, ESP_SECTORS, plan.esp!.block],
      ]);
    } finally {
      await reader.close();
    }
  });

  it('sgdisk and sfdisk read the GPT and MBR without errors', async () => {
    const iso = scratch('parted.iso');
    const { plan } = await writeIso(await FileTree.fromDirectory(src), iso, hybridOptions());
    const verdict = sgdiskVerify(iso);
    expect(verdict).toContain('No problems found');
    // sgdisk's "Caution: partition doesn't end on a 16-sector boundary" is advice, not a problem (xorriso's images get it too).
    expect(verdict).not.toMatch(/Warning|Problem:/i);
    expect(sgdiskPrint(iso)).toMatch(/Partition table holds up to 248 entries/);
    const table = sfdiskJson(iso);
    expect(table.label).toBe('gpt');
    expect(table.id).toBe(seededGuid('Talos-v1.14.0', 'disk'));
    expect(table.partitions.map(({ start, size, type, uuid, name, attrs }) => ({ start, size, type, uuid, name, attrs }))).toEqual([
      { start: 64, size: plan.isoEndBlock * 4 - 64, type: 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7', uuid: seededGuid('Talos-v1.14.0', 'partition-1'), name: 'ISO9660', attrs: 'RequiredPartition GUID:60' },
      { start: plan.esp!.block * 4, size: ESP_SECTORS, type: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', uuid: seededGuid('Talos-v1.14.0', 'partition-2'), name: 'EFI', attrs: undefined },
    ]);
    expect(sfdiskDump(iso)).not.toMatch(/warning|error/i);
  });

  it('partition 1 alone is the same ISO filesystem, with partition-relative addresses', async () => {
    const iso = scratch('partition.iso');
    const { plan } = await writeIso(await FileTree.fromDirectory(src), iso, hybridOptions());
    const part = partitionOne(iso, 64, plan.isoEndBlock * 4 - 64);
    expect(listing(xorrisoList(part))).toEqual(listing(xorrisoList(iso)));
    const out = scratch('partition-extract');
    xorrisoExtract(part, out);
    const whole = snapshot(src).map((e) => (e.path === 'boot/grub/bios.img' ? { ...e, sha256: '' } : e));
    expect(snapshot(out).map((e) => (e.path === 'boot/grub/bios.img' ? { ...e, sha256: '' } : e))).toEqual(whole);
    expect(isoinfoDescriptor(part)['Volume size is']).toBe(String(plan.isoEndBlock - 16));
    // The whole image's volume covers the appended ESP, so UEFI's El Torito view reaches it.
    expect(isoinfoDescriptor(iso)['Volume size is']).toBe(String(plan.size / 2048));
  });

  it("has the structure of xorriso's own hybrid image of the same inputs", async () => {
    const ours = scratch('ours.iso');
    const theirs = scratch('theirs.iso');
    const mbr = scratch('mbr.img');
    writeFileSync(mbr, MBR_CODE);
    await writeIso(await FileTree.fromDirectory(src), ours, hybridOptions());
    xorrisoMkisofs([
      ...['-o', theirs, '-R', '-V', 'TALOS_V1_14_0', '-volset', 'Talos-v1.14.0', '--modification-date=2023111422131300'],
      ...['-b', 'boot/grub/bios.img', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', '--grub2-boot-info', '--boot-catalog-hide'],
      ...['--grub2-mbr', mbr, '-partition_offset', '16', '-append_partition', '2', '0xef', esp, '-appended_part_as_gpt'],
      ...['-eltorito-alt-boot', '-e', '--interval:appended_partition_2:all::', '-no-emul-boot', src],
    ]);
    const a = xorrisoReport(ours);
    const b = xorrisoReport(theirs);
    expect(a.bootRecord).toBe(b.bootRecord);
    expect(a.systemAreaSummary).toBe(b.systemAreaSummary);
    expect(a.partitionOffset).toBe(b.partitionOffset);
    expect(a.gptEntryArray).toBe(b.gptEntryArray);
    expect(a.bootImages.map(({ platform, bootable, emulation, loadSize }) => ({ platform, bootable, emulation, loadSize }))).toEqual(
      b.bootImages.map(({ platform, bootable, emulation, loadSize }) => ({ platform, bootable, emulation, loadSize })),
    );
    expect(a.bootImageOptions).toEqual(b.bootImageOptions);
    expect(a.mbr.map(({ number, status, type, start }) => ({ number, status, type, start }))).toEqual(b.mbr.map(({ number, status, type, start }) => ({ number, status, type, start })));
    // Partitions 1 and 2 alike: ISO data from sector 64 (read-only, required), ESP right after the ISO data.
    // xorriso also lists its 300 KiB tail padding as a third "Gap" partition; we write no padding.
    const shape = (r: typeof a): Array<Record<string, unknown>> =>
      r.gpt.filter((p) => p.number <= 2).map((p) => ({ number: p.number, type: p.type, flags: p.flags, start: p.number === 1 ? p.start : 'after-iso', espSize: p.number === 2 ? p.size : undefined }));
    expect(shape(a)).toEqual(shape(b));
    for (const r of [a, b]) {
      const [iso, part] = r.gpt;
      expect(part!.start).toBe(iso!.start + iso!.size);
      expect(r.bootImages[1]!.lba * 4).toBe(part!.start);
    }
    expect(b.gpt.slice(2).map((p) => p.name)).toEqual(['Gap1']);
    expect(listing(xorrisoList(ours))).toEqual(listing(xorrisoList(theirs)));
  });

  it("cylinder alignment matches Talos' xorriso flags (-partition_cyl_align all, -iso_mbr_part_type 0x83)", async () => {
    const ours = scratch('aligned-ours.iso');
    const theirs = scratch('aligned-theirs.iso');
    const mbr = scratch('mbr.img');
    writeFileSync(mbr, MBR_CODE);
    const options = hybridOptions();
    const { plan } = await writeIso(await FileTree.fromDirectory(src), ours, { ...options, hybrid: { ...options.hybrid!, cylinderAlign: true } });
    xorrisoMkisofs([
      ...['-o', theirs, '-R', '-V', 'TALOS_V1_14_0', '-iso-level', '3', '--boot-catalog-hide'],
      ...['-b', 'boot/grub/bios.img', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', '--grub2-boot-info', '--grub2-mbr', mbr],
      ...['-eltorito-alt-boot', '-e', '--interval:appended_partition_2:all::', '-append_partition', '2', '0xef', esp, '-appended_part_as_gpt'],
      ...['-partition_cyl_align', 'all', '-partition_offset', '16', '-iso_mbr_part_type', '0x83', '-no-emul-boot', src],
    ]);
    const a = xorrisoReport(ours);
    const b = xorrisoReport(theirs);
    expect(a.systemAreaSummary).toBe(b.systemAreaSummary);
    const [isoA, espA] = a.gpt;
    const [isoB, espB] = b.gpt;
    // Same 1 MiB boundaries: the ISO partition ends on one, the 1 MiB + 1000 byte ESP takes 2 MiB.
    expect([isoA!.start, isoA!.size, espA!.start, espA!.size]).toEqual([isoB!.start, isoB!.size, espB!.start, espB!.size]);
    expect(espA!.start % 2048).toBe(0);
    expect(espA!.size).toBe(4096);
    expect(a.bootImages[1]).toMatchObject({ platform: 'UEFI', loadSize: b.bootImages[1]!.loadSize, lba: b.bootImages[1]!.lba });
    expect(plan.esp!.blocks * 4).toBe(espA!.size);
    expect(sgdiskVerify(ours)).toContain('No problems found');
  });

  it('a different GUID seed changes the GUIDs and nothing else but the CRCs', async () => {
    const a = scratch('seed-a.iso');
    const b = scratch('seed-b.iso');
    await writeIso(await FileTree.fromDirectory(src), a, hybridOptions());
    await writeIso(await FileTree.fromDirectory(src), b, { ...hybridOptions(), hybrid: { ...hybridOptions().hybrid!, guidSeed: 'other' } });
    const x = readFileSync(a);
    const y = readFileSync(b);
    expect(x.length).toBe(y.length);
    const differing = new Set<number>();
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) differing.add(Math.floor(i / 512));
    const sectors = x.length / 512;
    // Primary header (1) and entries (2, 3: partitions 1 and 2), backup entries and header.
    expect([...differing].sort((p, q) => p - q)).toEqual([1, 2, sectors - 63, sectors - 1]);
  });

  it('UEFI-only: the EFI image is a file in the tree and the only (default) entry', async () => {
    const iso = scratch('uefi-only.iso');
    const tree = await FileTree.fromDirectory(src);
    tree.file('efi.img', { path: esp });
    await writeIso(tree, iso, { date: DATE, efi: { image: '/efi.img' } });
    const report = xorrisoReport(iso);
    const reader = await IsoReader.open(iso);
    try {
      const entry = (await reader.list()).find((e) => e.path === 'efi.img')!;
      expect(report.bootImages).toEqual([{ number: 1, platform: 'UEFI', bootable: true, emulation: 'none', loadSize: ESP_SECTORS, lba: entry.extent }]);
      expect(report.bootImagePaths[1]).toBe('/efi.img');
      expect((await reader.bootCatalog())?.validationPlatform).toBe(0xef);
      expect(await reader.readFile('efi.img')).toEqual(readFileSync(esp));
    } finally {
      await reader.close();
    }
    // No hybrid: the system area is zeros, and there is no partition table.
    expect(readFileRange(iso, 0, 32768).every((b) => b === 0)).toBe(true);
    expect(report.systemAreaSummary).toBe('');
  });

  it('an ESP too big for a 16-bit sector count gets 0, as xorriso writes (UEFI then reads to the volume end)', async () => {
    const big = scratch('big-esp.img');
    writeFileSync(big, '');
    truncateSync(big, 40 << 20);
    const iso = scratch('big-esp.iso');
    const { plan } = await writeIso(await FileTree.fromDirectory(src), iso, { ...hybridOptions(), hybrid: { ...hybridOptions().hybrid!, esp: { path: big } } });
    const report = xorrisoReport(iso);
    expect(report.bootImages[1]).toMatchObject({ platform: 'UEFI', loadSize: 0, lba: plan.esp!.block });
    expect(report.gpt[1]).toMatchObject({ start: plan.esp!.block * 4, size: (40 << 20) / 512 });
  });
});

describe('symlink targets beyond what libisofs reads', () => {
  it('a 4094-byte single-component target survives, split over SL entries and continuation areas', async () => {
    const tree = new FileTree();
    const target = `/${'t'.repeat(4094)}`;
    tree.symlink('links/longest', target);
    tree.file(`${'n'.repeat(253)}`, { data: Buffer.from('long name\n') });
    const iso = scratch('longest.iso');
    await writeIso(tree, iso, { date: DATE });
    const reader = await IsoReader.open(iso);
    try {
      const entries = await reader.list();
      const link = entries.find((e) => e.path === 'links/longest')!;
      expect(link.target).toBe(target);
      expect(link.susp.filter((s) => s === 'SL').length).toBeGreaterThan(16);
      expect(entries.find((e) => e.name === 'n'.repeat(253))?.size).toBe(10);
    } finally {
      await reader.close();
    }
  });
});

describe('ISO writer refuses what it cannot write', () => {
  const small = (): FileTree => {
    const tree = new FileTree();
    tree.file('boot/eltorito.img', { data: noise('boot', 4096) });
    tree.file('tiny', { data: Buffer.from('x') });
    return tree;
  };

  it('a boot image that is not a file in the tree', async () => {
    await expect(planIso(small(), { bios: { image: 'boot/missing.img' } })).rejects.toThrow(Iso9660Error);
    await expect(planIso(small(), { bios: { image: 'boot' } })).rejects.toThrow(/not a regular file/);
  });

  it('a boot-info table in an image smaller than the table', async () => {
    await expect(planIso(small(), { bios: { image: 'tiny' } })).rejects.toThrow(/at least 64 bytes/);
  });

  it('an EFI entry on an appended partition without an ESP, and a GRUB MBR patch without a BIOS image', async () => {
    await expect(planIso(small(), { efi: { appendedPartition: true }, hybrid: { guidSeed: 's' } })).rejects.toThrow(/hybrid\.esp/);
    await expect(planIso(small(), { hybrid: { guidSeed: 's', mbrBootCode: Buffer.alloc(440), grub2Mbr: true } })).rejects.toThrow(/BIOS boot image/);
  });

  it('bad volume ids, load sizes and names', async () => {
    await expect(planIso(small(), { volumeId: 'x'.repeat(33) })).rejects.toThrow(/longer than 32/);
    await expect(planIso(small(), { volumeId: 'Ünï' })).rejects.toThrow(/printable ASCII/);
    await expect(planIso(small(), { bios: { image: 'boot/eltorito.img', loadSectors: 0 } })).rejects.toThrow(/load size/);
    // Linux' isofs truncates Rock Ridge names of 254 bytes and more.
    const withEntry = (add: (tree: FileTree) => unknown): FileTree => {
      const tree = small();
      add(tree);
      return tree;
    };
    await expect(planIso(withEntry((t) => t.file(`${'n'.repeat(254)}`, { data: Buffer.alloc(0) })))).rejects.toThrow(/longer than 253/);
    await expect(planIso(withEntry((t) => t.file(`d/${'é'.repeat(127)}`, { data: Buffer.alloc(0) })))).rejects.toThrow(Iso9660Error);
    await expect(planIso(withEntry((t) => t.file(`d/${'é'.repeat(127)}`, { data: Buffer.alloc(0) })))).rejects.toThrow(/longer than 253/);
    await expect(planIso(withEntry((t) => t.symlink('l', `/${'t'.repeat(4095)}`)))).rejects.toThrow(/symlink target longer than 4095/);
  });

  it('a source file that changes size between planning and writing', async () => {
    const dir = scratch('changing');
    buildTree(dir, [{ path: 'grows', type: 'file', content: Buffer.from('short') }]);
    const plan = await planIso(await FileTree.fromDirectory(dir));
    writeFileSync(join(dir, 'grows'), 'much longer now');
    await expect(writePlannedIso(plan, scratch('changed.iso'))).rejects.toThrow(/changed size/);
  });
});

describe('output stability', () => {
  it('a fixed input gives these exact bytes (a change here changes every ISO: bump the build recipe version)', async () => {
    const tree = new FileTree();
    tree.file('boot/grub/i386-pc/eltorito.img', { data: noise('eltorito', 8192) });
    tree.file('boot/grub/grub.cfg', { data: text('grub', 500) });
    tree.file('boot/vmlinuz', { data: noise('kernel', 70_000) });
    tree.file(`Long Name ${'é'.repeat(100)}.txt`, { data: Buffer.from('hello\n') }, { mode: 0o600 });
    tree.symlink('boot/current', 'vmlinuz');
    const chunks: Buffer[] = [];
    const sink = new PassThrough();
    sink.on('data', (c: Buffer) => chunks.push(c));
    const plan = await planIso(tree, {
      volumeId: 'TALOS_V1_14_0',
      volumeSetId: 'Talos-v1.14.0',
      date: DATE,
      bios: { image: 'boot/grub/i386-pc/eltorito.img', grub2BootInfo: true },
      efi: { appendedPartition: true },
      hybrid: { guidSeed: 'Talos-v1.14.0', mbrBootCode: noise('mbr', 440), grub2Mbr: true, esp: { data: noise('esp', 100_000) }, cylinderAlign: true },
    });
    await writePlannedIso(plan, sink);
    expect(plan.size).toBe(2 * 1024 * 1024 + 32 * 1024);
    expect(sha256(Buffer.concat(chunks))).toBe('f0319ee91d79866e5e8ea5a6cf1056e8969a0d45502e37d0dc2217c9612d61a6');
  });
});

describe('ISO identifiers', () => {
  it('map names to d-characters, keep extensions, and number clashes in byte order of the names', () => {
    const ids = isoIdentifiers([
      { name: 'vmlinuz', isDirectory: false },
      { name: 'initramfs.xz', isDirectory: false },
      { name: 'grub', isDirectory: true },
      { name: 'boot.catalog', isDirectory: false },
      { name: 'Boot.Catalog', isDirectory: false },
      { name: 'x.y.z', isDirectory: true },
    ]);
    expect(Object.fromEntries(ids)).toEqual({
      vmlinuz: 'VMLINUZ.;1',
      'initramfs.xz': 'INITRAMFS.XZ;1',
      grub: 'GRUB',
      'Boot.Catalog': 'BOOT.CATALOG;1',
      'boot.catalog': 'BOOT1.CATALOG;1',
      'x.y.z': 'X_Y_Z',
    });
  });

  it('sort by name, then extension, as ECMA-119 9.3 pads them', () => {
    expect(['A_B.C;1', 'A.B;1', 'A;1', 'AB', 'A.;1'].sort(compareIdentifiers)).toEqual(['A;1', 'A.;1', 'A.B;1', 'AB', 'A_B.C;1']);
  });
});

describe('Talos ISO volume identity (build/iso/volume.ts)', () => {
  it('sets the label-derived volume id and the label as volume set id from 1.8', () => {
    expect(talosIsoLabel('v1.14.0')).toBe('Talos-v1.14.0');
    expect(talosIsoLabel('v1.14.0', true)).toBe('Talos-SB-v1.14.0');
    expect(isoVolumeId('Talos-v1.14.0')).toBe('TALOS_V1_14_0');
    expect(isoVolumeId('Talos-v1.8.0-alpha.2-18-gd739d40')).toBe('TALOS_V1_8_0_ALPHA_2_18_GD739D40');
    expect(isoVolumeId(`Talos-v1.10.0-${'x'.repeat(40)}`)).toHaveLength(32);
    expect(talosIsoVolume('v1.14.0', 1_700_000_000)).toEqual({ volumeId: 'TALOS_V1_14_0', volumeSetId: 'Talos-v1.14.0', date: new Date(1_700_000_000_000) });
    // A pre-release counts as its release; an unparsable version as the newest.
    expect(setsIsoLabel('v1.8.0-alpha.2')).toBe(true);
    expect(setsIsoLabel('not-a-version')).toBe(true);
  });

  it('leaves xorriso defaults before 1.8', () => {
    expect(setsIsoLabel('v1.7.6')).toBe(false);
    expect(talosIsoVolume('v1.7.6', 0)).toEqual({ volumeId: 'ISOIMAGE', volumeSetId: '', date: new Date(0) });
  });
});
