// The parts both the web process and a worker process are made of: where
// releases come from, how assets are produced and where they are cached, and
// the build queue (in-process, or BullMQ on Redis with or without local workers).

import { join } from 'node:path';
import type { Logger } from 'pino';
import { BootFiles } from './assets/boot-files.js';
import { type AssetBuilders, assetBuilders } from './assets/builders/index.js';
import { BuildRunner, type LiveBuilds } from './assets/run.js';
import { sweepScratch } from './assets/scratch.js';
import { ATOMIC_TEMPORARY, sweepTemporaries } from './durable-file.js';
import type { AssetCache } from './cache/cache.js';
import { FsAssetCache } from './cache/fs-cache.js';
import { OciAssetStore } from './cache/oci-cache.js';
import { TieredAssetCache } from './cache/tiered-cache.js';
import type { Config } from './config.js';
import { BullQueue, BullWorkers } from './jobs/bullmq.js';
import { InProcessQueue } from './jobs/in-process.js';
import type { BuildQueue } from './jobs/queue.js';
import type { Builder } from './jobs/spec.js';
import { parsePublicKey, readKeyFile } from './oci/cosign/keys.js';
import { RegistryClient } from './oci/registry/client.js';
import { LayoutReleaseBackend, type ReleaseBackend, RegistryReleaseBackend } from './release/backend.js';
import { MATERIALIZE_TEMPORARY } from './materialize.js';
import { ReleaseService } from './release/release.js';
import { ReleaseVerifier } from './release/signature.js';
import { parseVersionTolerant } from './talos/version.js';
import { VERSION } from './version.js';
import { type DigestIndex, FsDigestIndex, RegistryDigestIndex, SharedDigestIndex } from './cache/digest-index.js';
import { CachedSchematicStore, FsSchematicStore, OciSchematicStore, SchematicService, type SchematicStore, SharedSchematicStore } from './schematic/index.js';
import { summariseFailure } from './error-summary.js';

/** How often leftovers of killed processes are looked for. */
const SWEEP_INTERVAL_MS = 5 * 60_000;

export interface Runtime {
  releases: ReleaseService;
  bootFiles: BootFiles;
  builders: AssetBuilders;
  cache: AssetCache;
  /** Runs one build and stores its result in the cache. */
  builder: Builder;
  /** The builds `builder` is running in this process, readable while they are written. */
  live: LiveBuilds;
}

/** What answering a cache hit needs: the release (the inputs' digests are part of the AssetKey), the builders' table and the local cache. */
export interface AssetTable {
  releases: ReleaseService;
  bootFiles: BootFiles;
  builders: AssetBuilders;
  local: FsAssetCache;
}

export function createAssetTable(config: Config, logger: Logger): AssetTable {
  const releases = new ReleaseService({
    backend: releaseBackend(config),
    dataDir: config.dataDir,
    minimumVersion: parseVersionTolerant(config.minTalosVersion),
    brokenVersions: config.brokenTalosVersions.map((v) => parseVersionTolerant(v)),
    recheckIntervalMs: config.versionRecheckSeconds * 1000,
    logger,
    verifier: releaseVerifier(config, logger),
  });
  const bootFiles = new BootFiles(releases, config.externalUrl);
  const builders = assetBuilders({ releases, bootFiles });
  const local = new FsAssetCache({ dir: config.cacheDir ?? join(config.dataDir, 'cache'), maxBytes: config.cacheMaxBytes, accelRedirect: config.accelRedirect, logger });
  return { releases, bootFiles, builders, local };
}

export function createRuntime(config: Config, logger: Logger): Runtime {
  const { releases, bootFiles, builders, local } = createAssetTable(config, logger);
  const workDir = join(config.dataDir, 'tmp');
  // Leftovers of killed processes go now and every few minutes; those whose owner cannot be told
  // (another host sharing the data directory) once older than twice the build timeout, which no live build reaches.
  const unownedAfterMs = 2 * config.buildTimeoutSeconds * 1000;
  const sweep = (): void =>
    void Promise.all([
      sweepScratch(workDir, unownedAfterMs, logger),
      local.sweepTemporaries(unownedAfterMs),
      sweepTemporaries(join(config.dataDir, 'schematics'), ATOMIC_TEMPORARY, unownedAfterMs).then((paths) => {
        for (const path of paths) logger.info({ path }, 'removed the temporary of an interrupted schematic write');
      }),
      ...['releases', 'extensions'].map((dir) =>
        sweepTemporaries(join(config.dataDir, dir), MATERIALIZE_TEMPORARY, unownedAfterMs).then((paths) => {
          for (const path of paths) logger.info({ path }, 'removed the temporary of an interrupted release unpack');
        }),
      ),
    ]).catch((error: Error) =>
      logger.warn({ err: error }, 'sweeping leftovers failed'),
    );
  sweep();
  setInterval(sweep, SWEEP_INTERVAL_MS).unref();
  const cache = config.cacheRegistry === undefined ? local : new TieredAssetCache(local, sharedStore(config, logger), workDir, logger);
  const runner = new BuildRunner({ builders, cache, workDir, logger });
  const builder: Builder = (spec, control) =>
    runner.run(spec, control).catch((error: unknown) => {
      // The real cause stays here, in the log; what travels on (to /status, to clients, through Redis) is the summary.
      logger.error({ err: error, key: spec.key, asset: spec.path, version: spec.versionTag }, 'asset build failed');
      throw new Error(summariseFailure(error, `build ${spec.key.slice(0, 12)}`), { cause: error });
    });
  return { releases, bootFiles, builders, cache, builder, live: runner };
}

