// The /v2 registry endpoint with real OCI clients: skopeo inspects and copies
// the installer of a fresh schematic; its artifacts are the very kernel and
// initramfs /image serves for that schematic. Errors come as OCI JSON.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerdSkipReason, startContainerd } from '../helpers/containerd.js';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { startService, type ServiceProcess } from '../helpers/server.js';

const release = await ensureDevRelease();
const legacy = release.versions.find((v) => v.startsWith('v1.7.'))!;
let svc: ServiceProcess;
let id: string;
let host: string;
const work = mkdtempSync(join(tmpdir(), 'if-registry-'));

beforeAll(async () => {
  svc = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir });
  host = svc.url.replace('http://', '');
  const res = await fetch(`${svc.url}/schematics`, {
    method: 'POST',
    body: 'customization:\n  extraKernelArgs: [factory.registry=1]\n  systemExtensions:\n    officialExtensions: [siderolabs/dummy-module, siderolabs/dev-firmware]\n',
  });
  id = ((await res.json()) as { id: string }).id;
});
afterAll(async () => {
  await svc.stop();
  rmSync(work, { recursive: true, force: true });
});

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('installer images through /v2', () => {
  it('answers the ping', async () => {
    const res = await fetch(`${svc.url}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  it('lets skopeo inspect and copy the installer; its artifacts are the served kernel and initramfs', async () => {
    const ref = `docker://${host}/installer/${id}:${legacy}`;
    const inspect = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', ref], { encoding: 'utf8' })) as {
      Digest: string;
      Architecture: string;
      Layers: string[];
      RepoTags: string[];
    };
    expect(inspect.Architecture).toBe('amd64');
    expect(inspect.RepoTags).toContain(legacy);
    const dir = join(work, 'copy');
    execFileSync('skopeo', ['copy', '--src-tls-verify=false', ref, `dir:${dir}`]);
    const last = join(dir, inspect.Layers.at(-1)!.replace('sha256:', ''));
    const files = execFileSync('tar', ['-tzf', last], { encoding: 'utf8' }).trim().split('\n');
    expect(files).toEqual(['usr/install/amd64/initramfs.xz', 'usr/install/amd64/vmlinuz']);
    const initramfs = execFileSync('tar', ['-xzOf', last, 'usr/install/amd64/initramfs.xz'], { maxBuffer: 1 << 28 });
    const kernel = execFileSync('tar', ['-xzOf', last, 'usr/install/amd64/vmlinuz'], { maxBuffer: 1 << 28 });
    const served = async (file: string) => Buffer.from(await (await fetch(`${svc.url}/image/${id}/${legacy}/${file}`)).arrayBuffer());
    expect(sha(initramfs)).toBe(sha(await served('initramfs-amd64.xz')));
    expect(sha(kernel)).toBe(sha(await served('kernel-amd64')));
    // skopeo's dir: copy holds exactly the manifest's blobs, all verified by digest.
    expect(readdirSync(dir).filter((f) => /^[0-9a-f]{64}$/.test(f))).toHaveLength(inspect.Layers.length + 1);
    expect(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).layers).toHaveLength(2);
  });

  it.skipIf(containerdSkipReason() !== undefined)('lets containerd pull and mount it, as Talos does', async () => {
    const containerd = await startContainerd();
    const mnt = join(work, 'mnt');
    try {
      const ref = `${host}/installer/${id}:${legacy}`;
      containerd.ctr('images', 'pull', '--plain-http', '--platform', 'linux/amd64', ref);
      execFileSync('mkdir', ['-p', mnt]);
      containerd.ctr('images', 'mount', '--platform', 'linux/amd64', ref, mnt);
      try {
        const served = Buffer.from(await (await fetch(`${svc.url}/image/${id}/${legacy}/initramfs-amd64.xz`)).arrayBuffer());
        expect(sha(readFileSync(join(mnt, 'usr/install/amd64/initramfs.xz')))).toBe(sha(served));
        expect(readdirSync(join(mnt, 'usr/bin'))).toContain('installer'); // the base installer's layer is there too
      } finally {
        containerd.ctr('images', 'unmount', mnt);
      }
    } finally {
      await containerd.stop();
    }
  });

  it('serves installer-<arch>.tar in docker save format, which skopeo reads', async () => {
    const file = join(work, 'installer-amd64.tar');
    const res = await fetch(`${svc.url}/image/${id}/${legacy}/installer-amd64.tar`);
    expect(res.status).toBe(200);
    writeFileSync(file, Buffer.from(await res.arrayBuffer()));
    const inspect = JSON.parse(execFileSync('skopeo', ['inspect', `docker-archive:${file}`], { encoding: 'utf8' })) as { Architecture: string; Layers: string[] };
    expect(inspect.Architecture).toBe('amd64');
    const index = JSON.parse(execFileSync('tar', ['-xOf', file, 'manifest.json'], { encoding: 'utf8' })) as Array<{ RepoTags: string[]; Layers: string[] }>;
    expect(index[0]!.RepoTags).toEqual([`ghcr.io/siderolabs/installer:${legacy}`]);
    const layer = execFileSync('tar', ['-xOf', file, index[0]!.Layers.at(-1)!], { maxBuffer: 1 << 28 });
    const layerFile = join(work, 'artifacts.tar.gz');
    writeFileSync(layerFile, layer);
    const initramfs = execFileSync('tar', ['-xzOf', layerFile, 'usr/install/amd64/initramfs.xz'], { maxBuffer: 1 << 28 });
    const served = Buffer.from(await (await fetch(`${svc.url}/image/${id}/${legacy}/initramfs-amd64.xz`)).arrayBuffer());
    expect(sha(initramfs)).toBe(sha(served));
  });

  it('answers HEAD by tag and GET by digest with Docker-Content-Digest', async () => {
    const accept = 'application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json';
    const head = await fetch(`${svc.url}/v2/installer/${id}/manifests/${legacy}`, { method: 'HEAD', headers: { Accept: accept } });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('application/vnd.oci.image.index.v1+json');
    const digest = head.headers.get('docker-content-digest')!;
    const byDigest = await fetch(`${svc.url}/v2/installer/${id}/manifests/${digest}`);
    const bytes = Buffer.from(await byDigest.arrayBuffer());
    expect(`sha256:${sha(bytes)}`).toBe(digest);
    expect(Number(head.headers.get('content-length'))).toBe(bytes.length);
    const latest = await fetch(`${svc.url}/v2/metal-installer/${id}/manifests/latest`, { method: 'HEAD' });
    expect(latest.status).toBe(501); // the newest version needs a UKI, not built yet
  });

  it.each([
    ['an unknown image name', () => `/v2/foo/${id}/manifests/${legacy}`, 400, 'NAME_INVALID'],
    ['an unknown schematic', () => `/v2/installer/${'0'.repeat(64)}/manifests/${legacy}`, 404, 'NAME_UNKNOWN'],
    ['a version the release lacks', () => `/v2/installer/${id}/manifests/v1.5.0`, 404, 'MANIFEST_UNKNOWN'],
    ['a tag that is no version', () => `/v2/installer/${id}/manifests/stable`, 404, 'MANIFEST_UNKNOWN'],
    ['an unknown blob', () => `/v2/installer/${id}/blobs/sha256:${'1'.repeat(64)}`, 404, 'BLOB_UNKNOWN'],
    ['secure boot without keys', () => `/v2/installer-secureboot/${id}/manifests/${legacy}`, 400, 'DENIED'],
    ['an unknown path', () => `/v2/installer/${id}/referrers`, 404, 'NAME_UNKNOWN'],
  ])('answers %s with an OCI error', async (_what, path, status, code) => {
    const res = await fetch(`${svc.url}${path()}`);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(((await res.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe(code);
  });

  it('prebuilds the newest version\'s installer when a schematic is created', async () => {
    // With v1.12.0 marked broken, the newest version is the one installers are built for so far.
    const newest = release.versions.filter((v) => v !== legacy).join(',');
    const pre = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir, IF_BROKEN_TALOS_VERSIONS: newest });
    try {
      const res = await fetch(`${pre.url}/schematics`, { method: 'POST', body: 'customization:\n  extraKernelArgs: [factory.prebuild=1]\n' });
      const fresh = ((await res.json()) as { id: string }).id;
      const built = () => pre.logs().split('\n').filter((l) => l.includes('"msg":"asset built"') && l.includes('installer-amd64.tar')).length;
      for (let i = 0; i < 200 && built() === 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(built()).toBe(1); // built before anyone asked
      const head = await fetch(`${pre.url}/v2/installer/${fresh}/manifests/latest`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(built()).toBe(1); // and served from the cache
    } finally {
      await pre.stop();
    }
  });
});
