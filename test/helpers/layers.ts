// Building test images: layer tars written with tar-stream, compressed with the
// real CLIs or zlib, stored with their config and manifest in an OCI layout.

import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { sha256Digest } from '../../src/oci/digest.js';
import type { OciLayout } from '../../src/oci/layout.js';
import { type Descriptor, type ImageIndex, type ImageManifest, type Platform, encodeManifest } from '../../src/oci/manifest.js';
import { MEDIA_TYPE } from '../../src/oci/media-types.js';

export interface TestEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'fifo';
  content?: string | Buffer;
  mode?: number;
  linkname?: string;
  /** PAX records (e.g. `SCHILY.xattr.security.capability`). */
  pax?: Record<string, string>;
}

export const file = (name: string, content: string | Buffer, mode = 0o644): TestEntry => ({ name, content, mode });
export const dir = (name: string, mode = 0o755): TestEntry => ({ name, type: 'directory', mode });
export const symlink = (name: string, linkname: string): TestEntry => ({ name, type: 'symlink', linkname });
export const hardlink = (name: string, linkname: string): TestEntry => ({ name, type: 'link', linkname });
export const whiteout = (path: string): TestEntry => {
  const at = path.lastIndexOf('/');
  return file(`${path.slice(0, at + 1)}.wh.${path.slice(at + 1)}`, '');
};
export const opaque = (dirPath: string): TestEntry => file(`${dirPath}/.wh..wh..opq`, '');

/** An uncompressed layer tar with fixed metadata, entries in the order given. */
export async function tarLayer(entries: TestEntry[]): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of tar) chunks.push(chunk as Buffer);
  })();
  for (const entry of entries) {
    const type = entry.type ?? 'file';
    const header = {
      name: entry.name,
      type,
      mode: entry.mode ?? (type === 'directory' ? 0o755 : 0o644),
      mtime: new Date(0),
      uid: 0,
      gid: 0,
      linkname: entry.linkname,
      ...(entry.pax && { pax: entry.pax }),
    };
    await new Promise<void>((resolve, reject) => {
      if (type === 'file') tar.entry(header, entry.content ?? '', (error) => (error ? reject(error) : resolve()));
      else tar.entry(header, (error) => (error ? reject(error) : resolve()));
    });
  }
  tar.finalize();
  await collected;
  return Buffer.concat(chunks);
}

export type LayerCodec = 'gzip' | 'zstd' | 'none';

export function compressLayer(tar: Buffer, codec: LayerCodec): Buffer {
  if (codec === 'gzip') return gzipSync(tar);
  if (codec === 'zstd') return execFileSync('zstd', ['-q', '-c'], { input: tar, maxBuffer: 1 << 30 });
  return tar;
}

const LAYER_MEDIA_TYPE: Record<LayerCodec, string> = {
  gzip: MEDIA_TYPE.ociLayerGzip,
  zstd: MEDIA_TYPE.ociLayerZstd,
  none: MEDIA_TYPE.ociLayer,
};

export interface TestLayer {
  entries: TestEntry[];
  codec?: LayerCodec;
  /** Media type to claim, when testing mislabelled layers. */
  mediaType?: string;
}

export interface StoredImage {
  manifest: ImageManifest;
  descriptor: Descriptor;
  layers: Descriptor[];
}

/** Stores layers (bottom first), a config and a manifest in `layout`; tags the manifest when asked. */
export async function storeImage(
  layout: OciLayout,
  layers: TestLayer[],
  options: { tag?: string; platform?: Platform; label?: string } = {},
): Promise<StoredImage> {
  const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
  const descriptors: Descriptor[] = [];
  const diffIds: string[] = [];
  for (const layer of layers) {
    const tar = await tarLayer(layer.entries);
    const codec = layer.codec ?? 'gzip';
    const blob = compressLayer(tar, codec);
    const descriptor = { mediaType: layer.mediaType ?? LAYER_MEDIA_TYPE[codec], digest: sha256Digest(blob), size: blob.length };
    await layout.putBlob(descriptor, () => bufferStream(blob));
    descriptors.push(descriptor);
    diffIds.push(sha256Digest(tar));
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant && { variant: platform.variant }),
      config: { Labels: { 'test.label': options.label ?? 'test' } },
      rootfs: { type: 'layers', diff_ids: diffIds },
    }),
  );
  const configDescriptor = { mediaType: MEDIA_TYPE.ociConfig, digest: sha256Digest(config), size: config.length };
  await layout.putBlob(configDescriptor, () => bufferStream(config));
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: MEDIA_TYPE.ociManifest, config: configDescriptor, layers: descriptors };
  const descriptor = await layout.putManifest(encodeManifest(manifest), MEDIA_TYPE.ociManifest, options.tag);
  return { manifest, descriptor, layers: descriptors };
}

/** Stores an index of the given manifests (each with its platform) under `tag`. */
export async function storeIndex(layout: OciLayout, children: Array<{ descriptor: Descriptor; platform: Platform; annotations?: Record<string, string> }>, tag?: string): Promise<Descriptor> {
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.ociIndex,
    manifests: children.map((c) => ({ ...c.descriptor, platform: c.platform, ...(c.annotations && { annotations: c.annotations }) })),
  };
  return layout.putManifest(encodeManifest(index), MEDIA_TYPE.ociIndex, tag);
}

async function* chunks(bytes: Buffer): AsyncGenerator<Buffer> {
  for (let at = 0; at < bytes.length; at += 65536) yield bytes.subarray(at, at + 65536);
}

/** A byte stream of `bytes` in 64 KiB chunks. */
export function bufferStream(bytes: Buffer): Readable {
  return Readable.from(chunks(bytes), { objectMode: false });
}
