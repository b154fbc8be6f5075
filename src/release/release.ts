// A Talos release's inputs, from whichever backend is configured: the versions
// on offer, the extension and overlay catalogs, and the images builds need,
// pulled once into the data directory and shared by every caller.

import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { copyImage, resolveImage } from '../oci/copy.js';
import { digestHex } from '../oci/digest.js';
import { isNotFound } from '../oci/errors.js';
import { extractImage } from '../oci/flatten.js';
import { readImageFiles } from '../oci/image-files.js';
import { OciLayout } from '../oci/layout.js';
import type { Platform } from '../oci/manifest.js';
import { Quirks } from '../talos/quirks.js';
import { type TalosVersion, versionString, versionTag } from '../talos/version.js';
import type { ReleaseBackend } from './backend.js';
import { type ExtensionRef, type OverlayRef, parseExtensionCatalog, parseOverlayCatalog } from './catalog.js';
import { InvalidReleaseError, UnknownExtensionError, VersionNotAvailableError } from './errors.js';
import { materializeDirectory } from '../materialize.js';
import type { ReleaseVerifier } from './signature.js';
import { selectVersions } from './versions.js';

export type Arch = 'amd64' | 'arm64';

/** Repository paths of a release's images (upstream's defaults). */
export interface ReleaseImageNames {
  imager: string;
  installerBase: string;
  installer: string;
  extensions: string;
  overlays: string;
}

export const OFFICIAL_IMAGE_NAMES: ReleaseImageNames = {
  imager: 'siderolabs/imager',
  installerBase: 'siderolabs/installer-base',
  installer: 'siderolabs/installer',
  extensions: 'siderolabs/extensions',
  overlays: 'siderolabs/overlays',
};

export interface ReleaseOptions {
  backend: ReleaseBackend;
  /** Where inputs are kept: `<dataDir>/releases/…`, `<dataDir>/extensions/…`. */
  dataDir: string;
  minimumVersion: TalosVersion;
  brokenVersions: readonly TalosVersion[];
  /** How long the versions list and catalogs are trusted before asking the backend again. */
  recheckIntervalMs: number;
  logger: Logger;
  images?: ReleaseImageNames;
  /** Checks the signature of every image before it is used; unset: images are used unchecked. */
  verifier?: ReleaseVerifier;
}

/** Paths of one version's boot inputs for one architecture. */
export interface ImagerInputs {
  kernel: string;
  initramfs: string;
  systemdBoot: string;
  systemdStub: string;
  /** `usr/lib/grub` of the imager image (i386-pc, x86_64-efi, … modules). */
  grubDir: string;
}

/** Extensions that were renamed or whose manifest name differs from their image (upstream's table). */
const EXTENSION_ALIASES: Record<string, string> = {
  'siderolabs/v4l-uvc': 'siderolabs/v4l-uvc-drivers',
  'siderolabs/usb-modem': 'siderolabs/usb-modem-drivers',
  'siderolabs/gasket': 'siderolabs/gasket-driver',
  'siderolabs/talos-vmtoolsd': 'siderolabs/vmtoolsd-guest-agent',
  'siderolabs/xe-guest-utilities': 'siderolabs/xen-guest-agent',
  'siderolabs/nvidia-container-toolkit': 'siderolabs/nvidia-container-toolkit-lts',
  'siderolabs/nvidia-open-gpu-kernel-modules': 'siderolabs/nvidia-open-gpu-kernel-modules-lts',
  'siderolabs/nonfree-kmod-nvidia': 'siderolabs/nonfree-kmod-nvidia-lts',
  'siderolabs/nvidia-fabricmanager': 'siderolabs/nvidia-fabric-manager-lts',
  'siderolabs/i915-ucode': 'siderolabs/i915',
  'siderolabs/amdgpu-firmware': 'siderolabs/amdgpu',
};

const CATALOG_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

export class ReleaseService {
  private readonly images: ReleaseImageNames;
  private readonly versionList: LRUCache<'versions', TalosVersion[]>;
  private readonly extensionCatalogs: LRUCache<string, ExtensionRef[]>;
  private readonly overlayCatalogs: LRUCache<string, OverlayRef[]>;
  /** `<repository>:<tag>` → the digest it points at now. */
  private readonly digests: LRUCache<string, string>;

  constructor(private readonly options: ReleaseOptions) {
    this.images = options.images ?? OFFICIAL_IMAGE_NAMES;
    const ttl = Math.max(1, options.recheckIntervalMs);
    this.versionList = new LRUCache({ max: 1, ttl, fetchMethod: () => this.fetchVersions() });
    this.extensionCatalogs = new LRUCache({ max: 256, ttl, fetchMethod: (tag) => this.fetchExtensionCatalog(tag) });
    this.overlayCatalogs = new LRUCache({ max: 256, ttl, fetchMethod: (tag) => this.fetchOverlayCatalog(tag) });
    this.digests = new LRUCache({ max: 512, ttl, fetchMethod: (ref) => this.fetchDigest(ref) });
  }

