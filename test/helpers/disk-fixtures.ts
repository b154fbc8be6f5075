// Disks for the format tests: a Talos-shaped GPT disk (EFI, BIOS, BOOT, META)
// whose partitions hold data from all three extent sources, deterministic
// pseudo-random bytes (so a stream source gives the same bytes on every
// pass), temp directories and a peak-RSS probe for the large-image tests.

import { closeSync, createWriteStream, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Extent, type SparseDisk, bytesExtent, fileExtent, sparseDisk, streamExtent } from '../../src/formats/disk/sparse.js';
import { GPT_ATTR, GPT_TYPE, type GptLayout, gptExtents, guidFromLabel, planGpt } from '../../src/formats/gpt.js';
import { type MetaValue, metaPartitionExtents } from '../../src/formats/talos-meta.js';

export const MiB = 1 << 20;

/** `length` bytes of a file from `offset` (zeros past its end). */
export function readFileRange(path: string, offset: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, out, 0, length, offset);
  } finally {
    closeSync(fd);
  }
  return out;
}

export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** xorshift32 bytes: cheap, deterministic, incompressible enough. */
export function pseudoRandom(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= length; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.writeUInt32LE(x, i);
  }
  return out;
}

/** A stream factory yielding `length` bytes made of repeated pseudo-random 1 MiB pieces. */
export function pseudoRandomStream(seed: number, length: number): () => AsyncIterable<Buffer> {
  return async function* () {
    for (let at = 0, n = 0; at < length; at += MiB, n++) yield pseudoRandom(seed + n, Math.min(MiB, length - at));
  };
}

export async function toFile(stream: Readable, path: string): Promise<void> {
  await pipeline(stream, createWriteStream(path));
}

export const SAMPLE_META: MetaValue[] = [
  { key: 0x0a, value: '{"addresses":[]}' },
  { key: 0x11, value: 'dual-boot' },
];

export interface SampleDisk {
  disk: SparseDisk;
  layout: GptLayout;
}

/**
 * 64 MiB (by default) with EFI 16 MiB, BIOS 1 MiB (legacy BIOS bootable),
 * BOOT 24 MiB and META 1 MiB; EFI holds bytes at an unaligned offset, BOOT a
 * file range and a stream, META the ADV of SAMPLE_META.
 */
export function sampleDisk(dir: string, options: { sectorSize?: number; size?: number } = {}): SampleDisk {
  const size = options.size ?? 64 * MiB;
  const layout = planGpt({
    size,
    sectorSize: options.sectorSize ?? 512,
    diskGuid: guidFromLabel('talos-image-disk'),
    partitions: [
      { name: 'EFI', type: GPT_TYPE.efiSystem, size: 16 * MiB },
      { name: 'BIOS', type: GPT_TYPE.biosBoot, size: MiB, attributes: GPT_ATTR.legacyBiosBootable },
      { name: 'BOOT', type: GPT_TYPE.linuxFilesystem, size: 24 * MiB },
      { name: 'META', type: GPT_TYPE.linuxFilesystem, size: MiB },
    ],
  });
  const [efi, , boot, meta] = layout.partitions;
  const file = join(dir, 'payload.bin');
  writeFileSync(file, pseudoRandom(7, 5 * MiB + 123));
  const extents: Extent[] = [
    ...gptExtents(layout),
    bytesExtent(efi!.offset + 12345, pseudoRandom(1, 3 * MiB)),
    fileExtent(boot!.offset, file, 2 * MiB + 77, 1000),
    streamExtent(boot!.offset + 10 * MiB + 512, 6 * MiB + 4096, pseudoRandomStream(100, 6 * MiB + 4096)),
    ...metaPartitionExtents(SAMPLE_META, meta!.offset),
  ];
  return { disk: sparseDisk(size, extents), layout };
}

/** Runs `fn` while sampling the process RSS; returns its result and the peak growth over the starting RSS. */
export async function withPeakRss<T>(fn: () => Promise<T>): Promise<{ result: T; peakDelta: number }> {
  (globalThis as { gc?: () => void }).gc?.();
  const start = process.memoryUsage.rss();
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  try {
    const result = await fn();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { result, peakDelta: peak - start };
  } finally {
    clearInterval(timer);
  }
}
