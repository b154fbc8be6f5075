// Deterministic image assembly: directory trees become tar layers with fixed
// ownership and times, layers are gzipped to temporary files while both the
// compressed and the uncompressed bytes are hashed, and the config, manifest
// and an index of one or more platforms are written to any writable repository. The same
// inputs give the same digests (for a given zlib), so images can be rebuilt
// and compared instead of stored.

import { createHash } from 'node:crypto';
import { constants as fsConstants, createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdtemp, readdir, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { type Header, type Pack, pack as createPack } from 'tar-stream';
import { sha256Digest } from './digest.js';
import { type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest, type Platform, encodeManifest } from './manifest.js';
import { MEDIA_TYPE } from './media-types.js';
import type { ImageRepository, WritableImageRepository } from './repository.js';

export interface TarDirectoryOptions {
  /** Emit entries for directories too (default true). Talos' own artifact layers have none. */
  directories?: boolean;
}

interface TreeEntry {
  /** Path inside the archive, `/`-separated, no leading `./`. */
  name: string;
  path: string;
}

/** Every entry under `root`, sorted by the bytes of the archive path (like `find | LC_ALL=C sort`). */
async function listTree(root: string): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  const walk = async (dir: string, prefix: string): Promise<void> => {
    for (const dirent of await readdir(dir, { withFileTypes: true })) {
      const name = prefix === '' ? dirent.name : `${prefix}/${dirent.name}`;
      const path = join(dir, dirent.name);
      out.push({ name, path });
      if (dirent.isDirectory()) await walk(path, name);
    }
  };
  await walk(root, '');
  return out.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
}

async function addEntry(pack: Pack, entry: TreeEntry, directories: boolean): Promise<void> {
  const stat = await lstat(entry.path);
  const common: Partial<Header> & { name: string } = {
    name: entry.name,
    mode: stat.mode & 0o7777,
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
    mtime: new Date(0),
  };
  if (stat.isDirectory()) {
    if (directories) await writeEntry(pack, { ...common, type: 'directory' });
  } else if (stat.isSymbolicLink()) {
    await writeEntry(pack, { ...common, type: 'symlink', linkname: await readlink(entry.path) });
  } else if (stat.isFile()) {
    await writeEntry(pack, { ...common, type: 'file', size: stat.size }, entry.path);
  } else {
    throw new Error(`${entry.path}: only directories, regular files and symlinks can go into a layer`);
  }
}

/** Adds one entry and waits until tar-stream has taken all of it (it handles one entry at a time). */
function writeEntry(pack: Pack, header: Partial<Header> & { name: string }, file?: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const sink = pack.entry(header, (error) => (error ? reject(error) : resolve()));
    if (file === undefined) return;
    const source = createReadStream(file);
    source.on('error', (error) => sink.destroy(error));
    source.pipe(sink as unknown as NodeJS.WritableStream);
  });
}

/**
 * A tar stream of a directory's contents: entries sorted by path, uid/gid 0,
 * empty user and group names, mtime 0, permission bits kept, symlinks as
 * symlinks. Files are read as the stream is consumed, never held whole.
 */
export function tarDirectory(dir: string, options: TarDirectoryOptions = {}): Readable {
  const pack = createPack();
  const directories = options.directories ?? true;
  void (async () => {
    try {
      for (const entry of await listTree(dir)) await addEntry(pack, entry, directories);
      pack.finalize();
    } catch (error) {
      pack.destroy(error as Error);
    }
  })();
  return pack as unknown as Readable;
}

const S_IFREG = fsConstants.S_IFREG;

/**
 * A tar stream of the given files alone (no directory entries), sorted by
 * archive name, uid/gid 0, mtime 0 and the given mode: the shape of Talos'
 * artifact layers.
 */