  get description(): string {
    return this.options.backend.description;
  }

  /** Versions on offer, ascending. */
  async versions(): Promise<TalosVersion[]> {
    return (await this.versionList.fetch('versions')) ?? [];
  }

  /** The newest version that is not a pre-release (what `latest` means), if any. */
  async newestStable(): Promise<TalosVersion | undefined> {
    return (await this.versions()).filter((v) => v.prerelease.length === 0).at(-1);
  }

  brokenVersions(): readonly TalosVersion[] {
    return this.options.brokenVersions;
  }

  /** The image tag of a version on offer; VersionNotAvailableError otherwise. */
  async requireVersion(version: TalosVersion): Promise<string> {
    const available = await this.versions();
    if (!available.some((v) => v.compare(version) === 0 && v.build.join('.') === version.build.join('.'))) {
      throw new VersionNotAvailableError(`version ${versionString(version)} is not available`);
    }
    return versionTag(version);
  }

  async officialExtensions(version: TalosVersion): Promise<ExtensionRef[]> {
    const tag = await this.requireVersion(version);
    return (await this.extensionCatalogs.fetch(tag)) ?? [];
  }

  /**
   * The catalog entries for the extension names a schematic lists, in its
   * order; a name is looked up as given, then under its newer name (upstream's
   * alias table). Unknown names are UnknownExtensionError.
   */
  async resolveOfficialExtensions(version: TalosVersion, names: readonly string[]): Promise<ExtensionRef[]> {
    if (names.length === 0) return [];
    const catalog = await this.officialExtensions(version);
    const found = names.map((name) => {
      const ref = catalog.find((e) => e.repository === name) ?? catalog.find((e) => e.repository === EXTENSION_ALIASES[name]);
      if (!ref) throw new UnknownExtensionError(`official extension ${JSON.stringify(name)} is not available for Talos version ${versionTag(version)}`);
      return ref;
    });
    for (const ref of found) await this.verify(ref.repository, ref.digest);
    return found;
  }

  /** Refuses an image whose digest is not signed with the configured key (nothing to do without one). */
  private async verify(repository: string, digest: string): Promise<void> {
    if (this.options.verifier) await this.options.verifier.verify(await this.options.backend.repository(repository), digest);
  }

  /** Overlays exist from Talos 1.7; older versions have none (and are not looked up, as upstream). */
  async officialOverlays(version: TalosVersion): Promise<OverlayRef[]> {
    if (!new Quirks(version).supportsOverlay()) return [];
    const tag = await this.requireVersion(version);
    return (await this.overlayCatalogs.fetch(tag)) ?? [];
  }

  /**
   * The digest the imager tag of a version points at now: part of every asset
   * key, so a re-published release gives new assets.
   */
  async imagerDigest(version: TalosVersion): Promise<string> {
    const tag = await this.requireVersion(version);
    return (await this.digests.fetch(`${this.images.imager}:${tag}`)) ?? '';
  }

  /** The digest of the installer base image of a version (part of installer asset keys). */
  async installerBaseDigest(version: TalosVersion): Promise<string> {
    const tag = await this.requireVersion(version);
    return (await this.digests.fetch(`${this.installerBaseImage(version)}:${tag}`)) ?? '';
  }

  /** The repository installers of a version are built on: `installer-base` from 1.10, `installer` before. */
  installerBaseImage(version: TalosVersion): string {
    return new Quirks(version).usesInstallerBase() ? this.images.installerBase : this.images.installer;
  }

  /** Kernel, initramfs, systemd-boot/stub and GRUB modules of a version, pulled once. */
  async imagerInputs(version: TalosVersion, arch: Arch): Promise<ImagerInputs> {
    const tag = await this.requireVersion(version);
    // Kept per digest: a tag published again gets its inputs pulled again.
    const digest = await this.imagerDigest(version);
    const dir = await materializeDirectory(join(this.options.dataDir, 'releases', tag, `imager-${digestHex(digest).slice(0, 16)}`), async (tmp) => {
      const repo = await this.options.backend.repository(this.images.imager);
      // The amd64 imager image carries the inputs of every architecture.
      const { manifest } = await resolveImage(repo, digest, CATALOG_PLATFORM);
      await extractImage(repo, manifest, tmp, {
        include: (path) => path.startsWith('usr/install/') || path.startsWith('usr/lib/grub/'),
      });
      this.options.logger.info({ version: tag, source: repo.location }, 'pulled imager inputs');
    });
    const installDir = join(dir, 'usr', 'install', arch);
    const inputs: ImagerInputs = {
      kernel: join(installDir, 'vmlinuz'),
      initramfs: join(installDir, 'initramfs.xz'),
      systemdBoot: join(installDir, 'systemd-boot.efi'),
      systemdStub: join(installDir, 'systemd-stub.efi'),
      grubDir: join(dir, 'usr', 'lib', 'grub'),
    };
    for (const path of [inputs.kernel, inputs.initramfs]) {
      await access(path).catch(() => {
        throw new InvalidReleaseError(`Talos ${tag} has no ${arch} inputs: ${path.slice(dir.length + 1)} is missing from ${this.images.imager}:${tag}`);
      });
    }
    return inputs;
  }