/**
 * Where schematics and the registry digest index live: this machine's data
 * directory, in front of a registry every instance shares when one is configured.
 */
export function fleetStores(config: Config, logger: Logger): { schematics: SchematicStore; digests: DigestIndex } {
  const schematics = new FsSchematicStore(join(config.dataDir, 'schematics'), logger);
  const digests = new FsDigestIndex(join(config.dataDir, 'registry-digests'));
  if (config.schematicRegistry === undefined) return { schematics, digests };
  const client = registryClient(config.schematicRegistry, config.schematicInsecure, config.schematicUsername, config.schematicPassword);
  const repo = client.repository(config.schematicRepository);
  logger.info({ repository: repo.location }, 'schematics and the registry digest index are shared through this repository');
  return {
    schematics: new SharedSchematicStore(schematics, new OciSchematicStore(repo), logger),
    digests: new SharedDigestIndex(digests, new RegistryDigestIndex(repo), logger),
  };
}

/** Schematics as the routes read them: the store behind a bounded in-memory cache. */
export function schematicService(config: Config, store: SchematicStore): SchematicService {
  return new SchematicService(new CachedSchematicStore(store, { capacity: config.schematicCacheCapacity, negativeTtlMs: config.schematicNegativeTtlSeconds * 1000 }));
}

export interface Queueing {
  queue: BuildQueue;
  /** Workers taking jobs from Redis in this process, when there are any. */
  workers?: BullWorkers;
  close(): Promise<void>;
}

/** The queue this process uses, and its local workers (`config.workers` builds at once). */
export function createQueueing(config: Config, runtime: Runtime, logger: Logger): Queueing {
  const timeoutMs = config.buildTimeoutSeconds * 1000;
  if (config.redisUrl === undefined) {
    const queue = new InProcessQueue(runtime.builder, { concurrency: Math.max(1, config.workers), timeoutMs });
    return { queue, close: () => queue.close() };
  }
  const options = { redisUrl: config.redisUrl, timeoutMs, lockMs: config.jobLockSeconds * 1000, attempts: config.buildAttempts, logger };
  const queue = new BullQueue(options);
  const workers = config.workers > 0 ? new BullWorkers(runtime.builder, config.workers, options) : undefined;
  return {
    queue,
    ...(workers && { workers }),
    close: async () => {
      await workers?.close();
      await queue.close();
    },
  };
}

function sharedStore(config: Config, logger: Logger): OciAssetStore {
  return new OciAssetStore(registryClient(config.cacheRegistry!, config.cacheInsecure, config.cacheUsername, config.cachePassword).repository(config.cacheRepository), logger);
}

/** A client for one of the registries the configuration names (release, cache, schematics). */
export function registryClient(registry: string, insecure: boolean, username?: string, password?: string): RegistryClient {
  return new RegistryClient({
    registry,
    insecure,
    userAgent: `image-factory/${VERSION}`,
    ...(username !== undefined && password !== undefined && { credentials: { username, password } }),
  });
}

function releaseBackend(config: Config): ReleaseBackend {
  if (config.releaseLayoutDir !== undefined) return new LayoutReleaseBackend(config.releaseLayoutDir, config.releaseNamespace);
  const client = registryClient(config.releaseRegistry, config.releaseInsecure, config.releaseUsername, config.releasePassword);
  return new RegistryReleaseBackend(client, config.releaseNamespace);
}

/** Signature checks of release images: on with a key unless turned off, off without one; said in the log either way. */
function releaseVerifier(config: Config, logger: Logger): ReleaseVerifier | undefined {
  if (config.releaseSignaturePubkey === undefined || config.releaseSignatureDisabled === true) {
    logger.warn(
      { pubkey: config.releaseSignaturePubkey },
      'release image signatures are NOT verified (set IF_RELEASE_SIGNATURE_PUBKEY to the key the release is signed with, and leave IF_RELEASE_SIGNATURE_DISABLED unset)',
    );
    return undefined;
  }
  const key = parsePublicKey(readKeyFile(config.releaseSignaturePubkey), config.releaseSignaturePubkey);
  logger.info({ pubkey: config.releaseSignaturePubkey }, 'release image signatures are verified with this key');
  return new ReleaseVerifier(key, logger);
}
