// A version's inputs are pulled once however many callers ask together, are kept
// on disk for the next process, and hold what a Talos release holds.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { writeImage } from '../../src/oci/image-writer.js';
import { OciLayout } from '../../src/oci/layout.js';
import { RegistryClient } from '../../src/oci/registry/client.js';
import type { ImageRepository } from '../../src/oci/repository.js';
import { LayoutReleaseBackend, type ReleaseBackend, RegistryReleaseBackend } from '../../src/release/backend.js';
import { ReleaseService } from '../../src/release/release.js';
import { parsePathVersion, parseVersion } from '../../src/talos/version.js';
import { ensureDevRelease, publishDevRelease } from '../helpers/dev-release.js';
import { startRegistry } from '../helpers/registry.js';

/** Wraps a backend and counts blob transfers per digest. */
class CountingBackend implements ReleaseBackend {
  readonly blobOpens = new Map<string, number>();
  readonly description: string;
  constructor(private readonly inner: ReleaseBackend) {
    this.description = inner.description;
  }
  async repository(path: string): Promise<ImageRepository> {
    const repo = await this.inner.repository(path);
    const opens = this.blobOpens;
    return {
      location: repo.location,
      resolve: (ref) => repo.resolve(ref),
      fetchManifest: (ref) => repo.fetchManifest(ref),
      listTags: () => repo.listTags(),
      openBlob: (descriptor) => {
        opens.set(descriptor.digest, (opens.get(descriptor.digest) ?? 0) + 1);
        return repo.openBlob(descriptor);
      },
    };
  }
  total(): number {
    return [...this.blobOpens.values()].reduce((a, b) => a + b, 0);
  }
}

const release = await ensureDevRelease();
const registry = await startRegistry();
await publishDevRelease(registry.host);
const dirs: string[] = [];
afterAll(async () => {
  await registry.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function service(backend: ReleaseBackend, dataDir: string): ReleaseService {
  return new ReleaseService({
    backend,
    dataDir,
    minimumVersion: parseVersion('1.2.0'),
    brokenVersions: [],
    recheckIntervalMs: 60_000,
    logger: pino({ level: 'silent' }),
  });
}

const backends: Array<[string, () => ReleaseBackend]> = [
  ['registry', () => new RegistryReleaseBackend(new RegistryClient({ registry: registry.host, insecure: true }))],
  ['layout', () => new LayoutReleaseBackend(release.layoutDir)],
];

describe.each(backends)('release inputs from the %s backend', (_name, makeBackend) => {
  it('pulls each blob once for many concurrent callers, and not at all after a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'if-inputs-'));
    dirs.push(dataDir);
    const counting = new CountingBackend(makeBackend());
    const releases = service(counting, dataDir);
    const newest = parsePathVersion(release.versions.at(-1)!);

    const [inputs] = await Promise.all(Array.from({ length: 20 }, () => releases.imagerInputs(newest, 'amd64')));
    for (const path of [inputs!.kernel, inputs!.initramfs, inputs!.systemdBoot, inputs!.systemdStub]) {
      expect(statSync(path).size, path).toBeGreaterThan(0);
    }
    expect(statSync(join(inputs!.grubDir, 'i386-pc')).isDirectory()).toBe(true);

    const extensions = await releases.officialExtensions(newest);
    const trees = await Promise.all(extensions.flatMap((e) => Array.from({ length: 5 }, () => releases.extensionTree(e, 'amd64'))));
    for (const tree of trees) expect(statSync(join(tree, 'manifest.yaml')).isFile()).toBe(true);

    const base = await Promise.all(Array.from({ length: 5 }, () => releases.installerBase(newest, 'amd64')));
    expect(await base[0]!.listTags()).toEqual([release.versions.at(-1)]);

    expect([...counting.blobOpens.entries()].filter(([, n]) => n > 1)).toEqual([]);
    const pulled = counting.total();
    expect(pulled).toBeGreaterThan(extensions.length);

    const restarted = new CountingBackend(makeBackend());
    const again = service(restarted, dataDir);
    await again.imagerInputs(newest, 'amd64');
    for (const e of extensions) await again.extensionTree(e, 'amd64');
    await again.installerBase(newest, 'amd64');
    expect(restarted.total()).toBe(0);
  });

  it('has the arm64 inputs in the same imager image, and says clearly when a version has no inputs for an architecture', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'if-inputs-'));
    dirs.push(dataDir);
    const releases = service(makeBackend(), dataDir);
    const newest = release.versions.at(-1)!;
    const arm64 = await releases.imagerInputs(parsePathVersion(newest), 'arm64');
    expect(readFileSync(arm64.kernel).equals(readFileSync(release.arches.arm64.boot[newest]!.kernel))).toBe(true);
    expect(readFileSync(arm64.initramfs).equals(readFileSync(release.arches.arm64.boot[newest]!.initramfs))).toBe(true);
    expect(statSync(join(arm64.grubDir, 'arm64-efi')).isDirectory()).toBe(true);
    await expect(releases.imagerInputs(parsePathVersion('v1.3.0'), 'amd64')).rejects.toThrow('version 1.3.0 is not available');

    // An imager with amd64 inputs only (as a release without arm64 would have).
    const root = mkdtempSync(join(tmpdir(), 'if-amd64-only-'));
    dirs.push(root);
    const tree = join(root, 'tree');
    mkdirSync(join(tree, 'usr/install/amd64'), { recursive: true });
    for (const file of ['vmlinuz', 'initramfs.xz']) writeFileSync(join(tree, 'usr/install/amd64', file), file);
    await writeImage(await OciLayout.create(join(root, 'layout/siderolabs/imager')), { layers: [{ directory: tree }], config: {}, platform: { os: 'linux', architecture: 'amd64' } }, newest);
    const amd64Only = service(new LayoutReleaseBackend(join(root, 'layout')), dataDir);
    await expect(amd64Only.imagerInputs(parsePathVersion(newest), 'amd64')).resolves.toBeDefined();
    await expect(amd64Only.imagerInputs(parsePathVersion(newest), 'arm64')).rejects.toThrow(/has no arm64 inputs/);
  });
});
