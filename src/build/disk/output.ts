// A planned disk as the file a user downloads: raw, qcow2 (8 KiB clusters,
// as upstream's qemu-img options), VHD (fixed with force_size where the
// platform's profile says so, Azure's; dynamic, qemu-img's default, else) or an OVA
// (stream-optimized VMDK with upstream's OVF), then compressed as the name
// asks: zstd -18, xz -0, gzip -6, or a gzip'ed tar holding the image as
// `disk.raw` whatever its format (upstream renames the image before tarring
// it), sparse where the image has holes. A compressed image but the .tar.gz
// is two frames: its first MiB, which goes out at once, then the rest.
// Everything streams from the sparse description; an uncompressed raw or fixed
// VHD goes to a file with its zeros left as holes. A raw or fixed VHD goes out
// in disk order while partitions are still being made; the other formats lay
// out the whole disk first, so they wait for every partition.

import { createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Duplex, Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Codec, compressStream } from '../../formats/compression.js';
import {
  type SparseDisk,
  type SparseOutput,
  type StreamableDisk,
  bytesExtent,
  fileExtent,
  rawDiskStream,
  settledDisk,
  sparseDisk,
  streamableDisk,
  streamExtent,
  writeSparse,
  writeSparseFile,
} from '../../formats/disk/sparse.js';
import { createOva } from '../../formats/ova.js';
import { planQcow2, qcow2Stream } from '../../formats/qcow2.js';
import { sparseTarStream } from '../../formats/sparse-tar.js';
import { type VhdOptions, encodeVhdFooter, planDynamicVhd, planVhd, vhdDynamicStream, vhdFixedStream } from '../../formats/vhd.js';
import type { Compression, DiskFormat } from '../../talos/platforms.js';

export interface DiskOutputOptions {
  format: DiskFormat;
  /** qemu-img's `-o` options of the platform's profile (`subformat=fixed,force_size` for Azure's VHD). */
  formatOptions?: string;
  compression: Compression;
  sourceDateEpoch: number;
  /** Scratch space (an OVA inside a .tar.gz is written there first); default: beside an output file. */
  workDir?: string;
  /** Stops the writing (and any compressor) with an error once aborted. */
  signal?: AbortSignal;
}

/** Where an image goes other than a file: a stream in order, or the positional writes a sparse image takes. */
export interface DiskImageOutput extends SparseOutput {
  stream(): Writable;
}

const QCOW2_CLUSTER = 8 * 1024;

/** A VHD as qemu-img makes it from the profile's options: dynamic unless `subformat=fixed`. */
function vhdOptions(formatOptions = ''): VhdOptions & { subformat: 'fixed' | 'dynamic' } {
  const options = new Set(formatOptions.split(',').map((o) => o.trim()));
  return { subformat: options.has('subformat=fixed') ? 'fixed' : 'dynamic', forceSize: options.has('force_size') };
}

function ova(disk: SparseDisk): Promise<Readable> {
  return createOva(disk, {
    ovf: {
      name: 'talos',
      product: { info: 'Talos Virtual Appliance', properties: [{ key: 'talos.config', label: 'Talos config data', description: 'Inline Talos config' }] },
    },
  });
}

async function formatted(disk: StreamableDisk, options: DiskOutputOptions): Promise<Readable> {
  switch (options.format) {
    case 'raw':
      return rawDiskStream(disk);
    case 'qcow2':
      return qcow2Stream(await settledDisk(disk), { clusterSize: QCOW2_CLUSTER });
    case 'vhd': {
      const vhd = vhdOptions(options.formatOptions);
      return vhd.subformat === 'fixed' ? vhdFixedStream(disk, vhd) : vhdDynamicStream(await settledDisk(disk), vhd);
    }
    case 'ova':
      return ova(await settledDisk(disk));
  }
}

/** A fixed VHD file: the raw disk with the footer after it, holes kept. */
function fixedVhdFile(disk: StreamableDisk, options: VhdOptions): StreamableDisk {
  const { currentSize, fileSize } = planVhd(disk.size, options);
  return streamableDisk(fileSize, [...disk.extents, bytesExtent(currentSize, encodeVhdFooter(disk.size, options))]);
}

/**
 * The image file a `.tar.gz` holds, described as a sparse file: the raw disk
 * and a fixed VHD keep their holes, a qcow2 or dynamic VHD is streamed (its
 * size is planned up front), an OVA (sized only once written) is written to
 * `scratch` first.
 */
async function tarMember(lazy: StreamableDisk, options: DiskOutputOptions, scratch: string): Promise<SparseDisk> {
  const disk = await settledDisk(lazy);
  switch (options.format) {
    case 'raw':
      return disk;
    case 'vhd': {
      const vhd = vhdOptions(options.formatOptions);
      if (vhd.subformat === 'fixed') return settledDisk(fixedVhdFile(disk, vhd));
      const { fileSize } = planDynamicVhd(disk, vhd);
      return sparseDisk(fileSize, [streamExtent(0, fileSize, () => vhdDynamicStream(disk, vhd))]);
    }
    case 'qcow2': {
      const { fileSize } = planQcow2(disk, { clusterSize: QCOW2_CLUSTER });
      return sparseDisk(fileSize, [streamExtent(0, fileSize, () => qcow2Stream(disk, { clusterSize: QCOW2_CLUSTER }))]);
    }
    case 'ova': {
      await pipeline(await ova(disk), createWriteStream(scratch), signalOption(options));
      const { size } = await stat(scratch);
      return sparseDisk(size, [fileExtent(0, scratch, size)]);
    }
  }
}

