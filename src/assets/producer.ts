// Turns an asset target into bytes on disk: resolves the release inputs and the
// schematic's extensions, then runs the builder for the kind. The HTTP layer
// only streams what this produces.

import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { loadExtension, type LoadedExtension } from '../build/extensions/load.js';
import { writeSchematicExtension } from '../build/extensions/schematic-extension.js';
import { buildInitramfs } from '../build/initramfs/build.js';
import type { ReleaseService } from '../release/release.js';
import { buildKernelCmdline, cmdlineCustomization, UnsupportedCustomizationError } from '../talos/kernel-args.js';
import { Quirks } from '../talos/quirks.js';
import { versionTag } from '../talos/version.js';
import { buildInstallerImage } from '../build/installer/installer-image.js';
import { dockerArchive } from '../oci/docker-archive.js';
import { tarDirectory } from '../oci/image-writer.js';
import { OciLayout } from '../oci/layout.js';
import { type Descriptor, encodeManifest, type ImageIndex } from '../oci/manifest.js';
import { MEDIA_TYPE } from '../oci/media-types.js';
import { InvalidReleaseError } from '../release/errors.js';
import type { Arch } from '../release/release.js';
import type { ProgressReporter } from './build-spec.js';
import { AssetNotImplementedError, type AssetTarget, InvalidAssetRequestError } from './target.js';

const ARCHES: readonly Arch[] = ['amd64', 'arm64'];

/** The output kinds this factory builds so far. */
const BUILT_KINDS = new Set(['kernel', 'cmdline', 'initramfs', 'installer']);

export interface ProducedAsset {
  /** A complete file; never a partial one. */
  path: string;
  size: number;
  /** The file was made for this request (and may be moved); false for release inputs served as they are. */
  owned: boolean;
  /** Removes what was made for this request only (a no-op for release inputs served as they are). */
  release(): Promise<void>;
}

export interface AssetProducerOptions {
  releases: ReleaseService;
  /** Scratch space for builds. */
  workDir: string;
  /** The factory's external URL (named in the schematic extension). */
  externalUrl: string;
  /** The release registry's host, named in installer tarballs' tags. */
  releaseRegistry: string;
  logger: Logger;
}

export class AssetProducer {
  constructor(private readonly options: AssetProducerOptions) {}

  /** Checks what upstream refuses before any build starts (400s). */
  validate(target: AssetTarget): void {
    const { request, version, schematic } = target;
    const customization = schematic.schematic.customization;
    if (!BUILT_KINDS.has(request.kind)) {
      throw new AssetNotImplementedError(`building ${request.kind} assets (${request.fileName}) is not implemented yet`);
    }
    if (request.kind === 'installer') {
      // From 1.10 the installer carries a UKI, which this factory does not build yet.
      if (new Quirks(version).usesInstallerBase()) {
        throw new AssetNotImplementedError(`installers for Talos ${versionTag(version)} need UKIs, which are not implemented yet`);
      }
    }
    if (request.secureBoot) throw new InvalidAssetRequestError('secure boot is disabled');
    const skipsSchematic = request.kind === 'kernel' || request.kind === 'cmdline';
    if (!skipsSchematic && customization.embeddedMachineConfiguration !== '' && !new Quirks(version).supportsEmbeddedConfig()) {
      throw new InvalidAssetRequestError(`embedding configuration is not supported for Talos version ${versionTag(version)}`);
    }
    if (schematic.schematic.overlay.name !== '' && !new Quirks(version).supportsOverlay()) {
      throw new InvalidAssetRequestError(`overlay is not supported for Talos version ${versionTag(version)}`);
    }
  }

