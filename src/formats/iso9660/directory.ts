// Directory records (ECMA-119 9.1) and how a directory's records are laid out
// in its extent. A record holds a fixed 33-byte header, the identifier and as
// many SUSP entries as fit in 254 bytes; the rest goes to continuation areas
// (chained with CE entries), which live in a pool of blocks after the
// directories. Records never cross a block boundary, and neither does a
// continuation area. Everything here is laid out once and encoded later with
// the final block addresses, because the same layout is written twice when the
// ISO is also partition 1 of a GPT (absolute and partition-relative).

import { BLOCK, MAX_RECORD, RECORD_HEADER } from './constants.js';
import { writeBoth16, writeBoth32 } from './encoding.js';
import { CE_LENGTH, ceEntry } from './susp.js';

export const FLAG_DIRECTORY = 0x02;

/** The identifier bytes of the "." and ".." records. */
export const SELF_ID = Buffer.from([0]);
export const PARENT_ID = Buffer.from([1]);

/** Where a record points, resolved when the record is encoded. */
export interface RecordTarget {
  /**
   * Absolute block of the extent (0 for empty files and symlinks). Directories
   * depend on which copy of the tree is being written, given by its first block.
   */
  extent(treeStart: number): number;
  size(): number;
  isDirectory: boolean;
}

/** SUSP entries moved out of a record into a continuation area. */
export interface ContinuationPiece {
  entries: Buffer[];
  length: number;
  /** Block index inside the continuation pool and byte offset inside that block. */
  block: number;
  offset: number;
}

export interface LaidOutRecord {
  id: Buffer;
  target: RecordTarget;
  /** SUSP entries kept in the record (a CE entry is added when `continuation` is not empty). */
  head: Buffer[];
  continuation: ContinuationPiece[];
  length: number;
}

const sum = (buffers: Buffer[]): number => buffers.reduce((n, b) => n + b.length, 0);

function baseLength(id: Buffer): number {
  // The identifier is followed by a pad byte when its length is even, so the SUSP area starts at an even offset.
  return RECORD_HEADER + id.length + (id.length % 2 === 0 ? 1 : 0);
}

/** Hands out space in the continuation pool: pieces never straddle a block. */
export class ContinuationPool {
  blocks = 0;
  private used = BLOCK;

  allocate(length: number): { block: number; offset: number } {
    if (this.used + length > BLOCK) {
      this.blocks++;
      this.used = 0;
    }
    const at = { block: this.blocks - 1, offset: this.used };
    this.used += length;
    return at;
  }
}

/** Splits a record's SUSP entries between the record and a chain of continuation areas. */
export function layOutRecord(id: Buffer, target: RecordTarget, entries: Buffer[], pool: ContinuationPool): LaidOutRecord {
  const base = baseLength(id);
  const room = MAX_RECORD - base;
  if (sum(entries) <= room) return { id, target, head: entries, continuation: [], length: evenLength(base + sum(entries)) };

  const head: Buffer[] = [];
  let at = 0;
  let used = 0;
  while (at < entries.length && used + entries[at]!.length + CE_LENGTH <= room) used += entries[at++]!.length;
  head.push(...entries.slice(0, at));

  const continuation: ContinuationPiece[] = [];
  while (at < entries.length) {
    const piece: Buffer[] = [];
    let length = 0;
    while (at < entries.length) {
      const next = entries[at]!.length;
      const last = at === entries.length - 1;
      if (length + next + (last ? 0 : CE_LENGTH) > BLOCK) break;
      piece.push(entries[at++]!);
      length += next;
    }
    if (at < entries.length) length += CE_LENGTH;
    continuation.push({ entries: piece, length, ...pool.allocate(length) });
  }
  return { id, target, head, continuation, length: evenLength(base + used + CE_LENGTH) };
}

function evenLength(n: number): number {
  return n + (n % 2);
}

/** Blocks a directory's records take (a record that does not fit in a block's rest starts the next block). */
export function directoryBlocks(records: LaidOutRecord[]): number {
  let blocks = 1;
  let used = 0;
  for (const record of records) {
    if (used + record.length > BLOCK) {
      blocks++;
      used = 0;
    }
    used += record.length;
  }
  return blocks;
}

/** Addresses are written as `absolute - shift` (shift is the partition offset for the partition view). */
export interface EncodeContext {
  shift: number;
  /** Absolute first block of the copy of the tree being written. */
  treeStart: number;
  /** Absolute block of the continuation pool of this tree. */
  poolStart: number;
  date: Buffer;
}

function encodeRecord(record: LaidOutRecord, ctx: EncodeContext): Buffer {
  const out = Buffer.alloc(record.length);
  out[0] = record.length;
  const extent = record.target.extent(ctx.treeStart);
  writeBoth32(out, 2, extent === 0 ? 0 : extent - ctx.shift);
  writeBoth32(out, 10, record.target.size());
  ctx.date.copy(out, 18);
  out[25] = record.target.isDirectory ? FLAG_DIRECTORY : 0;
  writeBoth16(out, 28, 1);
  out[32] = record.id.length;
  record.id.copy(out, 33);
  let at = baseLength(record.id);
  for (const entry of record.head) at += entry.copy(out, at);
  const first = record.continuation[0];
  if (first) ceEntry(ctx.poolStart + first.block - ctx.shift, first.offset, first.length).copy(out, at);
  return out;
}

/** A directory's extent: its records, each kept inside one block. */
export function encodeDirectory(records: LaidOutRecord[], blocks: number, ctx: EncodeContext): Buffer {
  const out = Buffer.alloc(blocks * BLOCK);
  let at = 0;
  for (const record of records) {
    if ((at % BLOCK) + record.length > BLOCK) at += BLOCK - (at % BLOCK);
    at += encodeRecord(record, ctx).copy(out, at);
  }
  return out;
}

/** Writes every continuation piece of these records into the pool's bytes. */
export function encodeContinuations(records: Iterable<LaidOutRecord>, pool: Buffer, ctx: EncodeContext): void {
  for (const record of records) {
    record.continuation.forEach((piece, i) => {
      let at = piece.block * BLOCK + piece.offset;
      for (const entry of piece.entries) at += entry.copy(pool, at);
      const next = record.continuation[i + 1];
      if (next) ceEntry(ctx.poolStart + next.block - ctx.shift, next.offset, next.length).copy(pool, at);
    });
  }
}

/** The 34-byte root record stored in a volume descriptor. */
export function rootRecord(extent: number, size: number, date: Buffer): Buffer {
  const out = Buffer.alloc(34);
  out[0] = 34;
  writeBoth32(out, 2, extent);
  writeBoth32(out, 10, size);
  date.copy(out, 18);
  out[25] = FLAG_DIRECTORY;
  writeBoth16(out, 28, 1);
  out[32] = 1;
  return out;
}
