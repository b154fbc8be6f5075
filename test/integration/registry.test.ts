// The /v2 registry endpoint with real OCI clients, the way `talosctl upgrade`
// uses it. Before Talos 1.10: skopeo inspects and copies the installer of a
// fresh schematic; its artifacts are the very kernel and initramfs /image
// serves for that schematic. From 1.10 (v1.12.0 here): skopeo and containerd
// pull `installer`, `metal-installer` and `aws-installer`, whose artifacts
// layer holds systemd-boot and a UKI; the UKI is read back with our own PE,
// cpio, compression and squashfs readers (kernel arguments of the schematic and
// the platform in `.cmdline`, the schematic's extensions and its `schematic`
// layer in `.initrd`), and judged by objdump and sbverify. Errors come as OCI JSON.

import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { SquashfsReader } from '../../src/formats/squashfs/index.js';
import { containerdSkipReason, startContainerd } from '../helpers/containerd.js';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { startService, type ServiceProcess } from '../helpers/server.js';
import { readInitramfs, readUki } from '../helpers/uki-contents.js';

const release = await ensureDevRelease();
const legacy = release.versions.find((v) => v.startsWith('v1.7.'))!;
/** The newest version, an installer with systemd-boot and the UKI (>= 1.10). */
const current = release.versions.find((v) => v.startsWith('v1.12.'))!;
const EXTENSIONS = ['siderolabs/dummy-module', 'siderolabs/dev-firmware', 'siderolabs/dev-ucode'];
const SCHEMATIC = `customization:\n  extraKernelArgs: [factory.registry=1]\n  systemExtensions:\n    officialExtensions: [${EXTENSIONS.join(', ')}]\n`;
let svc: ServiceProcess;
let id: string;
let canonical: string;
let host: string;
const work = mkdtempSync(join(tmpdir(), 'if-registry-'));

beforeAll(async () => {
  svc = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir, IF_PREBUILD_INSTALLERS: 'true' });
  host = svc.url.replace('http://', '');
  // Creating it also starts the prebuild of the newest version's installer (the default, which the test helper turns off).
  const res = await fetch(`${svc.url}/schematics`, { method: 'POST', body: SCHEMATIC });
  ({ id, schematic: canonical } = (await res.json()) as { id: string; schematic: string });
});
afterAll(async () => {
  await svc.stop();
  rmSync(work, { recursive: true, force: true });
});

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
/**
 * skopeo runs while a build takes seconds: run it without blocking this process's event loop, or
 * fetch's keep-alive timers cannot run and the next request goes out on a socket the service closed.
 */
const run = async (command: string, args: string[]): Promise<string> => (await promisify(execFile)(command, args, { encoding: 'utf8', maxBuffer: 1 << 26 })).stdout;

/** `installer-amd64.tar` of a version as served, read by skopeo (an amd64 image), with its manifest.json. */
async function dockerArchive(version: string): Promise<{ file: string; index: Array<{ RepoTags: string[]; Layers: string[] }> }> {
  const file = join(work, `installer-amd64-${version}.tar`);
  const res = await fetch(`${svc.url}/image/${id}/${version}/installer-amd64.tar`);
  expect(res.status).toBe(200);
  writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  const inspect = JSON.parse(execFileSync('skopeo', ['inspect', `docker-archive:${file}`], { encoding: 'utf8' })) as { Architecture: string };
  expect(inspect.Architecture).toBe('amd64');
  return { file, index: JSON.parse(execFileSync('tar', ['-xOf', file, 'manifest.json'], { encoding: 'utf8' })) as Array<{ RepoTags: string[]; Layers: string[] }> };
}

