// Which installer holds a blob or manifest digest, for registry clients that
// ask by digest after resolving a tag (`talosctl upgrade` pulls by digest).
// An entry names the cached asset (its AssetKey) and the request that built
// it, so an instance that has never built it can build it once: builds are
// reproducible, the digests come out the same. Kept as one small file per
// digest on this machine and, with a schematic registry, as one small
// artifact per digest there, so every instance of a fleet can answer.

import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../durable-file.js';
import { pullArtifact, pushArtifact } from '../oci/artifact.js';
import { digestHex } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';
import type { WritableImageRepository } from '../oci/repository.js';

export interface InstallerRef {
  /** The AssetKey of the installer archive in the asset cache. */
  key: string;
  /** `installer`, `metal-installer`, ... as in the `/v2` path. */
  image: string;
  schematic: string;
  /** The Talos version tag it was built for (`v1.12.0`, never `latest`). */
  version: string;
  /**
   * Set for the blobs of an installer's signature image: what was signed, so
   * that any instance can make the same blobs (they do not depend on the
   * randomised signature) when a client fetches them from another instance.
   */
  signature?: { reference: string; digest: string };
}

export interface DigestIndex {
  record(digests: readonly string[], ref: InstallerRef): Promise<void>;
  lookup(digest: string): Promise<InstallerRef | undefined>;
}

function parseRef(text: string): InstallerRef | undefined {
  try {
    const ref = JSON.parse(text) as Partial<InstallerRef>;
    const fields = [ref.key, ref.image, ref.schematic, ref.version];
    const signature = ref.signature === undefined || (typeof ref.signature.reference === 'string' && typeof ref.signature.digest === 'string');
    return fields.every((f) => typeof f === 'string' && f !== '') && signature ? (ref as InstallerRef) : undefined;
  } catch {
    return undefined; // written by an older version (a bare key) or damaged: unknown, found again by the next pull by tag
  }
}

const encodeRef = (ref: InstallerRef): string =>
  JSON.stringify({
    key: ref.key,
    image: ref.image,
    schematic: ref.schematic,
    version: ref.version,
    ...(ref.signature && { signature: { reference: ref.signature.reference, digest: ref.signature.digest } }),
  });

/** This machine's index, shared by its processes: `<dir>/<digest hex>`. */
export class FsDigestIndex implements DigestIndex {
  constructor(private readonly dir: string) {}

  async record(digests: readonly string[], ref: InstallerRef): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const text = encodeRef(ref);
    for (const digest of digests) {
      const path = join(this.dir, digestHex(digest));
      const current = await readFile(path, 'utf8').catch(() => undefined);
      if (current !== text) await writeFileAtomic(path, text);
    }
  }

  async lookup(digest: string): Promise<InstallerRef | undefined> {
    const text = await readFile(join(this.dir, digestHex(digest)), 'utf8').catch(() => undefined);
    return text === undefined ? undefined : parseRef(text);
  }
}

export const DIGEST_ENTRY_ARTIFACT_TYPE = 'application/vnd.image-factory.registry-digest.v1';
const DIGEST_ENTRY_MEDIA_TYPE = 'application/vnd.image-factory.registry-digest.v1+json';

/** The fleet's index in a registry: one artifact per digest, tagged `digest-<hex>`. */
export class RegistryDigestIndex implements DigestIndex {
  constructor(private readonly repo: WritableImageRepository) {}

  async record(digests: readonly string[], ref: InstallerRef): Promise<void> {
    const layer = { mediaType: DIGEST_ENTRY_MEDIA_TYPE, bytes: Buffer.from(encodeRef(ref)) };
    await Promise.all(digests.map((digest) => pushArtifact(this.repo, `digest-${digestHex(digest)}`, { artifactType: DIGEST_ENTRY_ARTIFACT_TYPE, layers: [layer] })));
  }

  async lookup(digest: string): Promise<InstallerRef | undefined> {
    const artifact = await pullArtifact(this.repo, `digest-${digestHex(digest)}`, 64 * 1024);
    const layer = artifact?.layers[0];
    return layer === undefined ? undefined : parseRef(layer.toString('utf8'));
  }
}

/**
 * This machine's index in front of the fleet's: lookups ask the disk first,
 * records go to both (the registry only for what the disk did not already
 * have). A registry that fails a record is logged, never fails the pull that
 * recorded: pulls by tag keep working, only other instances learn later.
 */
export class SharedDigestIndex implements DigestIndex {
  constructor(
    private readonly local: DigestIndex,
    private readonly shared: DigestIndex,
    private readonly log?: Logger,
  ) {}

  async record(digests: readonly string[], ref: InstallerRef): Promise<void> {
    const wanted = encodeRef(ref);
    const known = await Promise.all(
      digests.map(async (d) => {
        const current = await this.local.lookup(d);
        return current !== undefined && encodeRef(current) === wanted;
      }),
    );
    const fresh = digests.filter((_, i) => !known[i]);
    if (fresh.length === 0) return;
    try {
      await this.shared.record(fresh, ref);
    } catch (error) {
      this.log?.warn({ err: error, key: ref.key }, 'registry digest index not updated: other instances cannot answer pulls of this installer by digest yet');
      return; // not recorded locally either, so the next pull by tag tries the registry again
    }
    await this.local.record(fresh, ref);
  }

  /** A registry that cannot answer makes the digest unknown here (a pull by tag still works), not the request fail. */
  async lookup(digest: string): Promise<InstallerRef | undefined> {
    const known = await this.local.lookup(digest);
    if (known) return known;
    try {
      return await this.shared.lookup(digest);
    } catch (error) {
      if (!(error instanceof OciError)) throw error;
      this.log?.warn({ err: error, digest }, 'registry digest index unavailable');
      return undefined;
    }
  }
}
