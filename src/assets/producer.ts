// Turns an asset target into bytes on disk: resolves the release inputs and the
// schematic's extensions, then runs the builder for the kind. The HTTP layer
// only streams what this produces.

import { rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { planTalosDisk } from '../build/disk/build.js';
import { writeDiskImage } from '../build/disk/output.js';
import { buildTalosIso } from '../build/iso/build.js';
import { ownedTempDir } from '../durable-file.js';
import type { ReleaseService } from '../release/release.js';
import { BOOTLOADERS } from '../schematic/model.js';
import { type BootloaderKind, selectBootloader } from '../talos/bootloader.js';
import { DEFAULT_RAW_DISK_SIZE, getPlatform } from '../talos/platforms.js';
import { Quirks } from '../talos/quirks.js';
import { FACTORY_SOURCE_DATE_EPOCH } from '../talos/source-date.js';
import { versionTag } from '../talos/version.js';
import { BootFiles, subdir } from './boot-files.js';
import type { ProgressReporter } from './build-spec.js';
import { Installers } from './installers.js';
import { AssetNotImplementedError, type AssetTarget, InvalidAssetRequestError } from './target.js';

/** The output kinds this factory builds so far. */
const BUILT_KINDS = new Set(['kernel', 'cmdline', 'initramfs', 'uki', 'iso', 'image', 'installer']);

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
  logger: Logger;
}

export class AssetProducer {
  private readonly bootFiles: BootFiles;
  private readonly installers: Installers;

  constructor(private readonly options: AssetProducerOptions) {
    this.bootFiles = new BootFiles(options.releases, options.externalUrl);
    this.installers = new Installers(options.releases, this.bootFiles);
  }

  /** Checks what upstream refuses before any build starts (400s). */
  validate(target: AssetTarget): void {
    const { request, version, schematic } = target;
    const customization = schematic.schematic.customization;
    getPlatform(request.platform); // an unknown platform is the URL's mistake (400), not a failed build
    if (!BUILT_KINDS.has(request.kind)) {
      throw new AssetNotImplementedError(`building ${request.kind} assets (${request.fileName}) is not implemented yet`);
    }
    if (request.kind === 'uki' && !new Quirks(version).supportsUki()) {
      throw new InvalidAssetRequestError(`UKI is not supported for Talos version ${versionTag(version)}`);
    }
    if (request.secureBoot) throw new InvalidAssetRequestError('secure boot is disabled');
    if (request.kind === 'image' && request.arch === 'arm64' && BOOTLOADERS[customization.bootloader] === 'dual-boot') {
      throw new InvalidAssetRequestError('dual-boot is not supported on arm64 (there is no BIOS to boot GRUB): use grub or sd-boot');
    }
    if (request.kind === 'image' && ![0n, 512n, 4096n].includes(customization.diskImage.sectorSize)) {
      throw new InvalidAssetRequestError(`unsupported disk image sector size ${customization.diskImage.sectorSize}: use 512 or 4096`);
    }
    const skipsSchematic = request.kind === 'kernel' || request.kind === 'cmdline';
    if (!skipsSchematic && customization.embeddedMachineConfiguration !== '' && !new Quirks(version).supportsEmbeddedConfig()) {
      throw new InvalidAssetRequestError(`embedding configuration is not supported for Talos version ${versionTag(version)}`);
    }
    if (schematic.schematic.overlay.name !== '' && !new Quirks(version).supportsOverlay()) {
      throw new InvalidAssetRequestError(`overlay is not supported for Talos version ${versionTag(version)}`);
    }
    // An overlay (SBC) changes the command line, the disk and the installer; building without it would
    // hand out an image that does not boot the board. The kernel and the initramfs do not depend on it.
    if (schematic.schematic.overlay.name !== '' && request.kind !== 'kernel' && request.kind !== 'initramfs') {
      throw new AssetNotImplementedError(`overlays (${schematic.schematic.overlay.name}) are not implemented yet: ${request.fileName} cannot be built for this schematic`);
    }
  }

