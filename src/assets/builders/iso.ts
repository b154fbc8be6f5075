// `<platform>-<arch>.iso`: a hybrid ISO with the boot loader the version and
// the schematic choose (GRUB, systemd-boot with the UKI, or both).

import { buildTalosIso } from '../../build/iso/build.js';
import { selectBootloader } from '../../talos/bootloader.js';
import { Quirks } from '../../talos/quirks.js';
import { FACTORY_SOURCE_DATE_EPOCH } from '../../talos/source-date.js';
import { versionTag } from '../../talos/version.js';
import { subdir } from '../boot-files.js';
import type { AssetBuilder } from '../builder.js';
import { type BuilderDeps, checkTarget, imagerAndExtensionDigests } from './common.js';

export function isoBuilder({ releases, bootFiles }: BuilderDeps): AssetBuilder {
  return {
    // Carries an initramfs (its recipe 4: squashfs tails as short blocks; 3: the zstd CLI given the cpio's size).
    recipe: 5,
    check: (target) => checkTarget(target, { carriesSchematic: true, overlayFree: false }),
    inputs: (target) => imagerAndExtensionDigests(releases, target, true),
    async build(target, sink, { dir, progress, signal }) {
      const { version, request, schematic } = target;
      const inputs = await releases.imagerInputs(version, request.arch);
      const bootloader = selectBootloader({ version, arch: request.arch, secureBoot: request.secureBoot, kind: 'iso', schematicChoice: schematic.schematic.customization.bootloader });
      const { uki, initramfs } = await bootFiles.bootPayload(target, bootloader, dir, { progress, signal });
      progress(80, 'writing the ISO');
      await buildTalosIso(
        {
          version: versionTag(version),
          arch: request.arch,
          bootloader,
          grubResetEntry: new Quirks(version).grubResetEntry(),
          kernel: inputs.kernel,
          initramfs,
          cmdline: bootFiles.cmdline(target),
          ...(uki && { uki, systemdBoot: inputs.systemdBoot }),
          grubDir: inputs.grubDir,
          sourceDateEpoch: FACTORY_SOURCE_DATE_EPOCH,
          workDir: await subdir(dir, 'iso'),
          signal,
        },
        sink.stream(),
      );
    },
  };
}
