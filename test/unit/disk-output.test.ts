// writeDiskImage: the uncompressed raw disk and fixed VHD land as sparse
// files with the same bytes the streams give (qemu-img reads the VHD as the
// raw disk), and the other outputs are the streams written out.

import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
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
    it(`writes an uncompressed ${format} sparse, with the stream's bytes`, async () => {
      const options = { format, compression: 'none', sourceDateEpoch: 0 } as const;
      const path = join(tmp.path, `disk.${format}`);
      await writeDiskImage(disk, options, path);
      expect(allocated(path)).toBeLessThan(64 * MiB);
      expect(await sha256(createReadStream(path))).toBe(await sha256(await diskImageStream(disk, options)));
      expect(qemuImgCompare(raw, path, format === 'vhd' ? 'vpc' : 'raw').status).toBe(0);
    });
  }

  it('writes other outputs as their streams', async () => {
    const options = { format: 'qcow2', compression: 'none', sourceDateEpoch: 0 } as const;
    const path = join(tmp.path, 'disk.qcow2');
    await writeDiskImage(disk, options, path);
    expect(qemuImgCheck(path, 'qcow2').status).toBe(0);
    expect(qemuImgCompare(raw, path, 'qcow2').status).toBe(0);
  });
});
