// The AssetKey: one digest of everything that decides an asset's bytes. Same
// key, same bytes; anything that could change them changes the key.

import { createHash } from 'node:crypto';
import type { AssetRequest } from '../talos/asset-path.js';

export interface AssetKeyParts {
  request: AssetRequest;
  /** The builder's recipe version (bumped whenever its output changes). */
  recipe: number;
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
    recipe: parts.recipe,
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
