// xz (LZMA2) blocks, one .xz stream per block, as mksquashfs -comp xz writes
// them: preset 6 settings, dictionary = block size (-Xdict-size 100%),
// no BCJ filter, CRC32 check. The kernel's squashfs xz decoder preallocates a
// block-sized dictionary when the image has no compressor options (ours never
// has) and fails on a stream that asks for more; its xz code also rejects the
// CRC64 check (Linux 6.1), so CRC32 is the only safe choice. The LZMA2 data is
// compressed on worker threads (block-workers.ts), the container written here.
// Reading: xz, and the legacy "lzma" compressor (id 2), a .lzma ("alone") stream
// per block, through lzma-native.

import { CompressorId } from './constants.js';
import { SquashfsError } from './errors.js';
import { XZ_STREAM_MAX_OVERHEAD, xzStream } from '../xz-stream.js';
import { lzmaNative } from './bindings.js';
import { checkSize, type Compressor, type Decompressor } from './codec-types.js';

async function runCoder(coder: string, options: Record<string, unknown>, input: Buffer, maxSize: number): Promise<Buffer> {
  const stream = lzmaNative().createStream(coder, options);
  const parts: Buffer[] = [];
  let size = 0;
  stream.end(input);
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxSize) {
      stream.destroy();
      throw new SquashfsError(`squashfs: xz block decompresses to more than ${maxSize} bytes`);
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts, size);
}

export function xzCompressor(blockSize: number): Compressor {
  return {
    name: 'xz',
    id: CompressorId.xz,
    options: undefined,
    method: { codec: 'lzma2', dictSize: blockSize, frameOverhead: XZ_STREAM_MAX_OVERHEAD },
    frame: (lzma2, input) => xzStream(lzma2, { size: input.size, crc32: input.crc32! }, blockSize),
  };
}

function decoder(name: string, coder: string): Decompressor {
  return {
    name,
    decompress: async (data, maxSize) => {
      try {
        return checkSize(name, await runCoder(coder, {}, data, maxSize), maxSize);
      } catch (error) {
        if (error instanceof SquashfsError) throw error;
        throw new SquashfsError(`squashfs: corrupt ${name} block: ${(error as Error).message}`);
      }
    },
  };
}

export function xzDecompressor(): Decompressor {
  return decoder('xz', 'streamDecoder');
}

/**
 * mksquashfs built with liblzma writes an end-of-payload marker and then
 * patches the real size into the .lzma header; liblzma before 5.4 (bundled by
 * the binding) rejects that pair. So decode with the size marked unknown
 * first, as a plain .lzma stream from the LZMA SDK would also decode, then
 * check the size the header states.
 */
export function lzmaDecompressor(): Decompressor {
  const alone = decoder('lzma', 'aloneDecoder');
  return {
    name: 'lzma',
    decompress: async (data, maxSize) => {
      if (data.length < 13) throw new SquashfsError('squashfs: lzma block shorter than its header');
      const stated = data.readBigUInt64LE(5);
      const unknown = Buffer.from(data);
      unknown.fill(0xff, 5, 13);
      const out = await alone.decompress(unknown, maxSize).catch(() => alone.decompress(data, maxSize));
      if (BigInt(out.length) !== stated) throw new SquashfsError(`squashfs: lzma block decompressed to ${out.length} bytes, header says ${stated}`);
      return out;
    },
  };
}
