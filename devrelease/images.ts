// Image configs and plans: the names, tags, labels and layers each image of
// the release is published with.

import type { ImageConfig, Platform } from '../src/oci/manifest.js';
import { keyOf } from './steps.js';
import type { ImagePlan } from './publish.js';
import type { TalosRelease } from './talos.js';

export const PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

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

function plan(repository: string, tag: string, layers: LayerDir[], imageConfig: ReturnType<typeof config>, codeHash: string): ImagePlan {
  return {
    repository,
    tag,
    key: keyOf({ codeHash, repository, tag, layers, imageConfig, platform: PLATFORM }),
    spec: { layers, config: imageConfig, platform: PLATFORM },
  };
}

export function imagerPlan(release: TalosRelease, grub: string, install: string, codeHash: string): ImagePlan {
  return plan(
    'siderolabs/imager',
    release.tag,
    [{ directory: grub }, { directory: install }],
    config({ Env: ['PATH=/usr/bin:/bin'], Labels: talosLabels(release) }),
    codeHash,
  );
}

/** installer-base (>= 1.10): one layer. installer (< 1.10): the same plus the boot artifacts layer, without directory entries. */
export function installerPlan(release: TalosRelease, base: string, artifacts: string | undefined, codeHash: string): ImagePlan {
  const layers: LayerDir[] = [{ directory: base }];
  if (artifacts !== undefined) layers.push({ directory: artifacts, directories: false });
  return plan(
    release.installerRepository,
    release.tag,
    layers,
    config({ Entrypoint: ['/usr/bin/installer'], Env: ['PATH=/usr/bin:/bin', `VERSION=${release.tag}`], Labels: talosLabels(release) }),
    codeHash,
  );
}

export function extensionPlan(name: string, tag: string, tree: string, codeHash: string): ImagePlan {
  return plan(`siderolabs/${name}`, tag, [{ directory: tree }], config(), codeHash);
}

export function filesPlan(repository: string, tag: string, tree: string, codeHash: string): ImagePlan {
  return plan(repository, tag, [{ directory: tree }], config(), codeHash);
}

function talosLabels(release: TalosRelease): Record<string, string> {
  return { 'alpha.talos.dev/version': release.tag, 'org.opencontainers.image.source': 'https://github.com/siderolabs/talos' };
}
