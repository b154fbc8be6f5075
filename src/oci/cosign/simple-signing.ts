// cosign's classic signature format: an image tagged `sha256-<hex>.sig` in the
// signed image's repository, one layer per signature, each layer a "simple
// signing" JSON payload naming the signed manifest digest and the repository,
// the signature (base64) in the layer's `dev.cosignproject.cosign/signature`
// annotation. What `cosign sign --key` writes and `cosign verify`, skopeo's
// `sigstoreSigned` policy and upstream's factory read.

import { digestHex } from '../digest.js';
import type { ArtifactSpec, PulledArtifact } from '../artifact.js';
import { MEDIA_TYPE } from '../media-types.js';
import { sha256Digest } from '../digest.js';

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

/** The tag cosign stores the signatures of `digest` under. */
export function signatureTag(digest: string): string {
  return `sha256-${digestHex(digest)}.sig`;
}

/** `sha256-<hex>.sig` → `sha256:<hex>`; undefined for any other tag. */
export function signedDigestOfTag(tag: string): string | undefined {
  const m = /^sha256-([a-f0-9]{64})\.sig$/.exec(tag);
  return m ? `sha256:${m[1]}` : undefined;
}

/** The payload cosign signs, byte for byte as cosign writes it. */
export function simpleSigningPayload(dockerReference: string, digest: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: { identity: { 'docker-reference': dockerReference }, image: { 'docker-manifest-digest': digest }, type: 'cosign container image signature' },
      optional: null,
    }),
  );
}

/** The signature image for one payload and its signature, with the config cosign gives it. */
export function signatureArtifact(payload: Buffer, signature: Buffer): ArtifactSpec {
  const config = {
    architecture: '',
    created: '0001-01-01T00:00:00Z',
    history: [{ created: '0001-01-01T00:00:00Z' }],
    os: '',
    rootfs: { type: 'layers', diff_ids: [sha256Digest(payload)] },
    config: {},
  };
  return {
    config: { mediaType: MEDIA_TYPE.ociConfig, bytes: Buffer.from(JSON.stringify(config)) },
    layers: [{ mediaType: SIMPLE_SIGNING_MEDIA_TYPE, bytes: payload, annotations: { [SIGNATURE_ANNOTATION]: signature.toString('base64') } }],
  };
}

export interface SimpleSignature {
  payload: Buffer;
  signature: Buffer;
}

/** The signatures a signature image holds (layers of other types are not signatures and are skipped). */
export function readSimpleSignatures(artifact: PulledArtifact): SimpleSignature[] {
  const found: SimpleSignature[] = [];
  artifact.manifest.layers.forEach((layer, i) => {
    const signature = layer.annotations?.[SIGNATURE_ANNOTATION];
    const payload = artifact.layers[i];
    if (layer.mediaType === SIMPLE_SIGNING_MEDIA_TYPE && signature !== undefined && payload !== undefined) {
      found.push({ payload, signature: Buffer.from(signature, 'base64') });
    }
  });
  return found;
}

/** The manifest digest a payload vouches for, or undefined when it is not a cosign payload. */
export function signedDigestOfPayload(payload: Buffer): string | undefined {
  try {
    const parsed = JSON.parse(payload.toString('utf8')) as { critical?: { type?: unknown; image?: { 'docker-manifest-digest'?: unknown } } };
    const digest = parsed.critical?.image?.['docker-manifest-digest'];
    return parsed.critical?.type === 'cosign container image signature' && typeof digest === 'string' ? digest : undefined;
  } catch {
    return undefined;
  }
}
