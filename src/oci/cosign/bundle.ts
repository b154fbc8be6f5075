// cosign's newer signature format: a Sigstore bundle (a DSSE envelope around
// an in-toto statement whose subject is the signed manifest digest) stored as
// an OCI 1.1 referrer of the signed manifest. Registries without the referrers
// API (Debian's docker-registry, OCI layouts) list referrers in an index
// tagged `sha256-<hex>` (the spec's tag schema fallback), which is where this
// reads and writes them.

import { dsse } from '@sigstore/core';
import { type ArtifactSpec, pullArtifact } from '../artifact.js';
import { digestHex } from '../digest.js';
import { isNotFound } from '../errors.js';
import { type Descriptor, type ImageIndex, encodeManifest } from '../manifest.js';
import { MEDIA_TYPE } from '../media-types.js';
import type { ImageRepository, WritableImageRepository } from '../repository.js';

export const BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
/** The predicate `cosign sign --new-bundle-format` signs images with. */
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
const MAX_BUNDLE_BYTES = 1024 * 1024;

/** The referrers fallback tag of a manifest digest. */
export function referrersTag(digest: string): string {
  return `sha256-${digestHex(digest)}`;
}

/** The in-toto statement a bundle signs for an image. */
export function signStatement(digest: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: '', digest: { sha256: digestHex(digest) } }],
      predicateType: COSIGN_SIGN_PREDICATE,
      predicate: {},
    }),
  );
}

/** The bytes a DSSE signature covers (its pre-authentication encoding). */
export function dssePreAuthEncoding(payload: Buffer): Buffer {
  return dsse.preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, payload);
}

/** The digests an in-toto statement names as its subjects. */
export function statementSubjects(payload: Buffer): string[] {
  try {
    const statement = JSON.parse(payload.toString('utf8')) as { subject?: Array<{ digest?: { sha256?: unknown } }> };
    return (statement.subject ?? []).flatMap((s) => (typeof s.digest?.sha256 === 'string' ? [`sha256:${s.digest.sha256}`] : []));
  } catch {
    return [];
  }
}

/** The referrer artifact holding a serialized bundle for `subject`. */
export function bundleReferrer(bundleJson: Buffer, subject: Descriptor): ArtifactSpec {
  return { artifactType: BUNDLE_MEDIA_TYPE, layers: [{ mediaType: BUNDLE_MEDIA_TYPE, bytes: bundleJson }], subject };
}

/** Adds a referrer to the fallback index of its subject (read, add, write back). */
export async function addToReferrersIndex(repo: WritableImageRepository, subject: string, referrer: Descriptor): Promise<void> {
  const tag = referrersTag(subject);
  let manifests: Descriptor[] = [];
  try {
    const current = await repo.fetchManifest(tag);
    if (current.parsed.kind === 'index') manifests = current.parsed.index.manifests;
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  if (manifests.some((m) => m.digest === referrer.digest)) return;
  const index: ImageIndex = { schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests: [...manifests, referrer] };
  const bytes = encodeManifest(index);
  await repo.putManifest(bytes, MEDIA_TYPE.ociIndex, tag);
}

/** The serialized bundles referring to `digest` (through the fallback tag), in index order. */
export async function readBundles(repo: ImageRepository, digest: string): Promise<Buffer[]> {
  let index;
  try {
    index = await repo.fetchManifest(referrersTag(digest));
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
  if (index.parsed.kind !== 'index') return [];
  const bundles: Buffer[] = [];
  for (const referrer of index.parsed.index.manifests) {
    if (referrer.artifactType !== BUNDLE_MEDIA_TYPE) continue;
    const artifact = await pullArtifact(repo, referrer.digest, MAX_BUNDLE_BYTES);
    if (artifact?.manifest.subject?.digest !== digest) continue;
    artifact.manifest.layers.forEach((layer, i) => {
      const bytes = artifact.layers[i];
      if (layer.mediaType === BUNDLE_MEDIA_TYPE && bytes !== undefined) bundles.push(bytes);
    });
  }
  return bundles;
}
