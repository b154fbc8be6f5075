// Release images are verified before use. The development release, signed at
// build time (imager, installer, catalogs with cosign's `.sig` images,
// extensions with Sigstore bundle referrers), is pushed into a docker-registry
// with its signatures; a factory given its public key builds from it. Then the
// registry is tampered with as an attacker with push rights could: an
// extension with one byte changed is pushed under its tag and pinned by a
// re-signed catalog (its genuine signature names the old digest); another
// extension's signature is replaced by one made with another key; the imager
// is re-pushed under its tag unsigned. Each makes the build fail with 502
// naming the image and the reason, and nothing of it is cached;
// IF_RELEASE_SIGNATURE_DISABLED=true turns the check off.

import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CatalogEntry, descriptionsYaml, imageDigests } from '../../devrelease/catalogs.js';
import { extensionPlan, filesPlan } from '../../devrelease/images.js';
import { stageFiles } from '../../devrelease/layers.js';
import { copyImage } from '../../src/oci/copy.js';
import { attachSignature } from '../../src/oci/cosign/attach.js';
import { referrersTag } from '../../src/oci/cosign/bundle.js';
import { generatePrivateKeyPem, parsePrivateKey } from '../../src/oci/cosign/keys.js';
import { digestHex } from '../../src/oci/digest.js';
import { writeImageIndex } from '../../src/oci/image-writer.js';
import { encodeManifest } from '../../src/oci/manifest.js';
import { MEDIA_TYPE } from '../../src/oci/media-types.js';
import { RegistryClient } from '../../src/oci/registry/client.js';
import { publishDevRelease } from '../helpers/dev-release.js';
import { type TestRegistry, startRegistry } from '../helpers/registry.js';
import { type ServiceProcess, startService } from '../helpers/server.js';

const VERSION = 'v1.12.0';
const work = mkdtempSync(join(tmpdir(), 'if-release-sig-'));
let registry: TestRegistry;
let release: Awaited<ReturnType<typeof publishDevRelease>>;
const services: ServiceProcess[] = [];