export function tarFiles(files: ReadonlyArray<{ name: string; path: string; mode: number }>): Readable {
  const pack = createPack();
  const sorted = [...files].sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  void (async () => {
    try {
      for (const file of sorted) {
        const { size } = await lstat(file.path);
        // The file-type bits keep tar-stream from replacing permission bits 0 with its default 0644.
        const header = { name: file.name, mode: S_IFREG | file.mode, uid: 0, gid: 0, uname: '', gname: '', mtime: new Date(0), type: 'file' as const, size };
        await writeEntry(pack, header, file.path);
      }
      pack.finalize();
    } catch (error) {
      pack.destroy(error as Error);
    }
  })();
  return pack as unknown as Readable;
}

/** Counts and hashes what passes through. */
class HashingStream extends Transform {
  private readonly hash = createHash('sha256');
  size = 0;
  digest = '';

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.digest = `sha256:${this.hash.digest('hex')}`;
    callback();
  }
}

/**
 * A layer: a directory to tar, a tar stream made by the caller (opened once),
 * or a layer another image already has (its blob is copied as it is).
 */
export type LayerSource =
  | { directory: string; directories?: boolean }
  | { tar: () => Readable | Promise<Readable> }
  | { existing: { repo: ImageRepository; descriptor: Descriptor; diffId: string } };

export interface ImageSpec {
  layers: LayerSource[];
  /** Everything but `rootfs`, which is filled in from the layers. Architecture and os default to the platform's. */
  config: Omit<ImageConfig, 'rootfs' | 'architecture' | 'os'> & { architecture?: string; os?: string };
  platform: Platform;
  /** Put on the manifest and on the index. */
  annotations?: Record<string, string>;
  /** Where compressed layers wait before they are stored (default the OS temp dir). */
  tmpDir?: string;
  /** gzip level (default 6). */
  gzipLevel?: number;
}

export interface WrittenLayer extends Descriptor {
  /** sha256 of the uncompressed tar (the config's diff_id). */
  diffId: string;
}

export interface WrittenImage {
  /** The tagged index (what `resolve(tag)` returns). */
  index: Descriptor;
  manifest: Descriptor;
  config: Descriptor;
  layers: WrittenLayer[];
}

async function compressLayer(source: Exclude<LayerSource, { existing: unknown }>, file: string, level: number): Promise<{ diffId: string; digest: string; size: number }> {
  const tar = 'directory' in source ? tarDirectory(source.directory, { directories: source.directories ?? true }) : await source.tar();
  const uncompressed = new HashingStream();
  const compressed = new HashingStream();
  // zlib writes a header with mtime 0 and no file name, so the bytes depend on the input only.
  await pipeline(tar, uncompressed, createGzip({ level }), compressed, createWriteStream(file));
  return { diffId: uncompressed.digest, digest: compressed.digest, size: compressed.size };
}

async function putBytes(repo: WritableImageRepository, bytes: Buffer, mediaType: string): Promise<Descriptor> {
  const descriptor = { mediaType, digest: sha256Digest(bytes), size: bytes.length };
  if (!(await repo.hasBlob(descriptor.digest))) {
    await repo.putBlob(descriptor, () => Readable.from([bytes]));
  }
  return descriptor;
}

/** One platform's image of an index: everything but the index itself. */
export type WrittenPlatformImage = Omit<WrittenImage, 'index'>;

/**
 * Layer directories already compressed, by path: reused for another platform
 * of the same index, or (when the caller keeps one across calls, for trees
 * that never change under the same path) for another image.
 */
export type LayerMemo = Map<string, WrittenLayer>;

function memoKey(source: LayerSource): string | undefined {
  return 'directory' in source ? JSON.stringify([source.directory, source.directories ?? true]) : undefined;
}

