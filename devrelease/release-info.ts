// release.json: what a build produced and where, for the tests and for
// anyone scripting against the development release. Paths are stored
// relative to the output directory and resolved when read.

import { readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import type { Arch } from './inputs.js';

export const RELEASE_FILE = 'release.json';

export interface BootFiles {
  /** The imager's usr/install/<arch>/vmlinuz. */
  kernel: string;
  /** The imager's usr/install/<arch>/initramfs.xz (zstd from 1.8, xz before). */
  initramfs: string;
  rootfsSqsh: string;
  compression: 'zstd' | 'xz';
  /** `usr/lib/modules` or `lib/modules`. */
  modulesPath: string;
  firmwarePath: string;
  /** The imager's usr/install/<arch>/systemd-boot.efi and systemd-stub.efi. */
  systemdBoot: string;
  systemdStub: string;
}

export interface ExtensionInfo {
  name: string;
  version: string;
  author: string;
  description: string;
  repository: string;
  tag: string;
  /** Digest of the published index. */
  digest: string;
  /** The image's file tree: manifest.yaml + rootfs/ (of its linux/amd64 image; `arches.<arch>.extensionTrees` for each). */
  tree: string;
}

/** What one architecture of the release was built from and into. */
export interface ArchRelease {
  kernel: { release: string; package: string };
  /** Talos tag → the boot files of this architecture. */
  boot: Record<string, BootFiles>;
  /** Talos tag → the file tree of each extension image's manifest for this architecture. */
  extensionTrees: Record<string, Array<{ name: string; tree: string }>>;
}

export interface OverlayInfo {
  name: string;
  repository: string;
  tag: string;
  digest: string;
}

export interface ImageInfo {
  repository: string;
  tag: string;
  digest: string;
}

export interface DevReleaseInfo {
  /** Digest of the builder's code and scripts that made this. */
  codeHash: string;
  outDir: string;
  /** Root of the per-repository OCI layouts (`<layoutDir>/siderolabs/imager`). */
  layoutDir: string;
  /** Talos tags, ascending. */
  versions: string[];
  /** The amd64 kernel (`arches` has every architecture's). */
  kernel: { release: string; package: string };
  /** Talos tag → the amd64 boot files. */
  boot: Record<string, BootFiles>;
  /** The imager's usr/lib/grub (i386-pc, x86_64-efi, arm64-efi modules). */
  grubDir: string;
  /** Every image is an index of these platforms (linux/<arch>). */
  arches: Record<Arch, ArchRelease>;
  extensions: Record<string, ExtensionInfo[]>;
  overlays: Record<string, OverlayInfo[]>;
  /** Every published image, in publishing order (children before the catalogs that name them). */
  images: ImageInfo[];
  /** `cosign.pub`, the public key every image is signed with (IF_RELEASE_SIGNATURE_PUBKEY). */
  signingPublicKey: string;
}

const PATH_KEYS = new Set(['signingPublicKey', 'outDir', 'layoutDir', 'grubDir', 'kernel', 'initramfs', 'rootfsSqsh', 'systemdBoot', 'systemdStub', 'tree']);

/** Rewrites the path-valued fields (by key name) with `fn`. */
function mapPaths<T>(value: T, fn: (path: string) => string): T {
  const walk = (v: unknown, key?: string): unknown => {
    if (typeof v === 'string') return key !== undefined && PATH_KEYS.has(key) ? fn(v) : v;
    if (Array.isArray(v)) return v.map((x) => walk(x));
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
    return v;
  };
  return walk(value) as T;
}

export async function writeReleaseInfo(info: DevReleaseInfo): Promise<void> {
  const stored = mapPaths(info, (p) => (isAbsolute(p) ? relative(info.outDir, p) || '.' : p));
  await writeFile(join(info.outDir, RELEASE_FILE), `${JSON.stringify(stored, null, 2)}\n`);
}

export async function readReleaseInfo(outDir: string): Promise<DevReleaseInfo> {
  const stored = JSON.parse(await readFile(join(outDir, RELEASE_FILE), 'utf8')) as DevReleaseInfo;
  return mapPaths(stored, (p) => (isAbsolute(p) ? p : join(outDir, p)));
}
