// The AssetKey: one digest of everything that decides an asset's bytes. Same
// key, same bytes; anything that could change them changes the key.

import { createHash } from 'node:crypto';
import type { AssetRequest } from '../talos/asset-path.js';
import type { OutputKind } from '../talos/kernel-args.js';

/**
 * Bumped whenever a builder's output for a kind changes, so caches built by an
 * older factory are not served as if they were current.
 */
export const RECIPE_VERSIONS: Record<OutputKind, number> = {
  kernel: 1,
  cmdline: 1,
  // zstd squashfs blocks through node:zlib with the block size pledged: other bytes in every
  // initramfs, so in everything that carries one.
  initramfs: 2,
  uki: 3,
  iso: 3,
  image: 9,
  installer: 3,
};

export interface AssetKeyParts {
  request: AssetRequest;
  /** The schematic's canonical YAML. */
  canonical: string;
  versionTag: string;
  /** Digests of every input image the build reads (imager, extensions, installer base, ...). */
  inputDigests: readonly string[];
  format?: string;
}

export function assetKey(parts: AssetKeyParts): string {
  const { request } = parts;
  // The file name is not part of it: `?filename=` and aliases like x86_64 share one asset.
  const what = {
    recipe: RECIPE_VERSIONS[request.kind],
    kind: request.kind,
    platform: request.platform,
    arch: request.arch,
    secureBoot: request.secureBoot,
    diskFormat: request.diskFormat ?? null,
    diskFormatOptions: request.diskFormatOptions ?? null,
    compression: request.compression ?? null,
    diskSize: request.diskSize ?? null,
    version: parts.versionTag,
    schematic: parts.canonical,
    inputs: [...parts.inputDigests],
    format: parts.format ?? null,
  };
  return createHash('sha256').update(JSON.stringify(what)).digest('hex');
}
