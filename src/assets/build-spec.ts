// A build as it travels through the queue (to this process or to a worker on
// another machine): plain data that names the asset completely, the schematic
// included, so a worker needs no shared schematic store.

import type { Logger } from 'pino';
import { copyFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AssetCache } from '../cache/cache.js';
import { ownedTempDir } from '../durable-file.js';
import { parseSchematic } from '../schematic/schematic.js';
import { contentTypeFor, parseAssetPath } from '../talos/asset-path.js';
import { parsePathVersion } from '../talos/version.js';
import type { AssetProducer } from './producer.js';
import type { AssetFormat, AssetTarget } from './target.js';

export interface BuildSpec {
  key: string;
  canonical: string;
  versionTag: string;
  /** The asset file name as parsed (`initramfs-amd64.xz`, ...). */
  path: string;
  format?: AssetFormat;
}

export type ProgressReporter = (percent: number, stage: string) => void;

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

export interface BuildDeps {
  producer: AssetProducer;
  cache: AssetCache;
  /** Scratch directory for copies of inputs served as they are. */
  workDir: string;
  logger: Logger;
}

/** Builds the asset a spec names and stores it in the cache under its key. */
export async function runBuild(spec: BuildSpec, deps: BuildDeps, progress: ProgressReporter = () => {}): Promise<void> {
  const target = targetFromSpec(spec);
  const started = Date.now();
  deps.logger.info({ key: spec.key, asset: spec.path, version: spec.versionTag }, 'asset build started');
  progress(5, 'resolving inputs');
  const produced = await deps.producer.produce(target, progress);
  try {
    let file = produced.path;
    if (!produced.owned) {
      // A release input served as it is: the cache takes a copy, never the original.
      const dir = await ownedTempDir(deps.workDir, 'copy');
      file = join(dir, 'asset');
      await copyFile(produced.path, file);
      try {
        await deps.cache.put(spec.key, file, contentTypeOf(spec));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    } else {
      progress(95, 'storing');
      await deps.cache.put(spec.key, file, contentTypeOf(spec));
    }
  } finally {
    await produced.release();
  }
  progress(100, 'done');
  deps.logger.info({ key: spec.key, asset: spec.path, version: spec.versionTag, ms: Date.now() - started }, 'asset built');
}
