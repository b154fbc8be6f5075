// `kernel-<arch>`: the release's kernel as it is (upstream serves the imager's
// vmlinuz untouched; the schematic does not change it).

import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { AssetBuilder } from '../builder.js';
import { type BuilderDeps, checkTarget, imagerAndExtensionDigests } from './common.js';

export function kernelBuilder({ releases }: BuilderDeps): AssetBuilder {
  return {
    recipe: 1,
    check: (target) => checkTarget(target, { carriesSchematic: false, overlayFree: true }),
    inputs: (target) => imagerAndExtensionDigests(releases, target, false),
    async build(target, sink, { signal }) {
      const inputs = await releases.imagerInputs(target.version, target.request.arch);
      await pipeline(createReadStream(inputs.kernel), sink.stream(), { signal });
    },
  };
}
