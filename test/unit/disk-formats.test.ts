import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { touchedBlockRuns, touchedBlocks } from '../../src/formats/disk/blocks.js';
import { DiskFormatError } from '../../src/formats/disk/errors.js';
import { bufferDataExtents, fileDataExtents } from '../../src/formats/disk/scan.js';
import {
  type Extent,
  type SparseDisk,
  bytesExtent,
  deferredRegion,
  fileExtent,
  rawDiskStream,
  regionsSettled,
  settledDisk,
  shiftExtents,
  sparseDisk,
  streamableDisk,
  streamExtent,
  writeSparseFile,
} from '../../src/formats/disk/sparse.js';
import { gptExtents, guidFromLabel, planGpt, GPT_TYPE, readGptFile } from '../../src/formats/gpt.js';
import { createOva, renderManifest } from '../../src/formats/ova.js';
import { planQcow2, qcow2Stream } from '../../src/formats/qcow2.js';
import { metaPartitionExtents, readTalosMetaStrings } from '../../src/formats/talos-meta.js';
import { encodeVhdFooter, parseVhdFooter, planVhd, vhdFixedStream, vhdGeometry } from '../../src/formats/vhd.js';
import { vmdkDescriptor, vmdkStream } from '../../src/formats/vmdk.js';
import { MiB, SAMPLE_META, pseudoRandom, pseudoRandomStream, readFileRange, sampleDisk, tempDir, toFile, withPeakRss } from '../helpers/disk-fixtures.js';
import {
  diskToolsSkipReason,
  qemuImgCheck,
  qemuImgCompare,
  qemuImgConvert,
  qemuImgInfo,
  run,
  sha256sums,
  tarExtract,
  tarList,
  vmdkConvertInfo,
  vmdkConvertToRaw,
  vmdkConvertTool,
} from '../helpers/disk-oracle.js';

const GiB = 1024 * MiB;
const skipQemu = diskToolsSkipReason(['qemu-img']);
const skipTar = diskToolsSkipReason(['qemu-img', 'tar', 'sha256sum']);

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir('disk-formats-test-');
});
afterAll(() => tmp.remove());

async function collect(stream: Readable | AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(parts);
}

