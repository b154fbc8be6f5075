// Copying images between any two stores (registry → layout to cache release
// inputs, layout → registry to publish, registry → registry to mirror), and
// resolving a reference to one platform's image.
//
// Which root a copy writes when platforms are asked for:
// - a single image manifest is copied as it is, provided its config is for
//   one of the platforms (else OciError not-found);
// - from an index, each platform picks its manifest (missing → not-found,
//   listing what the index has), and buildx attestation manifests that refer
//   to a picked manifest come along. Then:
//   - exactly one manifest picked → that manifest becomes the root, as
//     `docker pull --platform` would store it (same digest as upstream's
//     platform manifest);
//   - everything in the index picked → the original index bytes (same digest);
//   - otherwise → a new index: the original document with only the picked
//     entries (new digest).
// Without platforms an index is copied whole, bytes unchanged.
//
// Blobs are streamed from source to destination, never buffered (only a
// config read for the platform check is kept, so it is not fetched twice),
// and skipped when the destination has them. Children are written before their parent,
// so a tag never names something incomplete.

import { Readable } from 'node:stream';
import { readSmallBlob } from './artifact.js';
import { OciError } from './errors.js';
import { isDigest } from './digest.js';
import { type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest, type ParsedManifest, type Platform, platformString, selectPlatform } from './manifest.js';
import type { FetchedManifest, ImageRepository, WritableImageRepository } from './repository.js';

export interface CopyOptions {
  /** Tag to give the root in the destination (untagged, by digest only, when absent). */
  tag?: string;
  /** Platforms to copy; undefined copies everything. */
  platforms?: Platform[];
}

export interface ResolvedImage {
  descriptor: Descriptor;
  manifest: ImageManifest;
  config: ImageConfig;
}

/** How many blobs one copy moves at a time. */
const BLOB_CONCURRENCY = 4;
/** Configs are small JSON documents; refuse to read a huge one into memory. */
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;
/** Indexes nested deeper than this are treated as malformed (a loop cannot occur with digests, but depth can). */
const MAX_NESTING = 4;

const ATTESTATION_TYPE_ANNOTATION = 'vnd.docker.reference.type';
const ATTESTATION_DIGEST_ANNOTATION = 'vnd.docker.reference.digest';

export async function copyImage(
  source: ImageRepository,
  reference: string,
  destination: WritableImageRepository,
  options: CopyOptions = {},
): Promise<Descriptor> {
  const image = imageName(source, reference);
  const fetched = await source.fetchManifest(reference);
  const root: CopyRoot =
    options.platforms === undefined ? { bytes: fetched.bytes, mediaType: fetched.descriptor.mediaType, parsed: fetched.parsed } : await platformRoot(source, fetched, options.platforms, image);
  await new Copier(source, destination, root.read).copyReferenced(root.parsed, image, root.children);
  return destination.putManifest(root.bytes, root.mediaType, options.tag);
}

/** What a copy writes as its root: these bytes, and what they refer to (`children` narrows an index). */
interface CopyRoot {
  bytes: Buffer;
  mediaType: string;
  parsed: ParsedManifest;
  children?: Descriptor[];
  /** Small blobs already read while choosing the root (a config), so they are not fetched twice. */
  read?: Map<string, Buffer>;
}

/** The root to copy for some platforms only (the rule in the header comment). */
async function platformRoot(source: ImageRepository, fetched: FetchedManifest, platforms: Platform[], image: string): Promise<CopyRoot> {
  if (platforms.length === 0) throw new OciError('invalid', 'copy', image, 'an empty platform list selects nothing');
  const whole: CopyRoot = { bytes: fetched.bytes, mediaType: fetched.descriptor.mediaType, parsed: fetched.parsed };
  if (fetched.parsed.kind === 'image') {
    const { config, bytes } = await readConfig(source, fetched.parsed.manifest, image);
    if (!platforms.some((p) => configMatches(config, p))) {
      throw new OciError('not-found', 'copy', image, `the image is for ${configPlatform(config)}, not ${platforms.map(platformString).join(' or ')}`);
    }
    return { ...whole, read: new Map([[fetched.parsed.manifest.config.digest, bytes]]) };
  }
  const index = fetched.parsed.index;
  const picked = new Set(platforms.map((p) => pickPlatform(index, p, image).digest));
  if (picked.size === 1) {
    const child = await source.fetchManifest([...picked][0]!);
    return { bytes: child.bytes, mediaType: child.descriptor.mediaType, parsed: child.parsed };
  }
  const keep = (d: Descriptor): boolean => picked.has(d.digest) || attestationFor(d, picked);
  if (index.manifests.every(keep)) return whole;
  return { ...whole, bytes: filterIndex(fetched.bytes, keep), children: index.manifests.filter(keep) };
}

/**
 * A reference resolved to one platform's image: an index is followed to the
 * platform's manifest; a single manifest must be for that platform.
 */
