// What one asset URL asks for, fully resolved from its parts: the schematic
// (parsed), the Talos version and the parsed file name.

import type { ParsedSchematic } from '../schematic/schematic.js';
import type { AssetRequest } from '../talos/asset-path.js';
import type { TalosVersion } from '../talos/version.js';

/**
 * How an installer is packaged: as the registry frontend serves it, an OCI
 * archive (a tarred OCI layout) holding one index over every architecture the
 * release has; the request's own arch is then ignored.
 */
export type AssetFormat = 'oci-archive';

export interface AssetTarget {
  schematic: ParsedSchematic;
  version: TalosVersion;
  request: AssetRequest;
  format?: AssetFormat;
}

/** The asset cannot be built as asked (a schematic/version/kind mismatch): HTTP 400 with the message. */
export class InvalidAssetRequestError extends Error {
  override name = 'InvalidAssetRequestError';
}

/** The asset kind is recognised but this factory does not build it yet: HTTP 501. */
export class AssetNotImplementedError extends Error {
  override name = 'AssetNotImplementedError';
}
