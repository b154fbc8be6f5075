// The sparse tar.gz member judged by GNU tar itself: for a disk whose data
// sits in whole 4 KiB blocks (what GNU tar's hole detection sees in a sparse
// file), our archive is byte for byte what `tar --sparse` (default GNU
// format) writes with Talos' imager flags; past 8 GiB the base-256 fields
// agree too; and GNU tar extracts it to the same bytes with the holes kept.

import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Extent, type SparseDisk, bytesExtent, sparseDisk, writeSparseFile } from '../../src/formats/disk/sparse.js';
import { sparseTarStream } from '../../src/formats/sparse-tar.js';
import { MiB, pseudoRandom, tempDir, toFile } from '../helpers/disk-fixtures.js';
import { diskToolsSkipReason } from '../helpers/disk-oracle.js';

const SKIP = diskToolsSkipReason(['tar']);
const KiB4 = 4096;
const GiB = 1024 * MiB;
let tmp: ReturnType<typeof tempDir>;

beforeAll(() => {
  tmp = tempDir('sparse-tar-test-');
});
afterAll(() => tmp.remove());

/** Non-zero 4 KiB blocks at the given block numbers (adjacent ones form one run). */
function blocksDisk(size: number, blocks: readonly number[]): SparseDisk {
  const extents: Extent[] = blocks.map((b, i) => bytesExtent(b * KiB4, Buffer.from(pseudoRandom(i + 1, KiB4).map((x) => x | 1))));
  return sparseDisk(size, extents);
}

/** GNU tar's archive of the same disk as a sparse file named disk.raw, with the imager's flags. */
async function gnuTar(disk: SparseDisk, name: string): Promise<Buffer> {
  const dir = join(tmp.path, name);
  execFileSync('mkdir', ['-p', dir]);
  await writeSparseFile(disk, join(dir, 'disk.raw'));
  return execFileSync('tar', ['-cf', '-', '-C', dir, '--sparse', '--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@1700000000', 'disk.raw'], {
    maxBuffer: 64 * MiB,
  });
}

async function ours(disk: SparseDisk, name: string): Promise<string> {
  const file = join(tmp.path, `${name}.tar`);
  await toFile(sparseTarStream('disk.raw', disk, { mtime: 1700000000 }), file);
  return file;
}

describe.skipIf(SKIP !== undefined)('sparse tar (GNU format)', () => {
  const cases: [string, SparseDisk][] = [
    ['three runs, ending in a hole', blocksDisk(64 * MiB, [1, 2, 100, 5000])],
    // 4 runs in the header, then two extension blocks (21 runs each) and a third.
    ['50 runs, ending in data', blocksDisk(16 * MiB, [...Array.from({ length: 49 }, (_, i) => i * 3), 16 * 256 - 1])],
    // Offsets and the real size from 8 GiB on need the base-256 form.
    ['a 9 GiB disk with data past 8 GiB', blocksDisk(9 * GiB, [0, (8 * GiB) / KiB4 + 7, (9 * GiB) / KiB4 - 1])],
  ];
  for (const [what, disk] of cases) {
    it(`is byte for byte GNU tar's: ${what}`, async () => {
      const name = what.replace(/\W+/g, '-');
      const file = await ours(disk, name);
      expect(readFileSync(file).equals(await gnuTar(disk, name))).toBe(true);
    });
  }

  it('extracts with GNU tar to the disk, holes kept', async () => {
    const disk = blocksDisk(64 * MiB, [0, 7, 8, 9000]);
    const file = await ours(disk, 'extract');
    const dir = join(tmp.path, 'extracted');
    execFileSync('mkdir', ['-p', dir]);
    execFileSync('tar', ['-xf', file, '-C', dir]);
    const expected = join(tmp.path, 'expected.raw');
    await writeSparseFile(disk, expected);
    execFileSync('cmp', [expected, join(dir, 'disk.raw')]);
    expect(statSync(join(dir, 'disk.raw')).blocks * 512).toBeLessThan(MiB);
  });
});
