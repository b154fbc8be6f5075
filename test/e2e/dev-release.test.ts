// The development release, checked with independent tools: skopeo reads its
// OCI layouts and, once pushed, the registry; tar, cpio, zstd/xz and
// unsquashfs look inside; QEMU boots its kernel with its initramfs, alone
// and with extension segments made here the way Talos' imager makes them
// (mksquashfs per extension, firmware and microcode moved into the
// initramfs, a depmod-made modules.dep layer on top), and the boot report
// says what the booted system saw. Every image, in the layouts and in the
// registry, carries a cosign signature made with the key beside the layouts.

import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { buildDevRelease } from '../../devrelease/build.js';
import { parsePublicKey } from '../../src/oci/cosign/keys.js';
import { verifyCosignSignature } from '../../src/oci/cosign/verify.js';
import { OciLayout } from '../../src/oci/layout.js';
import { RegistryClient } from '../../src/oci/registry/client.js';
import { type DevReleaseInfo, ensureDevRelease, publishDevRelease } from '../helpers/dev-release.js';
import { bootQemu, qemuSkipReason } from '../helpers/qemu.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const release = await ensureDevRelease();
const qemuMissing = qemuSkipReason();
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

function sh(command: string, args: string[], options: { cwd?: string; input?: Buffer | string } = {}): string {
  return execFileSync(command, args, { ...options, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
}

function digestOf(info: DevReleaseInfo, repository: string, tag: string): string {
  const image = info.images.find((i) => i.repository === repository && i.tag === tag);
  if (!image) throw new Error(`${repository}:${tag} is not in the release`);
  return image.digest;
}

/** Unpacks an image's layers (in order, of the platform linux/<arch>) into a new directory with skopeo and tar. */
function unpackImage(source: string, extraArgs: string[] = [], arch = 'amd64'): string {
  const blobs = tempDir('dr-blobs-');
  sh('skopeo', ['copy', ...extraArgs, '--override-arch', arch, source, `dir:${blobs}`]);
  const manifest = JSON.parse(readFileSync(join(blobs, 'manifest.json'), 'utf8')) as { layers: Array<{ digest: string }> };
  const root = tempDir('dr-image-');
  for (const layer of manifest.layers) sh('tar', ['-xzf', join(blobs, layer.digest.replace('sha256:', '')), '-C', root]);
  return root;
}

const layout = (repository: string, tag: string): string => `oci:${join(release.layoutDir, repository)}:${tag}`;
const newest = release.versions.at(-1)!;
const oldest = release.versions[0]!;
const usrLib = (version: string): boolean => release.boot[version]!.modulesPath.startsWith('usr/');
const PLATFORMS = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64' },
];
/** ELF e_machine of a file: 62 x86-64, 183 AArch64. */
const elfMachine = (file: string): number => readFileSync(file).readUInt16LE(18);
const EM = { amd64: 62, arm64: 183 } as const;
/** PE machine of an EFI binary: 0x8664 x64, 0xaa64 AArch64. */
const peMachine = (file: string): number => {
  const bytes = readFileSync(file);
  return bytes.readUInt16LE(bytes.readUInt32LE(0x3c) + 4);
};

describe('the development release in OCI layouts', () => {
  it('has the versions on both sides of the 1.8 and 1.10 quirks', () => {
    expect(release.versions).toContain('v1.7.6');
    expect(release.versions).toContain('v1.12.0');
  });

  it('skopeo reads the imager of every version: an index for linux/amd64 and linux/arm64, tagged with the version', () => {
    for (const version of release.versions) {
      const inspect = JSON.parse(sh('skopeo', ['inspect', layout('siderolabs/imager', version)])) as Record<string, unknown>;
      expect(inspect.Digest).toBe(digestOf(release, 'siderolabs/imager', version));
      expect(inspect.Architecture).toBe('amd64');
      expect(inspect.Os).toBe('linux');
      const raw = JSON.parse(sh('skopeo', ['inspect', '--raw', layout('siderolabs/imager', version)])) as {
        mediaType: string;
        manifests: Array<{ platform: { os: string; architecture: string } }>;
      };
      expect(raw.mediaType).toBe('application/vnd.oci.image.index.v1+json');
      expect(raw.manifests.map((m) => m.platform)).toEqual(PLATFORMS);
    }
  });

  it('publishes every image as an index of linux/amd64 and linux/arm64, as upstream does', () => {
    for (const image of release.images) {
      const raw = JSON.parse(sh('skopeo', ['inspect', '--raw', layout(image.repository, image.tag)])) as { manifests: Array<{ platform: unknown }> };
      expect(raw.manifests.map((m) => m.platform), `${image.repository}:${image.tag}`).toEqual(PLATFORMS);
      const arm = JSON.parse(sh('skopeo', ['inspect', '--override-arch', 'arm64', layout(image.repository, image.tag)])) as { Architecture: string };
      expect(arm.Architecture).toBe('arm64');
    }
  });

  it('the imager carries the arm64 inputs too (from either platform): an EFI-bootable kernel, arm64 systemd-boot/stub and GRUB modules', () => {
    for (const version of release.versions) {
      for (const platform of ['amd64', 'arm64']) {
        const root = unpackImage(layout('siderolabs/imager', version), [], platform);
        const install = join(root, 'usr/install/arm64');
        // Debian's arm64 Image: "MZ" (a PE/EFI executable) and the arm64 boot magic "ARMd" at 0x38.
        const vmlinuz = readFileSync(join(install, 'vmlinuz'));
        expect(vmlinuz.subarray(0, 2).toString('latin1')).toBe('MZ');
        expect(vmlinuz.subarray(0x38, 0x3c).toString('latin1')).toBe('ARMd');
        expect(peMachine(join(install, 'vmlinuz'))).toBe(0xaa64);
        expect(peMachine(join(install, 'systemd-boot.efi'))).toBe(0xaa64);
        expect(peMachine(join(install, 'systemd-stub.efi'))).toBe(0xaa64);
        expect(peMachine(join(root, 'usr/install/amd64/systemd-boot.efi'))).toBe(0x8664);
        expect(existsSync(join(root, 'usr/lib/grub/arm64-efi/normal.mod'))).toBe(true);
        const initramfs = readFileSync(join(install, 'initramfs.xz'));
        expect(initramfs.subarray(0, 4).toString('hex')).toBe(release.boot[version]!.compression === 'zstd' ? '28b52ffd' : 'fd377a58');
      }
    }
  });

  it('the arm64 boot files are built from the arm64 packages: busybox and modules are AArch64', () => {
    for (const version of release.versions) {
      const boot = release.arches.arm64.boot[version]!;
      expect(boot.kernel).not.toBe(release.boot[version]!.kernel);
      const work = tempDir('dr-arm64-');
      sh('sh', ['-c', `${boot.compression === 'zstd' ? 'zstd -dc' : 'xz -dc'} "$0" | cpio -id --quiet`, boot.initramfs], { cwd: work });
      expect(elfMachine(join(work, 'bin/busybox'))).toBe(EM.arm64);
      expect(elfMachine(join(work, 'modules/squashfs.ko'))).toBe(EM.arm64);
      const kver = release.arches.arm64.kernel.release;
      expect(kver).toMatch(/-arm64$/);
      sh('unsquashfs', ['-n', '-d', join(work, 'root'), join(work, 'rootfs.sqsh')]);
      expect(elfMachine(join(work, 'root/usr/bin/busybox'))).toBe(EM.arm64);
      expect(readFileSync(join(work, 'root', boot.modulesPath, kver, 'modules.dep'), 'utf8')).toContain('kernel/fs/overlayfs/overlay.ko:');
    }
  });

  it('the imager holds the kernel, initramfs, systemd-boot, systemd-stub and GRUB modules where Talos has them', () => {
    for (const version of release.versions) {
      const root = unpackImage(layout('siderolabs/imager', version));
      for (const file of ['vmlinuz', 'initramfs.xz', 'systemd-boot.efi', 'systemd-stub.efi']) {
        expect(statSync(join(root, 'usr/install/amd64', file)).size, file).toBeGreaterThan(1000);
      }
      expect(readFileSync(join(root, 'usr/install/amd64/vmlinuz')).subarray(0x202, 0x206).toString('latin1')).toBe('HdrS');
      expect(readFileSync(join(root, 'usr/install/amd64/systemd-stub.efi')).subarray(0, 2).toString('latin1')).toBe('MZ');
      expect(existsSync(join(root, 'usr/lib/grub/i386-pc/normal.mod'))).toBe(true);
      expect(existsSync(join(root, 'usr/lib/grub/x86_64-efi/normal.mod'))).toBe(true);

      const initramfs = readFileSync(join(root, 'usr/install/amd64/initramfs.xz'));
      if (release.boot[version]!.compression === 'zstd') {
        expect(initramfs.subarray(0, 4).toString('hex')).toBe('28b52ffd');
      } else {
        // xz stream header, then stream flags 00 01: the CRC32 check the kernel accepts.
        expect(initramfs.subarray(0, 8).toString('hex')).toBe('fd377a585a000001');
      }
    }
  });

  it('the initramfs holds init, busybox, the mount modules and rootfs.sqsh; the root holds modules at the version path', () => {
    for (const version of release.versions) {
      const boot = release.boot[version]!;
      const work = tempDir('dr-initramfs-');
      const cpio = join(work, 'initramfs.cpio');
      sh('sh', ['-c', `${boot.compression === 'zstd' ? 'zstd -dc' : 'xz -dc'} "$0" > "$1"`, boot.initramfs, cpio]);
      const names = sh('cpio', ['-it', '--quiet', '-F', cpio]).split('\n').filter(Boolean);
      expect(names).toEqual(expect.arrayContaining(['init', 'bin/busybox', 'rootfs.sqsh', 'modules/loop.ko', 'modules/squashfs.ko', 'modules/overlay.ko']));
      sh('cpio', ['-id', '--quiet', '-F', cpio, 'init', 'rootfs.sqsh'], { cwd: work });
      expect(readFileSync(join(work, 'init'), 'utf8')).toMatch(/^#!\/bin\/busybox sh\n/);

      const listing = sh('unsquashfs', ['-lls', '-n', join(work, 'rootfs.sqsh')]);
      const kver = release.kernel.release;
      expect(listing).toContain(`squashfs-root/${boot.modulesPath}/${kver}/modules.dep`);
      expect(listing).toContain(`squashfs-root/${boot.modulesPath}/${kver}/kernel/drivers/net/veth.ko`);
      expect(listing).not.toContain('dummy.ko');
      expect(listing).toMatch(new RegExp(`^d\\S+ root/root .* squashfs-root/${boot.firmwarePath}$`, 'm'));
      expect(listing).toMatch(/^d\S+ root\/root .* squashfs-root\/usr\/local$/m);
      expect(listing).toContain('squashfs-root/usr/bin/report');
      if (usrLib(version)) expect(listing).toMatch(/^l\S+ .* squashfs-root\/lib -> usr\/lib$/m);
      sh('unsquashfs', ['-n', '-d', join(work, 'root'), join(work, 'rootfs.sqsh'), '/etc/os-release']);
      expect(readFileSync(join(work, 'root/etc/os-release'), 'utf8')).toContain(`VERSION_ID=${version}\n`);
    }
  });

  it('publishes installer-base from 1.10 and installer (with the boot artifacts) before', () => {
    const base = JSON.parse(sh('skopeo', ['inspect', '--config', layout('siderolabs/installer-base', newest)])) as {
      config: { Entrypoint: string[]; Env: string[]; Labels: Record<string, string> };
    };
    expect(base.config.Entrypoint).toEqual(['/usr/bin/installer']);
    expect(base.config.Env).toContain(`VERSION=${newest}`);
    expect(base.config.Labels['alpha.talos.dev/version']).toBe(newest);
    const baseRoot = unpackImage(layout('siderolabs/installer-base', newest));
    expect(sh(join(baseRoot, 'usr/bin/busybox'), ['sh', join(baseRoot, 'usr/bin/installer'), '--help'])).toMatch(/development release stand-in/);
    expect(existsSync(join(baseRoot, 'usr/install'))).toBe(false);

    const old = JSON.parse(sh('skopeo', ['inspect', layout('siderolabs/installer', oldest)])) as { Layers: string[] };
    expect(old.Layers).toHaveLength(2);
    const oldRoot = unpackImage(layout('siderolabs/installer', oldest));
    expect(statSync(join(oldRoot, 'usr/install/amd64/vmlinuz')).size).toBeGreaterThan(1000);
    expect(statSync(join(oldRoot, 'usr/install/amd64/initramfs.xz')).size).toBeGreaterThan(1000);
  });

  it('installer-base and installer are per architecture: arm64 busybox, usr/install/arm64 in the old installer', () => {
    for (const [repository, version] of [
      ['siderolabs/installer-base', newest],
      ['siderolabs/installer', oldest],
    ] as const) {
      for (const arch of ['amd64', 'arm64'] as const) {
        const root = unpackImage(layout(repository, version), [], arch);
        expect(elfMachine(join(root, 'usr/bin/busybox')), `${repository} ${arch}`).toBe(EM[arch]);
        expect(readFileSync(join(root, 'usr/bin/installer'), 'utf8')).toMatch(/^#!/);
        if (repository === 'siderolabs/installer') {
          expect(readdirSync(join(root, 'usr/install'))).toEqual([arch]);
          expect(readdirSync(join(root, 'usr/install', arch)).sort()).toEqual(['initramfs.xz', 'vmlinuz']);
        }
      }
    }
  });

  it('lays out extensions as upstream does, with module and firmware paths per version', () => {
    for (const version of release.versions) {
      expect(release.extensions[version]!.length).toBeGreaterThanOrEqual(4);
      for (const extension of release.extensions[version]!) {
        const root = unpackImage(layout(extension.repository, extension.tag));
        expect(readdirSync(root).sort()).toEqual(['manifest.yaml', 'rootfs']);
        const manifest = parseYaml(readFileSync(join(root, 'manifest.yaml'), 'utf8')) as { version: string; metadata: Record<string, unknown> };
        expect(manifest.version).toBe('v1alpha1');
        expect(manifest.metadata.name).toBe(extension.name);
        expect(extension.tag).toBe(`${extension.version}-${version}`);
        expect(existsSync(join(root, 'rootfs/usr/local/share', extension.name, 'marker'))).toBe(true);
      }
      const byName = (name: string): string => unpackImage(layout(`siderolabs/${name}`, release.extensions[version]!.find((e) => e.name === name)!.tag));
      const kver = release.kernel.release;
      const modulesPath = release.boot[version]!.modulesPath;
      expect(existsSync(join(byName('dummy-module'), 'rootfs', modulesPath, kver, 'extras/dummy.ko'))).toBe(true);
      // The arm64 image of an extension with a module carries that module built for the arm64 kernel.
      const dummy = release.extensions[version]!.find((e) => e.name === 'dummy-module')!;
      const arm = unpackImage(layout(dummy.repository, dummy.tag), [], 'arm64');
      const armKver = release.arches.arm64.kernel.release;
      expect(elfMachine(join(arm, 'rootfs', modulesPath, armKver, 'extras/dummy.ko'))).toBe(EM.arm64);
      expect(existsSync(join(arm, 'rootfs', modulesPath, kver))).toBe(false);
      expect(release.arches.arm64.extensionTrees[version]!.find((e) => e.name === 'dummy-module')!.tree).not.toBe(dummy.tree);
      expect(existsSync(join(byName('dev-firmware'), 'rootfs', release.boot[version]!.firmwarePath, 'devrelease/dev-firmware.bin'))).toBe(true);
      if (!usrLib(version)) expect(existsSync(join(byName('dev-firmware'), 'rootfs/usr/lib'))).toBe(false);
    }
  });

  it('signs every image with the key beside the layouts: extensions with a bundle referrer, the others with a .sig image', async () => {
    const key = parsePublicKey(readFileSync(release.signingPublicKey, 'utf8'), release.signingPublicKey);
    const extensions = new Set(Object.values(release.extensions).flatMap((list) => list.map((e) => e.repository)));
    for (const image of release.images) {
      const format = await verifyCosignSignature(await OciLayout.open(join(release.layoutDir, image.repository)), image.digest, key);
      expect(format, `${image.repository}:${image.tag}`).toBe(extensions.has(image.repository) ? 'bundle' : 'simple-signing');
    }
  });

  it('builds the same digests again from scratch', async () => {
    const out = tempDir('dr-rebuild-');
    symlinkSync(join(release.outDir, 'debs'), join(out, 'debs'));
    const again = await buildDevRelease({ out, versions: release.versions });
    expect(again.images).toEqual(release.images);
  }, 180_000);
});

describe('the development release in a registry', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry();
    await publishDevRelease(registry.host);
  }, 180_000);
  afterAll(() => registry?.stop());

  const remote = (reference: string): string => `docker://${registry.host}/${reference}`;
  const inspect = (reference: string, ...args: string[]): Record<string, unknown> =>
    JSON.parse(sh('skopeo', ['inspect', '--tls-verify=false', ...args, remote(reference)])) as Record<string, unknown>;

  it('carries every signature into the registry', async () => {
    const key = parsePublicKey(readFileSync(release.signingPublicKey, 'utf8'), release.signingPublicKey);
    const client = new RegistryClient({ registry: registry.host, insecure: true });
    for (const image of release.images) await verifyCosignSignature(client.repository(image.repository), image.digest, key);
  });

  it('serves imager, installer-base, installer and extensions under their tags with the layout digests', () => {
    expect(inspect(`siderolabs/imager:${newest}`).Digest).toBe(digestOf(release, 'siderolabs/imager', newest));
    expect(inspect(`siderolabs/installer-base:${newest}`).Digest).toBe(digestOf(release, 'siderolabs/installer-base', newest));
    expect(inspect(`siderolabs/installer:${oldest}`).Digest).toBe(digestOf(release, 'siderolabs/installer', oldest));
    for (const version of release.versions) {
      expect(inspect(`siderolabs/extensions:${version}`).Digest).toBe(digestOf(release, 'siderolabs/extensions', version));
    }
    const config = inspect(`siderolabs/installer-base:${newest}`, '--config') as { config: { Entrypoint: string[] } };
    expect(config.config.Entrypoint).toEqual(['/usr/bin/installer']);
  });

  it('lists in image-digests every extension image, each resolving by digest, with descriptions keyed by the line', () => {
    for (const version of release.versions) {
      const root = unpackImage(remote(`siderolabs/extensions:${version}`), ['--src-tls-verify=false']);
      const lines = readFileSync(join(root, 'image-digests'), 'utf8').split('\n').filter(Boolean);
      expect(lines).toHaveLength(release.extensions[version]!.length);
      const descriptions = parseYaml(readFileSync(join(root, 'descriptions.yaml'), 'utf8')) as Record<string, { author: string; description: string }>;
      expect(Object.keys(descriptions).sort()).toEqual([...lines].sort());
      for (const line of lines) {
        const m = /^ghcr\.io\/(siderolabs\/[a-z0-9-]+):([^@]+)@(sha256:[0-9a-f]{64})$/.exec(line);
        expect(m, line).not.toBeNull();
        const [, repository, tag, digest] = m!;
        expect(inspect(`${repository}@${digest}`).Digest).toBe(digest);
        expect(inspect(`${repository}:${tag}`).Digest).toBe(digest);
        expect(descriptions[line]!.author).toBeTruthy();
        expect(descriptions[line]!.description).toBeTruthy();
      }
    }
  });

  it('lists the sample overlay in overlays.yaml; the overlay has profiles, installers and artifacts', () => {
    const root = unpackImage(remote(`siderolabs/overlays:${newest}`), ['--src-tls-verify=false']);
    const doc = parseYaml(readFileSync(join(root, 'overlays.yaml'), 'utf8')) as { overlays: Array<{ name: string; image: string; digest: string }> };
    expect(doc.overlays.length).toBeGreaterThanOrEqual(1);
    for (const overlay of doc.overlays) {
      const image = overlay.image.replace(/^ghcr\.io\//, '');
      expect(inspect(image).Digest).toBe(overlay.digest);
      const files = unpackImage(remote(image), ['--src-tls-verify=false']);
      expect(existsSync(join(files, 'profiles', `${overlay.name}.yaml`))).toBe(true);
      const options = sh(join(files, 'installers', overlay.name), ['get-options'], { input: '{}\n' });
      expect((parseYaml(options) as { name: string }).name).toBe(overlay.name);
    }
  });
});

// ---- boots -------------------------------------------------------------------------------------------

interface ExpectedLayer {
  image: string;
  name: string;
  version: string;
}

interface Segments {
  initrd: string[];
  layers: ExpectedLayer[];
  markers: Array<{ layer: number; path: string; content: string }>;
  firmware: Array<{ path: string; size: number }>;
  microcode: Array<{ name: string; size: number }>;
}

/** A scalar as go-yaml writes it: quoted when plain would read as something else. */
function yamlScalar(value: string): string {
  if (/^[0-9.]+$/.test(value) || value === '') return `"${value}"`;
  if (/^[>|&*!%@`'"{[#-]|: | #/.test(value)) return `'${value.replace(/'/g, "''")}'`;
  return value;
}

/** extensions.yaml in go-yaml's block style, descriptions as literal blocks. */
function extensionsYaml(layers: Array<ExpectedLayer & { author: string; description: string }>): string {
  let out = 'layers:\n';
  for (const layer of layers) {
    out += `    - image: ${layer.image}\n      metadata:\n`;
    out += `        name: ${yamlScalar(layer.name)}\n        version: ${yamlScalar(layer.version)}\n        author: ${yamlScalar(layer.author)}\n`;
    out += `        description: |\n${layer.description.trimEnd().split('\n').map((l) => `            ${l}\n`).join('')}`;
    out += `        compatibility:\n            talos:\n                version: '>= v1.0.0'\n`;
  }
  return out;
}

function squashfs(dir: string, out: string, zstd: boolean): void {
  sh('mksquashfs', [dir, out, '-all-root', '-noappend', '-no-progress', '-quiet', ...(zstd ? ['-comp', 'zstd'] : ['-comp', 'xz'])]);
}

/** `find . | LC_ALL=C sort | cpio -o -H newc --reproducible -R 0:0` of a directory's contents, to a file. */
function cpioOf(dir: string, out: string): void {
  const names = sh('find', ['.', '-mindepth', '1'], { cwd: dir })
    .split('\n')
    .filter(Boolean)
    .map((n) => n.replace(/^\.\//, ''))
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  sh('sh', ['-c', 'cpio -o -H newc --reproducible -R 0:0 --quiet > "$0"', out], { cwd: dir, input: names.map((n) => `${n}\n`).join('') });
}

/**
 * The initramfs segments Talos' imager would boot for the release's
 * extensions of `version` (talos-imager.md §2.4–2.7): each extension's
 * microcode concatenated into a leading uncompressed cpio, the rest of its
 * firmware moved into the appended segment, its rootfs squashed, and (with
 * modulesDep) a modules.dep layer made by depmod over the base modules plus
 * the extensions' modules, last.
 */
function extensionSegments(version: string, options: { modulesDep: boolean }): Segments {
  const boot = release.boot[version]!;
  const zstd = boot.compression === 'zstd';
  const kver = release.kernel.release;
  const work = tempDir('dr-ext-');
  const stage = join(work, 'stage');
  const ucode = join(work, 'ucode', 'kernel', 'x86', 'microcode');
  mkdirSync(stage);
  const layers: Array<ExpectedLayer & { author: string; description: string }> = [];
  const markers: Segments['markers'] = [];
  const microcode = new Map<string, number>();
  const moduleTrees: string[] = [];

  for (const [index, extension] of release.extensions[version]!.entries()) {
    const root = unpackImage(layout(extension.repository, extension.tag));
    const manifest = parseYaml(readFileSync(join(root, 'manifest.yaml'), 'utf8')) as { metadata: Record<string, string> };
    const rootfs = join(root, 'rootfs');
    const firmware = join(rootfs, boot.firmwarePath);
    for (const [dir, vendor, pattern] of [
      ['intel-ucode', 'GenuineIntel.bin', /./],
      ['amd-ucode', 'AuthenticAMD.bin', /^microcode_amd.*\.bin$/],
    ] as const) {
      if (!existsSync(join(firmware, dir))) continue;
      mkdirSync(ucode, { recursive: true });
      for (const file of readdirSync(join(firmware, dir)).sort().filter((f) => pattern.test(f))) {
        const bytes = readFileSync(join(firmware, dir, file));
        writeFileSync(join(ucode, vendor), bytes, { flag: 'a' });
        microcode.set(vendor, (microcode.get(vendor) ?? 0) + bytes.length);
      }
      rmSync(join(firmware, dir), { recursive: true });
    }
    if (existsSync(firmware)) {
      cpSync(firmware, join(stage, boot.firmwarePath), { recursive: true });
      rmSync(firmware, { recursive: true });
    }
    if (existsSync(join(rootfs, boot.modulesPath, kver))) moduleTrees.push(join(rootfs, boot.modulesPath, kver));
    const share = join(rootfs, 'usr/local/share', extension.name, 'marker');
    markers.push({ layer: index, path: `/usr/local/share/${extension.name}/marker`, content: readFileSync(share, 'utf8').trimEnd() });
    squashfs(rootfs, join(stage, `${index}.sqsh`), zstd);
    layers.push({
      image: `${index}.sqsh`,
      name: manifest.metadata.name!,
      version: String(manifest.metadata.version),
      author: manifest.metadata.author!,
      description: manifest.metadata.description!,
    });
  }

  if (options.modulesDep && moduleTrees.length > 0) {
    // rootfs.sqsh out of the base initramfs, its modules out of rootfs.sqsh, the extensions' on top, depmod.
    const cpio = join(work, 'base.cpio');
    sh('sh', ['-c', `${zstd ? 'zstd -dc' : 'xz -dc'} "$0" > "$1"`, boot.initramfs, cpio]);
    sh('cpio', ['-id', '--quiet', '-F', cpio, 'rootfs.sqsh'], { cwd: work });
    const modules = join(work, 'modules');
    sh('unsquashfs', ['-no-xattrs', '-n', '-d', modules, '-f', join(work, 'rootfs.sqsh'), `/${boot.modulesPath}`]);
    for (const tree of moduleTrees) cpSync(tree, join(modules, boot.modulesPath, kver), { recursive: true });
    const config = join(work, 'depmod.d');
    mkdirSync(config);
    writeFileSync(join(config, 'extra-modules.conf'), 'search extras built-in\n');
    // depmod -b <base> reads <base>/lib/modules; kmod 30 aborts on a relative -C file, so a directory is given.
    const base = boot.modulesPath.startsWith('usr/') ? join(modules, 'usr') : modules;
    sh('depmod', ['--all', '--basedir', base, '--config', config, kver]);
    const layer = join(work, 'modules-dep');
    const target = join(layer, boot.modulesPath, kver);
    mkdirSync(target, { recursive: true });
    for (const file of readdirSync(join(modules, boot.modulesPath, kver)).filter((f) => f.startsWith('modules.'))) {
      renameSync(join(modules, boot.modulesPath, kver, file), join(target, file));
    }
    expect(readFileSync(join(target, 'modules.dep'), 'utf8')).toContain('extras/dummy.ko:');
    squashfs(layer, join(stage, 'modules.dep.sqsh'), zstd);
    layers.push({ image: 'modules.dep.sqsh', name: 'modules.dep', version: kver, author: 'Talos Machinery', description: 'Combined modules.dep for all extensions' });
  }
  writeFileSync(join(stage, 'extensions.yaml'), extensionsYaml(layers));

  const initrd: string[] = [];
  if (microcode.size > 0) {
    // The early microcode loader reads only a leading, uncompressed cpio.
    cpioOf(join(work, 'ucode'), join(work, 'microcode.cpio'));
    initrd.push(join(work, 'microcode.cpio'));
  }
  initrd.push(boot.initramfs);
  cpioOf(stage, join(work, 'extensions.cpio'));
  const segment = join(work, zstd ? 'extensions.cpio.zst' : 'extensions.cpio.xz');
  sh('sh', ['-c', `${zstd ? 'zstd -q -19 -c' : 'xz --check=crc32 -6 -c'} "$0" > "$1"`, join(work, 'extensions.cpio'), segment]);
  initrd.push(segment);

  const firmwareFiles = sh('find', [join(stage, boot.firmwarePath), '-type', 'f'])
    .split('\n')
    .filter(Boolean)
    .sort()
    .map((file) => ({ path: `/${file.slice(stage.length + 1)}`, size: statSync(file).size }));
  return {
    initrd,
    layers: layers.map(({ image, name, version: v }) => ({ image, name, version: v })),
    markers,
    firmware: firmwareFiles,
    microcode: [...microcode.entries()].sort().map(([name, size]) => ({ name, size })),
  };
}

/** META as Talos puts it on the command line: `0x<key>=<value>` joined by `;`, gzip'ed, base64. */
const META_VALUES = [
  { key: '0x0a', value: 'machine: {network: {hostname: devrelease}}' },
  { key: '0x0c', value: 'x'.repeat(300) },
];
const META_ARG = `talos.environment=INSTALLER_META_BASE64=${gzipSync(META_VALUES.map((m) => `${m.key}=${m.value}`).join(';'), { level: 9 }).toString('base64')}`;

describe.skipIf(qemuMissing !== undefined)(`booting the development release ${qemuMissing ? `(${qemuMissing})` : ''}`, () => {
  for (const version of release.versions) {
    it(`${version}: the kernel boots the base initramfs, which reports the command line and no layers`, async () => {
      const append = `console=ttyS0 talos.platform=metal devrelease.test=${version}`;
      const boot = await bootQemu({ kernel: release.boot[version]!.kernel, initrd: release.boot[version]!.initramfs, append, timeoutMs: 90_000 });
      const { report } = boot;
      expect(report.errors, boot.console).toEqual([]);
      expect(report.status, boot.console).toBe('ok');
      expect(boot.timedOut).toBe(false);
      expect(boot.exitCode).toBe(0);
      expect(report.talos).toBe(version);
      expect(report.os).toEqual({ name: 'Talos', version });
      expect(report.kernel).toBe(release.kernel.release);
      expect(report.modulesDir).toBe(`/${release.boot[version]!.modulesPath}/${release.kernel.release}`);
      expect(report.cmdline).toBe(append);
      expect(report.root?.fstype).toBe('squashfs');
      expect(report.layers).toEqual([]);
      expect(report.modules).toEqual([]);
      expect(report.firmware).toEqual([]);
      expect(report.microcode).toEqual([]);
      expect(report.meta).toEqual([]);
    }, 120_000);

    it(`${version}: with extension segments appended as Talos does, every layer, marker, module, firmware and microcode file is seen`, async () => {
      const segments = extensionSegments(version, { modulesDep: true });
      const append = `console=ttyS0 talos.platform=metal ${META_ARG}`;
      const boot = await bootQemu({ kernel: release.boot[version]!.kernel, initrd: segments.initrd, append, timeoutMs: 90_000 });
      const { report } = boot;
      expect(report.errors, boot.console).toEqual([]);
      expect(report.status, boot.console).toBe('ok');
      expect(report.layers).toEqual(segments.layers.map((l, index) => ({ index, ...l })));
      const n = segments.layers.length;
      const lower = [...Array(n).keys()].reverse().map((i) => `/layers/layer${i}`);
      expect(report.root?.fstype).toBe('overlay');
      expect(report.root?.options).toContain(`lowerdir=${[...lower, '/layers/root'].join(':')}`);
      expect(report.markers).toEqual(segments.markers);
      const modulesPath = release.boot[version]!.modulesPath;
      const dummyLayer = release.extensions[version]!.findIndex((e) => e.name === 'dummy-module');
      expect(report.modules).toEqual([
        {
          layer: dummyLayer,
          name: 'dummy',
          path: `/${modulesPath}/${release.kernel.release}/extras/dummy.ko`,
          modprobe: 'ok',
          sysfs: true,
          detail: '',
        },
      ]);
      expect(report.firmware).toEqual(segments.firmware);
      expect(report.firmware.map((f) => f.path)).toContain(`/${release.boot[version]!.firmwarePath}/devrelease/dev-firmware.bin`);
      expect(report.microcode).toEqual(segments.microcode);
      expect(report.microcode.map((m) => m.name)).toEqual(['AuthenticAMD.bin', 'GenuineIntel.bin']);
      expect(report.metaRaw.map((m) => m.encoding)).toEqual(['gzip']);
      expect(report.meta).toEqual(META_VALUES);
      expect(report.files.filter((f) => f.path.startsWith('/usr/local/etc/containers/')).map((f) => f.path)).toEqual([
        '/usr/local/etc/containers/hello-service.yaml',
      ]);
    }, 180_000);
  }

  it(`${newest}: without the modules.dep layer, modprobe of the extension's module fails, and the report says so`, async () => {
    const segments = extensionSegments(newest, { modulesDep: false });
    const boot = await bootQemu({ kernel: release.boot[newest]!.kernel, initrd: segments.initrd, append: 'console=ttyS0', timeoutMs: 90_000 });
    expect(boot.report.status, boot.console).toBe('ok');
    expect(boot.report.layers.map((l) => l.name)).not.toContain('modules.dep');
    expect(boot.report.modules.map((m) => [m.name, m.modprobe, m.sysfs])).toEqual([['dummy', 'failed', false]]);
  }, 180_000);

  it(`${newest}: a layer that is not in the initramfs gives an error record and a failed end, and QEMU exits`, async () => {
    const work = tempDir('dr-broken-');
    mkdirSync(join(work, 'stage'));
    writeFileSync(join(work, 'stage/extensions.yaml'), 'layers:\n    - image: missing.sqsh\n      metadata:\n        name: missing\n        version: 0.0.1\n');
    cpioOf(join(work, 'stage'), join(work, 'ext.cpio'));
    sh('sh', ['-c', 'zstd -q -c "$0" > "$1"', join(work, 'ext.cpio'), join(work, 'ext.cpio.zst')]);
    const boot = await bootQemu({ kernel: release.boot[newest]!.kernel, initrd: [release.boot[newest]!.initramfs, join(work, 'ext.cpio.zst')], append: 'console=ttyS0', timeoutMs: 90_000 });
    expect(boot.timedOut).toBe(false);
    expect(boot.report.status).toBe('failed');
    expect(boot.report.errors.map((e) => e.stage)).toEqual(['mount-layer']);
    expect(boot.report.errors[0]!.detail).toContain('missing.sqsh');
    expect(boot.report.log.length).toBeGreaterThan(0);
  }, 120_000);
});

const qemuArm64Missing = qemuSkipReason('arm64');

describe.skipIf(qemuArm64Missing !== undefined)(`booting the arm64 development release ${qemuArm64Missing ? `(${qemuArm64Missing})` : ''}`, () => {
  for (const version of release.versions) {
    it(`${version}: the arm64 kernel boots the arm64 initramfs on the virt machine (ttyAMA0)`, async () => {
      const boot = release.arches.arm64.boot[version]!;
      const append = `console=ttyAMA0 talos.platform=metal devrelease.test=${version}`;
      const result = await bootQemu({ arch: 'arm64', kernel: boot.kernel, initrd: boot.initramfs, append, timeoutMs: 110_000 });
      const { report } = result;
      expect(report.errors, result.console).toEqual([]);
      expect(report.status, result.console).toBe('ok');
      expect(result.exitCode).toBe(0);
      expect(report.talos).toBe(version);
      expect(report.kernel).toBe(release.arches.arm64.kernel.release);
      expect(report.modulesDir).toBe(`/${boot.modulesPath}/${release.arches.arm64.kernel.release}`);
      expect(report.cmdline).toBe(append);
      expect(report.root?.fstype).toBe('squashfs');
    }, 120_000);
  }
});
