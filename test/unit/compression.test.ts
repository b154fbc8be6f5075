import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { type Codec, compressStream, decompressStream, detectCodec, peekCodec } from '../../src/formats/compression.js';

const scratch = mkdtempSync(join(tmpdir(), 'compression-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Compressible but not trivial: random words, so every codec has work to do. */
function sample(bytes: number): Buffer {
  const words = Array.from({ length: 512 }, (_, i) => randomBytes(1 + (i % 8)).toString('hex'));
  const picks = randomBytes(bytes);
  const parts: string[] = [];
  for (let i = 0, length = 0; length < bytes; i += 2) {
    const word = words[picks.readUInt16LE(i % (bytes - 1)) % words.length]!;
    parts.push(word);
    length += word.length + 1;
  }
  return Buffer.from(parts.join(' ')).subarray(0, bytes);
}

async function* chunked(bytes: Buffer, size = 65536): AsyncGenerator<Buffer> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function through(bytes: Buffer, stream: Duplex): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunked(bytes)), stream, async (chunks: AsyncIterable<Buffer>) => {
    for await (const chunk of chunks) out.push(chunk);
  });
  return Buffer.concat(out);
}

function cliTest(codec: Exclude<Codec, 'none'>, compressed: Buffer): void {
  const path = join(scratch, `t.${codec}`);
  writeFileSync(path, compressed);
  const command = { gzip: 'gzip', zstd: 'zstd', xz: 'xz' }[codec];
  execFileSync(command, ['-t', '-q', path]); // throws on a non-zero exit
}

describe('detectCodec', () => {
  it('recognises each magic and nothing else', () => {
    expect(detectCodec(Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0]))).toBe('gzip');
    expect(detectCodec(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x24, 0]))).toBe('zstd');
    expect(detectCodec(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))).toBe('xz');
    expect(detectCodec(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a]))).toBe('none'); // too short to be sure
    expect(detectCodec(Buffer.from('usr/\0\0\0\0'))).toBe('none');
    expect(detectCodec(Buffer.alloc(0))).toBe('none');
  });
});

describe.each(['gzip', 'zstd', 'xz', 'none'] as const)('%s streams', (codec) => {
  it('round-trip 1 MiB through compress and decompress, and detectCodec names the output', async () => {
    const input = sample(1 << 20);
    const compressed = await through(input, compressStream(codec));
    if (codec !== 'none') expect(compressed.length).toBeLessThan(input.length * 0.8);
    expect(detectCodec(compressed)).toBe(codec);
    expect((await through(compressed, decompressStream(codec))).equals(input)).toBe(true);
  });

  it.skipIf(codec === 'none')('writes what the reference tool accepts and reads what it writes', async () => {
    const input = sample(300_000);
    const ours = await through(input, compressStream(codec, { level: 1 }));
    cliTest(codec as Exclude<Codec, 'none'>, ours);
    const command = { gzip: 'gzip', zstd: 'zstd', xz: 'xz', none: '' }[codec];
    const theirs = execFileSync(command, ['-c', '-q'], { input });
    expect((await through(theirs, decompressStream(codec))).equals(input)).toBe(true);
  });

  it('handles empty input', async () => {
    const compressed = await through(Buffer.alloc(0), compressStream(codec));
    expect((await through(compressed, decompressStream(codec))).length).toBe(0);
  });
});

