// Builds a PE32+ image by appending sections to a stub (systemd-stub for a
// UKI), laid out the way Talos' native assembler does it, so the output is the
// one upstream would produce from the same inputs:
//
// - the stub's DOS header is kept but e_lfanew becomes 0x80 and the DOS stub
//   program is replaced by 0x40 zero bytes; then "PE\0\0";
// - COFF header: the stub's, with the new section count and TimeDateStamp;
// - optional header: the stub's, with linker version 0.0, CheckSum 0, and
//   SizeOfCode / SizeOfInitializedData / SizeOfImage / SizeOfHeaders
//   recomputed (data directories untouched: the stub's sections keep their
//   virtual addresses, so .reloc and friends still point right);
// - new sections follow the stub's last section in memory, each starting at
//   the next SectionAlignment boundary, VirtualSize = content size,
//   SizeOfRawData = content size rounded up to FileAlignment, flags
//   INITIALIZED_DATA | MEM_READ;
// - raw data of every section (the stub's too) back to back right after the
//   headers, each zero-padded to its SizeOfRawData.
//
// The output is described as extents (headers in memory, section contents
// read from their files while writing), so a 100 MB UKI streams through a
// small buffer and the size is known before a byte is written.

import { createWriteStream, promises as fs } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Extent, type SparseDisk, bytesExtent, fileExtent, rawDiskStream, sparseDisk } from '../disk/sparse.js';
import { PeFormatError } from './errors.js';
import { readPeHeaders } from './reader.js';
import {
  COFF_HEADER_SIZE,
  DOS_HEADER_SIZE,
  E_LFANEW_OFFSET,
  OPT,
  PE_SIGNATURE,
  SCN_CNT_INITIALIZED_DATA,
  SCN_MEM_READ,
  SECTION_HEADER_SIZE,
  SECURITY_DIRECTORY,
  type PeHeaders,
  type SectionHeader,
  encodeSectionHeader,
} from './headers.js';

/** Where the PE signature goes in the output: a 0x40-byte DOS header plus 0x40 bytes of padding. */
export const PE_OFFSET = DOS_HEADER_SIZE * 2;
export const APPENDED_SECTION_FLAGS = SCN_CNT_INITIALIZED_DATA | SCN_MEM_READ;

export type PeSectionSource = { path: string } | { data: Uint8Array };

export interface UkiSection {
  /** 1..8 printable ASCII characters, e.g. ".linux". Repeats are allowed (multi-profile UKIs). */
  name: string;
  source: PeSectionSource;
}

export interface AssembleOptions {
  /** The stub to build on (systemd-stub's linuxx64.efi.stub): PE32+, unsigned; a COFF symbol table is dropped. */
  stub: string;
  /** Appended in this order after the stub's own sections. */
  sections: readonly UkiSection[];
  /** COFF TimeDateStamp, seconds since the epoch (SOURCE_DATE_EPOCH); default 0 so output never depends on the clock. */
  timestamp?: number;
}

export interface PlannedSection extends SectionHeader {
  /** Where the raw data comes from: the stub (at its original offset) or an appended source. */
  from: { stub: number } | PeSectionSource;
}

export interface UkiPlan {
  /** Total bytes. */
  size: number;
  /** Everything before the first section's raw data. */
  headers: Buffer;
  sections: PlannedSection[];
  /** The file as extents; gaps are zero padding. */
  image: SparseDisk;
}

const U32_MAX = 0xffffffff;

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

