// The one table from output kind to builder. Nothing else decides per kind:
// a new kind or variant is a new builder here.

import type { OutputKind } from '../../talos/kernel-args.js';
import type { AssetBuilder } from '../builder.js';
import { cmdlineBuilder } from './cmdline.js';
import type { BuilderDeps } from './common.js';
import { diskImageBuilder } from './disk-image.js';
import { initramfsBuilder } from './initramfs.js';
import { installerBuilder } from './installer.js';
import { isoBuilder } from './iso.js';
import { kernelBuilder } from './kernel.js';
import { ukiBuilder } from './uki.js';

export type AssetBuilders = Readonly<Record<OutputKind, AssetBuilder>>;

export function assetBuilders(deps: BuilderDeps): AssetBuilders {
  return {
    kernel: kernelBuilder(deps),
    cmdline: cmdlineBuilder(deps),
    initramfs: initramfsBuilder(deps),
    uki: ukiBuilder(deps),
    iso: isoBuilder(deps),
    image: diskImageBuilder(deps),
    installer: installerBuilder(deps),
  };
}
