// Signs every image of the development release as Sidero signs the real one,
// so the factory's signature checks run against it: a key pair generated on
// the first build (kept under work/, reused after), `cosign.pub` beside the
// layouts, and each image's signature written into its layout. Extensions
// carry cosign's newer bundle referrer, every other image the classic
// `sha256-<hex>.sig`, so both formats are exercised. Pushing the release
// copies the signatures along (push.ts).

import type { KeyObject } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { attachSignature } from '../src/oci/cosign/attach.js';
import { generatePrivateKeyPem, parsePrivateKey, parsePublicKey, publicKeyPem } from '../src/oci/cosign/keys.js';
import { SignatureVerificationError, type SignatureFormat, verifyCosignSignature } from '../src/oci/cosign/verify.js';
import { OciLayout } from '../src/oci/layout.js';
import type { ImageInfo } from './release-info.js';

export const PUBLIC_KEY_FILE = 'cosign.pub';

/** Where cosign would look for an image's repository in the official registry. */
const OFFICIAL_REGISTRY = 'ghcr.io';

function signatureFormatOf(image: ImageInfo, extensionRepositories: ReadonlySet<string>): SignatureFormat {
  return extensionRepositories.has(image.repository) ? 'bundle' : 'simple-signing';
}

async function signingKey(out: string): Promise<KeyObject> {
  const path = join(out, 'work', 'cosign.key');
  const existing = await readFile(path, 'utf8').catch(() => undefined);
  if (existing !== undefined) return parsePrivateKey(existing, path);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, generatePrivateKeyPem(), { mode: 0o600 });
  return parsePrivateKey(await readFile(path, 'utf8'), path);
}

/** Signs what is not yet signed with this key; returns the public key's path. */
export async function signRelease(out: string, layoutRoot: string, images: readonly ImageInfo[], extensionRepositories: ReadonlySet<string>, log: (m: string) => void): Promise<string> {
  const key = await signingKey(out);
  const publicPath = join(out, PUBLIC_KEY_FILE);
  await writeFile(publicPath, publicKeyPem(key));
  const publicKey = parsePublicKey(publicKeyPem(key), publicPath);
  let signed = 0;
  for (const image of images) {
    const layout = await OciLayout.open(join(layoutRoot, image.repository));
    const verified = await verifyCosignSignature(layout, image.digest, publicKey).catch((error: unknown) => {
      if (error instanceof SignatureVerificationError) return undefined;
      throw error;
    });
    if (verified) continue;
    await attachSignature(layout, image.digest, key, signatureFormatOf(image, extensionRepositories), `${OFFICIAL_REGISTRY}/${image.repository}`);
    signed++;
  }
  log(`  signed ${signed} images (${images.length - signed} already signed), public key ${publicPath}`);
  return publicPath;
}
