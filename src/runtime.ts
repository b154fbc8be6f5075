// The parts both the web process and a worker process are made of: where
// releases come from, how assets are produced and where they are cached, and
// the build queue (in-process, or BullMQ on Redis with or without local workers).

import { join } from 'node:path';
import type { Logger } from 'pino';
import { BootFiles } from './assets/boot-files.js';
import { type AssetBuilders, assetBuilders } from './assets/builders/index.js';
import { BuildRunner, type LiveBuilds } from './assets/run.js';
import { sweepStaleScratch } from './assets/scratch.js';
import type { AssetCache } from './cache/cache.js';
import { FsAssetCache } from './cache/fs-cache.js';
import { OciAssetStore } from './cache/oci-cache.js';
import { TieredAssetCache } from './cache/tiered-cache.js';
import type { Config } from './config.js';
import { BullQueue, BullWorkers } from './jobs/bullmq.js';
import { InProcessQueue } from './jobs/in-process.js';
import type { BuildQueue } from './jobs/queue.js';
import type { Builder } from './jobs/spec.js';
import { RegistryClient } from './oci/registry/client.js';
import { LayoutReleaseBackend, type ReleaseBackend, RegistryReleaseBackend } from './release/backend.js';
import { ReleaseService } from './release/release.js';
import { parseVersionTolerant } from './talos/version.js';
import { VERSION } from './version.js';

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

export function createRuntime(config: Config, logger: Logger): Runtime {
  const releases = new ReleaseService({
    backend: releaseBackend(config),
    dataDir: config.dataDir,
    minimumVersion: parseVersionTolerant(config.minTalosVersion),
    brokenVersions: config.brokenTalosVersions.map((v) => parseVersionTolerant(v)),
    recheckIntervalMs: config.versionRecheckSeconds * 1000,
    logger,
  });
  const workDir = join(config.dataDir, 'tmp');
  // Twice the build timeout: no live build can own a directory that old.
  void sweepStaleScratch(workDir, 2 * config.buildTimeoutSeconds * 1000, logger);
  const bootFiles = new BootFiles(releases, config.externalUrl);
  const builders = assetBuilders({ releases, bootFiles });
  const local = new FsAssetCache({ dir: config.cacheDir ?? join(config.dataDir, 'cache'), maxBytes: config.cacheMaxBytes, logger });
  const cache = config.cacheRegistry === undefined ? local : new TieredAssetCache(local, sharedStore(config, logger), workDir, logger);
  const runner = new BuildRunner({ builders, cache, workDir, logger });
  return { releases, bootFiles, builders, cache, builder: (spec, control) => runner.run(spec, control), live: runner };
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
  const client = new RegistryClient({
    registry: config.cacheRegistry!,
    insecure: config.cacheInsecure,
    userAgent: `image-factory/${VERSION}`,
    ...(config.cacheUsername !== undefined &&
      config.cachePassword !== undefined && { credentials: { username: config.cacheUsername, password: config.cachePassword } }),
  });
  return new OciAssetStore(client.repository(config.cacheRepository), logger);
}

function releaseBackend(config: Config): ReleaseBackend {
  if (config.releaseLayoutDir !== undefined) return new LayoutReleaseBackend(config.releaseLayoutDir, config.releaseNamespace);
  const client = new RegistryClient({
    registry: config.releaseRegistry,
    insecure: config.releaseInsecure,
    userAgent: `image-factory/${VERSION}`,
    ...(config.releaseUsername !== undefined &&
      config.releasePassword !== undefined && {
        credentials: { username: config.releaseUsername, password: config.releasePassword },
      }),
  });
  return new RegistryReleaseBackend(client, config.releaseNamespace);
}
