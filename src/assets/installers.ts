// Installer images: the release's installer base plus one layer of boot files
// per architecture, packed either as the registry frontend serves them (an
// OCI archive whose index covers every architecture the release has) or as
// `installer-<arch>.tar` in `docker save` format, as upstream's imager writes.

import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { installerImageSpec, type InstallerArtifact } from '../build/installer/installer-image.js';
import { dockerArchive } from '../oci/docker-archive.js';
import { type ImageSpec, tarDirectory, writeImageIndex } from '../oci/image-writer.js';
import { OciLayout } from '../oci/layout.js';
import { InvalidReleaseError } from '../release/errors.js';
import type { Arch, ImagerInputs, ReleaseService } from '../release/release.js';
import { Quirks } from '../talos/quirks.js';
import { versionTag } from '../talos/version.js';
import { type BootFiles, subdir } from './boot-files.js';
import type { ProgressReporter } from './build-spec.js';
import type { AssetTarget } from './target.js';

const ARCHES: readonly Arch[] = ['amd64', 'arm64'];

export class Installers {
  constructor(
    private readonly releases: ReleaseService,
    private readonly bootFiles: BootFiles,
  ) {}

  /**
   * The installer of every architecture the release has, as an OCI archive: a
   * tarred OCI layout whose index (tagged with the version) lists one image per
   * architecture.
   */
  async ociArchive(target: AssetTarget, dir: string, progress: ProgressReporter): Promise<string> {
    const layout = await OciLayout.create(join(dir, 'layout'));
    await writeImageIndex(layout, await this.specs(target, dir, progress, ARCHES), versionTag(target.version));
    progress(90, 'packing');
    const archive = join(dir, 'installer.tar');
    await pipeline(tarDirectory(layout.dir), createWriteStream(archive));
    return archive;
  }

  /**
   * `installer-<arch>.tar`: one architecture's installer in `docker save`
   * format, tagged as upstream's factory tags it: its base image's name as
   * configured there (no registry host) and the version.
   */
  async dockerTar(target: AssetTarget, dir: string, progress: ProgressReporter): Promise<string> {
    const layout = await OciLayout.create(join(dir, 'layout'));
    const { images } = await writeImageIndex(layout, await this.specs(target, dir, progress, [target.request.arch]));
    const fetched = await layout.fetchManifest(images[0]!.manifest.digest);
    if (fetched.parsed.kind !== 'image') throw new Error('installer manifest is not an image manifest');
    progress(90, 'packing');
    const archive = join(dir, 'installer.tar');
    const repoTag = `${this.releases.installerBaseImage(target.version)}:${versionTag(target.version)}`;
    await pipeline(dockerArchive(layout, fetched.parsed.manifest, repoTag), createWriteStream(archive));
    return archive;
  }

  /** The installer image of each architecture (that the release has), with its boot files built. */
  private async specs(target: AssetTarget, dir: string, progress: ProgressReporter, arches: readonly Arch[]): Promise<ImageSpec[]> {
    const { version } = target;
    const specs: ImageSpec[] = [];
    for (const arch of arches) {
      const inputs = await this.releases.imagerInputs(version, arch).catch((error: Error) => {
        // An index covers the architectures the release has; a single-arch request must have its own.
        if (error instanceof InvalidReleaseError && arches.length > 1 && arch !== 'amd64') return undefined;
        throw error;
      });
      if (!inputs) continue;
      progress(10, `building the ${arch} boot files`);
      const archTarget = { ...target, request: { ...target.request, arch } };
      const artifacts = await this.artifacts(archTarget, inputs, await subdir(dir, `artifacts-${arch}`), progress);
      progress(70, `assembling the ${arch} installer`);
      const base = await this.releases.installerBase(version, arch);
      specs.push(await installerImageSpec({ base, baseReference: versionTag(version), arch, artifacts, tmpDir: dir }));
    }
    return specs;
  }

  /**
   * What an installer carries under usr/install/<arch>: from 1.10 systemd-boot
   * and the UKI (`vmlinuz.efi`, with the schematic's kernel arguments and
   * extensions inside); before, the kernel and the initramfs.
   */
  private async artifacts(target: AssetTarget, inputs: ImagerInputs, dir: string, progress: ProgressReporter): Promise<InstallerArtifact[]> {
    const prefix = `usr/install/${target.request.arch}`;
    if (new Quirks(target.version).usesInstallerBase()) {
      const { uki } = await this.bootFiles.uki(target, dir, progress);
      return [
        { name: `${prefix}/systemd-boot.efi`, file: inputs.systemdBoot },
        { name: `${prefix}/vmlinuz.efi`, file: uki },
      ];
    }
    const initramfs = await this.bootFiles.initramfs(target, dir, progress);
    return [
      { name: `${prefix}/vmlinuz`, file: inputs.kernel },
      { name: `${prefix}/initramfs.xz`, file: initramfs },
    ];
  }
}