/** Writes one platform's layers, config and manifest (not tagged, no index). */
async function writePlatformManifest(repo: WritableImageRepository, spec: ImageSpec, work: string, memo: LayerMemo): Promise<WrittenPlatformImage> {
  const { platform } = spec;
  if (spec.config.architecture !== undefined && spec.config.architecture !== platform.architecture) {
    throw new Error(`config architecture ${spec.config.architecture} is not the platform's ${platform.architecture}`);
  }
  if (spec.config.os !== undefined && spec.config.os !== platform.os) {
    throw new Error(`config os ${spec.config.os} is not the platform's ${platform.os}`);
  }
  const layers: WrittenLayer[] = [];
  for (const source of spec.layers) {
    if ('existing' in source) {
      const { repo: from, descriptor, diffId } = source.existing;
      if (!(await repo.hasBlob(descriptor.digest))) await repo.putBlob(descriptor, () => from.openBlob(descriptor));
      layers.push({ mediaType: descriptor.mediaType, digest: descriptor.digest, size: descriptor.size, diffId });
      continue;
    }
    const key = memoKey(source);
    const done = key === undefined ? undefined : memo.get(key);
    if (done && (await repo.hasBlob(done.digest))) {
      layers.push(done);
      continue;
    }
    const file = join(work, `layer-${layers.length}.tar.gz`);
    const { diffId, digest, size } = await compressLayer(source, file, spec.gzipLevel ?? 6);
    if (!(await repo.hasBlob(digest))) await repo.putBlob({ digest, size }, () => createReadStream(file));
    await rm(file, { force: true });
    const layer = { mediaType: MEDIA_TYPE.ociLayerGzip, digest, size, diffId };
    if (key !== undefined) memo.set(key, layer);
    layers.push(layer);
  }

  const configDocument: ImageConfig = {
    ...spec.config,
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant !== undefined && { variant: platform.variant }),
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  };
  const config = await putBytes(repo, Buffer.from(JSON.stringify(configDocument), 'utf8'), MEDIA_TYPE.ociConfig);

  const manifestDocument: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.ociManifest,
    config,
    layers: layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
    ...(spec.annotations && { annotations: spec.annotations }),
  };
  const manifest = await repo.putManifest(encodeManifest(manifestDocument), MEDIA_TYPE.ociManifest);
  return { manifest, config, layers };
}

/**
 * Writes an image as an OCI index holding one platform's manifest, and tags
 * the index (when `tag` is given). Blobs the repository already has are not
 * sent again.
 */
export async function writeImage(repo: WritableImageRepository, spec: ImageSpec, tag?: string): Promise<WrittenImage> {
  const { index, images } = await writeImageIndex(repo, [spec], tag, { annotations: spec.annotations });
  return { index, ...images[0]! };
}

/**
 * Writes a multi-platform image: one manifest per spec (in the given order,
 * each with its own platform), then an OCI index listing them, tagged when
 * `tag` is given. A layer directory that several platforms share is
 * compressed once (and once across calls given the same `layerMemo`).
 */
export async function writeImageIndex(
  repo: WritableImageRepository,
  specs: readonly ImageSpec[],
  tag?: string,
  options: { annotations?: Record<string, string>; layerMemo?: LayerMemo } = {},
): Promise<{ index: Descriptor; images: WrittenPlatformImage[] }> {
  const { annotations } = options;
  if (specs.length === 0) throw new Error('an image index needs at least one platform');
  const seen = new Set<string>();
  for (const { platform } of specs) {
    const name = [platform.os, platform.architecture, platform.variant ?? ''].join('/');
    if (seen.has(name)) throw new Error(`platform ${name} given twice`);
    seen.add(name);
  }
  const work = await mkdtemp(join(specs[0]!.tmpDir ?? tmpdir(), 'image-writer-'));
  try {
    const memo: LayerMemo = options.layerMemo ?? new Map();
    const images: WrittenPlatformImage[] = [];
    for (const spec of specs) images.push(await writePlatformManifest(repo, spec, work, memo));
    const indexDocument: ImageIndex = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociIndex,
      manifests: images.map(({ manifest }, i) => ({ mediaType: MEDIA_TYPE.ociManifest, digest: manifest.digest, size: manifest.size, platform: specs[i]!.platform })),
      ...(annotations && { annotations }),
    };
    const index = await repo.putManifest(encodeManifest(indexDocument), MEDIA_TYPE.ociIndex, tag);
    return { index, images };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
