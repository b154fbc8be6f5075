// An asset cache in an OCI registry, shared by every factory instance that
// points at it: each asset is an OCI artifact (empty config, one layer = the
// asset) tagged with its AssetKey, its content type and digests in annotations.

import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { downloadBlob } from '../oci/blob-file.js';
import { isNotFound } from '../oci/errors.js';
import { encodeManifest, type ImageManifest } from '../oci/manifest.js';
import { MEDIA_TYPE } from '../oci/media-types.js';
import { ownedTempDir } from '../durable-file.js';
import type { WritableImageRepository } from '../oci/repository.js';
import type { AssetMetadata } from './cache.js';

export const ASSET_ARTIFACT_TYPE = 'application/vnd.talos-image-factory.asset.v1';
const EMPTY_CONFIG = Buffer.from('{}');
const EMPTY_CONFIG_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
const ANNOTATION = {
  key: 'org.talos-image-factory.asset.key',
  contentType: 'org.talos-image-factory.asset.content-type',
  sha512: 'org.talos-image-factory.asset.sha512',
  created: 'org.opencontainers.image.created',
};

/** The shared tier: look up an asset's metadata, fetch it to a local file, publish one. */
export class OciAssetStore {
  readonly description: string;

  constructor(
    private readonly repo: WritableImageRepository,
    private readonly logger: Logger,
  ) {
    this.description = `registry ${repo.location}`;
  }

  async lookup(key: string): Promise<AssetMetadata | undefined> {
    let manifest: ImageManifest;
    try {
      const fetched = await this.repo.fetchManifest(key);
      if (fetched.parsed.kind !== 'image') return undefined;
      manifest = fetched.parsed.manifest;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
    const layer = manifest.layers[0];
    const notes = layer?.annotations ?? {};
    if (!layer || manifest.artifactType !== ASSET_ARTIFACT_TYPE || notes[ANNOTATION.key] !== key) {
      this.logger.warn({ key, location: this.repo.location }, 'ignoring a foreign manifest under an asset tag');
      return undefined;
    }
    return {
      key,
      size: layer.size,
      sha256: layer.digest.slice('sha256:'.length),
      sha512: notes[ANNOTATION.sha512] ?? '',
      contentType: notes[ANNOTATION.contentType] ?? 'application/octet-stream',
      createdAt: Date.parse(notes[ANNOTATION.created] ?? '') || 0,
    };
  }

  /** Downloads the asset into `destination` (digest-verified, atomic). */
  async fetch(metadata: AssetMetadata, destination: string): Promise<void> {
    await downloadBlob(this.repo, { digest: `sha256:${metadata.sha256}`, size: metadata.size }, destination);
  }

  /** Publishes an asset whose digests are known (computed when it entered the local cache). */
  async publish(metadata: AssetMetadata, open: () => Readable): Promise<void> {
    const { key, sha256, sha512, size, contentType } = metadata;
    const layer = { digest: `sha256:${sha256}`, size };
    await this.repo.putBlob(layer, open);
    await this.repo.putBlob({ digest: EMPTY_CONFIG_DIGEST, size: EMPTY_CONFIG.length }, () => Readable.from([EMPTY_CONFIG]));
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociManifest,
      artifactType: ASSET_ARTIFACT_TYPE,
      config: { mediaType: MEDIA_TYPE.ociEmpty, digest: EMPTY_CONFIG_DIGEST, size: EMPTY_CONFIG.length },
      layers: [
        {
          mediaType: 'application/octet-stream',
          ...layer,
          annotations: {
            [ANNOTATION.key]: key,
            [ANNOTATION.contentType]: contentType,
            [ANNOTATION.sha512]: sha512,
            [ANNOTATION.created]: new Date(metadata.createdAt).toISOString(),
          },
        },
      ],
    };
    await this.repo.putManifest(encodeManifest(manifest), MEDIA_TYPE.ociManifest, key);
    this.logger.info({ key, size, location: this.repo.location }, 'asset published to the shared cache');
  }

  /** A scratch file next to where downloads land, for `fetch`. */
  static async scratch(dir: string): Promise<{ file: string; cleanup: () => Promise<void> }> {
    const tmp = await ownedTempDir(dir, 'pull');
    return { file: join(tmp, 'asset'), cleanup: () => rm(tmp, { recursive: true, force: true }) };
  }
}
