// Small documents kept in a registry as OCI artifacts (one layer, the empty
// config, an artifactType), each under a tag: how instances share schematics
// and the registry digest index, and how cosign stores signatures. Read back
// with a size limit, so a hostile registry cannot make us buffer much.

import { Readable } from 'node:stream';
import { sha256Digest } from './digest.js';
import { OciError, isNotFound } from './errors.js';
import { type Descriptor, type ImageManifest, encodeManifest } from './manifest.js';
import { MEDIA_TYPE } from './media-types.js';
import type { ImageRepository, WritableImageRepository } from './repository.js';

/** OCI's empty config (`{}`), the config of artifacts that have none. */
const EMPTY_CONFIG = Buffer.from('{}');

export interface ArtifactLayer {
  mediaType: string;
  bytes: Buffer;
  annotations?: Record<string, string>;
}

export interface ArtifactSpec {
  /** What the artifact is (cosign's signature images have none). */
  artifactType?: string;
  layers: ArtifactLayer[];
  /** The config blob; the empty config when absent (cosign's signatures carry a real one). */
  config?: { mediaType: string; bytes: Buffer };
  annotations?: Record<string, string>;
  /** The manifest this artifact refers to (OCI 1.1 referrers: signatures, bundles). */
  subject?: Descriptor;
}

function descriptorOf(mediaType: string, bytes: Buffer, annotations?: Record<string, string>): Descriptor {
  return { mediaType, digest: sha256Digest(bytes), size: bytes.length, ...(annotations && { annotations }) };
}

/** The manifest bytes of an artifact; the same spec always gives the same bytes. */
export function artifactManifest(spec: ArtifactSpec): Buffer {
  const config = spec.config ?? { mediaType: MEDIA_TYPE.ociEmpty, bytes: EMPTY_CONFIG };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.ociManifest,
    ...(spec.artifactType !== undefined && { artifactType: spec.artifactType }),
    config: descriptorOf(config.mediaType, config.bytes),
    layers: spec.layers.map((l) => descriptorOf(l.mediaType, l.bytes, l.annotations)),
    ...(spec.subject && { subject: spec.subject }),
    ...(spec.annotations && { annotations: spec.annotations }),
  };
  return encodeManifest(manifest);
}

/** Stores the blobs, then the manifest under `tag`: once this returns, the registry has the whole artifact. */
export async function pushArtifact(repo: WritableImageRepository, tag: string | undefined, spec: ArtifactSpec): Promise<Descriptor> {
  const config = spec.config ?? { mediaType: MEDIA_TYPE.ociEmpty, bytes: EMPTY_CONFIG };
  for (const blob of [config.bytes, ...spec.layers.map((l) => l.bytes)]) {
    const descriptor = { digest: sha256Digest(blob), size: blob.length };
    if (!(await repo.hasBlob(descriptor.digest))) await repo.putBlob(descriptor, () => Readable.from([blob]));
  }
  return repo.putManifest(artifactManifest(spec), MEDIA_TYPE.ociManifest, tag);
}

export interface PulledArtifact {
  descriptor: Descriptor;
  manifest: ImageManifest;
  /** Each layer's bytes, in manifest order. */
  layers: Buffer[];
}

/** The artifact under a tag or digest, or undefined when there is none; every layer must fit in `limit` bytes. */
export async function pullArtifact(repo: ImageRepository, reference: string, limit: number): Promise<PulledArtifact | undefined> {
  let fetched;
  try {
    fetched = await repo.fetchManifest(reference);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  if (fetched.parsed.kind !== 'image') {
    throw new OciError('invalid', 'pull artifact', `${repo.location}:${reference}`, 'an index where an artifact manifest was expected');
  }
  const manifest = fetched.parsed.manifest;
  const layers: Buffer[] = [];
  for (const layer of manifest.layers) layers.push(await readSmallBlob(repo, layer, limit, `${repo.location}:${reference}`));
  return { descriptor: fetched.descriptor, manifest, layers };
}

/** A blob small enough to hold in memory (configs, documents, signatures), verified by the store's stream. */
export async function readSmallBlob(repo: ImageRepository, descriptor: Descriptor, limit: number, image: string): Promise<Buffer> {
  if (descriptor.size > limit) {
    throw new OciError('invalid', 'read blob', image, `${descriptor.digest} is ${descriptor.size} bytes, more than the ${limit} bytes it may be`);
  }
  const chunks: Buffer[] = [];
  for await (const chunk of await repo.openBlob(descriptor)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
