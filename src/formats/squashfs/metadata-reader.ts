// Reading metadata: blocks are located by the offset of their 16-bit length
// header, decompressed into at most 8 KiB, and cached (inode and directory
// lookups revisit the same few blocks over and over). A cursor reads a record
// that may run on into the following block.

import type { Decompressor } from './codec-types.js';
import { METADATA_SIZE, METADATA_UNCOMPRESSED } from './constants.js';
import { SquashfsError } from './errors.js';
import type { MetadataSource } from './inode.js';
import type { MetadataRef } from './metadata-writer.js';

/** Reads exactly `length` bytes at an image offset (or fails). */
export type ReadAt = (position: number, length: number) => Promise<Buffer>;

interface CachedBlock {
  data: Buffer;
  /** Image offset of the block that follows. */
  next: number;
}

const CACHE_BLOCKS = 512;

export class MetadataReader {
  private readonly cache = new Map<number, Promise<CachedBlock>>();

  constructor(
    private readonly readAt: ReadAt,
    private readonly decompressor: Decompressor,
  ) {}

  /** The decompressed block whose header is at image offset `position`. */
  block(position: number): Promise<CachedBlock> {
    let block = this.cache.get(position);
    if (block) {
      // Move to the back: the map's order is the eviction order.
      this.cache.delete(position);
    } else {
      block = this.load(position);
      block.catch(() => this.cache.delete(position));
      if (this.cache.size >= CACHE_BLOCKS) this.cache.delete(this.cache.keys().next().value!);
    }
    this.cache.set(position, block);
    return block;
  }

  private async load(position: number): Promise<CachedBlock> {
    const header = (await this.readAt(position, 2)).readUInt16LE(0);
    const size = header & ~METADATA_UNCOMPRESSED;
    if (size === 0 || size > METADATA_SIZE) throw new SquashfsError(`squashfs: bad metadata block header at ${position}`);
    const raw = await this.readAt(position + 2, size);
    const data = header & METADATA_UNCOMPRESSED ? raw : await this.decompressor.decompress(raw, METADATA_SIZE);
    return { data, next: position + 2 + size };
  }

  /** A cursor at a reference into the table that starts at `tableStart`. */
  cursor(tableStart: number, ref: MetadataRef): MetadataCursor {
    return new MetadataCursor(this, tableStart + ref.block, ref.offset);
  }

  /** `length` bytes of consecutive blocks starting with the one at `position` (lookup tables). */
  async readRun(position: number, length: number): Promise<Buffer> {
    return new MetadataCursor(this, position, 0).read(length);
  }
}

export class MetadataCursor implements MetadataSource {
  constructor(
    private readonly reader: MetadataReader,
    private position: number,
    private offset: number,
  ) {}

  async read(length: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let missing = length;
    while (missing > 0) {
      const block = await this.reader.block(this.position);
      if (this.offset >= block.data.length) {
        if (this.offset > block.data.length) throw new SquashfsError('squashfs: metadata reference past the end of its block');
        this.position = block.next;
        this.offset = 0;
        continue;
      }
      const n = Math.min(missing, block.data.length - this.offset);
      parts.push(block.data.subarray(this.offset, this.offset + n));
      this.offset += n;
      missing -= n;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, length);
  }
}
