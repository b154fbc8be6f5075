// cosign's two signature formats, written and checked against an OCI layout:
// a signature made with the key verifies (through @sigstore/verify), one made
// with another key, one whose payload names another digest, and an unsigned
// image are refused with a reason. Keys are read as cosign and openssl write them.

import { execFileSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pullArtifact, pushArtifact } from '../../src/oci/artifact.js';
import { copyImage } from '../../src/oci/copy.js';
import { attachSignature, copySignatures } from '../../src/oci/cosign/attach.js';
import { readBundles, referrersTag } from '../../src/oci/cosign/bundle.js';
import { CosignKeyError, generatePrivateKeyPem, parsePrivateKey, parsePublicKey, publicKeyPem, signBytes } from '../../src/oci/cosign/keys.js';
import { CosignSigner } from '../../src/oci/cosign/signer.js';
import { readSimpleSignatures, signatureArtifact, signatureTag, signedDigestOfPayload, simpleSigningPayload } from '../../src/oci/cosign/simple-signing.js';
import { SignatureVerificationError, verifyCosignSignature } from '../../src/oci/cosign/verify.js';
import { OciLayout } from '../../src/oci/layout.js';
import { file, storeImage } from '../helpers/layers.js';

const scratch = mkdtempSync(join(tmpdir(), 'cosign-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let counter = 0;

const key = parsePrivateKey(generatePrivateKeyPem(), 'ours.key');
const publicKey = parsePublicKey(publicKeyPem(key), 'ours.pub');
const otherKey = parsePrivateKey(generatePrivateKeyPem(), 'other.key');

async function freshImage(): Promise<{ layout: OciLayout; digest: string }> {
  const layout = await OciLayout.create(join(scratch, `layout-${++counter}`));
  const image = await storeImage(layout, [{ entries: [file('hello', `image ${counter}`)] }], { tag: 'v1' });
  return { layout, digest: image.descriptor.digest };
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(SignatureVerificationError);
  return (error as Error).message;
}

describe('keys', () => {
  it('reads keys openssl writes (SEC 1 private, SPKI public) and refuses other curves with what to run', () => {
    const dir = mkdtempSync(join(scratch, 'keys-'));
    execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', join(dir, 'p256.key')]);
    execFileSync('openssl', ['ec', '-in', join(dir, 'p256.key'), '-pubout', '-out', join(dir, 'p256.pub')], { stdio: 'ignore' });
    execFileSync('openssl', ['ecparam', '-name', 'secp384r1', '-genkey', '-noout', '-out', join(dir, 'p384.key')]);
    const privateKey = parsePrivateKey(readFileSync(join(dir, 'p256.key'), 'utf8'), 'p256.key');
    expect(publicKeyPem(privateKey)).toBe(readFileSync(join(dir, 'p256.pub'), 'utf8'));
    expect(() => parsePrivateKey(readFileSync(join(dir, 'p384.key'), 'utf8'), 'p384.key')).toThrow(/not an ECDSA P-256 key.*openssl ecparam -name prime256v1/);
    expect(() => parsePublicKey('nonsense', 'x.pub')).toThrow(CosignKeyError);
    expect(() => parsePrivateKey('-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n', 'cosign.key')).toThrow(/password-protected cosign key/);
    expect(createPrivateKey(generatePrivateKeyPem()).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });
});

describe('simple signing (sha256-<hex>.sig)', () => {
  it('writes the payload and image cosign writes', async () => {
    const { layout, digest } = await freshImage();
    await attachSignature(layout, digest, key, 'simple-signing', 'ghcr.io/siderolabs/imager');
    const artifact = (await pullArtifact(layout, signatureTag(digest), 1 << 20))!;
    expect(artifact.manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(artifact.manifest.layers[0]!.mediaType).toBe('application/vnd.dev.cosign.simplesigning.v1+json');
    const [signature] = readSimpleSignatures(artifact);
    expect(JSON.parse(signature!.payload.toString())).toEqual({
      critical: { identity: { 'docker-reference': 'ghcr.io/siderolabs/imager' }, image: { 'docker-manifest-digest': digest }, type: 'cosign container image signature' },
      optional: null,
    });
    // openssl, an independent verifier, accepts the DER ECDSA signature over the payload.
    const dir = mkdtempSync(join(scratch, 'openssl-'));
    const write = (name: string, data: Buffer | string): string => {
      writeFileSync(join(dir, name), data);
      return join(dir, name);
    };
    const out = execFileSync('openssl', ['dgst', '-sha256', '-verify', write('key.pub', publicKeyPem(key)), '-signature', write('sig', signature!.signature), write('payload', signature!.payload)], {
      encoding: 'utf8',
    });
    expect(out.trim()).toBe('Verified OK');
  });

  it('verifies with the key, refuses another key and a payload naming another digest', async () => {
    const { layout, digest } = await freshImage();
    await attachSignature(layout, digest, key, 'simple-signing', 'ghcr.io/x');
    expect(await verifyCosignSignature(layout, digest, publicKey)).toBe('simple-signing');
    expect(await refusal(verifyCosignSignature(layout, digest, parsePublicKey(publicKeyPem(otherKey), 'other.pub')))).toMatch(/does not verify with the configured key/);

    // A genuine signature of another image copied to this digest's tag.
    const other = await freshImage();
    const payload = simpleSigningPayload('ghcr.io/x', other.digest);
    await pushArtifact(layout, signatureTag(digest), signatureArtifact(payload, signBytes(key, payload)));
    expect(await refusal(verifyCosignSignature(layout, digest, publicKey))).toMatch(`payload names ${other.digest}`);
  });

  it('refuses an unsigned image, saying where it looked', async () => {
    const { layout, digest } = await freshImage();
    expect(await refusal(verifyCosignSignature(layout, digest, publicKey))).toMatch(`not signed: no ${signatureTag(digest)} signature and no Sigstore bundle referrer`);
  });
});

describe('Sigstore bundle referrers', () => {
  it('verifies a DSSE bundle made with the key; refuses one made with another', async () => {
    const { layout, digest } = await freshImage();
    await attachSignature(layout, digest, key, 'bundle', 'ghcr.io/x');
    const [bundle] = await readBundles(layout, digest);
    const parsed = JSON.parse(bundle!.toString()) as { mediaType: string; dsseEnvelope: { payloadType: string; payload: string } };
    expect(parsed.mediaType).toBe('application/vnd.dev.sigstore.bundle.v0.3+json');
    expect(parsed.dsseEnvelope.payloadType).toBe('application/vnd.in-toto+json');
    expect(JSON.parse(Buffer.from(parsed.dsseEnvelope.payload, 'base64').toString()).subject[0].digest.sha256).toBe(digest.slice(7));
    expect(await verifyCosignSignature(layout, digest, publicKey)).toBe('bundle');

    const forged = await freshImage();
    await attachSignature(forged.layout, forged.digest, otherKey, 'bundle', 'ghcr.io/x');
    expect(await refusal(verifyCosignSignature(forged.layout, forged.digest, publicKey))).toMatch(/bundle referrer does not verify with the configured key/);
  });

  it('ignores a bundle whose statement names another digest', async () => {
    const { layout, digest } = await freshImage();
    const other = await storeImage(layout, [{ entries: [file('other', 'x')] }], { tag: 'v2' });
    await attachSignature(layout, other.descriptor.digest, key, 'bundle', 'ghcr.io/x');
    // The other image's referrers index placed under this digest's fallback tag.
    const index = await layout.fetchManifest(referrersTag(other.descriptor.digest));
    await layout.putManifest(index.bytes, index.descriptor.mediaType, referrersTag(digest));
    expect(await refusal(verifyCosignSignature(layout, digest, publicKey))).toMatch(/not signed/);
  });

  it('copies both formats with their tags', async () => {
    const { layout, digest } = await freshImage();
    await attachSignature(layout, digest, key, 'bundle', 'ghcr.io/x');
    await attachSignature(layout, digest, key, 'simple-signing', 'ghcr.io/x');
    const copy = await OciLayout.create(join(scratch, `copy-${++counter}`));
    await copyImage(layout, digest, copy, { tag: 'v1' });
    await copySignatures(layout, copy, digest);
    expect((await copy.listTags()).sort()).toEqual([referrersTag(digest), signatureTag(digest), 'v1'].sort());
    expect(await verifyCosignSignature(copy, digest, publicKey)).toBe('simple-signing');
  });
});

describe('CosignSigner', () => {
  it('signs for the repository it is asked for and keeps the blobs a client fetches next', () => {
    const signer = new CosignSigner(key);
    expect(signer.publicKeyPem).toBe(publicKeyPem(key));
    const digest = `sha256:${'a'.repeat(64)}`;
    const first = signer.sign('127.0.0.1:8080/installer/abc', digest);
    expect(signer.sign('127.0.0.1:8080/installer/abc', digest)).toBe(first);
    const manifest = JSON.parse(first.manifest.toString()) as { config: { digest: string }; layers: Array<{ digest: string }> };
    const payload = signer.blob(manifest.layers[0]!.digest)!;
    expect(signedDigestOfPayload(payload)).toBe(digest);
    expect(JSON.parse(payload.toString()).critical.identity['docker-reference']).toBe('127.0.0.1:8080/installer/abc');
    expect(signer.blob(manifest.config.digest)).toBeDefined();
  });
});
