// What the builders share: the dependencies they are made with, the checks
// every kind applies the same way, and the input digests of the AssetKey.

import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { ReleaseService } from '../../release/release.js';
import { getPlatform } from '../../talos/platforms.js';
import { Quirks } from '../../talos/quirks.js';
import { versionTag } from '../../talos/version.js';
import type { BootFiles } from '../boot-files.js';
import { AssetNotImplementedError, type AssetTarget, InvalidAssetRequestError } from '../target.js';

export interface BuilderDeps {
  releases: ReleaseService;
  bootFiles: BootFiles;
}

export interface TargetRules {
  /** The asset carries the schematic (its extensions, embedded configuration). */
  carriesSchematic: boolean;
  /** Its bytes do not depend on an overlay (the kernel, the initramfs), so a schematic with one still builds it. */
  overlayFree: boolean;
}

/** The checks every kind makes, upstream's refusals first. */
export function checkTarget(target: AssetTarget, rules: TargetRules): void {
  const { request, version, schematic } = target;
  const quirks = new Quirks(version);
  getPlatform(request.platform); // an unknown platform is the URL's mistake (400), not a failed build
  if (request.secureBoot) throw new InvalidAssetRequestError('secure boot is disabled');
  if (rules.carriesSchematic && schematic.schematic.customization.embeddedMachineConfiguration !== '' && !quirks.supportsEmbeddedConfig()) {
    throw new InvalidAssetRequestError(`embedding configuration is not supported for Talos version ${versionTag(version)}`);
  }
  const overlay = schematic.schematic.overlay.name;
  if (overlay !== '' && !quirks.supportsOverlay()) throw new InvalidAssetRequestError(`overlay is not supported for Talos version ${versionTag(version)}`);
  // An overlay (SBC) changes the command line, the disk and the installer; building without it would
  // hand out an image that does not boot the board.
  if (overlay !== '' && !rules.overlayFree) {
    throw new AssetNotImplementedError(`overlays (${overlay}) are not implemented yet: ${request.fileName} cannot be built for this schematic`);
  }
}

/** The digests of the imager and, when the asset carries them, of the schematic's extensions, in schematic order. */
export async function imagerAndExtensionDigests(releases: ReleaseService, target: AssetTarget, withExtensions: boolean): Promise<string[]> {
  const digests = [await releases.imagerDigest(target.version)];
  if (!withExtensions) return digests;
  const names = target.schematic.schematic.customization.systemExtensions.officialExtensions ?? [];
  for (const ext of await releases.resolveOfficialExtensions(target.version, names)) digests.push(ext.digest);
  return digests;
}

/** Writes `data` to a stream and ends it. */
export async function writeAll(out: Writable, data: Buffer | string): Promise<void> {
  const finished = once(out, 'finish');
  out.end(data);
  await finished;
}
