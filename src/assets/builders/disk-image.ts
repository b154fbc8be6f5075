// `<platform>-<arch>.<format>[.<compression>]`: the Talos disk image in the
// platform's format (raw, qcow2, vhd, ova), compressed as the name asks. A raw
// or fixed-VHD image goes into the sink sparse, everything else as a stream.
// The disk's layout is known from the version and boot loader, so its first
// bytes (MBR, GPT) go out while the initramfs, the UKI and the partitions are
// still being made.

import { planTalosDisk } from '../../build/disk/build.js';
import { writeDiskImage } from '../../build/disk/output.js';
import { type StreamableDisk, regionsSettled } from '../../formats/disk/sparse.js';
import { BOOTLOADERS } from '../../schematic/model.js';
import { selectBootloader } from '../../talos/bootloader.js';
import { DEFAULT_RAW_DISK_SIZE } from '../../talos/platforms.js';
import { FACTORY_SOURCE_DATE_EPOCH } from '../../talos/source-date.js';
import { versionTag } from '../../talos/version.js';
import { subdir } from '../boot-files.js';
import type { AssetBuilder } from '../builder.js';
import { InvalidAssetRequestError } from '../target.js';
import { type BuilderDeps, checkTarget, imagerAndExtensionDigests } from './common.js';

export function diskImageBuilder({ releases, bootFiles }: BuilderDeps): AssetBuilder {
  return {
    // 11: a compressed image (but .tar.gz) is two frames, its first MiB compressed on its own so it goes out at once;
    // and it carries an initramfs whose zstd cpio is compressed with its size given to the zstd CLI (--stream-size).
    // 12: that initramfs's squashfs layers store a larger file's tail as a short block, not in a fragment.
    recipe: 12,
    check(target) {
      const { request, schematic } = target;
      const customization = schematic.schematic.customization;
      if (request.arch === 'arm64' && BOOTLOADERS[customization.bootloader] === 'dual-boot') {
        throw new InvalidAssetRequestError('dual-boot is not supported on arm64 (there is no BIOS to boot GRUB): use grub or sd-boot');
      }
      if (![0n, 512n, 4096n].includes(customization.diskImage.sectorSize)) {
        throw new InvalidAssetRequestError(`unsupported disk image sector size ${customization.diskImage.sectorSize}: use 512 or 4096`);
      }
      checkTarget(target, { carriesSchematic: true, overlayFree: false });
    },
    inputs: (target) => imagerAndExtensionDigests(releases, target, true),
    async build(target, sink, { dir, progress, signal }) {
      const { version, request, schematic } = target;
      const customization = schematic.schematic.customization;
      const inputs = await releases.imagerInputs(version, request.arch);
      const bootloader = selectBootloader({ version, arch: request.arch, secureBoot: request.secureBoot, kind: 'image', schematicChoice: customization.bootloader });
      // The disk starts streaming while its boot files and partitions are made; whatever fails first stops the rest.
      const stop = new AbortController();
      const steps = { progress, signal: AbortSignal.any([signal, stop.signal]) };
      const payload = bootFiles.bootPayload(target, bootloader, dir, steps);
      const initramfs = payload.then((p) => p.initramfs);
      const uki = payload.then((p) => p.uki);
      // Awaited by the partitions holding them (maybe none): a failure is reported by the disk stream that reaches it.
      for (const later of [initramfs, uki]) later.catch(() => undefined);
      payload.then(() => progress(80, 'writing the disk image'), () => undefined);
      let disk: StreamableDisk | undefined;
      try {
        disk = await planTalosDisk({
          version,
          versionTag: versionTag(version),
          arch: request.arch,
          bootloader,
          baseSize: request.diskSize ?? DEFAULT_RAW_DISK_SIZE,
          sectorSize: Number(customization.diskImage.sectorSize) || 512,
          kernel: inputs.kernel,
          initramfs,
          cmdline: bootFiles.cmdline(target),
          ...(bootloader !== 'grub' && { uki, systemdBoot: inputs.systemdBoot }),
          grubDir: inputs.grubDir,
          meta: (customization.meta ?? []).map((m) => ({ key: Number(m.key), value: m.value })),
          sourceDateEpoch: FACTORY_SOURCE_DATE_EPOCH,
          workDir: await subdir(dir, 'disk'),
          signal: steps.signal,
        });
        await writeDiskImage(
          disk,
          {
            format: request.diskFormat ?? 'raw',
            formatOptions: request.diskFormatOptions ?? '',
            compression: request.compression ?? 'none',
            sourceDateEpoch: FACTORY_SOURCE_DATE_EPOCH,
            workDir: dir,
            signal,
          },
          sink,
        );
      } catch (error) {
        stop.abort(error);
        throw error;
      } finally {
        // Nothing may still write into the scratch space once the build returns.
        await Promise.allSettled([payload, disk && regionsSettled(disk)]);
      }
    },
  };
}
