// PE32+ header layout: the DOS header's pointer to the PE signature, the COFF
// file header, the PE32+ optional header and the section table. Parsing keeps
// the optional header's raw bytes so the assembler can copy it and patch only
// the fields it must change.

import { PeFormatError } from './errors.js';

export const DOS_HEADER_SIZE = 0x40;
/** e_lfanew: where the DOS header says the PE signature is. */
export const E_LFANEW_OFFSET = 0x3c;
export const PE_SIGNATURE = Buffer.from('PE\0\0', 'latin1');
export const COFF_HEADER_SIZE = 20;
export const SECTION_HEADER_SIZE = 40;
export const PE32_PLUS_MAGIC = 0x20b;

/** Section characteristics. */
export const SCN_CNT_CODE = 0x20;
export const SCN_CNT_INITIALIZED_DATA = 0x40;
export const SCN_MEM_READ = 0x40000000;

/** Byte offsets inside the PE32+ optional header. */
export const OPT = {
  magic: 0,
  majorLinkerVersion: 2,
  minorLinkerVersion: 3,
  sizeOfCode: 4,
  sizeOfInitializedData: 8,
  sizeOfUninitializedData: 12,
  addressOfEntryPoint: 16,
  imageBase: 24,
  sectionAlignment: 32,
  fileAlignment: 36,
  sizeOfImage: 56,
  sizeOfHeaders: 60,
  checkSum: 64,
  subsystem: 68,
  numberOfRvaAndSizes: 108,
  dataDirectories: 112,
} as const;

/** Index of the certificate table (Authenticode signature) among the data directories. */
export const SECURITY_DIRECTORY = 4;

export interface CoffHeader {
  machine: number;
  numberOfSections: number;
  timeDateStamp: number;
  pointerToSymbolTable: number;
  numberOfSymbols: number;
  sizeOfOptionalHeader: number;
  characteristics: number;
}

export interface SectionHeader {
  /** Up to 8 bytes, trailing NULs removed. */
  name: string;
  virtualSize: number;
  virtualAddress: number;
  sizeOfRawData: number;
  pointerToRawData: number;
  characteristics: number;
}

export interface DataDirectory {
  virtualAddress: number;
  size: number;
}

export interface OptionalHeader {
  /** The header's bytes as found (SizeOfOptionalHeader long). */
  raw: Buffer;
  imageBase: bigint;
  sectionAlignment: number;
  fileAlignment: number;
  sizeOfImage: number;
  sizeOfHeaders: number;
  sizeOfCode: number;
  sizeOfInitializedData: number;
  addressOfEntryPoint: number;
  subsystem: number;
  dataDirectories: DataDirectory[];
}

export interface PeHeaders {
  /** e_lfanew. */
  peOffset: number;
  /** The first 0x40 bytes of the file. */
  dosHeader: Buffer;
  coff: CoffHeader;
  optional: OptionalHeader;
  sections: SectionHeader[];
  /** First byte after the section table. */
  headersEnd: number;
}

function need(buf: Buffer, end: number, what: string): void {
  if (buf.length < end) throw new PeFormatError(`pe: file too short for the ${what} (${buf.length} bytes, need ${end})`);
}

/** Where the section table ends, from the first bytes of a file (enough to read the COFF header). */
export function headersLength(start: Buffer): number {
  need(start, DOS_HEADER_SIZE, 'DOS header');
  if (start.toString('latin1', 0, 2) !== 'MZ') throw new PeFormatError('pe: no MZ signature');
  const peOffset = start.readUInt32LE(E_LFANEW_OFFSET);
  need(start, peOffset + 4 + COFF_HEADER_SIZE, 'COFF header');
  const sections = start.readUInt16LE(peOffset + 4 + 2);
  const optionalSize = start.readUInt16LE(peOffset + 4 + 16);
  return peOffset + 4 + COFF_HEADER_SIZE + optionalSize + sections * SECTION_HEADER_SIZE;
}

function sectionName(raw: Buffer): string {
  const end = raw.indexOf(0);
  return raw.toString('latin1', 0, end === -1 ? raw.length : end);
}

