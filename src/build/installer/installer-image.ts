// The installer image for one architecture, laid out as Talos' imager lays it
// out: the base installer's layers (only the first when an old `installer`
// base carries its own artifacts in a second layer), then one layer holding
// the boot artifacts under usr/install/<arch>/ (sorted, files only, owner 0,
// mode and mtime 0 as upstream writes them), with the base's runtime config.

import { resolveImage } from '../../oci/copy.js';
import { type ImageSpec, type LayerSource, tarFiles, type WrittenImage, writeImage } from '../../oci/image-writer.js';
import type { ImageRepository, WritableImageRepository } from '../../oci/repository.js';

export interface InstallerArtifact {
  /** Path in the image, e.g. `usr/install/amd64/vmlinuz`. */
  name: string;
  /** The file on disk. */
  file: string;
}

export interface InstallerImageInput {
  /** Where the base installer image is (e.g. the local copy of `installer-base:<version>`). */
  base: ImageRepository;
  baseReference: string;
  arch: string;
  artifacts: readonly InstallerArtifact[];
  /** Scratch space for the compressed layer. */
  tmpDir: string;
}

/** A fixed creation time: the image's bytes depend on its inputs only. */
const CREATED = '1970-01-01T00:00:00Z';

/** What the installer image of one architecture is made of (write it alone or with other architectures into one index). */
export async function installerImageSpec(input: InstallerImageInput): Promise<ImageSpec> {
  const platform = { os: 'linux', architecture: input.arch };
  const base = await resolveImage(input.base, input.baseReference, platform);
  // An old `installer` image carries kernel and initramfs in a second layer: those are replaced.
  const kept = base.manifest.layers.length === 2 ? base.manifest.layers.slice(0, 1) : base.manifest.layers;
  const layers: LayerSource[] = kept.map((descriptor, i) => {
    const diffId = base.config.rootfs.diff_ids[i];
    if (diffId === undefined) throw new Error(`${input.base.location}: config lists fewer diff_ids than the manifest has layers`);
    return { existing: { repo: input.base, descriptor, diffId } };
  });
  // Permission bits 0, as upstream's layer writer leaves them (the installer reads the files as root).
  layers.push({ tar: () => tarFiles(input.artifacts.map((a) => ({ name: a.name, path: a.file, mode: 0 }))) });
  return {
    layers,
    config: { ...(base.config.config && { config: base.config.config }), created: CREATED },
    platform,
    tmpDir: input.tmpDir,
  };
}

/** The installer image of one architecture, written as a one-platform image (tagged when `tag` is given). */
export async function buildInstallerImage(input: InstallerImageInput, destination: WritableImageRepository, tag?: string): Promise<WrittenImage> {
  return writeImage(destination, await installerImageSpec(input), tag);
}