describe('installer images through /v2', () => {
  it('answers the ping', async () => {
    const res = await fetch(`${svc.url}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  it('lets skopeo inspect and copy the installer; its artifacts are the served kernel and initramfs', async () => {
    const ref = `docker://${host}/installer/${id}:${legacy}`;
    const inspect = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', ref])) as {
      Digest: string;
      Architecture: string;
      Layers: string[];
      RepoTags: string[];
    };
    expect(inspect.Architecture).toBe('amd64');
    expect(inspect.RepoTags).toContain(legacy);
    const dir = join(work, 'copy');
    await run('skopeo', ['copy', '--src-tls-verify=false', ref, `dir:${dir}`]);
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

  it('serves installer-<arch>.tar in docker save format, which skopeo reads', async () => {
    const { file, index } = await dockerArchive(legacy);
    expect(index[0]!.RepoTags).toEqual([`siderolabs/installer:${legacy}`]);
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

    // A layer's digest is a blob, not a manifest; an empty range is unsatisfiable.
    const image = JSON.parse(bytes.toString()) as { manifests: Array<{ digest: string }> };
    const manifest = (await (await fetch(`${svc.url}/v2/installer/${id}/manifests/${image.manifests[0]!.digest}`)).json()) as { layers: Array<{ digest: string; size: number }> };
    const layer = manifest.layers[0]!;
    const asManifest = await fetch(`${svc.url}/v2/installer/${id}/manifests/${layer.digest}`);
    expect(asManifest.status).toBe(404);
    expect(((await asManifest.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('MANIFEST_UNKNOWN');
    const backwards = await fetch(`${svc.url}/v2/installer/${id}/blobs/${layer.digest}`, { headers: { Range: 'bytes=10-5' } });
    expect(backwards.status).toBe(416);
    expect(backwards.headers.get('content-range')).toBe(`bytes */${layer.size}`);
  });

  it.each([
    ['an unknown image name', () => `/v2/foo/${id}/manifests/${legacy}`, 400, 'NAME_INVALID'],
    ['an unknown schematic', () => `/v2/installer/${'0'.repeat(64)}/manifests/${legacy}`, 404, 'NAME_UNKNOWN'],
    ['a version the release lacks', () => `/v2/installer/${id}/manifests/v1.5.0`, 404, 'MANIFEST_UNKNOWN'],
    ['a tag that is no version', () => `/v2/installer/${id}/manifests/stable`, 404, 'MANIFEST_UNKNOWN'],
    ['an unknown blob', () => `/v2/installer/${id}/blobs/sha256:${'1'.repeat(64)}`, 404, 'BLOB_UNKNOWN'],
    ['a version tag without its v (upstream looks it up as it is)', () => `/v2/installer/${id}/manifests/${legacy.slice(1)}`, 404, 'MANIFEST_UNKNOWN'],
    ['a digest under an unknown schematic', () => `/v2/installer/${'0'.repeat(64)}/manifests/sha256:${'1'.repeat(64)}`, 404, 'NAME_UNKNOWN'],
    ['secure boot without keys', () => `/v2/installer-secureboot/${id}/manifests/${legacy}`, 400, 'UNSUPPORTED'],
    ['an unknown path', () => `/v2/installer/${id}/referrers`, 404, 'NAME_UNKNOWN'],
    ['an unknown resource, before the image name is judged', () => `/v2/foo/${id}/bar/x`, 404, 'NAME_UNKNOWN'],
    ['the source image proxy, which is not offered', () => `/v2/siderolabs/installer-base/manifests/${legacy}`, 501, 'UNSUPPORTED'],
  ])('answers %s with an OCI error', async (_what, path, status, code) => {
    const res = await fetch(`${svc.url}${path()}`);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(((await res.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe(code);
  });

  it('prebuilds the newest version\'s installer when a schematic is created', async () => {
    const built = () =>
      svc
        .logs()
        .split('\n')
        .filter((l) => l.includes('"msg":"asset built"') && l.includes('"asset":"installer-amd64.tar"') && l.includes(`"version":"${current}"`)).length;
    // The prebuild the first schematic started is over once its installer answers.
    expect((await fetch(`${svc.url}/v2/installer/${id}/manifests/${current}`, { method: 'HEAD' })).status).toBe(200);
    const before = built();
    const res = await fetch(`${svc.url}/schematics`, { method: 'POST', body: 'customization:\n  extraKernelArgs: [factory.prebuild=1]\n' });
    const fresh = ((await res.json()) as { id: string }).id;
    for (let i = 0; i < 600 && built() === before; i++) await new Promise((r) => setTimeout(r, 100));
    expect(built()).toBe(before + 1); // built before anyone asked
    const head = await fetch(`${svc.url}/v2/installer/${fresh}/manifests/latest`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    const tagged = await fetch(`${svc.url}/v2/installer/${fresh}/manifests/${current}`, { method: 'HEAD' });
    expect(tagged.headers.get('docker-content-digest')).toBe(head.headers.get('docker-content-digest'));
    expect(built()).toBe(before + 1); // and served from the cache
  });
});

// Talos 1.12's kernel command line for an installer (reference talos-imager.md §1.3): the platform and
// its arguments, the defaults of 1.12, then the schematic's extraKernelArgs.
const DEFAULTS_1_12 = 'init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 printk.devkmsg=on selinux=1 module.sig_enforce=1';
const CMDLINE = {
  metal: `talos.platform=metal console=tty0 ${DEFAULTS_1_12} factory.registry=1`,
  aws: `talos.platform=aws console=tty1 console=ttyS0 net.ifnames=0 ${DEFAULTS_1_12} factory.registry=1`,
};
const ARTIFACTS = ['usr/install/amd64/systemd-boot.efi', 'usr/install/amd64/vmlinuz.efi'];

interface Pulled {
  digest: string;
  /** The extracted artifacts layer. */
  root: string;
  layers: number;
}

/** `skopeo inspect` and `skopeo copy` to an OCI layout, then the artifacts layer checked for Talos' entry shape and unpacked. */
async function skopeoPull(image: string, tag: string): Promise<Pulled> {
  const ref = `docker://${host}/${image}/${id}:${tag}`;
  const inspect = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', ref])) as {
    Digest: string;
    Architecture: string;
    Os: string;
    Layers: string[];
    Env: string[];
    Labels: Record<string, string>;
  };
  expect(inspect).toMatchObject({ Architecture: 'amd64', Os: 'linux' });
  expect(inspect.Env).toContain(`VERSION=${tag}`);
  expect(inspect.Labels['alpha.talos.dev/version']).toBe(tag);
  const dir = join(work, `oci-${image}`);
  await run('skopeo', ['copy', '--src-tls-verify=false', ref, `oci:${dir}`]);
  const blob = (digest: string) => join(dir, 'blobs', 'sha256', digest.replace('sha256:', ''));
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0]!.digest), 'utf8')) as { layers: Array<{ digest: string; mediaType: string }> };
  expect(manifest.layers.map((l) => l.digest)).toEqual(inspect.Layers);
  const artifacts = manifest.layers.at(-1)!;
  expect(artifacts.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
  const listing = execFileSync('tar', ['-tvzf', blob(artifacts.digest), '--numeric-owner', '--full-time'], { encoding: 'utf8' }).trim().split('\n');
  expect(listing.map((l) => l.split(/\s+/).at(-1))).toEqual(ARTIFACTS);
  for (const line of listing) expect(line).toMatch(/^---------- 0\/0 +\d+ 1970-01-01 00:00:00 /);
  const root = join(work, `files-${image}`);
  mkdirSync(root);
  execFileSync('tar', ['-xzf', blob(artifacts.digest), '-C', root]);
  // The base's layer (with the installer binary) is under the artifacts.
  const base = manifest.layers.slice(0, -1).map((l) => execFileSync('tar', ['-tzf', blob(l.digest)], { encoding: 'utf8', maxBuffer: 1 << 26 })).join('');
  expect(base).toMatch(/^(\.\/)?usr\/bin\/installer$/m);
  return { digest: inspect.Digest, root, layers: manifest.layers.length };
}

const fileSha = (path: string) => sha(readFileSync(path));

/**
 * The UKI as Talos' installer would write it to the ESP, read back with our own readers: the sections in
 * upstream's order, the platform's and the schematic's kernel arguments, the reset-maintenance profile,
 * the release's kernel, and an initrd whose extensions.yaml names the schematic's extensions and the
 * `schematic` layer, which records this schematic.
 */
async function checkUki(path: string, cmdline: string): Promise<void> {
  const uki = await readUki(path);
  expect(uki.sections.slice(uki.sections.indexOf('.osrel'))).toEqual(['.osrel', '.cmdline', '.uname', '.linux', '.initrd', '.profile', '.profile', '.cmdline']);
  expect(uki.cmdlines).toEqual([cmdline, `${cmdline} talos.experimental.wipe=system:EPHEMERAL,STATE`]);
  expect(uki.profiles).toEqual(['ID=main', 'ID=reset-maintenance\nTITLE=Reset to maintenance mode']);
  expect(uki.osrel).toContain(`NAME="Talos"\nID=talos\nVERSION_ID=${current}\nPRETTY_NAME="Talos (${current})"\n`);
  expect(uki.uname).toBe(release.kernel.release);
  expect(sha(uki.linux)).toBe(fileSha(release.boot[current]!.kernel));

  const { segments, files } = await readInitramfs(uki.initrd, (name) => name === 'extensions.yaml' || /^\d+\.sqsh$/.test(name));
  // Early microcode (from dev-ucode) uncompressed, then the release's initramfs untouched, then the extensions.
  expect(segments.map((s) => s.codec)).toEqual(['none', release.boot[current]!.compression]);
  expect(segments[0]!.names).toContain('kernel/x86/microcode/GenuineIntel.bin');
  const base = readFileSync(release.boot[current]!.initramfs);
  expect(uki.initrd.subarray(segments[1]!.offset, segments[1]!.offset + base.length).equals(base)).toBe(true);
  expect(segments[1]!.names).toContain('rootfs.sqsh');
  expect(segments[1]!.names).toContain('extensions.yaml');

  const config = parseYaml(files.get('extensions.yaml')!.toString()) as { layers: Array<{ image: string; metadata: { name: string; version: string; extraInfo?: string } }> };
  const names = config.layers.map((l) => l.metadata.name);
  expect(names.slice(0, 4)).toEqual([...EXTENSIONS.map((e) => e.replace('siderolabs/', '')), 'schematic']);
  const schematicLayer = config.layers.find((l) => l.metadata.name === 'schematic')!;
  expect(schematicLayer.metadata.version).toBe(id);
  expect(schematicLayer.metadata.extraInfo).toBe(canonical);
  const sqsh = join(work, `schematic-${sha(Buffer.from(path)).slice(0, 8)}.sqsh`);
  writeFileSync(sqsh, files.get(schematicLayer.image)!);
  const reader = await SquashfsReader.open(sqsh);
  try {
    expect(await reader.exists(`usr/local/share/schematic/${id}`)).toBe(true);
  } finally {
    await reader.close();
  }
}

describe(`installers with systemd-boot and a UKI (${current})`, () => {
  let installer: Pulled;

  it('skopeo pulls `installer`: systemd-boot and the UKI carrying the schematic\'s kernel arguments and extensions', async () => {
    installer = await skopeoPull('installer', current);
    expect(installer.layers).toBe(2); // installer-base's one layer, then the artifacts
    const sdBoot = join(installer.root, ARTIFACTS[0]!);
    expect(String(readFileSync(sdBoot)).includes('#### LoaderInfo: systemd-boot')).toBe(true);
    await checkUki(join(installer.root, ARTIFACTS[1]!), CMDLINE.metal);
  });

  it('objdump and sbverify read the pulled UKI as a whole PE image', () => {
    const uki = join(installer.root, ARTIFACTS[1]!);
    const names = [...execFileSync('objdump', ['-h', uki], { encoding: 'utf8' }).matchAll(/^\s+\d+\s+(\.\S+)/gm)].map((m) => m[1]);
    expect(names.slice(names.indexOf('.osrel'))).toEqual(['.osrel', '.cmdline', '.uname', '.linux', '.initrd', '.profile', '.profile', '.cmdline']);
    const sbverify = spawnSync('sbverify', ['--list', uki], { encoding: 'utf8' });
    expect(sbverify.status, sbverify.stderr).toBe(0);
    expect(sbverify.stdout + sbverify.stderr).toMatch(/No signature table present/);
    expect(sbverify.stderr).not.toMatch(/warning|gaps/i); // every byte of the file is in a header or a section
  });

  it('`metal-installer` and `latest` are the same image; `aws-installer` carries aws\'s kernel arguments', async () => {
    const metal = await skopeoPull('metal-installer', current);
    expect(metal.digest).toBe(installer.digest);
    const latest = await fetch(`${svc.url}/v2/metal-installer/${id}/manifests/latest`, { method: 'HEAD' });
    expect(latest.status).toBe(200);
    expect(latest.headers.get('docker-content-digest')).toBe(installer.digest);

    const aws = await skopeoPull('aws-installer', current);
    expect(aws.digest).not.toBe(installer.digest);
    expect(fileSha(join(aws.root, ARTIFACTS[0]!))).toBe(fileSha(join(installer.root, ARTIFACTS[0]!)));
    await checkUki(join(aws.root, ARTIFACTS[1]!), CMDLINE.aws);
  });

  it('installer-amd64.tar (docker save format) holds the same two files', async () => {
    const { file, index } = await dockerArchive(current);
    expect(index[0]!.RepoTags).toEqual([`siderolabs/installer-base:${current}`]);
    const root = join(work, 'docker-archive');
    mkdirSync(root);
    execFileSync('bash', ['-euo', 'pipefail', '-c', `tar -xOf "${file}" "${index[0]!.Layers.at(-1)!}" | tar -xz -C "${root}"`]);
    expect(execFileSync('find', [root, '-type', 'f', '-printf', '%P\\n'], { encoding: 'utf8' }).trim().split('\n').sort()).toEqual(ARTIFACTS);
    for (const name of ARTIFACTS) expect(fileSha(join(root, name))).toBe(fileSha(join(installer.root, name)));
  });

  it.skipIf(containerdSkipReason() !== undefined)('containerd pulls and mounts both versions\' installers, as Talos does', async () => {
    const containerd = await startContainerd();
    try {
      for (const tag of [legacy, current]) {
        const ref = `${host}/installer/${id}:${tag}`;
        // Every platform the index lists (the development release has amd64 and arm64).
        const index = (await (await fetch(`${svc.url}/v2/installer/${id}/manifests/${tag}`)).json()) as { manifests: Array<{ platform: { os: string; architecture: string } }> };
        expect(index.manifests.length).toBeGreaterThan(0);
        for (const { platform } of index.manifests) {
          const spec = `${platform.os}/${platform.architecture}`;
          containerd.ctr('images', 'pull', '--plain-http', '--platform', spec, ref);
          const mnt = join(work, `mnt-${tag}-${platform.architecture}`);
          mkdirSync(mnt);
          containerd.ctr('images', 'mount', '--platform', spec, ref, mnt);
          try {
            expect(readdirSync(join(mnt, 'usr/bin'))).toContain('installer'); // the base installer's layer is there too
            const install = join(mnt, 'usr/install', platform.architecture);
            if (tag === legacy) {
              const served = Buffer.from(await (await fetch(`${svc.url}/image/${id}/${legacy}/initramfs-${platform.architecture}.xz`)).arrayBuffer());
              expect(fileSha(join(install, 'initramfs.xz'))).toBe(sha(served));
              expect(readdirSync(install).sort()).toEqual(['initramfs.xz', 'vmlinuz']);
            } else {
              expect(readdirSync(install).sort()).toEqual(['systemd-boot.efi', 'vmlinuz.efi']);
              // The skopeo pull and the expected command lines above are amd64's.
              if (platform.architecture === 'amd64') {
                for (const name of ARTIFACTS) expect(fileSha(join(mnt, name))).toBe(fileSha(join(installer.root, name)));
                await checkUki(join(install, 'vmlinuz.efi'), CMDLINE.metal);
              }
            }
          } finally {
            containerd.ctr('images', 'unmount', mnt);
          }
        }
      }
    } finally {
      await containerd.stop();
    }
  });
});