async function sha256Of(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function sha256File(path: string): Promise<string> {
  return sha256Of(createReadStream(path));
}

function allocatedBytes(path: string): number {
  return statSync(path).blocks * 512;
}

function expectClean(check: ReturnType<typeof qemuImgCheck>): void {
  expect(check.status, JSON.stringify(check.report)).toBe(0);
  expect(check.report['check-errors']).toBe(0);
  expect(check.report['corruptions'] ?? 0).toBe(0);
  expect(check.report['leaks'] ?? 0).toBe(0);
}

describe('SparseDisk', () => {
  it('sorts extents and drops empty ones', () => {
    const disk = sparseDisk(100, [bytesExtent(50, Buffer.from('b')), bytesExtent(10, Buffer.from('a')), bytesExtent(70, Buffer.alloc(0))]);
    expect(disk.extents.map((e) => e.offset)).toEqual([10, 50]);
  });

  it('rejects overlaps, extents past the end and length mismatches', () => {
    expect(() => sparseDisk(100, [bytesExtent(0, Buffer.alloc(10)), bytesExtent(5, Buffer.alloc(10))])).toThrow(/overlaps/);
    expect(() => sparseDisk(100, [bytesExtent(95, Buffer.alloc(10))])).toThrow(/past the disk size/);
    expect(() => sparseDisk(100, [{ offset: 0, length: 5, source: { kind: 'bytes', data: Buffer.alloc(4) } }])).toThrow(DiskFormatError);
    expect(() => sparseDisk(-1, [])).toThrow(DiskFormatError);
    expect(() => sparseDisk(100, [bytesExtent(1.5, Buffer.alloc(1))])).toThrow(DiskFormatError);
  });

  it('streams the raw disk: zeros around the data of every source kind', async () => {
    const file = join(tmp.path, 'src.bin');
    writeFileSync(file, Buffer.from('0123456789'));
    const disk = sparseDisk(40, [
      bytesExtent(2, Buffer.from('ab')),
      fileExtent(10, file, 4, 3),
      streamExtent(20, 5, async function* () {
        yield Buffer.from('xy');
        yield Buffer.from('zzz');
      }),
    ]);
    const expected = Buffer.alloc(40);
    expected.write('ab', 2);
    expected.write('3456', 10);
    expected.write('xyzzz', 20);
    expect(await collect(rawDiskStream(disk))).toEqual(expected);
    // A stream factory is called again on each pass.
    expect(await collect(rawDiskStream(disk))).toEqual(expected);
  });

  it('fails a stream or file source that does not have exactly the extent length', async () => {
    const short = sparseDisk(10, [streamExtent(0, 5, async function* () {
      yield Buffer.from('abc');
    })]);
    await expect(collect(rawDiskStream(short))).rejects.toThrow(/has 3 bytes, expected 5/);
    const long = sparseDisk(10, [streamExtent(0, 2, async function* () {
      yield Buffer.from('abc');
    })]);
    await expect(collect(rawDiskStream(long))).rejects.toThrow(/more than 2 bytes/);
    const file = join(tmp.path, 'short.bin');
    writeFileSync(file, 'abc');
    await expect(collect(rawDiskStream(sparseDisk(10, [fileExtent(0, file, 5)])))).rejects.toThrow(DiskFormatError);
  });

  it('writes a sparse file whose gaps are holes', async () => {
    const path = join(tmp.path, 'sparse.raw');
    const disk = sparseDisk(96 * MiB, [bytesExtent(0, pseudoRandom(1, 4096)), bytesExtent(50 * MiB + 7, pseudoRandom(2, 10_000)), bytesExtent(96 * MiB - 100, Buffer.alloc(100, 1))]);
    await writeSparseFile(disk, path);
    expect(statSync(path).size).toBe(96 * MiB);
    expect(allocatedBytes(path)).toBeLessThan(MiB);
    expect(await sha256File(path)).toBe(await sha256Of(rawDiskStream(disk)));
  });

  it('moves extents by an offset', () => {
    expect(shiftExtents([bytesExtent(5, Buffer.from('a'))], 100).map((e) => e.offset)).toEqual([105]);
  });
});

describe('regions prepared while the disk streams', () => {
  /** A promise of extents and the function that fulfils it. */
  function later(): { content: Promise<Extent[]>; resolve: (extents: Extent[]) => void; reject: (error: Error) => void } {
    let resolve!: (extents: Extent[]) => void;
    let reject!: (error: Error) => void;
    const content = new Promise<Extent[]>((ok, fail) => ((resolve = ok), (reject = fail)));
    return { content, resolve, reject };
  }

  it('streams the bytes before a region at once, waits there, and ends with the same bytes as the settled disk', async () => {
    const part = later();
    const disk = streamableDisk(4 * MiB, [bytesExtent(0, Buffer.from('head')), deferredRegion(MiB, 2 * MiB, part.content), bytesExtent(4 * MiB - 4, Buffer.from('tail'))]);
    const reader = rawDiskStream(disk)[Symbol.asyncIterator]();
    const first = (await reader.next()).value as Buffer;
    expect(first.subarray(0, 4).toString()).toBe('head');
    let waiting = true;
    const next = reader.next().then((r) => ((waiting = false), r));
    await new Promise((r) => setTimeout(r, 50));
    expect(waiting).toBe(true); // the region's bytes are not known yet
    part.resolve([bytesExtent(MiB + 10, Buffer.from('inside'))]);
    const rest = [((await next).value as Buffer)];
    for (let r = await reader.next(); !r.done; r = await reader.next()) rest.push(r.value as Buffer);
    const raw = Buffer.concat([first, ...rest]);
    expect(raw.length).toBe(4 * MiB);
    const settled = await settledDisk(disk);
    expect(settled.extents.map((e) => e.offset)).toEqual([0, MiB + 10, 4 * MiB - 4]);
    expect(raw.equals(await collect(rawDiskStream(settled)))).toBe(true);
    expect(raw.subarray(MiB + 10, MiB + 16).toString()).toBe('inside');
  });

  it("fails the stream when a region fails or its extents leave it; a failure nobody reached is not an unhandled rejection", async () => {
    const failing = later();
    const disk = streamableDisk(2 * MiB, [deferredRegion(0, MiB, failing.content)]);
    failing.reject(new Error('mkfs failed'));
    await expect(collect(rawDiskStream(disk))).rejects.toThrow('mkfs failed');
    const outside = streamableDisk(2 * MiB, [deferredRegion(0, MiB, Promise.resolve([bytesExtent(MiB - 1, Buffer.from('xy'))]))]);
    await expect(settledDisk(outside)).rejects.toThrow(/ends past the end of its region/);
    // Rejected before anyone awaits it: the process must not see an unhandled rejection.
    const unreached = streamableDisk(2 * MiB, [bytesExtent(0, Buffer.from('a')), deferredRegion(MiB, MiB, Promise.reject(new Error('never read')))]);
    await new Promise((r) => setTimeout(r, 10));
    await regionsSettled(unreached);
    expect(() => streamableDisk(MiB, [deferredRegion(0, 2 * MiB, Promise.resolve([]))])).toThrow(DiskFormatError);
  });
});

describe('blocks and scanning', () => {
  it('lists the blocks extents touch, merged', () => {
    const disk = sparseDisk(100_000, [bytesExtent(0, Buffer.alloc(1)), bytesExtent(8191, Buffer.alloc(2)), bytesExtent(40_000, Buffer.alloc(1))]);
    expect(touchedBlockRuns(disk, 8192)).toEqual([
      { first: 0, end: 2 },
      { first: 4, end: 5 },
    ]);
  });

  it('assembles each touched block once, zero-filled', async () => {
    const disk = sparseDisk(100_000, [bytesExtent(8190, Buffer.from('abcd')), bytesExtent(8200, Buffer.from('e'))]);
    const blocks = [];
    for await (const b of touchedBlocks(disk, 8192)) blocks.push(b);
    expect(blocks.map((b) => b.index)).toEqual([0, 1]);
    expect(blocks[0]!.data.subarray(8190).toString()).toBe('ab');
    expect(blocks[1]!.data.subarray(0, 9).toString('latin1')).toBe('cd\0\0\0\0\0\0e');
  });

  it('describes only the non-zero granules of a file', async () => {
    const path = join(tmp.path, 'holey.img');
    const data = Buffer.alloc(3 * MiB);
    data.fill(1, 4096, 8192);
    data.fill(2, 8192, 8200);
    data.fill(3, 2 * MiB + 100, 2 * MiB + 101);
    writeFileSync(path, data);
    const extents = await fileDataExtents(path, { diskOffset: 10 * MiB });
    expect(extents.map((e) => [e.offset - 10 * MiB, e.length])).toEqual([
      [4096, 8192],
      [2 * MiB, 4096],
    ]);
    expect(extents[0]!.source).toEqual({ kind: 'file', path, offset: 4096 });
    const part = await fileDataExtents(path, { fileOffset: 2 * MiB, length: MiB, granularity: 512 });
    expect(part.map((e) => [e.offset, e.length])).toEqual([[0, 512]]);
    const disk = sparseDisk(16 * MiB, extents);
    const raw = await collect(rawDiskStream(disk));
    expect(raw.subarray(10 * MiB, 13 * MiB).equals(data)).toBe(true);
    expect(bufferDataExtents(data, { granularity: 4096 }).map((e) => [e.offset, e.length])).toEqual([
      [4096, 8192],
      [2 * MiB, 4096],
    ]);
    expect(() => bufferDataExtents(data, { granularity: 3000 })).toThrow(DiskFormatError);
  });
});

describe.skipIf(skipQemu)('qcow2', () => {
  let sample: SparseDisk;
  let raw: string;
  beforeAll(async () => {
    sample = sampleDisk(tmp.path).disk;
    raw = join(tmp.path, 'sample.raw');
    await writeSparseFile(sample, raw);
  });

  for (const clusterSize of [8192, 65536, 512]) {
    it(`is clean, complete and identical to the raw disk with ${clusterSize}-byte clusters`, async () => {
      const path = join(tmp.path, `sample-${clusterSize}.qcow2`);
      await toFile(qcow2Stream(sample, { clusterSize }), path);
      expect(statSync(path).size).toBe(planQcow2(sample, { clusterSize }).fileSize);
      expectClean(qemuImgCheck(path, 'qcow2'));
      const info = qemuImgInfo(path, 'qcow2');
      expect(info).toMatchObject({ format: 'qcow2', 'virtual-size': sample.size, 'cluster-size': clusterSize });
      expect(info['format-specific']).toMatchObject({ data: { compat: '1.1', 'refcount-bits': 16, 'compression-type': 'zlib', corrupt: false } });
      const compare = qemuImgCompare(raw, path, 'qcow2');
      expect(compare.status, compare.stdout + compare.stderr).toBe(0);
    });
  }

  it("has the header fields qemu-img's cluster_size=8k conversion has", async () => {
    const ours = join(tmp.path, 'sample-8192.qcow2');
    const theirs = join(tmp.path, 'reference.qcow2');
    qemuImgConvert(raw, theirs, 'qcow2', 'cluster_size=8k');
    const a = readFileRange(ours, 0, 112);
    const b = readFileRange(theirs, 0, 112);
    // magic, version, backing file, cluster bits, size, encryption, L1 size, snapshots, features, refcount order, header length, compression type
    for (const [at, len] of [[0, 36], [36, 4], [56, 0], [60, 12], [72, 40]] as const) expect(a.subarray(at, at + len)).toEqual(b.subarray(at, at + len));
    // Allocated guest data: ours holds every touched cluster, qemu-img drops the all-zero ones.
    expect(statSync(ours).size).toBeLessThan(2 * statSync(theirs).size);
  });

  it('handles a size that is not a whole number of clusters, and an empty disk', async () => {
    const odd = sparseDisk(10 * MiB + 512, [bytesExtent(10 * MiB, pseudoRandom(3, 512)), bytesExtent(5, Buffer.from('x'))]);
    const oddRaw = join(tmp.path, 'odd.raw');
    const oddQcow = join(tmp.path, 'odd.qcow2');
    await writeSparseFile(odd, oddRaw);
    await toFile(qcow2Stream(odd), oddQcow);
    expectClean(qemuImgCheck(oddQcow, 'qcow2'));
    expect(qemuImgInfo(oddQcow, 'qcow2')['virtual-size']).toBe(10 * MiB + 512);
    expect(qemuImgCompare(oddRaw, oddQcow, 'qcow2').status).toBe(0);

    const empty = sparseDisk(64 * MiB, []);
    const emptyQcow = join(tmp.path, 'empty.qcow2');
    await toFile(qcow2Stream(empty), emptyQcow);
    expectClean(qemuImgCheck(emptyQcow, 'qcow2'));
    expect(planQcow2(empty).dataClusters).toBe(0);
    // header, refcount table, refcount block, L1 table
    expect(statSync(emptyQcow).size).toBe(4 * 8192);
  });

  it('grows its refcount structures for a file of many clusters', async () => {
    // 512-byte clusters: one refcount block covers 256 clusters, so 4 MiB of data needs dozens.
    const disk = sparseDisk(64 * MiB, [bytesExtent(MiB, pseudoRandom(9, 4 * MiB))]);
    const layout = planQcow2(disk, { clusterSize: 512 });
    expect(layout.refcountBlocks).toBeGreaterThan(30);
    expect(layout.refcountTableClusters).toBeGreaterThan(0);
    const path = join(tmp.path, 'many.qcow2');
    const rawPath = join(tmp.path, 'many.raw');
    await toFile(qcow2Stream(disk, { clusterSize: 512 }), path);
    await writeSparseFile(disk, rawPath);
    expectClean(qemuImgCheck(path, 'qcow2'));
    expect(qemuImgCompare(rawPath, path, 'qcow2').status).toBe(0);
  });

  it('rejects cluster sizes qcow2 does not allow', () => {
    expect(() => planQcow2(sample, { clusterSize: 3000 })).toThrow(DiskFormatError);
    expect(() => planQcow2(sample, { clusterSize: 4 * MiB })).toThrow(DiskFormatError);
  });
});

describe.skipIf(skipQemu)('vhd', () => {
  let sample: SparseDisk;
  let raw: string;
  beforeAll(async () => {
    sample = sampleDisk(tmp.path).disk;
    raw = join(tmp.path, 'vhd-sample.raw');
    await writeSparseFile(sample, raw);
  });

  it('is byte for byte what qemu-img convert -O vpc -o subformat=fixed,force_size writes, given its timestamp and id', async () => {
    const theirs = join(tmp.path, 'reference.vhd');
    qemuImgConvert(raw, theirs, 'vpc', 'subformat=fixed,force_size');
    const footer = parseVhdFooter(readFileRange(theirs, statSync(theirs).size - 512, 512));
    const options = { timestamp: footer.timestamp, uniqueId: footer.uniqueId };
    expect(encodeVhdFooter(sample.size, options)).toEqual(readFileRange(theirs, statSync(theirs).size - 512, 512));
    expect(await sha256Of(vhdFixedStream(sample, options))).toBe(await sha256File(theirs));
  });

  it('matches qemu-img without force_size too: size rounded up to a CHS geometry', async () => {
    for (const size of [100 * MiB, 256 * MiB, 8 * MiB + 512]) {
      const disk = sparseDisk(size, [bytesExtent(size - 512, Buffer.alloc(512, 7))]);
      const rawPath = join(tmp.path, `chs-${size}.raw`);
      const theirs = join(tmp.path, `chs-${size}.vhd`);
      await writeSparseFile(disk, rawPath);
      qemuImgConvert(rawPath, theirs, 'vpc', 'subformat=fixed');
      const reference = readFileRange(theirs, statSync(theirs).size - 512, 512);
      const footer = parseVhdFooter(reference);
      const options = { forceSize: false, timestamp: footer.timestamp, uniqueId: footer.uniqueId };
      expect(encodeVhdFooter(size, options)).toEqual(reference);
      expect(planVhd(size, { forceSize: false }).fileSize).toBe(statSync(theirs).size);
      expect(await sha256Of(vhdFixedStream(disk, options))).toBe(await sha256File(theirs));
    }
  });

  it('reads back in qemu-img with the exact size and content', async () => {
    const path = join(tmp.path, 'sample.vhd');
    await toFile(vhdFixedStream(sample, { timestamp: 1_700_000_000, uniqueId: guidFromLabel('vhd') }), path);
    expect(statSync(path).size).toBe(sample.size + 512);
    expect(qemuImgInfo(path, 'vpc')).toMatchObject({ format: 'vpc', 'virtual-size': sample.size });
    expect(qemuImgCompare(raw, path, 'vpc').status).toBe(0);
    const footer = parseVhdFooter(readFileRange(path, sample.size, 512));
    expect(footer).toMatchObject({ creatorApp: 'qem2', creatorOs: 'Wi2k', diskType: 2, currentSize: sample.size, originalSize: sample.size, timestamp: 1_700_000_000, checksumValid: true });
    expect(footer.geometry).toEqual({ cylinders: 65535, heads: 16, sectorsPerTrack: 255 });
  });

  it('computes the VHD spec geometry', () => {
    expect(vhdGeometry(204816)).toEqual({ cylinders: 1004, heads: 12, sectorsPerTrack: 17 });
    expect(vhdGeometry(65535 * 16 * 255 + 5)).toEqual({ cylinders: 65535, heads: 16, sectorsPerTrack: 255 });
    expect(() => planVhd(1000)).toThrow(DiskFormatError);
    expect(() => planVhd(2100 * GiB)).toThrow(/2040 GiB/);
  });
});

function vmdkStructure(path: string): { header: Buffer; footer: Buffer; footerMarker: Buffer; eos: Buffer; descriptor: string } {
  const size = statSync(path).size;
  return {
    header: readFileRange(path, 0, 512),
    descriptor: readFileRange(path, 512, 20 * 512).toString('utf8').replace(/\0+$/, ''),
    footerMarker: readFileRange(path, size - 1536, 512),
    footer: readFileRange(path, size - 1024, 512),
    eos: readFileRange(path, size - 512, 512),
  };
}

describe.skipIf(skipQemu)('stream-optimized vmdk', () => {
  let sample: SparseDisk;
  let raw: string;
  let path: string;
  beforeAll(async () => {
    sample = sampleDisk(tmp.path).disk;
    raw = join(tmp.path, 'vmdk-sample.raw');
    path = join(tmp.path, 'sample.vmdk');
    await writeSparseFile(sample, raw);
    await toFile(vmdkStream(sample), path);
  });

  it('is clean and identical to the raw disk in qemu-img', () => {
    expectClean(qemuImgCheck(path, 'vmdk'));
    const info = qemuImgInfo(path, 'vmdk');
    expect(info).toMatchObject({ format: 'vmdk', 'virtual-size': sample.size, 'cluster-size': 65536 });
    expect(info['format-specific']).toMatchObject({ data: { 'create-type': 'streamOptimized', extents: [{ compressed: true, 'virtual-size': sample.size }] } });
    const compare = qemuImgCompare(raw, path, 'vmdk');
    expect(compare.status, compare.stdout + compare.stderr).toBe(0);
  });

  it('has the streaming layout: GD at the end, footer, end-of-stream marker', () => {
    const s = vmdkStructure(path);
    expect(s.header.subarray(0, 4).toString('latin1')).toBe('KDMV');
    expect(s.header.readUInt32LE(4)).toBe(3);
    expect(s.header.readUInt32LE(8)).toBe(0x30001);
    expect(s.header.readBigUInt64LE(12)).toBe(BigInt(sample.size / 512));
    expect(s.header.readBigUInt64LE(56)).toBe(0xffffffffffffffffn);
    expect(s.header.readUInt16LE(77)).toBe(1);
    expect(s.footerMarker.readBigUInt64LE(0)).toBe(1n);
    expect(s.footerMarker.readUInt32LE(12)).toBe(3);
    expect(s.footer.subarray(0, 56)).toEqual(s.header.subarray(0, 56));
    const gd = Number(s.footer.readBigUInt64LE(56));
    expect(readFileRange(path, (gd - 1) * 512, 512).readUInt32LE(12)).toBe(2);
    expect(s.eos.every((b) => b === 0)).toBe(true);
    expect(statSync(path).size % 512).toBe(0);
    expect(s.descriptor).toContain('createType="streamOptimized"');
    expect(s.descriptor).toContain(`RW ${sample.size / 512} SPARSE "disk.vmdk"`);
  });

  it('is reproducible, and stores no grains for zero data', async () => {
    expect(await sha256Of(vmdkStream(sample))).toBe(await sha256File(path));
    const zeros = sparseDisk(64 * MiB, [bytesExtent(MiB, Buffer.alloc(4 * MiB))]);
    const bytes = await collect(vmdkStream(zeros));
    // header + descriptor area, GD marker + GD, footer marker + footer, EOS
    expect(bytes.length).toBe((128 + 2 + 3) * 512);
    const zerosPath = join(tmp.path, 'zeros.vmdk');
    writeFileSync(zerosPath, bytes);
    expectClean(qemuImgCheck(zerosPath, 'vmdk'));
    expect(run('qemu-img', ['compare', '-f', 'vmdk', zerosPath, '-F', 'raw', raw]).status).toBe(1);
  });

  it("reads back byte for byte in VMware's open-vmdk (vmdk-convert, when built locally)", async (ctx) => {
    const tool = vmdkConvertTool();
    if (!tool) return ctx.skip();
    expect(vmdkConvertInfo(tool, path).capacity).toBe(sample.size);
    const back = join(tmp.path, 'vmdk-convert-back.raw');
    vmdkConvertToRaw(tool, path, back);
    expect(await sha256File(back)).toBe(await sha256File(raw));
  });

  it('writes the descriptor fields vmdk-convert writes', () => {
    const text = vmdkDescriptor(sample, { cid: 0x1234abcd, longContentId: 'ab'.repeat(16), sectorSize: 4096 });
    expect(text).toMatch(/^# Disk DescriptorFile\nversion=1\nencoding="UTF-8"\nCID=1234abcd\nparentCID=ffffffff\ncreateType="streamOptimized"\n/);
    for (const line of ['ddb.adapterType = "lsilogic"', 'ddb.geometry.heads = "255"', 'ddb.geometry.sectors = "63"', `ddb.geometry.cylinders = "${Math.ceil(sample.size / 512 / (255 * 63))}"`, 'ddb.toolsVersion = "2147483647"', 'ddb.logicalSectorSize = "4096"', `ddb.longContentID = "${'ab'.repeat(16)}"`]) {
      expect(text).toContain(line);
    }
  });
});

describe.skipIf(skipTar)('ova', () => {
  it('packs disk.ovf, disk.mf and disk.vmdk in that order, with a manifest sha256sum agrees with', async () => {
    const { disk } = sampleDisk(tmp.path);
    const raw = join(tmp.path, 'ova.raw');
    await writeSparseFile(disk, raw);
    const ova = join(tmp.path, 'sample.ova');
    await toFile(
      await createOva(disk, {
        ovf: { name: 'talos', product: { info: 'Talos Virtual Appliance', properties: [{ key: 'talos.config', label: 'Talos config data', description: 'Inline Talos config' }] }, extraConfig: { nvram: 'talos.nvram', 'disk.EnableUUID': 'true' } },
      }),
      ova,
    );
    const listing = tarList(ova);
    expect(listing.map((e) => e.name)).toEqual(['disk.ovf', 'disk.mf', 'disk.vmdk']);
    expect(listing.every((e) => e.mode === '-rw-r--r--' && e.owner === 'root/root')).toBe(true);

    const dir = join(tmp.path, 'ova-x');
    run('mkdir', ['-p', dir]);
    tarExtract(ova, dir);
    const sums = sha256sums(dir, ['disk.vmdk', 'disk.ovf']);
    const manifest = readFileSync(join(dir, 'disk.mf'), 'utf8');
    expect(manifest).toBe(renderManifest([
      { name: 'disk.vmdk', sha256: sums.get('disk.vmdk')! },
      { name: 'disk.ovf', sha256: sums.get('disk.ovf')! },
    ]));
    expect(manifest).toMatch(/^SHA256\(disk\.vmdk\)= [0-9a-f]{64}\nSHA256\(disk\.ovf\)= [0-9a-f]{64}\n$/);

    const vmdkSize = statSync(join(dir, 'disk.vmdk')).size;
    expect(listing[2]!.size).toBe(vmdkSize);
    const ovfFacts = run('python3', ['-c', [
      'import sys, xml.etree.ElementTree as E',
      'ns = {"o": "http://schemas.dmtf.org/ovf/envelope/1"}',
      'r = E.parse(sys.argv[1]).getroot()',
      'a = lambda e, k: e.get("{http://schemas.dmtf.org/ovf/envelope/1}" + k)',
      'f = r.find("o:References/o:File", ns); d = r.find("o:DiskSection/o:Disk", ns); p = r.find(".//o:Property", ns)',
      'print(a(f, "href"), a(f, "size"), a(d, "capacity"), a(p, "key"), r.find(".//o:VirtualHardwareSection", ns).get("{http://schemas.dmtf.org/ovf/envelope/1}transport"))',
    ].join('\n'), join(dir, 'disk.ovf')]);
    expect(ovfFacts.status, ovfFacts.stderr).toBe(0);
    expect(ovfFacts.stdout.trim()).toBe(`disk.vmdk ${vmdkSize} ${disk.size / MiB} talos.config com.vmware.guestInfo`);
    const ovf = readFileSync(join(dir, 'disk.ovf'), 'utf8');
    for (const fact of ['<vssd:VirtualSystemType>vmx-15</vssd:VirtualSystemType>', 'vmw:osType="other3xLinux64Guest"', '<rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType>', '<rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>', 'vmw:key="disk.EnableUUID" vmw:value="true"', 'vmw:key="nvram" vmw:value="talos.nvram"']) {
      expect(ovf).toContain(fact);
    }

    expectClean(qemuImgCheck(join(dir, 'disk.vmdk'), 'vmdk'));
    expect(qemuImgCompare(raw, join(dir, 'disk.vmdk'), 'vmdk').status).toBe(0);
  });

  it('fails rather than carry a wrong manifest when the disk changes between passes', async () => {
    let pass = 0;
    const disk = sparseDisk(16 * MiB, [streamExtent(0, MiB, async function* () {
      yield pseudoRandom(++pass, MiB);
    })]);
    await expect(collect(await createOva(disk, { ovf: { name: 'x' } }))).rejects.toThrow(/changed between passes/);
  });
});

describe.skipIf(skipQemu)('an 8 GiB disk', () => {
  it('streams to qcow2, vmdk and a sparse raw file in bounded memory, with small outputs', async () => {
    const size = 8 * GiB;
    const layout = planGpt({
      size,
      diskGuid: guidFromLabel('talos-image-disk'),
      partitions: [
        { name: 'EFI', type: GPT_TYPE.efiSystem, size: 2101 * MiB },
        { name: 'BOOT', type: GPT_TYPE.linuxFilesystem, size: 2000 * MiB },
        { name: 'META', type: GPT_TYPE.linuxFilesystem, size: MiB },
        { name: 'DATA', type: GPT_TYPE.linuxFilesystem, size: 'rest' },
      ],
    });
    const [efi, boot, meta, data] = layout.partitions;
    const file = join(tmp.path, 'big-payload.bin');
    writeFileSync(file, pseudoRandom(11, 8 * MiB));
    const disk = sparseDisk(size, [
      ...gptExtents(layout),
      bytesExtent(efi!.offset, pseudoRandom(12, 2 * MiB)),
      streamExtent(boot!.offset + 3 * MiB, 24 * MiB, pseudoRandomStream(13, 24 * MiB)),
      fileExtent(data!.offset + GiB, file, 8 * MiB),
      bytesExtent(size - 3 * MiB, pseudoRandom(14, MiB)),
      ...metaPartitionExtents(SAMPLE_META, meta!.offset),
    ]);
    const raw = join(tmp.path, 'big.raw');
    const qcow = join(tmp.path, 'big.qcow2');
    const vmdk = join(tmp.path, 'big.vmdk');
    const { peakDelta } = await withPeakRss(async () => {
      await writeSparseFile(disk, raw);
      await toFile(qcow2Stream(disk), qcow);
      await toFile(vmdkStream(disk, { compressionLevel: 1 }), vmdk);
    });
    console.log(`8 GiB disk: peak RSS growth ${(peakDelta / MiB).toFixed(1)} MiB`);
    expect(peakDelta).toBeLessThan(160 * MiB);
    expect(statSync(raw).size).toBe(size);
    expect(allocatedBytes(raw)).toBeLessThan(64 * MiB);
    expect(statSync(qcow).size).toBeLessThan(64 * MiB);
    expect(statSync(vmdk).size).toBeLessThan(64 * MiB);

    expectClean(qemuImgCheck(qcow, 'qcow2'));
    expectClean(qemuImgCheck(vmdk, 'vmdk'));
    expect(qemuImgInfo(qcow, 'qcow2')['virtual-size']).toBe(size);
    expect(qemuImgCompare(raw, qcow, 'qcow2').status).toBe(0);
    expect(qemuImgCompare(raw, vmdk, 'vmdk').status).toBe(0);

    const table = await readGptFile(raw);
    expect(table.partitions.map((p) => p.name)).toEqual(['EFI', 'BOOT', 'META', 'DATA']);
    expect(readTalosMetaStrings(readFileRange(raw, meta!.offset, meta!.size))).toEqual(new Map(SAMPLE_META.map((v) => [v.key, v.value as string])));
  });
});
