// Reads a PE32+ file's headers and sections back: the section list (what
// `objdump -h` shows) and one section's bytes, in memory for small sections
// (.cmdline, .osrel) or as a stream for big ones (.linux, .initrd).

import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { PeFormatError } from './errors.js';
import { type PeHeaders, type SectionHeader, headersLength, parsePeHeaders } from './headers.js';
import { readUpTo } from '../read-at.js';

export interface PeSection {
  /** Position in the section table. */
  index: number;
  name: string;
  virtualAddress: number;
  virtualSize: number;
  rawOffset: number;
  rawSize: number;
  characteristics: number;
}

/** Bytes a loader maps for a section: VirtualSize (or the raw size when VirtualSize is 0). */
function mappedSize(s: SectionHeader): number {
  return s.virtualSize || s.sizeOfRawData;
}

/** A PE file's headers (the first 4 KiB usually hold them all, else a second read) and its size. */
export async function readPeHeaders(path: string): Promise<{ headers: PeHeaders; size: number }> {
  const handle = await open(path, 'r');
  try {
    const size = (await handle.stat()).size;
    const start = await readUpTo(handle, 0, Math.min(size, 4096));
    const length = headersLength(start);
    return { headers: parsePeHeaders(length <= start.length ? start : await readUpTo(handle, 0, length)), size };
  } finally {
    await handle.close();
  }
}

async function readAt(path: string, position: number, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    return await readUpTo(handle, position, length);
  } finally {
    await handle.close();
  }
}

export class PeFile {
  private constructor(
    readonly path: string,
    readonly headers: PeHeaders,
    readonly size: number,
  ) {}

  static async open(path: string): Promise<PeFile> {
    const { headers, size } = await readPeHeaders(path);
    return new PeFile(path, headers, size);
  }

  get sections(): PeSection[] {
    return this.headers.sections.map((s, index) => ({
      index,
      name: s.name,
      virtualAddress: s.virtualAddress,
      virtualSize: s.virtualSize,
      rawOffset: s.pointerToRawData,
      rawSize: s.sizeOfRawData,
      characteristics: s.characteristics,
    }));
  }

  /** Every section with this name, in table order (a multi-profile UKI repeats .profile and .cmdline). */
  sectionsNamed(name: string): PeSection[] {
    return this.sections.filter((s) => s.name === name);
  }

  /** The only (or the first) section with this name. */
  section(name: string): PeSection {
    const found = this.sectionsNamed(name)[0];
    if (!found) throw new PeFormatError(`pe: ${this.path} has no ${name} section`);
    return found;
  }

  private span(section: PeSection | string): { offset: number; fromFile: number; mapped: number } {
    const s = typeof section === 'string' ? this.section(section) : section;
    const header = this.headers.sections[s.index]!;
    const mapped = mappedSize(header);
    const fromFile = Math.min(mapped, header.sizeOfRawData);
    if (header.pointerToRawData + fromFile > this.size) throw new PeFormatError(`pe: section ${s.name} runs past the end of ${this.path}`);
    return { offset: header.pointerToRawData, fromFile, mapped };
  }

  /** A section's bytes as loaded: the raw data up to VirtualSize, zeros beyond the raw data. */
  async readSection(section: PeSection | string): Promise<Buffer> {
    const { offset, fromFile, mapped } = this.span(section);
    const data = fromFile > 0 ? await readAt(this.path, offset, fromFile) : Buffer.alloc(0);
    return mapped > fromFile ? Buffer.concat([data, Buffer.alloc(mapped - fromFile)]) : data;
  }

  /** The file-backed part of a section as a stream (for .linux and .initrd). */
  sectionStream(section: PeSection | string): Readable {
    const { offset, fromFile } = this.span(section);
    if (fromFile === 0) return Readable.from([]);
    return createReadStream(this.path, { start: offset, end: offset + fromFile - 1 });
  }
}