function checkU32(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 0 || value > U32_MAX) throw new PeFormatError(`pe: ${what} (${value}) does not fit in 32 bits`);
  return value;
}

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** Refuses stubs the layout cannot carry over faithfully. */
function checkStub(stub: string, h: PeHeaders): void {
  if (h.sections.length === 0) throw new PeFormatError(`pe: ${stub} has no sections`);
  const long = h.sections.find((s) => s.name.startsWith('/'));
  if (long) throw new PeFormatError(`pe: ${stub} has a section name in a string table (${long.name}), which is not supported`);
  // The certificate table lives at a file offset past the sections; moving the raw data would leave it pointing nowhere.
  const security = h.optional.dataDirectories[SECURITY_DIRECTORY];
  if (security && (security.size !== 0 || security.virtualAddress !== 0)) {
    throw new PeFormatError(`pe: ${stub} is Authenticode-signed; build on the unsigned stub and sign the result`);
  }
  const { sectionAlignment, fileAlignment } = h.optional;
  if (!isPowerOfTwo(sectionAlignment) || !isPowerOfTwo(fileAlignment)) {
    throw new PeFormatError(`pe: ${stub} has SectionAlignment 0x${sectionAlignment.toString(16)} / FileAlignment 0x${fileAlignment.toString(16)}, not powers of two`);
  }
}

function checkName(name: string): void {
  if (!/^[\x21-\x7e]{1,8}$/.test(name)) throw new PeFormatError(`pe: section name ${JSON.stringify(name)} must be 1..8 printable ASCII characters`);
}

async function sourceSize(source: PeSectionSource, name: string): Promise<number> {
  if ('data' in source) return source.data.length;
  const st = await fs.stat(source.path);
  if (!st.isFile()) throw new PeFormatError(`pe: section ${name}: ${source.path} is not a regular file`);
  return st.size;
}

function encodeHeaders(stub: PeHeaders, sections: readonly SectionHeader[], fields: { timestamp: number; sizeOfHeaders: number; sizeOfImage: number; sizeOfCode: number; sizeOfInitializedData: number }): Buffer {
  const out = Buffer.alloc(fields.sizeOfHeaders);
  stub.dosHeader.copy(out, 0);
  out.writeUInt32LE(PE_OFFSET, E_LFANEW_OFFSET);
  PE_SIGNATURE.copy(out, PE_OFFSET);
  const c = PE_OFFSET + PE_SIGNATURE.length;
  out.writeUInt16LE(stub.coff.machine, c);
  out.writeUInt16LE(sections.length, c + 2);
  out.writeUInt32LE(fields.timestamp, c + 4);
  // Symbol table pointer and count stay 0: a COFF symbol table (Debian's stub has one; upstream refuses such
  // stubs) sits after the raw data, is never loaded, and is dropped as `objcopy --strip-all` would.
  out.writeUInt16LE(stub.coff.sizeOfOptionalHeader, c + 16);
  out.writeUInt16LE(stub.coff.characteristics, c + 18);
  const o = c + COFF_HEADER_SIZE;
  const opt = Buffer.from(stub.optional.raw);
  opt.writeUInt8(0, OPT.majorLinkerVersion);
  opt.writeUInt8(0, OPT.minorLinkerVersion);
  opt.writeUInt32LE(0, OPT.checkSum);
  opt.writeUInt32LE(fields.sizeOfCode, OPT.sizeOfCode);
  opt.writeUInt32LE(fields.sizeOfInitializedData, OPT.sizeOfInitializedData);
  opt.writeUInt32LE(fields.sizeOfImage, OPT.sizeOfImage);
  opt.writeUInt32LE(fields.sizeOfHeaders, OPT.sizeOfHeaders);
  opt.copy(out, o);
  sections.forEach((s, i) => encodeSectionHeader(s).copy(out, o + opt.length + i * SECTION_HEADER_SIZE));
  return out;
}