/** Parses the headers of a PE32+ image from a buffer holding at least its first headersLength() bytes. */
export function parsePeHeaders(buf: Buffer): PeHeaders {
  const headersEnd = headersLength(buf);
  need(buf, headersEnd, 'section table');
  const peOffset = buf.readUInt32LE(E_LFANEW_OFFSET);
  if (!buf.subarray(peOffset, peOffset + 4).equals(PE_SIGNATURE)) throw new PeFormatError('pe: no PE signature where e_lfanew points');
  const c = peOffset + 4;
  const coff: CoffHeader = {
    machine: buf.readUInt16LE(c),
    numberOfSections: buf.readUInt16LE(c + 2),
    timeDateStamp: buf.readUInt32LE(c + 4),
    pointerToSymbolTable: buf.readUInt32LE(c + 8),
    numberOfSymbols: buf.readUInt32LE(c + 12),
    sizeOfOptionalHeader: buf.readUInt16LE(c + 16),
    characteristics: buf.readUInt16LE(c + 18),
  };
  const o = c + COFF_HEADER_SIZE;
  if (coff.sizeOfOptionalHeader < OPT.dataDirectories) throw new PeFormatError(`pe: optional header of ${coff.sizeOfOptionalHeader} bytes is too short for PE32+`);
  const raw = Buffer.from(buf.subarray(o, o + coff.sizeOfOptionalHeader));
  if (raw.readUInt16LE(OPT.magic) !== PE32_PLUS_MAGIC) throw new PeFormatError(`pe: optional header magic 0x${raw.readUInt16LE(0).toString(16)} is not PE32+ (0x20b)`);
  const directories = Math.min(raw.readUInt32LE(OPT.numberOfRvaAndSizes), Math.floor((raw.length - OPT.dataDirectories) / 8));
  const dataDirectories: DataDirectory[] = [];
  for (let i = 0; i < directories; i++) {
    dataDirectories.push({ virtualAddress: raw.readUInt32LE(OPT.dataDirectories + i * 8), size: raw.readUInt32LE(OPT.dataDirectories + i * 8 + 4) });
  }
  const optional: OptionalHeader = {
    raw,
    imageBase: raw.readBigUInt64LE(OPT.imageBase),
    sectionAlignment: raw.readUInt32LE(OPT.sectionAlignment),
    fileAlignment: raw.readUInt32LE(OPT.fileAlignment),
    sizeOfImage: raw.readUInt32LE(OPT.sizeOfImage),
    sizeOfHeaders: raw.readUInt32LE(OPT.sizeOfHeaders),
    sizeOfCode: raw.readUInt32LE(OPT.sizeOfCode),
    sizeOfInitializedData: raw.readUInt32LE(OPT.sizeOfInitializedData),
    addressOfEntryPoint: raw.readUInt32LE(OPT.addressOfEntryPoint),
    subsystem: raw.readUInt16LE(OPT.subsystem),
    dataDirectories,
  };
  const sections: SectionHeader[] = [];
  for (let i = 0, s = o + coff.sizeOfOptionalHeader; i < coff.numberOfSections; i++, s += SECTION_HEADER_SIZE) {
    sections.push({
      name: sectionName(buf.subarray(s, s + 8)),
      virtualSize: buf.readUInt32LE(s + 8),
      virtualAddress: buf.readUInt32LE(s + 12),
      sizeOfRawData: buf.readUInt32LE(s + 16),
      pointerToRawData: buf.readUInt32LE(s + 20),
      characteristics: buf.readUInt32LE(s + 36),
    });
  }
  return { peOffset, dosHeader: Buffer.from(buf.subarray(0, DOS_HEADER_SIZE)), coff, optional, sections, headersEnd };
}

/** One section table entry; relocation and line-number fields are zero (images have none). */
export function encodeSectionHeader(section: SectionHeader): Buffer {
  const out = Buffer.alloc(SECTION_HEADER_SIZE);
  const name = Buffer.from(section.name, 'latin1');
  if (name.length === 0 || name.length > 8) throw new PeFormatError(`pe: section name ${JSON.stringify(section.name)} must be 1..8 bytes`);
  name.copy(out, 0);
  out.writeUInt32LE(section.virtualSize, 8);
  out.writeUInt32LE(section.virtualAddress, 12);
  out.writeUInt32LE(section.sizeOfRawData, 16);
  out.writeUInt32LE(section.pointerToRawData, 20);
  out.writeUInt32LE(section.characteristics, 36);
  return out;
}
