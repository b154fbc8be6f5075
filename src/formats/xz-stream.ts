// The .xz container around one raw LZMA2 stream, as liblzma's single-block
// encoder lays it out (xz file format 1.1.0): stream header, one block (header
// naming the LZMA2 filter and its dictionary size, the data, padding, the
// check), the index with that block's one record, the stream footer. Only the
// CRC32 check: the kernel's xz decoder rejects CRC64 in some places (see
// DESIGN.md), and CRC32 is what mksquashfs and Talos use.

import { crc32 } from 'node:zlib';

const HEADER_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const FOOTER_MAGIC = Buffer.from('YZ', 'latin1');
const FLAGS_CRC32 = Buffer.from([0x00, 0x01]);
const FILTER_LZMA2 = 0x21;
const CHECK_SIZE = 4;

/** A multiple-of-four length's zero padding. */
function padding(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

function le32(value: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32LE(value);
  return out;
}

function crc(data: Buffer): Buffer {
  return le32(crc32(data));
}

/** xz's multibyte integer: 7 bits a byte, low bits first. */
function varint(value: number): Buffer {
  const bytes: number[] = [];
  while (value >= 0x80) {
    bytes.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  bytes.push(value);
  return Buffer.from(bytes);
}

/**
 * LZMA2's one-byte dictionary size: 2^(n/2+12) or 3 * 2^(n/2+11). A size in
 * between is rounded up, as liblzma does, so the decoder's dictionary is never
 * smaller than the encoder's.
 */
export function lzma2DictionaryByte(size: number): number {
  for (let n = 0; n < 40; n++) {
    if ((2 | (n & 1)) * 2 ** ((n >> 1) + 11) >= size) return n;
  }
  return 40; // 4 GiB - 1
}

/**
 * The most bytes xzStream() adds around LZMA2 data of a block under 2 MiB:
 * stream header and footer 12 each, block header 12, padding 3, check 4,
 * index 12.
 */
export const XZ_STREAM_MAX_OVERHEAD = 55;

/**
 * A complete .xz stream holding `lzma2`, raw LZMA2 data encoding `input.size`
 * bytes whose CRC32 is `input.crc32`.
 */
export function xzStream(lzma2: Buffer, input: { size: number; crc32: number }, dictionarySize: number): Buffer {
  const streamHeader = Buffer.concat([HEADER_MAGIC, FLAGS_CRC32, crc(FLAGS_CRC32)]);

  // Block header: size, flags (one filter, no optional sizes), the filter, padding, CRC32.
  const filter = Buffer.concat([varint(FILTER_LZMA2), varint(1), Buffer.from([lzma2DictionaryByte(dictionarySize)])]);
  const unpaddedHeader = 2 + filter.length;
  const headerBody = Buffer.concat([Buffer.from([0, 0x00]), filter, padding(unpaddedHeader + 4)]);
  headerBody[0] = (headerBody.length + 4) / 4 - 1;
  const blockHeader = Buffer.concat([headerBody, crc(headerBody)]);
  const block = Buffer.concat([blockHeader, lzma2, padding(lzma2.length), le32(input.crc32)]);

  // Index: indicator, one record (unpadded block size, uncompressed size), padding, CRC32.
  const unpaddedSize = blockHeader.length + lzma2.length + CHECK_SIZE;
  const record = Buffer.concat([Buffer.from([0x00]), varint(1), varint(unpaddedSize), varint(input.size)]);
  const indexBody = Buffer.concat([record, padding(record.length)]);
  const index = Buffer.concat([indexBody, crc(indexBody)]);

  const backward = Buffer.alloc(4);
  backward.writeUInt32LE(index.length / 4 - 1);
  const footerBody = Buffer.concat([backward, FLAGS_CRC32]);
  const streamFooter = Buffer.concat([crc(footerBody), footerBody, FOOTER_MAGIC]);

  return Buffer.concat([streamHeader, block, index, streamFooter]);
}
