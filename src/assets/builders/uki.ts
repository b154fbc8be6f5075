// `metal-<arch>-uki.efi` (and other platforms): systemd-stub with the kernel,
// the schematic's initramfs and command line, from Talos 1.5 on.

import { Quirks } from '../../talos/quirks.js';
import { versionTag } from '../../talos/version.js';
import type { AssetBuilder } from '../builder.js';
import { InvalidAssetRequestError } from '../target.js';
import { type BuilderDeps, checkTarget, imagerAndExtensionDigests } from './common.js';

export function ukiBuilder({ releases, bootFiles }: BuilderDeps): AssetBuilder {
  return {
    // Carries an initramfs (its recipe 4: squashfs tails as short blocks; 3: the zstd CLI given the cpio's size).
    recipe: 5,
    check(target) {
      if (!new Quirks(target.version).supportsUki()) throw new InvalidAssetRequestError(`UKI is not supported for Talos version ${versionTag(target.version)}`);
      checkTarget(target, { carriesSchematic: true, overlayFree: false });
    },
    inputs: (target) => imagerAndExtensionDigests(releases, target, true),
    async build(target, sink, { dir, progress, signal }) {
      await bootFiles.writeUki(target, dir, sink.stream(), { progress, signal });
    },
  };
}
