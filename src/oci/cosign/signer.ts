// Signs manifests the way `cosign sign --key` does (a simple signing payload
// in a `sha256-<hex>.sig` image) and keeps the signature images it made, so a
// registry frontend can serve their manifests and blobs. ECDSA signatures are
// randomised, so each instance's signature bytes differ; the payload and
// config blobs (what a client fetches after the manifest) do not, so another
// instance told what was signed makes the very same blobs.

import type { KeyObject } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { artifactManifest } from '../artifact.js';
import { sha256Digest } from '../digest.js';
import { publicKeyPem, signBytes } from './keys.js';
import { signatureArtifact, simpleSigningPayload } from './simple-signing.js';

export interface SignatureImage {
  manifest: Buffer;
  digest: string;
  /** Digests of its config and payload blobs (the same whoever signs, as they hold no signature). */
  blobs: string[];
}

export class CosignSigner {
  readonly publicKeyPem: string;
  private readonly images = new LRUCache<string, SignatureImage>({ max: 10_000 });
  private readonly blobs = new LRUCache<string, Buffer>({ max: 20_000 });

  constructor(private readonly key: KeyObject) {
    this.publicKeyPem = publicKeyPem(key);
  }

  /** The signature image for `digest` as pulled from `dockerReference` (`host/installer/<id>`). */
  sign(dockerReference: string, digest: string): SignatureImage {
    const id = `${dockerReference}@${digest}`;
    const known = this.images.get(id);
    if (known) return known;
    const payload = simpleSigningPayload(dockerReference, digest);
    const spec = signatureArtifact(payload, signBytes(this.key, payload));
    const blobs = [spec.config!.bytes, payload];
    for (const blob of blobs) this.blobs.set(sha256Digest(blob), blob);
    const manifest = artifactManifest(spec);
    const image = { manifest, digest: sha256Digest(manifest), blobs: blobs.map((b) => sha256Digest(b)) };
    this.images.set(id, image);
    return image;
  }

  /** A config or payload blob of a signature image made here. */
  blob(digest: string): Buffer | undefined {
    return this.blobs.get(digest);
  }
}
