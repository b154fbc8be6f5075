// The final initramfs, as Talos' imager lays it out: an uncompressed cpio with
// early microcode (only when there is some: the kernel's early loader reads
// only a leading uncompressed archive), the base initramfs bytes untouched, then
// one compressed cpio with the extension layers, firmware and extensions.yaml.

import { createReadStream } from 'node:fs';
import { readdir, lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Duplex, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type CpioEntry, cpioArchive, cpioArchiveSize } from '../../formats/cpio.js';
import { type Codec, compressStream } from '../../formats/compression.js';

/** Paths in pre-order with names sorted per directory, as Talos walks its staging directory. */
async function walk(root: string, relative = '', out: string[] = []): Promise<string[]> {
  const names = (await readdir(join(root, relative))).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const name of names) {
    const path = relative === '' ? name : `${relative}/${name}`;
    out.push(path);
    if ((await lstat(join(root, path))).isDirectory()) await walk(root, path, out);
  }
  return out;
}

async function entry(root: string, name: string): Promise<CpioEntry> {
  const full = join(root, name);
  const st = await lstat(full);
  const mode = st.mode & 0o7777;
  if (st.isDirectory()) return { type: 'directory', name, mode };
  if (st.isSymbolicLink()) return { type: 'symlink', name, mode, target: await readlink(full) };
  return { type: 'file', name, mode, size: st.size, source: full };
}

const isEarly = (path: string): boolean => path === 'kernel' || path.startsWith('kernel/');

/** Writes the whole initramfs to `out` (ended at the end). */
export async function assembleInitramfs(baseInitramfs: string, stagingDir: string, codec: Exclude<Codec, 'none'>, out: Writable, signal?: AbortSignal): Promise<void> {
  // The staging directory holds tens of entries: listed up front, so the compressed archive's size is known.
  const entries = await Promise.all((await walk(stagingDir)).map((path) => entry(stagingDir, path)));
  const early = entries.filter((e) => isEarly(e.name));
  const rest = entries.filter((e) => !isEarly(e.name));
  // Each segment is a chain of streams piped into `out` in turn.
  const segments: Array<() => Array<Readable | Duplex>> = [];
  if (early.length > 0) segments.push(() => [cpioArchive(early)]);
  segments.push(() => [createReadStream(baseInitramfs, { highWaterMark: 1 << 20 })]);
  segments.push(() => [cpioArchive(rest), compressStream(codec, { ...compressionFor(codec), inputSize: cpioArchiveSize(rest) })]);
  for (const [i, open] of segments.entries()) {
    const chain = open();
    await pipeline([...chain, out] as unknown as [Readable, Writable], { end: i === segments.length - 1, ...(signal && { signal }) });
  }
}

/** Talos' settings: zstd -18, xz -0 (extreme) with the CRC32 check the kernel requires. */
function compressionFor(codec: Exclude<Codec, 'none'>): { level: number; xzCheck?: 'crc32' } {
  return codec === 'xz' ? { level: 0, xzCheck: 'crc32' } : { level: codec === 'zstd' ? 18 : 9 };
}
