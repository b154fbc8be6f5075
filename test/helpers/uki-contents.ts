// Reads a Talos UKI back with our own readers, for tests that judge what an
// installer or a download carries: the PE sections (src/formats/pe), and the
// .initrd taken apart segment by segment (src/formats/cpio for the archives,
// src/formats/compression for the compressed runs), as a kernel unpacks it.

import { Readable } from 'node:stream';
import { type Codec, MAGIC_LENGTH, decompressStream, detectCodec } from '../../src/formats/compression.js';
import { readCpio } from '../../src/formats/cpio.js';
import { PeFile } from '../../src/formats/pe/index.js';

export interface InitramfsSegment {
  /** Where the segment starts in the initramfs. */
  offset: number;
  codec: Codec;
  /** Entry names in archive order, over every archive of the segment (the trailers left out). */
  names: string[];
}

export interface InitramfsContents {
  segments: InitramfsSegment[];
  /** Bodies of the regular files `keep` asked for, by name (a later archive's entry wins, as the kernel's unpacking does). */
  files: Map<string, Buffer>;
}

const pad4 = (n: number): number => (n + 3) & ~3;
/** A newc header is 110 bytes; the trailer's name is `TRAILER!!!` plus NUL. */
const TRAILER_LENGTH = pad4(110 + 11);

/**
 * Splits an initramfs as the kernel reads it: uncompressed newc archives (each
 * up to its trailer, then NUL padding), and compressed runs, which are
 * decompressed to the end (the xz and zstd decoders read concatenated streams
 * and frames, so a run may hold several archives, padded between).
 */
export async function readInitramfs(bytes: Buffer, keep: (name: string) => boolean = () => false): Promise<InitramfsContents> {
  const segments: InitramfsSegment[] = [];
  const files = new Map<string, Buffer>();
  let offset = 0;
  while (offset < bytes.length) {
    if (bytes[offset] === 0) {
      offset++;
      continue;
    }
    const codec = detectCodec(bytes.subarray(offset, offset + MAGIC_LENGTH));
    const segment: InitramfsSegment = { offset, codec, names: [] };
    segments.push(segment);
    const rest = Readable.from([bytes.subarray(offset)], { objectMode: false });
    if (codec === 'none') {
      // One archive: its length is the sum of the padded headers and bodies, and the trailer.
      let length = TRAILER_LENGTH;
      for await (const entry of readCpio(rest)) {
        segment.names.push(entry.name);
        length += pad4(110 + Buffer.byteLength(entry.name) + 1) + pad4(entry.size);
        if (entry.type === 'file' && keep(entry.name)) files.set(entry.name, await entry.buffer());
      }
      offset += length;
      continue;
    }
    for await (const entry of readCpio(rest.pipe(decompressStream(codec)), { concatenated: true })) {
      segment.names.push(entry.name);
      if (entry.type === 'file' && keep(entry.name)) files.set(entry.name, await entry.buffer());
    }
    break;
  }
  return { segments, files };
}

export interface UkiContents {
  /** Section names in table order (what `objdump -h` lists). */
  sections: string[];
  osrel: string;
  uname: string;
  /** Every `.profile`, in order. */
  profiles: string[];
  /** Every `.cmdline`, in order: the base one, then one per extra profile. */
  cmdlines: string[];
  linux: Buffer;
  initrd: Buffer;
}

export async function readUki(path: string): Promise<UkiContents> {
  const pe = await PeFile.open(path);
  const text = async (name: string): Promise<string[]> => Promise.all(pe.sectionsNamed(name).map(async (s) => String(await pe.readSection(s))));
  return {
    sections: pe.sections.map((s) => s.name),
    osrel: (await text('.osrel'))[0] ?? '',
    uname: (await text('.uname'))[0] ?? '',
    profiles: await text('.profile'),
    cmdlines: await text('.cmdline'),
    linux: await pe.readSection('.linux'),
    initrd: await pe.readSection('.initrd'),
  };
}