  /** An extension image's merged tree (`manifest.yaml`, `rootfs/`), pulled once by the digest the catalog pins. */
  async extensionTree(extension: ExtensionRef, arch: Arch): Promise<string> {
    const finalDir = join(this.options.dataDir, 'extensions', digestHex(extension.digest), arch);
    return materializeDirectory(finalDir, async (tmp) => {
      await this.verify(extension.repository, extension.digest);
      const repo = await this.options.backend.repository(extension.repository);
      const { manifest } = await resolveImage(repo, extension.digest, { os: 'linux', architecture: arch });
      await extractImage(repo, manifest, tmp);
      this.options.logger.info({ extension: extension.repository, digest: extension.digest, arch }, 'pulled extension');
    });
  }

  /**
   * The image the installer is built on, for one architecture, copied into a
   * local OCI layout: `installer-base` from 1.10, `installer` before.
   */
  async installerBase(version: TalosVersion, arch: Arch): Promise<OciLayout> {
    const tag = await this.requireVersion(version);
    const name = this.installerBaseImage(version);
    // Kept per digest, as the imager inputs: asset keys name this digest, so a tag published again must not reuse the old copy.
    const digest = await this.installerBaseDigest(version);
    const dir = await materializeDirectory(join(this.options.dataDir, 'releases', tag, `installer-base-${digestHex(digest).slice(0, 16)}-${arch}`), async (tmp) => {
      const repo = await this.options.backend.repository(name);
      const layout = await OciLayout.create(tmp);
      await copyImage(repo, digest, layout, { tag, platforms: [{ os: 'linux', architecture: arch }] });
      this.options.logger.info({ version: tag, image: name, arch }, 'pulled installer base');
    });
    return OciLayout.open(dir);
  }

  private async fetchDigest(ref: string): Promise<string> {
    const colon = ref.lastIndexOf(':');
    const repo = await this.options.backend.repository(ref.slice(0, colon));
    const { digest } = await repo.resolve(ref.slice(colon + 1));
    await this.verify(ref.slice(0, colon), digest);
    return digest;
  }

  private async fetchVersions(): Promise<TalosVersion[]> {
    const repo = await this.options.backend.repository(this.images.imager);
    const tags = await repo.listTags();
    const versions = selectVersions(tags, { minimum: this.options.minimumVersion, broken: this.options.brokenVersions });
    this.options.logger.info({ count: versions.length, source: repo.location }, 'fetched Talos versions');
    return versions;
  }

  private async fetchExtensionCatalog(tag: string): Promise<ExtensionRef[]> {
    const files = await this.readCatalogFiles(this.images.extensions, tag, ['image-digests', 'descriptions.yaml']);
    const digests = files.get('image-digests');
    if (digests === undefined) throw new InvalidReleaseError(`failed to find image-digests file in ${this.images.extensions}:${tag}`);
    return parseExtensionCatalog(digests, files.get('descriptions.yaml'));
  }

  private async fetchOverlayCatalog(tag: string): Promise<OverlayRef[]> {
    const files = await this.readCatalogFiles(this.images.overlays, tag, ['overlays.yaml']);
    const overlays = files.get('overlays.yaml');
    if (overlays === undefined) throw new InvalidReleaseError(`failed to find overlays.yaml file in ${this.images.overlays}:${tag}`);
    return parseOverlayCatalog(overlays);
  }

  private async readCatalogFiles(image: string, tag: string, names: string[]): Promise<Map<string, string>> {
    const repo = await this.options.backend.repository(image);
    try {
      // By the digest the tag points at, signature checked.
      const digest = (await this.digests.fetch(`${image}:${tag}`)) ?? tag;
      const { manifest } = await resolveImage(repo, digest, CATALOG_PLATFORM);
      return await readImageFiles(repo, manifest, names);
    } catch (error) {
      // The imager has the tag but this image does not: the release is incomplete, not the user's fault.
      if (isNotFound(error)) throw new InvalidReleaseError(`${image}:${tag} is missing from ${repo.location}`, { cause: error });
      throw error;
    }
  }
}
