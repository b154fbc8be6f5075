// cosign's keys as files: ECDSA P-256 in PEM (a PKCS#8 or SEC 1 private key,
// a SubjectPublicKeyInfo public key), what `openssl ecparam -name prime256v1
// -genkey` and `cosign public-key` write and what skopeo's `keyPath` reads.
// Signatures are ECDSA over SHA-256, DER-encoded, as cosign makes them.

import { type KeyObject, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';

export class CosignKeyError extends Error {
  override name = 'CosignKeyError';
}

function requireP256(key: KeyObject, path: string): KeyObject {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new CosignKeyError(`${path}: not an ECDSA P-256 key (make one with: openssl ecparam -name prime256v1 -genkey -noout -out ${path})`);
  }
  return key;
}

/** A key file's text, read once at start-up; a missing or unreadable file is a CosignKeyError naming it. */
export function readKeyFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new CosignKeyError(`${path}: cannot read the key (${(error as Error).message})`, { cause: error });
  }
}

/** A private key from its PEM text; `path` names it in messages. */
export function parsePrivateKey(pem: string, path: string): KeyObject {
  if (pem.includes('ENCRYPTED SIGSTORE PRIVATE KEY') || pem.includes('ENCRYPTED COSIGN PRIVATE KEY')) {
    throw new CosignKeyError(`${path}: a password-protected cosign key; give the key unencrypted as PEM (openssl ec -in <key> -out ${path})`);
  }
  try {
    return requireP256(createPrivateKey(pem), path);
  } catch (error) {
    if (error instanceof CosignKeyError) throw error;
    throw new CosignKeyError(`${path}: not a PEM private key (${(error as Error).message})`, { cause: error });
  }
}

/** A public key from its PEM text (a private key's gives its public half); `path` names it in messages. */
export function parsePublicKey(pem: string, path: string): KeyObject {
  try {
    return requireP256(createPublicKey(pem), path);
  } catch (error) {
    if (error instanceof CosignKeyError) throw error;
    throw new CosignKeyError(`${path}: not a PEM public key (${(error as Error).message})`, { cause: error });
  }
}

export function publicKeyPem(key: KeyObject): string {
  return (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'pem' }).toString();
}

export function generatePrivateKeyPem(): string {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

export function signBytes(key: KeyObject, data: Uint8Array): Buffer {
  return sign('sha256', data, key);
}

export function verifyBytes(key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  return verify('sha256', data, key, signature);
}
