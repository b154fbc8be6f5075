// `initramfs-<arch>.xz`: the release's initramfs with the schematic's
// extensions appended, streamed straight into the sink.

import type { AssetBuilder } from '../builder.js';
import { type BuilderDeps, checkTarget, imagerAndExtensionDigests } from './common.js';

export function initramfsBuilder({ releases, bootFiles }: BuilderDeps): AssetBuilder {
  return {
    // 3: the zstd CLI is told the extensions' cpio size (--stream-size): other bytes (content size in the frame, smaller tables).
    // 4: the squashfs layers store a larger file's tail as a short block, not in a fragment (mksquashfs' default).
    recipe: 4,
    check: (target) => checkTarget(target, { carriesSchematic: true, overlayFree: true }),
    inputs: (target) => imagerAndExtensionDigests(releases, target, true),
    build: (target, sink, { dir, progress, signal }) => bootFiles.writeInitramfs(target, dir, sink.stream(), { progress, signal }),
  };
}
