// Signing images in a store we write to, as `cosign sign --key` does: the
// classic `sha256-<hex>.sig` image, or (cosign's newer default) a Sigstore
// bundle attached as a referrer. Used to sign the development release, and by
// tests that need images signed with some other key.

import type { KeyObject } from 'node:crypto';
import { bundleToJSON, toDSSEBundle } from '@sigstore/bundle';
import { copyImage } from '../copy.js';
import { isNotFound } from '../errors.js';
import { pushArtifact } from '../artifact.js';
import type { ImageRepository, WritableImageRepository } from '../repository.js';
import { BUNDLE_MEDIA_TYPE, IN_TOTO_PAYLOAD_TYPE, addToReferrersIndex, bundleReferrer, dssePreAuthEncoding, referrersTag, signStatement } from './bundle.js';
import { signBytes } from './keys.js';
import { signatureArtifact, signatureTag, simpleSigningPayload } from './simple-signing.js';
import type { SignatureFormat } from './verify.js';

/** Signs the manifest `digest` of `repo` (named `dockerReference` in a simple signing payload). */
export async function attachSignature(repo: WritableImageRepository, digest: string, key: KeyObject, format: SignatureFormat, dockerReference: string): Promise<void> {
  if (format === 'simple-signing') {
    const payload = simpleSigningPayload(dockerReference, digest);
    await pushArtifact(repo, signatureTag(digest), signatureArtifact(payload, signBytes(key, payload)));
    return;
  }
  const statement = signStatement(digest);
  const bundle = toDSSEBundle({ artifact: statement, artifactType: IN_TOTO_PAYLOAD_TYPE, signature: signBytes(key, dssePreAuthEncoding(statement)) });
  const subject = await repo.resolve(digest);
  const json = Buffer.from(JSON.stringify(bundleToJSON(bundle)));
  const referrer = await pushArtifact(repo, undefined, bundleReferrer(json, { mediaType: subject.mediaType, digest: subject.digest, size: subject.size }));
  await addToReferrersIndex(repo, digest, { ...referrer, artifactType: BUNDLE_MEDIA_TYPE });
}

/** Copies the signatures of `digest` (either format, whichever exist) with their tags. */
export async function copySignatures(source: ImageRepository, destination: WritableImageRepository, digest: string): Promise<void> {
  for (const tag of [signatureTag(digest), referrersTag(digest)]) {
    try {
      await copyImage(source, tag, destination, { tag });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}