/** Lays the image out (sizes of files are taken now; they must not change before it is written). */
export async function planUki(options: AssembleOptions): Promise<UkiPlan> {
  const timestamp = checkU32(options.timestamp ?? 0, 'timestamp');
  const { headers: stub, size: stubSize } = await readPeHeaders(options.stub);
  checkStub(options.stub, stub);
  const { sectionAlignment, fileAlignment, imageBase } = stub.optional;

  const last = stub.sections[stub.sections.length - 1]!;
  let nextAddress = alignUp(last.virtualAddress + last.virtualSize, sectionAlignment);
  const planned: PlannedSection[] = stub.sections.map((s) => ({ ...s, from: { stub: s.pointerToRawData } }));
  for (const section of options.sections) {
    checkName(section.name);
    const size = checkU32(await sourceSize(section.source, section.name), `size of section ${section.name}`);
    planned.push({
      name: section.name,
      virtualSize: size,
      virtualAddress: checkU32(nextAddress, `address of section ${section.name}`),
      sizeOfRawData: checkU32(alignUp(size, fileAlignment), `raw size of section ${section.name}`),
      pointerToRawData: 0,
      characteristics: APPENDED_SECTION_FLAGS,
      from: section.source,
    });
    nextAddress = alignUp(nextAddress + size, sectionAlignment);
  }

  // Upstream leaves the 4-byte signature out of this sum; after rounding to FileAlignment the result is the same.
  const sizeOfHeaders = alignUp(PE_OFFSET + PE_SIGNATURE.length + COFF_HEADER_SIZE + stub.coff.sizeOfOptionalHeader + planned.length * SECTION_HEADER_SIZE, fileAlignment);
  const lowest = Math.min(...planned.map((s) => s.virtualAddress));
  if (sizeOfHeaders > lowest) throw new PeFormatError(`pe: ${planned.length} sections need 0x${sizeOfHeaders.toString(16)} bytes of headers, past the first section at 0x${lowest.toString(16)}`);

  let offset = sizeOfHeaders;
  for (const s of planned) {
    s.pointerToRawData = checkU32(offset, `raw data offset of section ${s.name}`);
    offset += s.sizeOfRawData;
  }
  const end = planned[planned.length - 1]!;
  const alignment = BigInt(sectionAlignment);
  const imageEnd = imageBase + BigInt(end.virtualAddress + end.virtualSize);
  const sizeOfImage = checkU32(Number(((imageEnd + alignment - 1n) / alignment) * alignment - imageBase), 'SizeOfImage');
  let sizeOfCode = 0;
  let sizeOfInitializedData = 0;
  // Like upstream: everything that is not initialized data counts as code.
  for (const s of planned) {
    if (s.characteristics & SCN_CNT_INITIALIZED_DATA) sizeOfInitializedData += s.sizeOfRawData;
    else sizeOfCode += s.sizeOfRawData;
  }
  const headers = encodeHeaders(stub, planned, {
    timestamp,
    sizeOfHeaders,
    sizeOfImage,
    sizeOfCode: checkU32(sizeOfCode, 'SizeOfCode'),
    sizeOfInitializedData: checkU32(sizeOfInitializedData, 'SizeOfInitializedData'),
  });

  const extents: Extent[] = [bytesExtent(0, headers)];
  for (const s of planned) {
    if ('stub' in s.from) {
      // Copy the stub's raw data as far as the file has it; the rest is padding.
      const length = Math.max(0, Math.min(s.sizeOfRawData, stubSize - s.from.stub));
      extents.push(fileExtent(s.pointerToRawData, options.stub, length, s.from.stub));
    } else if ('data' in s.from) {
      extents.push(bytesExtent(s.pointerToRawData, s.from.data));
    } else {
      extents.push(fileExtent(s.pointerToRawData, s.from.path, s.virtualSize));
    }
  }
  return { size: offset, headers, sections: planned, image: sparseDisk(offset, extents) };
}

/** The planned image as a byte stream. */
export function ukiStream(plan: UkiPlan): Readable {
  return rawDiskStream(plan.image);
}

/** Plans and writes the image to a file (created or truncated) or into a stream (which is ended); stops when `signal` aborts. */
export async function assembleUki(options: AssembleOptions, out: string | Writable, signal?: AbortSignal): Promise<UkiPlan> {
  const plan = await planUki(options);
  await pipeline(ukiStream(plan), typeof out === 'string' ? createWriteStream(out) : out, signal ? { signal } : {});
  return plan;
}
