// Image configs and plans: the names, tags, labels and layers each image of
// the release is published with. Every image is an index of linux/amd64 and
// linux/arm64, as upstream publishes them: the imager, catalogs and overlay
// have the same layers on both, installers and extensions their own.

import type { ImageConfig, Platform } from '../src/oci/manifest.js';
import { ARCHES, type Arch } from './inputs.js';
import type { ImagePlan } from './publish.js';
import { keyOf } from './steps.js';
import type { TalosRelease } from './talos.js';

export function platformOf(arch: Arch): Platform {
  return { os: 'linux', architecture: arch };
}

export type PerArch<T> = Record<Arch, T>;

/** The same value for every architecture. */
export function everyArch<T>(value: T): PerArch<T> {
  return Object.fromEntries(ARCHES.map((arch) => [arch, value])) as PerArch<T>;
}

/** Said on every image, so that nothing built from it can pass for an official artifact. */
export const DEV_LABEL = 'dev.image-factory.development-release';
const DEV_LABEL_TEXT = 'built from Debian packages for tests and demos; not an official Talos image';

type ContainerConfig = NonNullable<ImageConfig['config']>;

function config(container: ContainerConfig = {}): Omit<ImageConfig, 'rootfs' | 'architecture' | 'os'> {
  return { config: { ...container, Labels: { ...(container.Labels ?? {}), [DEV_LABEL]: DEV_LABEL_TEXT } } };
}

export interface LayerDir {
  /** A staged tree (a step output, whose name carries its key). */
  directory: string;
  /** Directory entries in the tar (default true). */
  directories?: boolean;
}

function plan(repository: string, tag: string, layers: PerArch<LayerDir[]>, imageConfig: ReturnType<typeof config>, codeHash: string): ImagePlan {
  const platforms = ARCHES.map(platformOf);
  return {
    repository,
    tag,
    key: keyOf({ codeHash, repository, tag, layers, imageConfig, platforms }),
    specs: ARCHES.map((arch) => ({ layers: layers[arch], config: imageConfig, platform: platformOf(arch) })),
  };
}

/** The imager, the same on both platforms: GRUB's modules, then usr/install/<arch>/ of every architecture, one layer each. */
export function imagerPlan(release: TalosRelease, grub: string, install: PerArch<string>, codeHash: string): ImagePlan {
  const layers = [{ directory: grub }, ...ARCHES.map((arch) => ({ directory: install[arch] }))];
  return plan('siderolabs/imager', release.tag, everyArch(layers), config({ Env: ['PATH=/usr/bin:/bin'], Labels: talosLabels(release) }), codeHash);
}

/** installer-base (>= 1.10): one layer. installer (< 1.10): the same plus the boot artifacts layer, without directory entries. */
export function installerPlan(release: TalosRelease, base: PerArch<string>, artifacts: PerArch<string> | undefined, codeHash: string): ImagePlan {
  const layers = (arch: Arch): LayerDir[] => [{ directory: base[arch] }, ...(artifacts ? [{ directory: artifacts[arch], directories: false }] : [])];
  return plan(
    release.installerRepository,
    release.tag,
    { amd64: layers('amd64'), arm64: layers('arm64') },
    config({ Entrypoint: ['/usr/bin/installer'], Env: ['PATH=/usr/bin:/bin', `VERSION=${release.tag}`], Labels: talosLabels(release) }),
    codeHash,
  );
}

export function extensionPlan(name: string, tag: string, trees: PerArch<string>, codeHash: string): ImagePlan {
  return plan(`siderolabs/${name}`, tag, { amd64: [{ directory: trees.amd64 }], arm64: [{ directory: trees.arm64 }] }, config(), codeHash);
}

export function filesPlan(repository: string, tag: string, tree: string, codeHash: string): ImagePlan {
  return plan(repository, tag, everyArch([{ directory: tree }]), config(), codeHash);
}

function talosLabels(release: TalosRelease): Record<string, string> {
  return { 'alpha.talos.dev/version': release.tag, 'org.opencontainers.image.source': 'https://github.com/siderolabs/talos' };
}
