// `initramfs-<arch>.xz`: the release's initramfs with the schematic's
// extensions appended, streamed straight into the sink.

import type { AssetBuilder } from '../builder.js';
import { type BuilderDeps, checkTarget, imagerAndExtensionDigests } from './common.js';

export function initramfsBuilder({ releases, bootFiles }: BuilderDeps): AssetBuilder {
  return {
    // The extensions' zstd cpio is compressed in-process (node:zlib, its size pledged) instead of by the zstd CLI: other bytes.
    recipe: 3,
    check: (target) => checkTarget(target, { carriesSchematic: true, overlayFree: true }),
    inputs: (target) => imagerAndExtensionDigests(releases, target, true),
    build: (target, sink, { dir, progress, signal }) => bootFiles.writeInitramfs(target, dir, sink.stream(), { progress, signal }),
  };
}
