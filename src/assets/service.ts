// The one path every asset request takes: validate, compute the AssetKey, serve
// from the cache or have the queue build it (once, however many ask), then
// serve it from the cache.

import type { Logger } from 'pino';
import type { AssetCache, CachedAsset } from '../cache/cache.js';
import type { BuildQueue, BuildState } from '../jobs/queue.js';
import type { ReleaseService } from '../release/release.js';
import type { ParsedSchematic } from '../schematic/schematic.js';
import { type AssetRequest, parseAssetPath } from '../talos/asset-path.js';
import { type TalosVersion, versionTag } from '../talos/version.js';
import type { Admission } from './admission.js';
import { type BuildSpec, contentTypeOf } from './build-spec.js';
import { assetKey } from './key.js';
import type { AssetProducer } from './producer.js';
import type { AssetFormat } from './target.js';

export interface PreparedAsset {
  spec: BuildSpec;
  request: AssetRequest;
  version: TalosVersion;
  contentType: string;
}

export interface AssetServiceOptions {
  releases: ReleaseService;
  producer: AssetProducer;
  cache: AssetCache;
  queue: BuildQueue;
  /** Bounds the builds this process starts (none when absent). */
  admission?: Admission;
  logger: Logger;
  /** Called once per asset answered: from the cache, or after a build that took `ms`. */
  onDelivered?: (prepared: PreparedAsset, cached: boolean, ms: number) => void;
  /** Called when a request's build failed. */
  onFailed?: (prepared: PreparedAsset, error: Error) => void;
}

/** The client builds count against when no request started them. */
const INTERNAL_CLIENT = 'internal';

/** Output kinds whose bytes include the schematic's system extensions. */
const WITH_EXTENSIONS = new Set(['initramfs', 'uki', 'iso', 'image', 'installer']);

export class AssetService {
  constructor(private readonly options: AssetServiceOptions) {}

  /** Checks the request (4xx errors happen here, before anything is queued) and computes its key. */
  async prepare(schematic: ParsedSchematic, version: TalosVersion, request: AssetRequest, format?: AssetFormat): Promise<PreparedAsset> {
    const target = { schematic, version, request, ...(format && { format }) };
    this.options.producer.validate(target);
    const inputs = [await this.options.releases.imagerDigest(version)];
    if (request.kind === 'installer') inputs.push(await this.options.releases.installerBaseDigest(version));
    if (WITH_EXTENSIONS.has(request.kind)) {
      const names = schematic.schematic.customization.systemExtensions.officialExtensions ?? [];
      for (const ext of await this.options.releases.resolveOfficialExtensions(version, names)) inputs.push(ext.digest);
    }
    if (request.kind === 'cmdline') this.options.producer.cmdline(target); // refuses what cannot be built, now
    const tag = versionTag(version);
    const key = assetKey({ request, canonical: schematic.canonical, versionTag: tag, inputDigests: inputs, ...(format && { format }) });
    const spec: BuildSpec = { key, canonical: schematic.canonical, versionTag: tag, path: request.fileName, ...(format && { format }) };
    return { spec, request, version, contentType: contentTypeOf(spec) };
  }

  /**
   * The asset from the cache, built first when it is not there. A new build
   * must be admitted for `client` (AdmissionError otherwise); joining one is free.
   */
  async fetch(prepared: PreparedAsset, client = INTERNAL_CLIENT): Promise<CachedAsset> {
    const { key } = prepared.spec;
    const started = Date.now();
    const hit = await this.options.cache.get(key);
    if (hit) {
      this.options.onDelivered?.(prepared, true, Date.now() - started);
      return hit;
    }
    const built = await this.build(prepared, this.admit(key, client));
    this.options.onDelivered?.(prepared, false, Date.now() - started);
    return built;
  }

  private admit(key: string, client: string): () => void {
    return this.options.admission?.admit(key, client) ?? (() => {});
  }

  /** Has the queue build an admitted asset; `release` gives its admission back when the build settles. */
  private async build(prepared: PreparedAsset, release: () => void): Promise<CachedAsset> {
    const { key } = prepared.spec;
    try {
      try {
        await this.options.queue.run(prepared.spec);
      } catch (error) {
        this.options.onFailed?.(prepared, error as Error);
        throw error;
      }
      let built = await this.options.cache.get(key);
      if (!built) {
        // The queue remembered a finished build whose result is gone (evicted, or dropped as damaged).
        await this.options.queue.run(prepared.spec, { rebuild: true });
        built = await this.options.cache.get(key);
      }
      if (!built) throw new Error(`the build of ${prepared.request.fileName} finished but ${this.options.cache.description} does not have it`);
      return built;
    } finally {
      release();
    }
  }

  /** Cached, or what the queue knows about the build. */
  async status(prepared: PreparedAsset): Promise<BuildState | { state: 'cached'; size: number; sha256: string }> {
    const hit = await this.options.cache.get(prepared.spec.key);
    if (hit) return { state: 'cached', size: hit.metadata.size, sha256: hit.metadata.sha256 };
    return this.options.queue.state(prepared.spec.key);
  }

  /**
   * Starts a build without waiting for it (the status stream reports it).
   * Resolves once it is admitted (AdmissionError otherwise) or found cached.
   */
  async start(prepared: PreparedAsset, client = INTERNAL_CLIENT): Promise<void> {
    if (await this.options.cache.get(prepared.spec.key)) return;
    const release = this.admit(prepared.spec.key, client);
    this.build(prepared, release).catch((error: Error) => this.options.logger.debug({ err: error, key: prepared.spec.key }, 'build started from status failed'));
  }

  /**
   * Starts building the installer of the newest stable version for a new
   * schematic, so that the first `talosctl upgrade` to it finds it ready
   * (upstream issue #456: cold installer pulls time out).
   */
  async prebuildInstaller(schematic: ParsedSchematic, client = INTERNAL_CLIENT): Promise<void> {
    const newest = await this.options.releases.newestStable();
    if (!newest) return;
    await this.start(await this.prepare(schematic, newest, parseAssetPath('installer-amd64.tar'), 'oci-archive'), client);
  }

  watch(prepared: PreparedAsset, listener: (state: BuildState) => void): () => void {
    return this.options.queue.watch(prepared.spec.key, listener);
  }
}
