// Installer images: the release's installer base plus one layer of boot files
// per architecture, packed either as the registry frontend serves them (an
// OCI archive whose index covers every architecture the release has) or as
// `installer-<arch>.tar` in `docker save` format, as upstream's imager writes.

import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { installerImageSpec, type InstallerArtifact } from '../../build/installer/installer-image.js';
import { dockerArchive } from '../../oci/docker-archive.js';
import { type ImageSpec, tarDirectory, writeImageIndex } from '../../oci/image-writer.js';
import { OciLayout } from '../../oci/layout.js';
import { InvalidReleaseError } from '../../release/errors.js';
import type { Arch, ImagerInputs, ReleaseService } from '../../release/release.js';
import { Quirks } from '../../talos/quirks.js';
import { versionTag } from '../../talos/version.js';
import { type BootFiles, subdir } from '../boot-files.js';
import type { AssetBuilder, BuildSteps } from '../builder.js';
import type { AssetTarget } from '../target.js';
import { type BuilderDeps, checkTarget, imagerAndExtensionDigests } from './common.js';

const ARCHES: readonly Arch[] = ['amd64', 'arm64'];

export function installerBuilder(deps: BuilderDeps): AssetBuilder {
  const installers = new Installers(deps.releases, deps.bootFiles);
  return {
    // Carries an initramfs (its recipe 4: squashfs tails as short blocks; 3: the zstd CLI given the cpio's size).
    recipe: 5,
    check: (target) => checkTarget(target, { carriesSchematic: true, overlayFree: false }),
    async inputs(target) {
      const [imager, ...extensions] = await imagerAndExtensionDigests(deps.releases, target, true);
      return [imager!, await deps.releases.installerBaseDigest(target.version), ...extensions];
    },
    async build(target, sink, { dir, progress, signal }) {
      const out = sink.stream();
      if (target.format === 'oci-archive') await installers.ociArchive(target, dir, out, { progress, signal });
      else await installers.dockerTar(target, dir, out, { progress, signal });
    },
  };
}

class Installers {
  constructor(
    private readonly releases: ReleaseService,
    private readonly bootFiles: BootFiles,
  ) {}

  /**
   * The installer of every architecture the release has, as an OCI archive: a
   * tarred OCI layout whose index (tagged with the version) lists one image per
   * architecture.
   */
  async ociArchive(target: AssetTarget, dir: string, out: Writable, steps: BuildSteps): Promise<void> {
    const layout = await OciLayout.create(join(dir, 'layout'));
    await writeImageIndex(layout, await this.specs(target, dir, steps, ARCHES), versionTag(target.version));
    steps.progress(90, 'packing');
    await pipeline(tarDirectory(layout.dir), out, { signal: steps.signal });
  }

  /**
   * `installer-<arch>.tar`: one architecture's installer in `docker save`
   * format, tagged as upstream's factory tags it: its base image's name as
   * configured there (no registry host) and the version.
   */
  async dockerTar(target: AssetTarget, dir: string, out: Writable, steps: BuildSteps): Promise<void> {
    const layout = await OciLayout.create(join(dir, 'layout'));
    const { images } = await writeImageIndex(layout, await this.specs(target, dir, steps, [target.request.arch]));
    const fetched = await layout.fetchManifest(images[0]!.manifest.digest);
    if (fetched.parsed.kind !== 'image') throw new Error('installer manifest is not an image manifest');
    steps.progress(90, 'packing');
    const repoTag = `${this.releases.installerBaseImage(target.version)}:${versionTag(target.version)}`;
    await pipeline(dockerArchive(layout, fetched.parsed.manifest, repoTag), out, { signal: steps.signal });
  }

  /** The installer image of each architecture (that the release has), with its boot files built. */
  private async specs(target: AssetTarget, dir: string, steps: BuildSteps, arches: readonly Arch[]): Promise<ImageSpec[]> {
    const { version } = target;
    const specs: ImageSpec[] = [];
    for (const arch of arches) {
      const inputs = await this.releases.imagerInputs(version, arch).catch((error: Error) => {
        // An index covers the architectures the release has; a single-arch request must have its own.
        if (error instanceof InvalidReleaseError && arches.length > 1 && arch !== 'amd64') return undefined;
        throw error;
      });
      if (!inputs) continue;
      steps.progress(10, `building the ${arch} boot files`);
      const archTarget = { ...target, request: { ...target.request, arch } };
      const artifacts = await this.artifacts(archTarget, inputs, await subdir(dir, `artifacts-${arch}`), steps);
      steps.progress(70, `assembling the ${arch} installer`);
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
  private async artifacts(target: AssetTarget, inputs: ImagerInputs, dir: string, steps: BuildSteps): Promise<InstallerArtifact[]> {
    const prefix = `usr/install/${target.request.arch}`;
    if (new Quirks(target.version).usesInstallerBase()) {
      const { uki } = await this.bootFiles.uki(target, dir, steps);
      return [
        { name: `${prefix}/systemd-boot.efi`, file: inputs.systemdBoot },
        { name: `${prefix}/vmlinuz.efi`, file: uki },
      ];
    }
    const initramfs = await this.bootFiles.initramfs(target, dir, steps);
    return [
      { name: `${prefix}/vmlinuz`, file: inputs.kernel },
      { name: `${prefix}/initramfs.xz`, file: initramfs },
    ];
  }
}
