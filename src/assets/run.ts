// Runs one queued build: the spec becomes a target again, the kind's builder
// writes into a sink in the build's own scratch directory, and the finished
// file goes into the cache under the spec's key. Whatever the outcome, the
// scratch directory is gone when the build's promise settles. While a build
// runs in this process its sink can be read (the asset service streams it to
// requesters before it is cached).

import { EventEmitter } from 'node:events';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { AssetCache } from '../cache/cache.js';
import { withChildScope } from '../child-scope.js';
import { ownedTempDir } from '../durable-file.js';
import type { BuildControl, BuildSpec } from '../jobs/spec.js';
import { parseSchematic } from '../schematic/schematic.js';
import { contentTypeFor, parseAssetPath } from '../talos/asset-path.js';
import { parsePathVersion } from '../talos/version.js';
import { subdir } from './boot-files.js';
import type { AssetBuilders } from './builders/index.js';
import { AssetSink } from './sink.js';
import type { AssetTarget } from './target.js';

export function targetFromSpec(spec: BuildSpec): AssetTarget {
  return {
    schematic: parseSchematic(spec.canonical, { allowOwner: true }),
    version: parsePathVersion(spec.versionTag),
    request: parseAssetPath(spec.path),
    ...(spec.format && { format: spec.format }),
  };
}

/** What the cache records as the asset's type. */
export function contentTypeOf(spec: Pick<BuildSpec, 'path' | 'format'>): string {
  return spec.format === 'oci-archive' ? 'application/x-tar' : contentTypeFor(spec.path);
}

export interface BuildRunnerOptions {
  builders: AssetBuilders;
  cache: AssetCache;
  /** Where each build gets its scratch directory. */
  workDir: string;
  logger: Logger;
}

/** The builds running in this process whose bytes can be read while they are written. */
export interface LiveBuilds {
  /** The sink of `key`'s build once it runs here, or undefined when `stop` is called first. */
  whenStarted(key: string, stop: Promise<unknown>): Promise<AssetSink | undefined>;
}

export class BuildRunner implements LiveBuilds {
  /** Sinks of the builds running here, until they complete (after that, readers go to the cache). */
  private readonly live = new Map<string, AssetSink>();
  private readonly started = new EventEmitter();

  constructor(private readonly options: BuildRunnerOptions) {
    this.started.setMaxListeners(0);
  }

  whenStarted(key: string, stop: Promise<unknown>): Promise<AssetSink | undefined> {
    const now = this.live.get(key);
    if (now) return Promise.resolve(now);
    return new Promise((resolve) => {
      const done = (sink?: AssetSink): void => {
        this.started.off(key, done);
        resolve(sink);
      };
      this.started.on(key, done);
      stop.then(
        () => done(),
        () => done(),
      );
    });
  }

  /** Builds the asset a spec names and stores it in the cache under its key. */
  async run(spec: BuildSpec, { signal, progress }: BuildControl): Promise<void> {
    const { logger, cache, workDir } = this.options;
    const target = targetFromSpec(spec);
    const builder = this.options.builders[target.request.kind];
    const started = Date.now();
    logger.info({ key: spec.key, asset: spec.path, version: spec.versionTag }, 'asset build started');
    progress(5, 'resolving inputs');
    const dir = await ownedTempDir(workDir, 'build');
    try {
      const sink = await AssetSink.create(join(dir, 'asset'));
      this.live.set(spec.key, sink);
      this.started.emit(spec.key, sink);
      try {
        // Settles once every tool the build started has exited: a stopped build leaves no process behind.
        await withChildScope(async () => builder.build(target, sink, { signal, progress, dir: await subdir(dir, 'work') }));
        signal.throwIfAborted();
        sink.complete();
        // From here on a new requester waits for the cache entry; those reading the sink finish from it.
        this.live.delete(spec.key);
        progress(95, 'storing');
        await cache.put(spec.key, sink.path, contentTypeOf(spec));
        progress(100, 'done');
        logger.info({ key: spec.key, asset: spec.path, version: spec.versionTag, ms: Date.now() - started }, 'asset built');
      } catch (error) {
        sink.fail(signal.aborted && signal.reason instanceof Error ? signal.reason : (error as Error));
        throw error;
      } finally {
        if (this.live.get(spec.key) === sink) this.live.delete(spec.key);
        await sink.release();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
