// `cmdline-<platform>-<arch>`: the kernel command line the schematic's boot
// assets carry, as text (also what the PXE script passes).

import type { AssetBuilder } from '../builder.js';
import { type BuilderDeps, checkTarget, imagerAndExtensionDigests, writeAll } from './common.js';

export function cmdlineBuilder({ releases, bootFiles }: BuilderDeps): AssetBuilder {
  return {
    recipe: 1,
    check(target) {
      checkTarget(target, { carriesSchematic: false, overlayFree: false });
      bootFiles.cmdline(target); // refuses a customization this version cannot carry, now
    },
    inputs: (target) => imagerAndExtensionDigests(releases, target, false),
    async build(target, sink) {
      await releases.requireVersion(target.version);
      await writeAll(sink.stream(), bootFiles.cmdline(target));
    },
  };
}
