// zstd blocks. The binding compresses through zstd's streaming API, which does
// not know the input size: its frames declare the level's full window (8 MiB
// at level 18) and no content size. The kernel's squashfs decompressor only
// has a workspace for a block-sized window, so such a frame would fail to
// mount. We therefore rewrite the frame header into the form mksquashfs'
// one-shot ZSTD_compressCCtx() produces: Single_Segment with the exact
// Frame_Content_Size, i.e. window = content size. The compressed blocks stay
// valid, since no match can reach further back than the content itself.

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
const CHECKSUM = 0x04;
const DICT_ID_SIZES = [0, 1, 2, 4];
const FCS_SIZES = [0, 2, 4, 8];

/** The frame with a Single_Segment header that states contentSize (see the file comment). */
export function singleSegmentFrame(frame: Buffer, contentSize: number): Buffer {
  if (frame.length < 6 || frame.readUInt32LE(0) !== ZSTD_MAGIC) throw new SquashfsError('squashfs: zstd binding returned no zstd frame');
  const fhd = frame[4]!;
  if (fhd & SINGLE_SEGMENT) return frame;
  const dictSize = DICT_ID_SIZES[fhd & 3]!;
  const fcsSize = FCS_SIZES[fhd >> 6]!;
  const dictStart = 6; // after magic, descriptor and window descriptor
  const blocksStart = dictStart + dictSize + fcsSize;
  if (fcsSize > 0) {
    const stated = fcsSize === 2 ? frame.readUInt16LE(dictStart + dictSize) + 256 : Number(readUIntLE(frame, dictStart + dictSize, fcsSize));
    if (stated !== contentSize) throw new SquashfsError(`squashfs: zstd frame states ${stated} bytes, expected ${contentSize}`);
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
  head[4] = (fcsFlag << 6) | SINGLE_SEGMENT | (fhd & CHECKSUM) | (fhd & 3);
  return Buffer.concat([head, frame.subarray(dictStart, dictStart + dictSize), fcs, frame.subarray(blocksStart)]);
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
    compress: async (data) => singleSegmentFrame(await binding.compress(data, level), data.length),
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
