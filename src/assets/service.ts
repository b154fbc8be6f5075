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
  logger: Logger;
  /** Called once per asset answered: from the cache, or after a build that took `ms`. */
  onDelivered?: (prepared: PreparedAsset, cached: boolean, ms: number) => void;
  /** Called when a request's build failed. */
  onFailed?: (prepared: PreparedAsset, error: Error) => void;
}

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

  /** The asset from the cache, built first when it is not there. */
  async fetch(prepared: PreparedAsset): Promise<CachedAsset> {
    const { key } = prepared.spec;
    const started = Date.now();
    const hit = await this.options.cache.get(key);
    if (hit) {
      this.options.onDelivered?.(prepared, true, Date.now() - started);
      return hit;
    }
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
    this.options.onDelivered?.(prepared, false, Date.now() - started);
    return built;
  }

  /** Cached, or what the queue knows about the build. */
  async status(prepared: PreparedAsset): Promise<BuildState | { state: 'cached'; size: number; sha256: string }> {
    const hit = await this.options.cache.get(prepared.spec.key);
    if (hit) return { state: 'cached', size: hit.metadata.size, sha256: hit.metadata.sha256 };
    return this.options.queue.state(prepared.spec.key);
  }

  /** Starts a build without waiting for it (the status stream reports it). */
  start(prepared: PreparedAsset): void {
    this.fetch(prepared).catch((error: Error) => this.options.logger.debug({ err: error, key: prepared.spec.key }, 'build started from status failed'));
  }

  /**
   * Starts building the installer of the newest stable version for a new
   * schematic, so that the first `talosctl upgrade` to it finds it ready
   * (upstream issue #456: cold installer pulls time out).
   */
  async prebuildInstaller(schematic: ParsedSchematic): Promise<void> {
    const newest = await this.options.releases.newestStable();
    if (!newest) return;
    this.start(await this.prepare(schematic, newest, parseAssetPath('installer-amd64.tar'), 'oci-archive'));
  }

  watch(prepared: PreparedAsset, listener: (state: BuildState) => void): () => void {
    return this.options.queue.watch(prepared.spec.key, listener);
  }
}