describe('compressStream options', () => {
  it('xz uses the CRC32 check unless crc64 is asked for', async () => {
    const input = sample(50_000);
    const listCheck = async (compressed: Buffer): Promise<string> => {
      const path = join(scratch, 'check.xz');
      writeFileSync(path, compressed);
      const robot = execFileSync('xz', ['--robot', '--list', path]).toString();
      // The "file" line: file, streams, blocks, compressed, uncompressed, ratio, check, ...
      return robot.split('\n').find((line) => line.startsWith('file\t'))!.split('\t')[6]!;
    };
    expect(await listCheck(await through(input, compressStream('xz')))).toBe('CRC32');
    expect(await listCheck(await through(input, compressStream('xz', { xzCheck: 'crc32' })))).toBe('CRC32');
    expect(await listCheck(await through(input, compressStream('xz', { xzCheck: 'crc64' })))).toBe('CRC64');
  });

  it('gzip output is reproducible: mtime 0 in the header, same bytes every time', async () => {
    const input = sample(100_000);
    const a = await through(input, compressStream('gzip', { level: 9 }));
    const b = await through(input, compressStream('gzip', { level: 9 }));
    expect(a.equals(b)).toBe(true);
    expect(a.readUInt32LE(4)).toBe(0);
  });

  it.each(['zstd', 'xz'] as const)('%s output does not depend on the thread count, and reads back whole', async (codec) => {
    // Several xz -0 blocks (768 KiB each) and zstd -1 jobs (2 MiB each), so threads really split the work.
    const input = sample(codec === 'xz' ? 3 << 20 : 8 << 20);
    const level = codec === 'xz' ? 0 : 1;
    const one = await through(input, compressStream(codec, { level, threads: 1 }));
    const two = await through(input, compressStream(codec, { level, threads: 2 }));
    expect(one.equals(two)).toBe(true);
    expect((await through(two, decompressStream(codec))).equals(input)).toBe(true);
  });

  it('zstd with the input size known writes it into the frame (with the content checksum) and fails on another length', async () => {
    const input = sample(20_000);
    const compressed = await through(input, compressStream('zstd', { level: 18, inputSize: input.length }));
    cliTest('zstd', compressed);
    const listing = execFileSync('zstd', ['-lv', join(scratch, 't.zstd')]).toString();
    expect(listing).toMatch(new RegExp(`Decompressed Size: .*\\(${input.length} B\\)`));
    expect(listing).toMatch(/Check: XXH64/);
    await expect(through(input, compressStream('zstd', { level: 18, inputSize: input.length - 1 }))).rejects.toThrow(/zstd .*failed/);
  });

  it('rejects levels a codec does not have', () => {
    expect(() => compressStream('gzip', { level: 10 })).toThrow(RangeError);
    expect(() => compressStream('zstd', { level: 0 })).toThrow(RangeError);
    expect(() => compressStream('xz', { level: 1.5 })).toThrow(RangeError);
    expect(() => compressStream('xz', { threads: -1 })).toThrow(RangeError);
  });

  it('zstd levels above 19 work (they need --ultra)', async () => {
    const input = sample(20_000);
    const compressed = await through(input, compressStream('zstd', { level: 20 }));
    cliTest('zstd', compressed);
  });
});

describe('errors', () => {
  it('corrupt input makes the stream fail with a message naming the codec (a tool\'s: its stderr)', async () => {
    await expect(through(Buffer.from('this is not zstd data at all'), decompressStream('zstd'))).rejects.toThrow(/^zstd: Unknown frame descriptor/);
    await expect(through(Buffer.from('this is not xz data at all'), decompressStream('xz'))).rejects.toThrow(/xz -d .*failed \(exit status 1\).*File format not recognized/);
  });

  it('a truncated stream fails rather than ending short', async () => {
    const compressed = await through(sample(200_000), compressStream('xz'));
    await expect(through(compressed.subarray(0, compressed.length - 20), decompressStream('xz'))).rejects.toThrow(/xz/);
    const zstd = await through(sample(200_000), compressStream('zstd'));
    await expect(through(zstd.subarray(0, zstd.length - 20), decompressStream('zstd'))).rejects.toThrow(/zstd/);
  });

  it('a missing tool names the Debian package to install', async () => {
    const path = process.env.PATH;
    process.env.PATH = join(scratch, 'empty-path');
    try {
      await expect(through(Buffer.from('x'), compressStream('xz'))).rejects.toThrow(/xz command is not installed.*xz-utils/);
      await expect(through(Buffer.from('x'), decompressStream('xz'))).rejects.toThrow(/xz command is not installed.*xz-utils/);
    } finally {
      process.env.PATH = path;
    }
  });

  it('a consumer that stops early does not leave the stream hanging', async () => {
    const compressed = await through(sample(2 << 20), compressStream('zstd'));
    const stream = decompressStream('zstd');
    Readable.from(chunked(compressed)).pipe(stream);
    const closed = new Promise((resolve) => stream.once('close', resolve));
    for await (const _chunk of stream) break; // destroys the stream (a CLI's: kills the process)
    await closed;
    expect(stream.destroyed).toBe(true);
  });
});

describe('peekCodec', () => {
  it('detects the codec and replays every byte, for inputs of any size', async () => {
    for (const input of [Buffer.alloc(0), Buffer.from([0x1f]), Buffer.from([0x1f, 0x8b, 1, 2, 3, 4, 5]), sample(200_000)]) {
      const source = Readable.from(chunked(input, 3));
      const { codec, stream } = await peekCodec(source);
      expect(codec).toBe(input.length >= 2 && input[0] === 0x1f && input[1] === 0x8b ? 'gzip' : 'none');
      const out: Buffer[] = [];
      for await (const chunk of stream) out.push(chunk as Buffer);
      expect(Buffer.concat(out).equals(input)).toBe(true);
    }
  });

  it('passes on the source error', async () => {
    const source = new Readable({ read() {} });
    source.push(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]));
    const { codec, stream } = await peekCodec(source);
    expect(codec).toBe('zstd');
    setImmediate(() => source.destroy(new Error('connection reset')));
    await expect((async () => {
      for await (const _chunk of stream) void _chunk;
    })()).rejects.toThrow('connection reset');
  });
});
