// GUID Partition Table with a protective MBR: the one GPT writer, for disk
// images and for the hybrid ISO's system area. By default it is laid out the
// way siderolabs/go-blockdevice (partitioning/gpt) writes it into a new disk
// image, for 512- and 4096-byte sectors:
//
// - sector 0: protective MBR, one partition of type 0xEE from LBA 1 over the
//   whole disk (length capped at 0xFFFFFFFF), CHS 00 02 00 .. FF FF FF,
//   status 0x80 only when asked (legacy BIOS boot), 55 AA;
// - LBA 1: the header, alone in its sector; the 128 entries of 128 bytes right
//   after it (LBA 2 unless LBAs are skipped); the same entries and a backup
//   header (its own and alternate LBAs swapped) end the disk;
// - the first usable LBA is rounded up to the alignment (1 MiB, or the I/O size
//   when larger) unless the "compat" layout is asked for; partitions are
//   placed one after the other, each starting on an alignment boundary, and
//   the allocatable space ends at the last usable LBA rounded down to it;
// - GUIDs are stored mixed-endian; names are UTF-16LE, at most 36 units.
//
// xorriso's hybrid ISO (iso9660/system-area.ts) asks for more entries (248,
// filling the space up to the ISO partition at 32 KiB), the compat first
// usable LBA, sector alignment, and a protective partition whose end CHS comes
// from a 64 heads x 32 sectors geometry.
//
// The Talos imager makes images reproducible with label-derived GUIDs:
// guidFromLabel() is google/uuid's NewHash(sha256, Nil, label, 8), i.e. the
// first 16 bytes of SHA-256(16 zero bytes ‖ label) with the version nibble set
// to 8 and the RFC 4122 variant; the disk GUID comes from "talos-image-disk",
// each partition's from its name.

import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { DiskFormatError } from './disk/errors.js';
import { type Extent, bytesExtent } from './disk/sparse.js';
import { readExactly } from './read-at.js';

/** Entries go-blockdevice (and most tools) write. */
export const GPT_ENTRY_COUNT = 128;
export const GPT_ENTRY_SIZE = 128;
const HEADER_SIZE = 92;
const SIGNATURE = 'EFI PART';
const REVISION = 0x0001_0000;
const MIB = 1 << 20;

/** Well-known partition type GUIDs. */
export const GPT_TYPE = {
  efiSystem: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  biosBoot: '21686148-6449-6E6F-744E-656564454649',
  linuxFilesystem: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
  basicData: 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7',
} as const;

/** Partition attribute bits (UEFI spec 5.3.3). */
export const GPT_ATTR = {
  requiredPartition: 1n << 0n,
  noBlockIoProtocol: 1n << 1n,
  legacyBiosBootable: 1n << 2n,
  /** Basic data partitions: read-only (what xorriso sets on the ISO partition). */
  readOnly: 1n << 60n,
} as const;

// ---- GUIDs ----------------------------------------------------------------

const GUID_RE = /^([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})$/i;