  /** The kernel command line of an asset (also what the PXE script carries). */
  cmdline(target: AssetTarget): string {
    const { request, version, schematic } = target;
    const parts = cmdlineCustomization(schematic.schematic, request.kind, version, request.secureBoot);
    try {
      return buildKernelCmdline({
        version,
        platform: request.platform,
        arch: request.arch,
        kind: request.kind,
        secureBoot: request.secureBoot,
        extraKernelArgs: parts.extraKernelArgs,
        meta: parts.meta,
      });
    } catch (error) {
      if (error instanceof UnsupportedCustomizationError) throw new InvalidAssetRequestError(error.message);
      throw error;
    }
  }

  /** VersionNotAvailableError unless the release offers the version. */
  async requireVersion(version: AssetTarget['version']): Promise<void> {
    await this.options.releases.requireVersion(version);
  }

  async produce(target: AssetTarget, progress: ProgressReporter = () => {}): Promise<ProducedAsset> {
    this.validate(target);
    switch (target.request.kind) {
      case 'kernel': {
        const inputs = await this.options.releases.imagerInputs(target.version, target.request.arch);
        return { path: inputs.kernel, size: (await stat(inputs.kernel)).size, owned: false, release: async () => {} };
      }
      case 'cmdline':
        return this.inScratch(async (dir) => {
          await this.options.releases.requireVersion(target.version);
          const path = join(dir, 'cmdline');
          await writeFile(path, this.cmdline(target));
          return path;
        });
      case 'initramfs':
        return this.inScratch((dir) => this.initramfs(target, dir, progress));
      case 'installer':
        return this.inScratch((dir) => (target.format === 'oci-archive' ? this.installerArchive(target, dir, progress) : this.installerTar(target, dir, progress)));
      default:
        throw new AssetNotImplementedError(`building ${target.request.kind} assets (${target.request.fileName}) is not implemented yet`);
    }
  }

  private async initramfs(target: AssetTarget, dir: string, progress: ProgressReporter): Promise<string> {
    const { version, request, schematic } = target;
    const releases = this.options.releases;
    const inputs = await releases.imagerInputs(version, request.arch);
    const customization = schematic.schematic.customization;
    const refs = await releases.resolveOfficialExtensions(version, customization.systemExtensions.officialExtensions ?? []);
    const extensions: LoadedExtension[] = [];
    progress(20, 'pulling extensions');
    for (const ref of refs) extensions.push(await loadExtension(await releases.extensionTree(ref, request.arch), ref.repository));
    progress(40, 'building the initramfs');
    extensions.push(
      await writeSchematicExtension(join(dir, 'schematic'), {
        schematicId: schematic.id,
        canonical: schematic.canonical,
        externalUrl: this.options.externalUrl,
        talosVersion: version,
      }),
    );
    if (customization.embeddedMachineConfiguration !== '') {
      extensions.push(await writeEmbeddedConfigExtension(join(dir, 'embedded-config'), customization.embeddedMachineConfiguration));
    }
    const output = join(dir, 'initramfs.xz');
    await buildInitramfs(
      { talosVersion: version, baseInitramfs: inputs.initramfs, extensions, workDir: join(dir, 'work') },
      createWriteStream(output),
    );
    await rm(join(dir, 'work'), { recursive: true, force: true });
    return output;
  }

  /**
   * The installer of every architecture the release has, as an OCI archive: a
   * tarred OCI layout whose index (tagged with the version) lists one image per
   * architecture, each the base installer plus kernel and initramfs (< 1.10).
   */
  private async installerArchive(target: AssetTarget, dir: string, progress: ProgressReporter): Promise<string> {
    const tag = versionTag(target.version);
    const { layout, manifests } = await this.installerImages(target, dir, progress, ARCHES);
    const index: ImageIndex = { schemaVersion: 2, mediaType: MEDIA_TYPE.ociIndex, manifests };
    await layout.putManifest(encodeManifest(index), MEDIA_TYPE.ociIndex, tag);
    progress(90, 'packing');
    const archive = join(dir, 'installer.tar');
    await pipeline(tarDirectory(layout.dir), createWriteStream(archive));
    return archive;
  }

