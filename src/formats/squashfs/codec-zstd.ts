// zstd blocks. The binding compresses through zstd's streaming API, which
// does not know the input size, and the kernel's squashfs decompressor is
// stricter than libzstd in two ways that this matters for:
//  - its workspace only holds a block-sized window, but a streamed frame
//    declares the level's full window (8 MiB at level 18) and no content size;
//  - it decodes page by page and fails ("data probably corrupt") if the output
//    pages are full before the frame has ended, which happens when a stream
//    closes with an empty last block whose header lies in the next input page.
// So each frame is rewritten into the shape mksquashfs' one-shot
// ZSTD_compressCCtx() gives: Single_Segment with the exact Frame_Content_Size
// (window = content size), the last-block flag on the last block with data,
// no checksum. The compressed blocks themselves are untouched; they stay valid
// since no match can reach further back than the content itself.
// Speed: for the same reason every call allocates a workspace sized for the
// 8 MiB window (~60 MB at level 18). glibc serves that with a fresh mmap each
// time and the page faults cost more than the compression; running the
// process with GLIBC_TUNABLES=glibc.malloc.mmap_threshold=268435456 (keep such
// blocks in the heap) makes zstd writing 2-3x faster. Output is identical.

import { CompressorId } from './constants.js';
import { SquashfsError } from './errors.js';
import { zstdBinding } from './bindings.js';
import { checkSize, type Compressor, type Decompressor } from './codec-types.js';

/** Talos passes -Xcompression-level 18 (>= 1.8). */
export const ZSTD_DEFAULT_LEVEL = 18;
/** mksquashfs' own default, which needs no options block. */
const ZSTD_FORMAT_DEFAULT_LEVEL = 15;

const ZSTD_MAGIC = 0xfd2fb528;
const SINGLE_SEGMENT = 0x20;
const DICT_ID_SIZES = [0, 1, 2, 4];
const FCS_SIZES = [0, 2, 4, 8];

/** The frame in the shape the kernel decodes reliably (see the file comment). */
export function kernelFrame(frame: Buffer, contentSize: number): Buffer {
  if (frame.length < 6 || frame.readUInt32LE(0) !== ZSTD_MAGIC) throw new SquashfsError('squashfs: zstd binding returned no zstd frame');
  const fhd = frame[4]!;
  const single = (fhd & SINGLE_SEGMENT) !== 0;
  const dictSize = DICT_ID_SIZES[fhd & 3]!;
  const fcsSize = fhd >> 6 === 0 ? (single ? 1 : 0) : FCS_SIZES[fhd >> 6]!;
  const dictStart = single ? 5 : 6; // the window descriptor only exists without Single_Segment
  const blocksStart = dictStart + dictSize + fcsSize;
  if (fcsSize > 0) {
    const at = dictStart + dictSize;
    const stated = fcsSize === 1 ? frame[at]! : fcsSize === 2 ? frame.readUInt16LE(at) + 256 : Number(readUIntLE(frame, at, fcsSize));
    if (stated !== contentSize) throw new SquashfsError(`squashfs: zstd frame states ${stated} bytes, expected ${contentSize}`);
  }

  // Walk the block headers (3 bytes: last flag, type, size) to find the last two.
  const starts: number[] = [];
  let pos = blocksStart;
  for (;;) {
    if (pos + 3 > frame.length) throw new SquashfsError('squashfs: truncated zstd frame from the binding');
    const header = frame.readUIntLE(pos, 3);
    starts.push(pos);
    const rle = ((header >> 1) & 3) === 1; // an RLE block stores one byte, whatever its size
    pos += 3 + (rle ? 1 : header >>> 3);
    if (header & 1) break;
  }
  let blocks = frame.subarray(blocksStart, pos);
  const lastHeader = frame.readUIntLE(starts[starts.length - 1]!, 3);
  if (starts.length > 1 && lastHeader === 1) {
    // An empty raw last block: drop it and mark the block before it as last.
    const previous = starts[starts.length - 2]! - blocksStart;
    blocks = Buffer.from(blocks.subarray(0, starts[starts.length - 1]! - blocksStart));
    blocks.writeUIntLE(blocks.readUIntLE(previous, 3) | 1, previous, 3);
  }

  // Field size rule of the format: 1 byte below 256, 2 bytes (minus 256) up to 65791, then 4.
  let fcs: Buffer;
  let fcsFlag: number;
  if (contentSize < 256) {
    fcs = Buffer.from([contentSize]);
    fcsFlag = 0;
  } else if (contentSize < 65536 + 256) {
    fcs = Buffer.alloc(2);
    fcs.writeUInt16LE(contentSize - 256);
    fcsFlag = 1;
  } else {
    fcs = Buffer.alloc(4);
    fcs.writeUInt32LE(contentSize);
    fcsFlag = 2;
  }
  const head = Buffer.alloc(5);
  head.writeUInt32LE(ZSTD_MAGIC, 0);
  head[4] = (fcsFlag << 6) | SINGLE_SEGMENT | (fhd & 3); // no checksum: it would follow the last block
  return Buffer.concat([head, frame.subarray(dictStart, dictStart + dictSize), fcs, blocks]);
}

function readUIntLE(buf: Buffer, offset: number, size: number): bigint {
  let value = 0n;
  for (let i = size - 1; i >= 0; i--) value = (value << 8n) | BigInt(buf[offset + i]!);
  return value;
}

export function zstdCompressor(level = ZSTD_DEFAULT_LEVEL): Compressor {
  if (!Number.isInteger(level) || level < 1 || level > 22) throw new SquashfsError(`squashfs: zstd level ${level} is not 1..22`);
  let options: Buffer | undefined;
  if (level !== ZSTD_FORMAT_DEFAULT_LEVEL) {
    options = Buffer.alloc(4);
    options.writeUInt32LE(level);
  }
  const binding = zstdBinding();
  return {
    name: 'zstd',
    id: CompressorId.zstd,
    options,
    // An N-API async task: runs on libuv's thread pool, so blocks compress in parallel.
    compress: async (data) => kernelFrame(await binding.compress(data, level), data.length),
  };
}

export function zstdDecompressor(): Decompressor {
  const binding = zstdBinding();
  return {
    name: 'zstd',
    decompress: async (data, maxSize) => {
      let out: Buffer;
      try {
        out = await binding.decompress(data);
      } catch (error) {
        throw new SquashfsError(`squashfs: corrupt zstd block: ${(error as Error).message}`);
      }
      return checkSize('zstd', out, maxSize);
    },
  };
}
