// The .xz container written around LZMA2 data from the worker threads, judged
// by xz-utils itself: `xz -t` accepts every stream, `xz -dc` gives the input
// back, `xz --robot -lvv` reports one block, CRC32, and the dictionary asked for.

import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lzma2DictionaryByte } from '../../src/formats/xz-stream.js';
import { xzCompressor } from '../../src/formats/squashfs/codec-xz.js';
import { workBlock } from '../../src/formats/squashfs/block-workers.js';
import { skipUnlessCi } from '../helpers/tool-skip.js';

const SKIP = skipUnlessCi(spawnSync('xz', ['--version'], { stdio: 'ignore' }).error ? 'xz is not installed (apt-get install xz-utils)' : undefined);
const WORK = mkdtempSync(join(tmpdir(), 'xz-stream-test-'));
afterAll(() => rmSync(WORK, { recursive: true, force: true }));

describe('LZMA2 dictionary size byte', () => {
  it('encodes exact sizes and rounds others up', () => {
    const size = (byte: number) => (2 | (byte & 1)) * 2 ** ((byte >> 1) + 11);
    for (const exact of [4096, 6144, 8192, 65536, 131072, 1 << 20]) expect(size(lzma2DictionaryByte(exact))).toBe(exact);
    expect(size(lzma2DictionaryByte(100_000))).toBe(131072);
    expect(size(lzma2DictionaryByte(1))).toBe(4096);
  });
});

/** The whole .xz stream of a block, even where the image would store the block uncompressed. */
async function xzOf(data: Buffer, blockSize: number): Promise<Buffer> {
  const compressor = xzCompressor(blockSize);
  const worked = await workBlock([{ data }], compressor.method, false);
  if (worked.hole) throw new Error('no hole check was asked for');
  return compressor.frame!(worked.packed!, { size: worked.size, crc32: worked.crc32 });
}

describe.skipIf(SKIP !== undefined)('xz streams of squashfs blocks, read by xz-utils', () => {
  const text = Buffer.from('squashfs block '.repeat(9000));
  const cases: Array<[string, Buffer, number]> = [
    ['empty', Buffer.alloc(0), 4096],
    ['tiny', Buffer.from('x'), 4096],
    ['text, 128 KiB dictionary', text.subarray(0, 131072), 131072],
    ['random (incompressible)', randomBytes(70_001), 131072],
    ['zeros, 1 MiB', Buffer.alloc(1 << 20), 1 << 20],
  ];
  it.each(cases)('%s', async (name, data, blockSize) => {
    const stream = await xzOf(data, blockSize);
    const file = join(WORK, `${name.replace(/\W+/g, '-')}.xz`);
    writeFileSync(file, stream);
    expect(spawnSync('xz', ['-t'], { input: stream }).status).toBe(0);
    expect(execFileSync('xz', ['-dc'], { input: stream, maxBuffer: 1 << 22 }).equals(data)).toBe(true);
    const listing = execFileSync('xz', ['--robot', '-lvv', file], { encoding: 'utf8' }).split('\n');
    const blocks = listing.filter((line) => line.startsWith('block\t')).map((line) => line.split('\t'));
    expect(blocks).toHaveLength(1);
    expect(blocks[0]![9]).toBe('CRC32');
    expect(listing.find((line) => line.startsWith('block\t'))).toContain(`--lzma2=dict=${blockSize >= 1 << 20 ? `${blockSize >> 20}MiB` : `${blockSize >> 10}KiB`}`);
  });

  it('writes the same bytes every time, whatever runs in parallel', async () => {
    const blocks = Array.from({ length: 8 }, (_, i) => text.subarray(i * 1000, i * 1000 + 100_000));
    const first = await Promise.all(blocks.map((b) => xzOf(b, 131072)));
    const second = await Promise.all(blocks.reverse().map((b) => xzOf(b, 131072)));
    expect(second.reverse().map((b) => b.toString('hex'))).toEqual(first.map((b) => b.toString('hex')));
  });
});
