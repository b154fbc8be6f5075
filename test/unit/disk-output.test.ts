// writeDiskImage: the uncompressed raw disk and fixed VHD land as sparse
// files with the same bytes the streams give (qemu-img reads the VHD as the
// raw disk), the other outputs are the streams written out, a compressed image
// is two frames that zstd, xz and gzip read as the one image, and a `.tar.gz`
// holds the image of any format as `disk.raw` (GNU tar reads it back).

import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { createReadStream, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diskImageStream, writeDiskImage } from '../../src/build/disk/output.js';
import { type SparseDisk, writeSparseFile } from '../../src/formats/disk/sparse.js';
import { MiB, sampleDisk, tempDir } from '../helpers/disk-fixtures.js';
import { diskToolsSkipReason, qemuImgCheck, qemuImgCompare } from '../helpers/disk-oracle.js';

const SKIP = diskToolsSkipReason(['qemu-img']);
let tmp: ReturnType<typeof tempDir>;
let disk: SparseDisk;
let raw: string;

beforeAll(async () => {
  tmp = tempDir('disk-output-test-');
  // 512 MiB with a few MiB of data: a copy that is not sparse would show.
  disk = sampleDisk(tmp.path, { size: 512 * MiB }).disk;
  raw = join(tmp.path, 'reference.raw');
  await writeSparseFile(disk, raw);
});
afterAll(() => tmp.remove());

async function sha256(stream: Readable): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

const allocated = (path: string) => statSync(path).blocks * 512;

describe.skipIf(SKIP !== undefined)('writeDiskImage', () => {
  for (const format of ['raw', 'vhd'] as const) {
    it(`writes an uncompressed ${format === 'vhd' ? 'fixed VHD' : format} sparse, with the stream's bytes`, async () => {
      const options = { format, formatOptions: format === 'vhd' ? 'subformat=fixed,force_size' : '', compression: 'none', sourceDateEpoch: 0 } as const;
      const path = join(tmp.path, `disk.${format}`);
      await writeDiskImage(disk, options, path);
      expect(allocated(path)).toBeLessThan(64 * MiB);
      expect(await sha256(createReadStream(path))).toBe(await sha256(await diskImageStream(disk, options)));
      expect(qemuImgCompare(raw, path, format === 'vhd' ? 'vpc' : 'raw').status).toBe(0);
    });
  }

  it("writes a dynamic VHD (qemu-img's default subformat) byte for byte as qemu-img does, but for its time and random id", async () => {
    const path = join(tmp.path, 'dynamic.vhd');
    await writeDiskImage(disk, { format: 'vhd', compression: 'none', sourceDateEpoch: 0 }, path);
    expect(qemuImgCompare(raw, path, 'vpc').status).toBe(0);
    expect(allocated(path)).toBeLessThan(64 * MiB);

    const theirs = join(tmp.path, 'qemu-dynamic.vhd');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', raw, theirs]);
    // Byte for byte, BAT and blocks included, but for what qemu-img makes up in both footer copies:
    // the creation time (24..27), the checksum and the random unique id (64..83).
    const masked = (file: string) => {
      const bytes = readFileSync(file);
      for (const footer of [0, bytes.length - 512]) bytes.fill(0, footer + 24, footer + 28).fill(0, footer + 64, footer + 84);
      return bytes;
    };
    const [ours, qemu] = [masked(path), masked(theirs)];
    expect(ours.length).toBe(qemu.length);
    expect(ours.equals(qemu)).toBe(true);
    expect(ours.readUInt32BE(60)).toBe(3);
  });

  it('writes other outputs as their streams', async () => {
    const options = { format: 'qcow2', compression: 'none', sourceDateEpoch: 0 } as const;
    const path = join(tmp.path, 'disk.qcow2');
    await writeDiskImage(disk, options, path);
    expect(qemuImgCheck(path, 'qcow2').status).toBe(0);
    expect(qemuImgCompare(raw, path, 'qcow2').status).toBe(0);
  });

  it('compresses an image as two frames, its first MiB then the rest, which the real tools read as the one image, reproducibly', async () => {
    const decompress: Record<'zst' | 'xz' | 'gz', string[]> = { zst: ['zstd', '-d', '-q', '-c'], xz: ['xz', '-d', '-c'], gz: ['gzip', '-d', '-c'] };
    const reference = await sha256(createReadStream(raw));
    for (const compression of ['zst', 'xz', 'gz'] as const) {
      const path = join(tmp.path, `disk.raw.${compression}`);
      await writeDiskImage(disk, { format: 'raw', compression, sourceDateEpoch: 0 }, path);
      const again = join(tmp.path, `again.raw.${compression}`);
      await writeDiskImage(disk, { format: 'raw', compression, sourceDateEpoch: 0 }, again);
      expect(readFileSync(again).equals(readFileSync(path))).toBe(true);
      const [tool, ...args] = decompress[compression];
      const whole = execFileSync('bash', ['-c', `${tool} ${args.join(' ')} "$1" | sha256sum`, '-', path], { encoding: 'utf8' });
      expect(whole.split(' ')[0]).toBe(reference);
      // The first frame alone is the image's first MiB: cut the file where the second frame starts.
      const bytes = readFileSync(path);
      const magic = { zst: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), xz: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), gz: Buffer.from([0x1f, 0x8b, 0x08]) }[compression];
      const firstFrame = bytes.subarray(0, bytes.indexOf(magic, 1));
      const head = execFileSync(tool!, [...args.filter((a) => a !== '-c'), '-c'], { input: firstFrame, maxBuffer: 4 * MiB });
      expect(head.equals(readFileSync(raw).subarray(0, MiB))).toBe(true);
    }
    expect(spawnSync('zstd', ['-l', '-v', join(tmp.path, 'disk.raw.zst')], { encoding: 'utf8' }).stdout).toContain('# Zstandard Frames: 2');
  });

  for (const format of ['raw', 'qcow2', 'vhd', 'ova'] as const) {
    it(`packs a ${format} image as disk.raw in a .tar.gz, as upstream renames it before tarring`, async () => {
      const path = join(tmp.path, `${format}.tar.gz`);
      await writeDiskImage(disk, { format, compression: 'tar.gz', sourceDateEpoch: 1_559_424_892 }, path);
      const listing = execFileSync('tar', ['-tvzf', path, '--numeric-owner', '--full-time'], { encoding: 'utf8' });
      expect(listing).toMatch(/^-rw-r--r-- 0\/0 .* 2019-06-01 21:34:52 disk\.raw\n$/);
      const out = join(tmp.path, `untar-${format}`);
      mkdirSync(out);
      execFileSync('tar', ['-xzf', path, '-C', out]);
      const member = join(out, 'disk.raw');
      if (format === 'ova') {
        expect(execFileSync('tar', ['-tf', member], { encoding: 'utf8' })).toBe('disk.ovf\ndisk.mf\ndisk.vmdk\n');
      } else {
        expect(qemuImgCompare(raw, member, format === 'vhd' ? 'vpc' : format).status).toBe(0);
      }
      // Holes stay holes where the image has them (the raw disk and the fixed VHD).
      if (format === 'raw' || format === 'vhd') expect(allocated(member)).toBeLessThan(64 * MiB);
    });
  }
});