const CODECS: Record<Compression, { codec: Codec; level?: number; xzCheck?: 'crc64' }> = {
  none: { codec: 'none' },
  zst: { codec: 'zstd', level: 18 },
  xz: { codec: 'xz', level: 0, xzCheck: 'crc64' },
  gz: { codec: 'gzip', level: 6 },
  'tar.gz': { codec: 'gzip', level: 6 },
};

function compressor(compression: Compression): Duplex {
  const { codec, level, xzCheck } = CODECS[compression];
  return compressStream(codec, { ...(level !== undefined && { level }), ...(xzCheck && { xzCheck }) });
}

/**
 * How much of an image is compressed on its own, first: a disk's MBR and
 * GPT. A multi-threaded compressor emits nothing until it has a whole job's
 * input (zstd -18: tens of MiB), which the partitions after the GPT may take
 * seconds to provide; this part goes out at once.
 */
export const FIRST_FRAME_SIZE = 1 << 20;

/** `input` through `codec`, its output as it comes. */
async function* through(input: AsyncIterable<Buffer>, codec: Duplex): AsyncGenerator<Buffer> {
  const feeding = pipeline(Readable.from(input, { objectMode: false }), codec);
  feeding.catch((error: Error) => codec.destroy(error));
  yield* codec as AsyncIterable<Buffer>;
  await feeding;
}

/**
 * The image compressed as two frames (zstd), streams (xz) or members (gzip):
 * its first FIRST_FRAME_SIZE bytes, then the rest. Each format defines a file
 * as one or more of these, decompressed one after the other (RFC 8878 §3,
 * the .xz format §2, RFC 1952 §2.2), so the file is the same image, and the
 * split is at a fixed offset, so the bytes are reproducible.
 */
function compressedInTwo(source: Readable, compression: Compression): Readable {
  if (compression === 'none') return source;
  const input = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let carried: Buffer | undefined;
  async function* head(): AsyncGenerator<Buffer> {
    for (let taken = 0; taken < FIRST_FRAME_SIZE; ) {
      const next = await input.next();
      if (next.done) return;
      const chunk = next.value;
      if (taken + chunk.length > FIRST_FRAME_SIZE) {
        carried = chunk.subarray(FIRST_FRAME_SIZE - taken);
        yield chunk.subarray(0, FIRST_FRAME_SIZE - taken);
        return;
      }
      taken += chunk.length;
      yield chunk;
    }
  }
  async function* rest(): AsyncGenerator<Buffer> {
    if (carried) yield carried;
    for (let next = await input.next(); !next.done; next = await input.next()) yield next.value;
  }
  async function* frames(): AsyncGenerator<Buffer> {
    try {
      yield* through(head(), compressor(compression));
      yield* through(rest(), compressor(compression));
    } finally {
      // Stopped early (failed, or the consumer went away): the image stream stops too.
      if (!source.readableEnded) source.destroy();
    }
  }
  return Readable.from(frames(), { objectMode: false });
}

/** The downloadable image as one stream, for every compression but `.tar.gz` (which writeDiskImage packs). */
export async function diskImageStream(disk: StreamableDisk, options: DiskOutputOptions): Promise<Readable> {
  if (options.compression === 'tar.gz') throw new Error('disk image: a .tar.gz is packed by writeDiskImage');
  return compressedInTwo(await formatted(disk, options), options.compression);
}

function signalOption(options: DiskOutputOptions): { signal?: AbortSignal } {
  return options.signal ? { signal: options.signal } : {};
}

/**
 * Writes the file a user downloads. A fixed VHD is the raw disk plus a
 * footer, so like the raw disk it is written sparse: an 8 GiB Azure disk
 * takes the space of its data, not 8 GiB.
 */
export async function writeDiskImage(disk: StreamableDisk, options: DiskOutputOptions, out: string | DiskImageOutput): Promise<void> {
  const vhd = vhdOptions(options.formatOptions);
  const sparse =
    options.compression !== 'none' ? undefined : options.format === 'raw' ? disk : options.format === 'vhd' && vhd.subformat === 'fixed' ? fixedVhdFile(disk, vhd) : undefined;
  if (sparse) return typeof out === 'string' ? writeSparseFile(sparse, out, options.signal) : writeSparse(sparse, out, options.signal);
  const destination = (): Writable => (typeof out === 'string' ? createWriteStream(out) : out.stream());
  if (options.compression === 'tar.gz') {
    if (typeof out !== 'string' && options.workDir === undefined) throw new Error('disk image: a .tar.gz written to a stream needs a workDir');
    const scratch = options.workDir === undefined ? `${out as string}.member` : join(options.workDir, 'tar-member');
    try {
      const member = await tarMember(disk, options, scratch);
      await pipeline(sparseTarStream('disk.raw', member, { mtime: options.sourceDateEpoch }), compressor('tar.gz'), destination(), signalOption(options));
    } finally {
      await rm(scratch, { force: true });
    }
    return;
  }
  await pipeline(await diskImageStream(disk, options), destination(), signalOption(options));
}