export async function resolveImage(repo: ImageRepository, reference: string, platform: Platform): Promise<ResolvedImage> {
  const image = imageName(repo, reference);
  let fetched: FetchedManifest = await repo.fetchManifest(reference);
  for (let depth = 0; fetched.parsed.kind === 'index'; depth++) {
    if (depth >= MAX_NESTING) throw new OciError('invalid', 'resolve platform', image, `image indexes nested more than ${MAX_NESTING} deep`);
    fetched = await repo.fetchManifest(pickPlatform(fetched.parsed.index, platform, image).digest);
  }
  const manifest = fetched.parsed.manifest;
  const { config } = await readConfig(repo, manifest, image);
  if (!configMatches(config, platform)) {
    throw new OciError('not-found', 'resolve platform', image, `the image is for ${configPlatform(config)}, not ${platformString(platform)}`);
  }
  return { descriptor: fetched.descriptor, manifest, config };
}

class Copier {
  private readonly blobs = new Map<string, Promise<void>>();
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly source: ImageRepository,
    private readonly destination: WritableImageRepository,
    private readonly read = new Map<string, Buffer>(),
  ) {}

  /** Everything a manifest refers to, not the manifest itself; `children` narrows an index's entries. */
  async copyReferenced(parsed: ParsedManifest, image: string, children?: Descriptor[], depth = 0): Promise<void> {
    if (parsed.kind === 'image') {
      const { config, layers } = parsed.manifest;
      await Promise.all([config, ...layers].map((d) => this.copyBlob(d)));
      return;
    }
    if (depth >= MAX_NESTING) throw new OciError('invalid', 'copy', image, `image indexes nested more than ${MAX_NESTING} deep`);
    for (const child of children ?? parsed.index.manifests) {
      const fetched = await this.source.fetchManifest(child.digest);
      await this.copyReferenced(fetched.parsed, image, undefined, depth + 1);
      await this.destination.putManifest(fetched.bytes, fetched.descriptor.mediaType);
    }
  }

  private copyBlob(descriptor: Descriptor): Promise<void> {
    let copy = this.blobs.get(descriptor.digest);
    if (copy === undefined) {
      copy = this.limited(async () => {
        if (await this.destination.hasBlob(descriptor.digest)) return;
        const bytes = this.read.get(descriptor.digest);
        await this.destination.putBlob(descriptor, () => (bytes !== undefined ? Readable.from([bytes]) : this.source.openBlob(descriptor)));
      });
      this.blobs.set(descriptor.digest, copy);
    }
    return copy;
  }

  private async limited<T>(task: () => Promise<T>): Promise<T> {
    while (this.active >= BLOB_CONCURRENCY) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

function imageName(repo: ImageRepository, reference: string): string {
  return `${repo.location}${isDigest(reference) ? '@' : ':'}${reference}`;
}

function pickPlatform(index: ImageIndex, platform: Platform, image: string): Descriptor {
  const picked = selectPlatform(index, platform);
  if (picked !== undefined) return picked;
  const available = [
    ...new Set(index.manifests.filter((d) => d.platform !== undefined && d.platform.os !== 'unknown').map((d) => platformString(d.platform!))),
  ];
  throw new OciError(
    'not-found',
    'resolve platform',
    image,
    `no ${platformString(platform)} image in the index (it has ${available.length > 0 ? available.join(', ') : 'no platform images'})`,
  );
}

function attestationFor(descriptor: Descriptor, digests: ReadonlySet<string>): boolean {
  const annotations = descriptor.annotations ?? {};
  const subject = annotations[ATTESTATION_DIGEST_ANNOTATION];
  return annotations[ATTESTATION_TYPE_ANNOTATION] === 'attestation-manifest' && subject !== undefined && digests.has(subject);
}

/** The index document with only the entries `keep` accepts; every other field is kept as it was. */
function filterIndex(bytes: Buffer, keep: (descriptor: Descriptor) => boolean): Buffer {
  const raw = JSON.parse(bytes.toString('utf8')) as { manifests: Descriptor[] };
  raw.manifests = raw.manifests.filter(keep);
  return Buffer.from(JSON.stringify(raw), 'utf8');
}

async function readConfig(repo: ImageRepository, manifest: ImageManifest, image: string): Promise<{ config: ImageConfig; bytes: Buffer }> {
  const bytes = await readSmallBlob(repo, manifest.config, MAX_CONFIG_BYTES, image);
  let config: unknown;
  try {
    config = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new OciError('invalid', 'read config', image, 'the image config is not JSON', undefined, { cause: error });
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new OciError('invalid', 'read config', image, 'the image config is not a JSON object');
  }
  return { config: config as ImageConfig, bytes };
}

/** Whether a config is for a platform; a config that names no platform (an artifact's) matches any. */
function configMatches(config: Partial<ImageConfig>, platform: Platform): boolean {
  if (typeof config.os !== 'string' || typeof config.architecture !== 'string') return true;
  return (
    config.os === platform.os &&
    config.architecture === platform.architecture &&
    (platform.variant === undefined || config.variant === undefined || config.variant === platform.variant)
  );
}

function configPlatform(config: Partial<ImageConfig>): string {
  return platformString({ os: config.os ?? '?', architecture: config.architecture ?? '?', ...(config.variant ? { variant: config.variant } : {}) });
}