function formatGuid(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`.toUpperCase();
}

/** A version 8 ("custom", RFC 9562) UUID made of the first 16 bytes of the SHA-256 of `parts`. */
function sha256Guid(...parts: ReadonlyArray<string | Uint8Array>): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  const bytes = hash.digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  return formatGuid(bytes.toString('hex'));
}

/** Label-derived UUIDv8, as Talos' makefs.GUIDFromLabel (see the file comment). */
export function guidFromLabel(label: string): string {
  return sha256Guid(Buffer.alloc(16), label);
}

/** The hybrid ISO's GUIDs: SHA-256(seed NUL role), so the same seed and role always give the same GUID. */
export function seededGuid(seed: string, role: string): string {
  return sha256Guid(seed, '\0', role);
}

/** A GUID's 16 bytes as GPT stores them: the first three fields little-endian. */
export function guidToBytes(guid: string): Buffer {
  const m = GUID_RE.exec(guid);
  if (!m) throw new DiskFormatError(`gpt: ${JSON.stringify(guid)} is not a GUID`);
  const le = (hex: string): Buffer => Buffer.from(hex, 'hex').reverse();
  return Buffer.concat([le(m[1]!), le(m[2]!), le(m[3]!), Buffer.from(m[4]! + m[5]!, 'hex')]);
}

export function guidFromBytes(bytes: Uint8Array): string {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, 16);
  const le = (from: number, to: number): string => Buffer.from(b.subarray(from, to)).reverse().toString('hex');
  return formatGuid(le(0, 4) + le(4, 6) + le(6, 8) + b.subarray(8, 16).toString('hex'));
}

// ---- layout -----------------------------------------------------------------

export interface GptPartitionSpec {
  name: string;
  /** Partition type GUID. */
  type: string;
  /** Bytes, a multiple of the sector size; 'rest' takes all the allocatable space left. */
  size: number | 'rest';
  /** Unique partition GUID; default guidFromLabel(name), as the Talos imager does. */
  guid?: string;
  attributes?: bigint;
}

export interface GptSpec {
  /** Disk size in bytes. */
  size: number;
  sectorSize?: number;
  diskGuid: string;
  partitions: readonly GptPartitionSpec[];
  /** Device I/O size; the alignment is the larger of it and 1 MiB. */
  ioSize?: number;
  /** Bytes partitions are aligned to, instead of the above (the hybrid ISO: one sector). */
  alignment?: number;
  /** Entries in each array (default 128; the hybrid ISO has 248). */
  entryCount?: number;
  /** LBAs left free between the primary header and its entries (go-blockdevice WithSkipLBAs). */
  skipLbas?: number;
  /** First usable LBA right after the entries instead of 1 MiB-aligned (go-blockdevice WithCompatFirstUsableLBA). */
  compatFirstUsableLba?: boolean;
}

export interface GptPartition {
  /** 1-based entry number. */
  number: number;
  name: string;
  type: string;
  guid: string;
  firstLba: number;
  /** Inclusive. */
  lastLba: number;
  attributes: bigint;
  /** Byte offset and size in the disk. */
  offset: number;
  size: number;
}

export interface GptLayout {
  sectorSize: number;
  /** Index of the last sector; the backup header lives there. */
  lastLba: number;
  diskGuid: string;
  firstUsableLba: number;
  lastUsableLba: number;
  primaryEntriesLba: number;
  backupEntriesLba: number;
  entryCount: number;
  /** Alignment in sectors. */
  alignment: number;
  partitions: GptPartition[];
}

export function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

export function alignDown(value: number, alignment: number): number {
  return Math.floor(value / alignment) * alignment;
}

function checkSectorSize(sectorSize: number): void {
  if (!Number.isInteger(sectorSize) || sectorSize < 512 || sectorSize > 65536 || (sectorSize & (sectorSize - 1)) !== 0) {
    throw new DiskFormatError(`gpt: sector size ${sectorSize} is not a power of two between 512 and 65536`);
  }
}

function nameBytes(name: string): Buffer {
  const bytes = Buffer.from(name, 'utf16le');
  if (bytes.length > 72) throw new DiskFormatError(`gpt: partition name ${JSON.stringify(name)} is longer than 36 UTF-16 units`);
  return bytes;
}

/** Where everything goes: the table's own sectors and each partition, allocated in order. */
export function planGpt(spec: GptSpec): GptLayout {
  const ss = spec.sectorSize ?? 512;
  checkSectorSize(ss);
  const skip = spec.skipLbas ?? 0;
  const entryCount = spec.entryCount ?? GPT_ENTRY_COUNT;
  if (!Number.isInteger(entryCount) || entryCount < 1 || entryCount * GPT_ENTRY_SIZE > MIB) throw new DiskFormatError(`gpt: ${entryCount} entries is not 1..${MIB / GPT_ENTRY_SIZE}`);
  const lastLba = Math.floor(spec.size / ss) - 1;
  if (!Number.isSafeInteger(lastLba) || lastLba < 33) throw new DiskFormatError(`gpt: a disk of ${spec.size} bytes is too small for a GPT`);
  const entrySectors = Math.ceil((entryCount * GPT_ENTRY_SIZE) / ss);
  const primaryEntriesLba = 2 + skip;
  const backupEntriesLba = lastLba - entrySectors;
  const lastUsableLba = backupEntriesLba - 1;
  const alignment = Math.ceil((spec.alignment ?? Math.max(spec.ioSize ?? ss, MIB)) / ss);
  let firstUsableLba = primaryEntriesLba + entrySectors;
  if (!spec.compatFirstUsableLba) firstUsableLba = alignUp(firstUsableLba, alignment);
  guidToBytes(spec.diskGuid);

  const partitions: GptPartition[] = [];
  let next = firstUsableLba;
  for (const [i, p] of spec.partitions.entries()) {
    if (i >= entryCount) throw new DiskFormatError(`gpt: more than ${entryCount} partitions`);
    nameBytes(p.name);
    const low = alignUp(next, alignment);
    const high = alignDown(lastUsableLba, alignment);
    const available = Math.max(0, high - low) * ss;
    const size = p.size === 'rest' ? available : p.size;
    if (!Number.isSafeInteger(size) || size < ss || size % ss !== 0) {
      throw new DiskFormatError(`gpt: partition ${p.name}: size ${size} is not a positive multiple of the ${ss}-byte sector`);
    }
    if (size > available) throw new DiskFormatError(`gpt: partition ${p.name} (${size} bytes) does not fit in the ${available} bytes left`);
    const guid = p.guid ?? guidFromLabel(p.name);
    guidToBytes(guid);
    guidToBytes(p.type);
    const lastLbaOfPart = low + size / ss - 1;
    partitions.push({
      number: i + 1,
      name: p.name,
      type: p.type.toUpperCase(),
      guid: guid.toUpperCase(),
      firstLba: low,
      lastLba: lastLbaOfPart,
      attributes: p.attributes ?? 0n,
      offset: low * ss,
      size,
    });
    next = lastLbaOfPart + 1;
  }
  return { sectorSize: ss, lastLba, diskGuid: spec.diskGuid.toUpperCase(), firstUsableLba, lastUsableLba, primaryEntriesLba, backupEntriesLba, entryCount, alignment, partitions };
}

// ---- encoding ---------------------------------------------------------------

export interface GptEncodeOptions {
  /** Status 0x80 on the protective partition (go-blockdevice WithMarkPMBRBootable). */
  bootablePmbr?: boolean;
  /** Up to 446 bytes of MBR boot code placed before the partition table. */
  mbrBootCode?: Uint8Array;
  /**
   * Geometry for the protective partition's end CHS address (xorriso: 64
   * heads x 32 sectors, FE FF FF past cylinder 1023); without it the end is
   * FF FF FF, as go-blockdevice writes.
   */
  mbrGeometry?: { heads: number; sectorsPerTrack: number };
}

export interface EncodedGpt {
  /** 512 bytes at offset 0 (the rest of a larger sector 0 stays zero). */
  protectiveMbr: Buffer;
  /** One sector each. */
  primaryHeader: Buffer;
  backupHeader: Buffer;
  /** The entry array (16 KiB for 128 entries), written at both places. */
  entries: Buffer;
}

/** A CHS address in the given geometry; beyond cylinder 1023, the customary maximum. */
function chs(lba: number, geometry: NonNullable<GptEncodeOptions['mbrGeometry']>): number[] {
  const cylinder = Math.floor(lba / (geometry.heads * geometry.sectorsPerTrack));
  if (cylinder > 1023) return [0xfe, 0xff, 0xff];
  const head = Math.floor(lba / geometry.sectorsPerTrack) % geometry.heads;
  const sector = (lba % geometry.sectorsPerTrack) + 1;
  return [head, sector | ((cylinder >> 8) << 6), cylinder & 0xff];
}

function encodeProtectiveMbr(layout: GptLayout, options: GptEncodeOptions): Buffer {
  const out = Buffer.alloc(512);
  if (options.mbrBootCode) {
    if (options.mbrBootCode.length > 446) throw new DiskFormatError('gpt: MBR boot code is longer than 446 bytes');
    out.set(options.mbrBootCode, 0);
  }
  const e = 446;
  out[e] = options.bootablePmbr ? 0x80 : 0x00;
  out.set([0x00, 0x02, 0x00], e + 1);
  out[e + 4] = 0xee;
  out.set(options.mbrGeometry ? chs(layout.lastLba, options.mbrGeometry) : [0xff, 0xff, 0xff], e + 5);
  out.writeUInt32LE(1, e + 8);
  out.writeUInt32LE(Math.min(layout.lastLba, 0xffff_ffff), e + 12);
  out[510] = 0x55;
  out[511] = 0xaa;
  return out;
}

function encodeEntries(layout: GptLayout): Buffer {
  const out = Buffer.alloc(layout.entryCount * GPT_ENTRY_SIZE);
  for (const p of layout.partitions) {
    const at = (p.number - 1) * GPT_ENTRY_SIZE;
    guidToBytes(p.type).copy(out, at);
    guidToBytes(p.guid).copy(out, at + 16);
    out.writeBigUInt64LE(BigInt(p.firstLba), at + 32);
    out.writeBigUInt64LE(BigInt(p.lastLba), at + 40);
    out.writeBigUInt64LE(p.attributes, at + 48);
    nameBytes(p.name).copy(out, at + 56);
  }
  return out;
}

function encodeHeader(layout: GptLayout, entriesCrc: number, primary: boolean): Buffer {
  const out = Buffer.alloc(layout.sectorSize);
  out.write(SIGNATURE, 0, 'latin1');
  out.writeUInt32LE(REVISION, 8);
  out.writeUInt32LE(HEADER_SIZE, 12);
  out.writeBigUInt64LE(BigInt(primary ? 1 : layout.lastLba), 24);
  out.writeBigUInt64LE(BigInt(primary ? layout.lastLba : 1), 32);
  out.writeBigUInt64LE(BigInt(layout.firstUsableLba), 40);
  out.writeBigUInt64LE(BigInt(layout.lastUsableLba), 48);
  guidToBytes(layout.diskGuid).copy(out, 56);
  out.writeBigUInt64LE(BigInt(primary ? layout.primaryEntriesLba : layout.backupEntriesLba), 72);
  out.writeUInt32LE(layout.entryCount, 80);
  out.writeUInt32LE(GPT_ENTRY_SIZE, 84);
  out.writeUInt32LE(entriesCrc, 88);
  out.writeUInt32LE(crc32(out.subarray(0, HEADER_SIZE)), 16);
  return out;
}

export function encodeGpt(layout: GptLayout, options: GptEncodeOptions = {}): EncodedGpt {
  const entries = encodeEntries(layout);
  const crc = crc32(entries);
  return {
    protectiveMbr: encodeProtectiveMbr(layout, options),
    primaryHeader: encodeHeader(layout, crc, true),
    backupHeader: encodeHeader(layout, crc, false),
    entries,
  };
}

/** The table as extents of a SparseDisk (partition contents are the caller's). */
export function gptExtents(layout: GptLayout, options: GptEncodeOptions = {}): Extent[] {
  const ss = layout.sectorSize;
  const gpt = encodeGpt(layout, options);
  return [
    bytesExtent(0, gpt.protectiveMbr),
    bytesExtent(ss, gpt.primaryHeader),
    bytesExtent(layout.primaryEntriesLba * ss, gpt.entries),
    bytesExtent(layout.backupEntriesLba * ss, gpt.entries),
    bytesExtent(layout.lastLba * ss, gpt.backupHeader),
  ];
}

// ---- reading ----------------------------------------------------------------

export type ReadAt = (offset: number, length: number) => Promise<Buffer>;

export interface ProtectiveMbr {
  status: number;
  type: number;
  firstLba: number;
  sectors: number;
}

export interface GptTable extends Omit<GptLayout, 'alignment'> {
  protectiveMbr: ProtectiveMbr | undefined;
  /** Whether each header and its entries passed every check (signature, CRCs, own LBA). */
  primaryValid: boolean;
  backupValid: boolean;
}

interface ParsedHeader {
  alternateLba: number;
  firstUsableLba: number;
  lastUsableLba: number;
  diskGuid: string;
  entriesLba: number;
  entryCount: number;
  entries: Buffer;
}

async function parseHeader(readAt: ReadAt, lba: number, ss: number): Promise<ParsedHeader | undefined> {
  const h = await readAt(lba * ss, ss);
  if (h.subarray(0, 8).toString('latin1') !== SIGNATURE || h.readUInt32LE(8) !== REVISION) return undefined;
  const size = h.readUInt32LE(12);
  if (size < HEADER_SIZE || size > ss) return undefined;
  const copy = Buffer.from(h.subarray(0, size));
  copy.writeUInt32LE(0, 16);
  if (crc32(copy) !== h.readUInt32LE(16)) return undefined;
  if (Number(h.readBigUInt64LE(24)) !== lba) return undefined;
  const count = h.readUInt32LE(80);
  const entrySize = h.readUInt32LE(84);
  if (entrySize < 128 || count * entrySize > 1 << 20) return undefined;
  const entriesLba = Number(h.readBigUInt64LE(72));
  const entries = await readAt(entriesLba * ss, count * entrySize);
  if (crc32(entries) !== h.readUInt32LE(88)) return undefined;
  return {
    alternateLba: Number(h.readBigUInt64LE(32)),
    firstUsableLba: Number(h.readBigUInt64LE(40)),
    lastUsableLba: Number(h.readBigUInt64LE(48)),
    diskGuid: guidFromBytes(h.subarray(56, 72)),
    entriesLba,
    entryCount: count,
    entries: entrySize === GPT_ENTRY_SIZE ? entries : repack(entries, count, entrySize),
  };
}

/** Entries larger than 128 bytes carry nothing we read past byte 128. */
function repack(entries: Buffer, count: number, entrySize: number): Buffer {
  const out = Buffer.alloc(count * GPT_ENTRY_SIZE);
  for (let i = 0; i < count; i++) entries.copy(out, i * GPT_ENTRY_SIZE, i * entrySize, i * entrySize + GPT_ENTRY_SIZE);
  return out;
}

function parseEntries(entries: Buffer, ss: number): GptPartition[] {
  const out: GptPartition[] = [];
  for (let i = 0; i * GPT_ENTRY_SIZE < entries.length; i++) {
    const e = entries.subarray(i * GPT_ENTRY_SIZE, (i + 1) * GPT_ENTRY_SIZE);
    if (e.subarray(0, 16).every((b) => b === 0)) continue;
    let name = e.subarray(56, 128).toString('utf16le');
    const nul = name.indexOf('\0');
    if (nul >= 0) name = name.slice(0, nul);
    const firstLba = Number(e.readBigUInt64LE(32));
    const lastLba = Number(e.readBigUInt64LE(40));
    out.push({
      number: i + 1,
      name,
      type: guidFromBytes(e.subarray(0, 16)),
      guid: guidFromBytes(e.subarray(16, 32)),
      firstLba,
      lastLba,
      attributes: e.readBigUInt64LE(48),
      offset: firstLba * ss,
      size: (lastLba - firstLba + 1) * ss,
    });
  }
  return out;
}

function parseProtectiveMbr(sector0: Buffer): ProtectiveMbr | undefined {
  if (sector0[510] !== 0x55 || sector0[511] !== 0xaa) return undefined;
  for (let e = 446; e < 510; e += 16) {
    if (sector0[e + 4] === 0xee) return { status: sector0[e]!, type: 0xee, firstLba: sector0.readUInt32LE(e + 8), sectors: sector0.readUInt32LE(e + 12) };
  }
  return undefined;
}

async function readWithSectorSize(readAt: ReadAt, diskSize: number, ss: number): Promise<GptTable | undefined> {
  const lastLba = Math.floor(diskSize / ss) - 1;
  const primary = await parseHeader(readAt, 1, ss);
  const backup = await parseHeader(readAt, primary?.alternateLba ?? lastLba, ss);
  const header = primary ?? backup;
  if (!header) return undefined;
  return {
    sectorSize: ss,
    lastLba,
    diskGuid: header.diskGuid,
    firstUsableLba: header.firstUsableLba,
    lastUsableLba: header.lastUsableLba,
    primaryEntriesLba: primary?.entriesLba ?? 2,
    backupEntriesLba: backup?.entriesLba ?? lastLba - Math.ceil((header.entryCount * GPT_ENTRY_SIZE) / ss),
    entryCount: header.entryCount,
    partitions: parseEntries(header.entries, ss),
    protectiveMbr: parseProtectiveMbr(await readAt(0, 512)),
    primaryValid: primary !== undefined,
    backupValid: backup !== undefined && backup.alternateLba === 1,
  };
}

/** Reads the table, trying 512- then 4096-byte sectors unless told; fails when neither header is valid. */
export async function readGpt(readAt: ReadAt, diskSize: number, sectorSize?: number): Promise<GptTable> {
  for (const ss of sectorSize === undefined ? [512, 4096] : [sectorSize]) {
    checkSectorSize(ss);
    if (diskSize < ss * 34) continue;
    const table = await readWithSectorSize(readAt, diskSize, ss);
    if (table) return table;
  }
  throw new DiskFormatError('gpt: no valid GPT header found');
}

export async function readGptFile(path: string, sectorSize?: number): Promise<GptTable> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const readAt: ReadAt = (offset, length) => readExactly(handle, offset, length, () => new DiskFormatError(`gpt: ${path} ends before ${offset + length}`));
    return await readGpt(readAt, size, sectorSize);
  } finally {
    await handle.close();
  }
}