  /** `installer-<arch>.tar`: one architecture's installer in `docker save` format, tagged as upstream's imager tags it. */
  private async installerTar(target: AssetTarget, dir: string, progress: ProgressReporter): Promise<string> {
    const { layout, manifests } = await this.installerImages(target, dir, progress, [target.request.arch]);
    const fetched = await layout.fetchManifest(manifests[0]!.digest);
    if (fetched.parsed.kind !== 'image') throw new Error('installer manifest is not an image manifest');
    progress(90, 'packing');
    const archive = join(dir, 'installer.tar');
    const repoTag = `${this.options.releaseRegistry}/${this.options.releases.installerImageName()}:${versionTag(target.version)}`;
    await pipeline(dockerArchive(layout, fetched.parsed.manifest, repoTag), createWriteStream(archive));
    return archive;
  }

  /** Builds the installer image of each architecture (that the release has) into one OCI layout. */
  private async installerImages(
    target: AssetTarget,
    dir: string,
    progress: ProgressReporter,
    arches: readonly Arch[],
  ): Promise<{ layout: OciLayout; manifests: Descriptor[] }> {
    const { version } = target;
    const tag = versionTag(version);
    const layout = await OciLayout.create(join(dir, 'layout'));
    const manifests: Descriptor[] = [];
    for (const arch of arches) {
      const inputs = await this.options.releases.imagerInputs(version, arch).catch((error: Error) => {
        // An index covers the architectures the release has; a single-arch request must have its own.
        if (error instanceof InvalidReleaseError && arches.length > 1 && arch !== 'amd64') return undefined;
        throw error;
      });
      if (!inputs) continue;
      progress(10, `building the ${arch} initramfs`);
      const archTarget = { ...target, request: { ...target.request, arch } };
      const initramfs = await this.initramfs(archTarget, join(dir, `initramfs-${arch}`), progress);
      progress(70, `assembling the ${arch} installer`);
      const base = await this.options.releases.installerBase(version, arch);
      const image = await buildInstallerImage(
        {
          base,
          baseReference: tag,
          arch,
          artifacts: [
            { name: `usr/install/${arch}/vmlinuz`, file: inputs.kernel },
            { name: `usr/install/${arch}/initramfs.xz`, file: initramfs },
          ],
          tmpDir: dir,
        },
        layout,
      );
      manifests.push({ ...image.manifest, platform: { os: 'linux', architecture: arch } });
    }
    return { layout, manifests };
  }

  /** Runs a build in its own scratch directory; the directory goes when the asset is released or the build fails. */
  private async inScratch(build: (dir: string) => Promise<string>): Promise<ProducedAsset> {
    await mkdir(this.options.workDir, { recursive: true });
    const dir = await mkdtemp(join(this.options.workDir, 'build-'));
    const release = () => rm(dir, { recursive: true, force: true });
    try {
      const path = await build(dir);
      return { path, size: (await stat(path)).size, owned: true, release };
    } catch (error) {
      await release();
      throw error;
    }
  }
}

/** Talos' `embedded-config` virtual extension (>= 1.12): the machine config baked into the image. */
async function writeEmbeddedConfigExtension(dir: string, config: string): Promise<LoadedExtension> {
  const configDir = join(dir, 'rootfs', 'usr', 'local', 'etc', 'talos');
  await mkdir(configDir, { recursive: true, mode: 0o755 });
  await pipeline(Readable.from([config]), createWriteStream(join(configDir, 'config.yaml'), { mode: 0o400 }));
  return {
    dir,
    rootfs: join(dir, 'rootfs'),
    metadata: {
      name: 'embedded-config',
      version: createHash('sha256').update(config).digest('hex'),
      author: 'Imager',
      description: 'Virtual extension which embeds the machine configuration.',
      compatibility: { talos: { version: '>= 1.0.0' } },
      extraInfo: '',
    },
  };
}
