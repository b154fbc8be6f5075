// The one path every asset request takes: validate, compute the AssetKey, serve
// from the cache or have the queue build it (once, however many ask), then
// serve it from the cache, or, when the build runs in this process, stream it
// while it is written (every requester from byte 0; the cache gets the same
// bytes and the stream ends only once the entry is published).

import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { AssetCache, CachedAsset } from '../cache/cache.js';
import type { BuildQueue, BuildState } from '../jobs/queue.js';
import type { BuildSpec } from '../jobs/spec.js';
import type { ReleaseService } from '../release/release.js';
import type { ParsedSchematic } from '../schematic/schematic.js';
import { type AssetRequest, parseAssetPath } from '../talos/asset-path.js';
import { type TalosVersion, versionTag } from '../talos/version.js';
import type { Admission } from './admission.js';
import type { BootFiles } from './boot-files.js';
import type { AssetBuilders } from './builders/index.js';
import { assetKey } from './key.js';
import { contentTypeOf, type LiveBuilds } from './run.js';
import type { AssetFormat, AssetTarget } from './target.js';

export interface PreparedAsset {
  spec: BuildSpec;
  request: AssetRequest;
  version: TalosVersion;
  contentType: string;
}

export interface AssetServiceOptions {
  releases: ReleaseService;
  builders: AssetBuilders;
  bootFiles: BootFiles;
  cache: AssetCache;
  queue: BuildQueue;
  /** Builds running in this process, readable while they are written (none: requests wait for the cache). */
  live?: LiveBuilds;
  /** Bounds the builds this process starts (none when absent). */
  admission?: Admission;
  logger: Logger;
  /** Called once per asset answered: from the cache, or after a build that took `ms`. */
  onDelivered?: (prepared: PreparedAsset, cached: boolean, ms: number) => void;
  /** Called when a request's build failed. */
  onFailed?: (prepared: PreparedAsset, error: Error) => void;
}

/** A complete cache entry, or the body of an asset still being built (no size or digest yet). */
export type OpenedAsset = { cached: CachedAsset } | { building: Readable };

/** The client builds count against when no request started them. */
const INTERNAL_CLIENT = 'internal';

export class AssetService {
  constructor(private readonly options: AssetServiceOptions) {}

  /** Checks the request (4xx errors happen here, before anything is queued) and computes its key. */
  async prepare(schematic: ParsedSchematic, version: TalosVersion, request: AssetRequest, format?: AssetFormat): Promise<PreparedAsset> {
    const target = { schematic, version, request, ...(format && { format }) };
    const builder = this.options.builders[request.kind];
    builder.check(target);
    const inputs = await builder.inputs(target);
    const tag = versionTag(version);
    const key = assetKey({ request, recipe: builder.recipe, canonical: schematic.canonical, versionTag: tag, inputDigests: inputs, ...(format && { format }) });
    const spec: BuildSpec = { key, canonical: schematic.canonical, versionTag: tag, path: request.fileName, ...(format && { format }) };
    return { spec, request, version, contentType: contentTypeOf(spec) };
  }

  /** The kernel command line a PXE script boots `target` (a cmdline request) with; nothing is built. */
  async pxeCmdline(target: AssetTarget): Promise<string> {
    this.options.builders.cmdline.check(target);
    await this.options.releases.requireVersion(target.version);
    return this.options.bootFiles.cmdline(target);
  }

  /**
   * The asset from the cache, built first when it is not there. A new build
   * must be admitted for `client` (AdmissionError otherwise); joining one is free.
   */
  async fetch(prepared: PreparedAsset, client = INTERNAL_CLIENT): Promise<CachedAsset> {
    const started = Date.now();
    const hit = await this.fromCache(prepared, started);
    if (hit) return hit;
    const built = await this.build(prepared, this.admit(prepared.spec.key, client));
    this.options.onDelivered?.(prepared, false, Date.now() - started);
    return built;
  }

  /**
   * The asset from the cache, or, when it must be built and the build runs
   * here, its bytes as they are written (once there is a first one: a build
   * that fails before it is reported like any failed build); else the entry
   * once built. Admitted as fetch().
   */
  async open(prepared: PreparedAsset, client = INTERNAL_CLIENT): Promise<OpenedAsset> {
    const started = Date.now();
    const hit = await this.fromCache(prepared, started);
    if (hit) return { cached: hit };
    const built = this.build(prepared, this.admit(prepared.spec.key, client));
    // A streaming reader gets the failure; nobody else may be waiting.
    built.then(() => this.options.onDelivered?.(prepared, false, Date.now() - started), () => undefined);
    const sink = await this.options.live?.whenStarted(prepared.spec.key, built);
    if (sink && !sink.released) {
      const body = sink.reader(built);
      if (await hasFirstBytes(body)) return { building: body };
      body.destroy();
    }
    return { cached: await built };
  }

  /** The asset if the cache has it (counted as delivered), else undefined: nothing is built. */
  async fromCache(prepared: PreparedAsset, started = Date.now()): Promise<CachedAsset | undefined> {
    const hit = await this.options.cache.get(prepared.spec.key);
    if (hit) this.options.onDelivered?.(prepared, true, Date.now() - started);
    return hit;
  }

  private admit(key: string, client: string): () => void {
    return this.options.admission?.admit(key, client) ?? (() => {});
  }

  /** Has the queue build an admitted asset (or joins its build); `release` gives the admission back when it settles. */
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

/** Waits until `body` has bytes to read (true) or ends or fails first (false). */
function hasFirstBytes(body: Readable): Promise<boolean> {
  return new Promise((resolve) => {
    const settle = (ready: boolean): void => {
      body.off('readable', onReadable);
      body.off('error', onError);
      resolve(ready);
    };
    const onReadable = (): void => settle(body.readableLength > 0);
    const onError = (): void => settle(false);
    body.on('readable', onReadable);
    body.on('error', onError);
  });
}
