// Checks that a manifest digest carries a cosign signature made with a given
// public key, in either format cosign writes (the `sha256-<hex>.sig` simple
// signing image, or a Sigstore bundle referrer). The cryptography and the
// bundle rules are @sigstore/verify's; this finds the signatures and checks
// that what was signed names the digest being verified.
//
// Trust is the key alone: transparency-log entries and timestamps in a bundle
// are not checked (Rekor and timestamp authorities are out of reach of an
// offline factory), as with `cosign verify --key ... --insecure-ignore-tlog`.

import type { KeyObject } from 'node:crypto';
import { createHash } from 'node:crypto';
import { type Bundle, bundleFromJSON, toMessageSignatureBundle } from '@sigstore/bundle';
import { type TrustMaterial, Verifier, toSignedEntity } from '@sigstore/verify';
import { pullArtifact } from '../artifact.js';
import type { ImageRepository } from '../repository.js';
import { IN_TOTO_PAYLOAD_TYPE, readBundles, statementSubjects } from './bundle.js';
import { readSimpleSignatures, signatureTag, signedDigestOfPayload } from './simple-signing.js';

export type SignatureFormat = 'simple-signing' | 'bundle';

/** Why a digest is not accepted, in words fit for an error message. */
export class SignatureVerificationError extends Error {
  override name = 'SignatureVerificationError';
}

const MAX_SIGNATURE_BYTES = 1024 * 1024;

function keyOnlyVerifier(key: KeyObject): Verifier {
  const trust: TrustMaterial = {
    certificateAuthorities: [],
    timestampAuthorities: [],
    tlogs: [],
    ctlogs: [],
    publicKey: () => ({ publicKey: key, validFor: () => true }),
  };
  return new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
}

/** Resolves with the format that verified; throws SignatureVerificationError saying what was found and why it failed. */
export async function verifyCosignSignature(repo: ImageRepository, digest: string, key: KeyObject): Promise<SignatureFormat> {
  const verifier = keyOnlyVerifier(key);
  const problems: string[] = [];

  const sigImage = await pullArtifact(repo, signatureTag(digest), MAX_SIGNATURE_BYTES);
  for (const { payload, signature } of sigImage ? readSimpleSignatures(sigImage) : []) {
    const signed = signedDigestOfPayload(payload);
    if (signed !== digest) {
      problems.push(`the ${signatureTag(digest)} payload names ${signed ?? 'no digest'}`);
      continue;
    }
    const bundle = toMessageSignatureBundle({ digest: createHash('sha256').update(payload).digest(), signature });
    if (attempt(() => verifier.verify(toSignedEntity(bundle, payload)), `the ${signatureTag(digest)} signature`, problems)) return 'simple-signing';
  }

  for (const serialized of await readBundles(repo, digest)) {
    let bundle: Bundle;
    try {
      bundle = bundleFromJSON(JSON.parse(serialized.toString('utf8')));
    } catch (error) {
      problems.push(`a bundle referrer is not a Sigstore bundle (${(error as Error).message})`);
      continue;
    }
    if (bundle.content.$case !== 'dsseEnvelope' || bundle.content.dsseEnvelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
      problems.push('a bundle referrer does not hold an in-toto statement');
      continue;
    }
    if (!statementSubjects(bundle.content.dsseEnvelope.payload).includes(digest)) {
      problems.push('a bundle referrer signs another digest');
      continue;
    }
    // Log entries and timestamps need Rekor's and the TSA's keys, which an offline factory does not have.
    const offline: Bundle = { ...bundle, verificationMaterial: { ...bundle.verificationMaterial, tlogEntries: [], timestampVerificationData: { rfc3161Timestamps: [] } } };
    if (attempt(() => verifier.verify(toSignedEntity(offline)), 'a bundle referrer', problems)) return 'bundle';
  }

  if (problems.length === 0) throw new SignatureVerificationError(`not signed: no ${signatureTag(digest)} signature and no Sigstore bundle referrer`);
  throw new SignatureVerificationError(problems.join('; '));
}

function attempt(run: () => unknown, what: string, problems: string[]): boolean {
  try {
    run();
    return true;
  } catch (error) {
    problems.push(`${what} does not verify with the configured key (${(error as Error).message})`);
    return false;
  }
}