  /** The kernel command line of an asset (also what the PXE script carries). */
  cmdline(target: AssetTarget): string {
    return this.bootFiles.cmdline(target);
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
        return this.inScratch((dir) => this.bootFiles.initramfs(target, dir, progress));
      case 'uki':
        return this.inScratch(async (dir) => (await this.bootFiles.uki(target, dir, progress)).uki);
      case 'iso':
        return this.inScratch((dir) => this.iso(target, dir, progress));
      case 'image':
        return this.inScratch((dir) => this.diskImage(target, dir, progress));
      case 'installer':
        return this.inScratch((dir) => (target.format === 'oci-archive' ? this.installers.ociArchive(target, dir, progress) : this.installers.dockerTar(target, dir, progress)));
      default:
        throw new AssetNotImplementedError(`building ${target.request.kind} assets (${target.request.fileName}) is not implemented yet`);
    }
  }

  private async iso(target: AssetTarget, dir: string, progress: ProgressReporter): Promise<string> {
    const { version, request, schematic } = target;
    const inputs = await this.options.releases.imagerInputs(version, request.arch);
    const bootloader = selectBootloader({
      version,
      arch: request.arch,
      secureBoot: request.secureBoot,
      kind: 'iso',
      schematicChoice: schematic.schematic.customization.bootloader,
    });
    const { uki, initramfs } = await this.bootPayload(target, bootloader, dir, progress);
    progress(80, 'writing the ISO');
    const output = join(dir, 'image.iso');
    await buildTalosIso(
      {
        version: versionTag(version),
        arch: request.arch,
        bootloader,
        grubResetEntry: new Quirks(version).grubResetEntry(),
        kernel: inputs.kernel,
        initramfs,
        cmdline: this.cmdline(target),
        ...(uki && { uki, systemdBoot: inputs.systemdBoot }),
        grubDir: inputs.grubDir,
        sourceDateEpoch: FACTORY_SOURCE_DATE_EPOCH,
        workDir: await subdir(dir, 'iso'),
      },
      output,
    );
    return output;
  }

  private async diskImage(target: AssetTarget, dir: string, progress: ProgressReporter): Promise<string> {
    const { version, request, schematic } = target;
    const customization = schematic.schematic.customization;
    const inputs = await this.options.releases.imagerInputs(version, request.arch);
    const bootloader = selectBootloader({ version, arch: request.arch, secureBoot: request.secureBoot, kind: 'image', schematicChoice: customization.bootloader });
    const { uki, initramfs } = await this.bootPayload(target, bootloader, dir, progress);
    progress(75, 'laying out the disk');
    const disk = await planTalosDisk({
      version,
      versionTag: versionTag(version),
      arch: request.arch,
      bootloader,
      baseSize: request.diskSize ?? DEFAULT_RAW_DISK_SIZE,
      sectorSize: Number(customization.diskImage.sectorSize) || 512,
      kernel: inputs.kernel,
      initramfs,
      cmdline: this.cmdline(target),
      ...(uki && { uki, systemdBoot: inputs.systemdBoot }),
      grubDir: inputs.grubDir,
      meta: (customization.meta ?? []).map((m) => ({ key: Number(m.key), value: m.value })),
      sourceDateEpoch: FACTORY_SOURCE_DATE_EPOCH,
      workDir: await subdir(dir, 'disk'),
    });
    progress(80, 'writing the disk image');
    const output = join(dir, 'disk.image');
    await writeDiskImage(
      disk,
      { format: request.diskFormat ?? 'raw', formatOptions: request.diskFormatOptions ?? '', compression: request.compression ?? 'none', sourceDateEpoch: FACTORY_SOURCE_DATE_EPOCH },
      output,
    );
    return output;
  }

  /** What the boot loader boots: GRUB the initramfs (with the kernel), systemd-boot the UKI (a dual-boot image carries both). */
  private async bootPayload(target: AssetTarget, bootloader: BootloaderKind, dir: string, progress: ProgressReporter): Promise<{ uki?: string; initramfs: string }> {
    if (bootloader === 'grub') return { initramfs: await this.bootFiles.initramfs(target, await subdir(dir, 'initramfs'), progress) };
    return this.bootFiles.uki(target, dir, progress);
  }

  /** Runs a build in its own scratch directory; the directory goes when the asset is released or the build fails. */
  private async inScratch(build: (dir: string) => Promise<string>): Promise<ProducedAsset> {
    const dir = await ownedTempDir(this.options.workDir, 'build');
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
