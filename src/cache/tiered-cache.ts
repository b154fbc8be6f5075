// The local filesystem cache in front of a registry cache shared by many
// instances: hits are served from local disk (with ranges and verified
// digests); a local miss that another instance built is downloaded once;
// what this instance builds is published for the others.

import { join } from 'node:path';
import type { Logger } from 'pino';
import type { AssetCache, CachedAsset } from './cache.js';
import type { FsAssetCache } from './fs-cache.js';
import { OciAssetStore } from './oci-cache.js';

export class TieredAssetCache implements AssetCache {
  readonly description: string;
  private readonly pulling = new Map<string, Promise<CachedAsset | undefined>>();

  constructor(
    private readonly local: FsAssetCache,
    private readonly shared: OciAssetStore,
    private readonly scratchDir: string,
    private readonly logger: Logger,
  ) {
    this.description = `${local.description}, shared through ${shared.description}`;
  }

  async get(key: string): Promise<CachedAsset | undefined> {
    const hit = await this.local.get(key);
    if (hit) return hit;
    let pull = this.pulling.get(key);
    if (!pull) {
      pull = this.pull(key).finally(() => this.pulling.delete(key));
      this.pulling.set(key, pull);
    }
    return pull;
  }

  private async pull(key: string): Promise<CachedAsset | undefined> {
    const metadata = await this.shared.lookup(key).catch((error: Error) => {
      this.logger.warn({ key, err: error }, 'shared cache lookup failed; treating as a miss');
      return undefined;
    });
    if (!metadata) return undefined;
    const { file, cleanup } = await OciAssetStore.scratch(join(this.scratchDir, 'shared-cache'));
    try {
      await this.shared.fetch(metadata, file);
      return await this.local.put(key, file, metadata.contentType);
    } finally {
      await cleanup();
    }
  }

  async put(key: string, file: string, contentType: string): Promise<CachedAsset> {
    // Into the local cache first: that computes the digests the published artifact needs.
    const entry = await this.local.put(key, file, contentType);
    try {
      await this.shared.publish(entry.metadata, () => entry.open());
    } catch (error) {
      // Serving still works; other instances will build it themselves.
      this.logger.error({ key, err: error }, 'could not publish the asset to the shared cache');
    }
    return entry;
  }
}
