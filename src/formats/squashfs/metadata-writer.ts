// Metadata (inodes, directory listings, lookup tables) is a byte stream cut
// into 8 KiB pieces; each piece is stored behind a 16-bit length header,
// compressed when that makes it smaller. A reference to a record is the
// position of its block's header relative to the table start, plus the offset
// inside the uncompressed block.
//
// References must be known while the tables are still being written (a
// directory listing names its children's inodes, a directory inode names its
// listing), so each block is compressed as soon as it is full: a reference
// into the block being filled is then the compressed size so far.

import { METADATA_SIZE, METADATA_UNCOMPRESSED } from './constants.js';
import type { Compressor } from './codec-types.js';
import { SquashfsError } from './errors.js';
import { packBlock } from './pack-block.js';

export interface MetadataRef {
  /** Offset of the block's length header from the start of its table. */
  block: number;
  /** Offset inside the uncompressed block. */
  offset: number;
}

/** The 64-bit form inodes are referred to by (superblock root, export table). */
export function packRef(ref: MetadataRef): bigint {
  return (BigInt(ref.block) << 16n) | BigInt(ref.offset);
}

export function unpackRef(ref: bigint): MetadataRef {
  return { block: Number(ref >> 16n), offset: Number(ref & 0xffffn) };
}

/** One metadata block: header + payload, compressed only when that saves bytes. */
export async function encodeMetadataBlock(compressor: Compressor | undefined, raw: Buffer): Promise<Buffer> {
  if (raw.length > METADATA_SIZE) throw new SquashfsError('squashfs: metadata block larger than 8 KiB');
  const header = Buffer.alloc(2);
  if (compressor) {
    const packed = await packBlock(compressor, [{ data: raw }]);
    if (!packed.hole && packed.compressed) {
      header.writeUInt16LE(packed.bytes.length);
      return Buffer.concat([header, packed.bytes]);
    }
  }
  header.writeUInt16LE(raw.length | METADATA_UNCOMPRESSED);
  return Buffer.concat([header, raw]);
}

export class MetadataWriter {
  private readonly blocks: Buffer[] = [];
  /** Table-relative position of each finished block, by uncompressed block number. */
  private readonly starts: number[] = [];
  private encoded = 0;
  private current = Buffer.alloc(METADATA_SIZE);
  private fill = 0;

  /** `compressor` undefined stores every block uncompressed. */
  constructor(private readonly compressor: Compressor | undefined) {}

  /** Uncompressed bytes written so far. */
  get position(): number {
    return this.starts.length * METADATA_SIZE + this.fill;
  }

  /** Where the next byte written will be. */
  get ref(): MetadataRef {
    return this.refAt(this.position);
  }

  /** The reference of any uncompressed position written so far (or the next one). */
  refAt(position: number): MetadataRef {
    const index = Math.floor(position / METADATA_SIZE);
    const offset = position % METADATA_SIZE;
    if (index < this.starts.length) return { block: this.starts[index]!, offset };
    if (index === this.starts.length && position <= this.position) return { block: this.encoded, offset };
    throw new SquashfsError(`squashfs: metadata position ${position} is not written yet`);
  }

  async write(bytes: Buffer): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const n = Math.min(bytes.length - done, METADATA_SIZE - this.fill);
      bytes.copy(this.current, this.fill, done, done + n);
      this.fill += n;
      done += n;
      if (this.fill === METADATA_SIZE) await this.flush();
    }
  }

  private async flush(): Promise<void> {
    const block = await encodeMetadataBlock(this.compressor, this.current.subarray(0, this.fill));
    this.starts.push(this.encoded);
    this.blocks.push(block);
    this.encoded += block.length;
    this.current = Buffer.alloc(METADATA_SIZE);
    this.fill = 0;
  }

  /** Flushes the last partial block and returns the whole table. */
  async finish(): Promise<Buffer> {
    if (this.fill > 0) await this.flush();
    return Buffer.concat(this.blocks);
  }
}

/**
 * A lookup table (fragment or id table): the records as metadata blocks, then
 * the uncompressed list of the blocks' absolute positions, which is what the
 * superblock points at. `at` is where the table will be written.
 */
export async function encodeLookupTable(
  compressor: Compressor | undefined,
  records: Buffer,
  at: number,
): Promise<{ bytes: Buffer; indexStart: number }> {
  const blocks: Buffer[] = [];
  const index: Buffer[] = [];
  let offset = at;
  for (let start = 0; start < records.length; start += METADATA_SIZE) {
    const block = await encodeMetadataBlock(compressor, records.subarray(start, start + METADATA_SIZE));
    const position = Buffer.alloc(8);
    position.writeBigUInt64LE(BigInt(offset));
    index.push(position);
    blocks.push(block);
    offset += block.length;
  }
  return { bytes: Buffer.concat([...blocks, ...index]), indexStart: offset };
}