beforeAll(async () => {
  registry = await startRegistry();
  release = await publishDevRelease(registry.host);
}, 600_000);
afterAll(async () => {
  await Promise.all(services.map((s) => s.stop()));
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

async function factory(env: Record<string, string> = {}): Promise<ServiceProcess> {
  const svc = await startService(undefined, {
    IF_RELEASE_REGISTRY: registry.host,
    IF_RELEASE_INSECURE: 'true',
    IF_RELEASE_SIGNATURE_PUBKEY: release.signingPublicKey,
    ...env,
  });
  services.push(svc);
  return svc;
}

async function schematicWith(svc: ServiceProcess, extension: string): Promise<string> {
  const res = await fetch(`${svc.url}/schematics`, { method: 'POST', body: `customization:\n  systemExtensions:\n    officialExtensions: [siderolabs/${extension}]\n` });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

const extension = (name: string) => release.extensions[VERSION]!.find((e) => e.name === name)!;
const client = () => new RegistryClient({ registry: registry.host, insecure: true });

/** The initramfs fails with 502 naming `image` and `reason`; nothing is cached and nothing of the image was pulled. */
async function expectRefused(svc: ServiceProcess, id: string, image: RegExp, reason: RegExp): Promise<void> {
  const res = await fetch(`${svc.url}/image/${id}/${VERSION}/initramfs-amd64.xz`);
  const text = await res.text();
  expect(res.status, text).toBe(502);
  expect(text).toMatch(image);
  expect(text).toMatch(reason);
  // The status of the asset cannot even be worked out from a refused image, and the fresh instance's cache holds no file.
  expect((await fetch(`${svc.url}/status/${id}/${VERSION}/initramfs-amd64.xz`)).status).toBe(502);
  const cacheDir = join(svc.dataDir, 'cache');
  const cached = existsSync(cacheDir) ? readdirSync(cacheDir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()) : [];
  expect(cached).toEqual([]);
  expect(svc.logs()).toMatch(/release image refused/);
}

describe('release image signatures', () => {
  it('builds from the intact signed release (both signature formats verified)', async () => {
    const svc = await factory();
    expect(svc.logs()).toMatch(/release image signatures are verified with this key/);
    const id = await schematicWith(svc, 'dev-firmware');
    const res = await fetch(`${svc.url}/image/${id}/${VERSION}/initramfs-amd64.xz`);
    expect(res.status, await res.clone().text()).toBe(200);
    expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(1000);
  }, 600_000);

  it('refuses an extension with one byte changed, pinned by a signed catalog: 502, nothing cached', async () => {
    const genuine = extension('dev-firmware');
    // One byte of a file of the extension's tree changed: a new layer, a new digest, pushed under the same tag.
    const tree = join(work, 'tampered-tree');
    cpSync(genuine.tree, tree, { recursive: true });
    const firmware = join(tree, 'rootfs/usr/lib/firmware/devrelease/dev-firmware.bin');
    const bytes = readFileSync(firmware);
    bytes[0] = bytes[0]! ^ 0x01;
    writeFileSync(firmware, bytes);
    const tampered = await writeImageIndex(client().repository(genuine.repository), extensionPlan(genuine.name, genuine.tag, { amd64: tree, arm64: tree }, 'tampered').specs, genuine.tag);
    const tamperedDigest = tampered.index.digest;
    expect(tamperedDigest).not.toBe(genuine.digest);
    // Its genuine signature copied to the new digest's fallback tag does not help: it names the old digest.
    await copyImage(client().repository(genuine.repository), referrersTag(genuine.digest), client().repository(genuine.repository), { tag: referrersTag(tamperedDigest) });
    // A catalog pinning the tampered digest, signed with the release key, so only the extension is at fault.
    const entries: CatalogEntry[] = release.extensions[VERSION]!.map((e) => ({ ...e, description: e.description.trim(), ...(e.name === genuine.name && { digest: tamperedDigest }) }));
    const catalogTree = join(work, 'catalog');
    mkdirSync(catalogTree);
    await stageFiles(catalogTree, { 'image-digests': imageDigests(entries), 'descriptions.yaml': descriptionsYaml(entries) });
    const catalogRepo = client().repository('siderolabs/extensions');
    const catalog = await writeImageIndex(catalogRepo, filesPlan('siderolabs/extensions', VERSION, catalogTree, 'tampered').specs, VERSION);
    const releaseKey = parsePrivateKey(readFileSync(join(release.outDir, 'work', 'cosign.key'), 'utf8'), 'cosign.key');
    await attachSignature(catalogRepo, catalog.index.digest, releaseKey, 'simple-signing', 'ghcr.io/siderolabs/extensions');

    const svc = await factory();
    const id = await schematicWith(svc, genuine.name);
    await expectRefused(svc, id, new RegExp(`${registry.host}/${genuine.repository}@${tamperedDigest}`), /failed signature verification: .*not signed/);
    expect(existsSync(join(svc.dataDir, 'extensions', digestHex(tamperedDigest)))).toBe(false);

    // With the check turned off, the same schematic builds: the refusal was the signature's, not the image's.
    const unchecked = await factory({ IF_RELEASE_SIGNATURE_DISABLED: 'true' });
    expect(unchecked.logs()).toMatch(/release image signatures are NOT verified/);
    const uncheckedId = await schematicWith(unchecked, genuine.name);
    expect((await fetch(`${unchecked.url}/image/${uncheckedId}/${VERSION}/initramfs-amd64.xz`)).status).toBe(200);
  }, 600_000);

  it('refuses an extension whose signature was made with another key', async () => {
    const target = extension('dummy-module');
    const repo = client().repository(target.repository);
    // The genuine bundle referrer replaced by one made with an attacker's key.
    await repo.putManifest(encodeManifest({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests: [] }), MEDIA_TYPE.ociIndex, referrersTag(target.digest));
    await attachSignature(repo, target.digest, parsePrivateKey(generatePrivateKeyPem(), 'attacker.key'), 'bundle', `ghcr.io/${target.repository}`);
    const svc = await factory();
    const id = await schematicWith(svc, target.name);
    await expectRefused(svc, id, new RegExp(`${target.repository}@${target.digest}`), /does not verify with the configured key/);
  }, 600_000);

  it('refuses an imager re-pushed under its tag without a valid signature', async () => {
    const repo = client().repository('siderolabs/imager');
    // Any image pushed under the tag by someone without the key: it has no signature for its digest.
    const tree = join(work, 'imager');
    mkdirSync(tree);
    await stageFiles(tree, { vmlinuz: 'not a kernel' });
    const other = await writeImageIndex(repo, filesPlan('siderolabs/imager', VERSION, tree, 'tampered-imager').specs, VERSION);
    const svc = await factory();
    const id = await schematicWith(svc, 'dev-ucode');
    await expectRefused(svc, id, new RegExp(`siderolabs/imager@${other.index.digest}`), /not signed/);
  }, 600_000);
});
