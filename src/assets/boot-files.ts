// The boot files every bigger asset is made of, for one target: its kernel
// command line, the initramfs with the schematic's extensions (plus the
// schematic and embedded-config virtual extensions), the UKI around them, and
// which of them a boot loader boots. Shared by the builders of every kind.

import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { writeEmbeddedConfigExtension } from '../build/extensions/embedded-config.js';
import { loadExtension, type LoadedExtension } from '../build/extensions/load.js';
import { writeSchematicExtension } from '../build/extensions/schematic-extension.js';
import { buildInitramfs } from '../build/initramfs/build.js';
import { buildTalosUki } from '../build/uki/build.js';
import type { ReleaseService } from '../release/release.js';
import type { BootloaderKind } from '../talos/bootloader.js';
import { buildKernelCmdline, cmdlineCustomization, UnsupportedCustomizationError } from '../talos/kernel-args.js';
import { FACTORY_SOURCE_DATE_EPOCH } from '../talos/source-date.js';
import { versionTag } from '../talos/version.js';
import type { BuildSteps } from './builder.js';
import { type AssetTarget, InvalidAssetRequestError } from './target.js';

/** A new directory `name` under `dir`. */
export async function subdir(dir: string, name: string): Promise<string> {
  const path = join(dir, name);
  await mkdir(path, { recursive: true });
  return path;
}

export class BootFiles {
  constructor(
    private readonly releases: ReleaseService,
    /** The factory's external URL (named in the schematic extension). */
    private readonly externalUrl: string,
  ) {}

  /** The kernel command line of an asset (also what the PXE script carries). */
  cmdline(target: AssetTarget): string {
    const { request, version, schematic } = target;
    const parts = cmdlineCustomization(schematic.schematic, request.kind, version, request.secureBoot);
    try {
      return buildKernelCmdline({
        version,
        platform: request.platform,
        arch: request.arch,
        kind: request.kind,
        secureBoot: request.secureBoot,
        extraKernelArgs: parts.extraKernelArgs,
        meta: parts.meta,
      });
    } catch (error) {
      if (error instanceof UnsupportedCustomizationError) throw new InvalidAssetRequestError(error.message);
      throw error;
    }
  }

  /** The initramfs with every extension, written to `out` (scratch space in `dir`). */
  async writeInitramfs(target: AssetTarget, dir: string, out: Writable, steps: BuildSteps): Promise<void> {
    const { version, request, schematic } = target;
    const { progress, signal } = steps;
    const inputs = await this.releases.imagerInputs(version, request.arch);
    const customization = schematic.schematic.customization;
    const refs = await this.releases.resolveOfficialExtensions(version, customization.systemExtensions.officialExtensions ?? []);
    const extensions: LoadedExtension[] = [];
    progress(20, 'pulling extensions');
    for (const ref of refs) extensions.push(await loadExtension(await this.releases.extensionTree(ref, request.arch), ref.repository));
    progress(40, 'building the initramfs');
    extensions.push(
      await writeSchematicExtension(join(dir, 'schematic'), {
        schematicId: schematic.id,
        canonical: schematic.canonical,
        externalUrl: this.externalUrl,
        talosVersion: version,
      }),
    );
    if (customization.embeddedMachineConfiguration !== '') {
      extensions.push(await writeEmbeddedConfigExtension(join(dir, 'embedded-config'), customization.embeddedMachineConfiguration));
    }
    await buildInitramfs({ talosVersion: version, baseInitramfs: inputs.initramfs, extensions, workDir: join(dir, 'work'), signal }, out);
    await rm(join(dir, 'work'), { recursive: true, force: true });
  }

  /** The initramfs with every extension, written as `dir`/initramfs.xz. */
  async initramfs(target: AssetTarget, dir: string, steps: BuildSteps): Promise<string> {
    const output = join(dir, 'initramfs.xz');
    await this.writeInitramfs(target, dir, createWriteStream(output), steps);
    return output;
  }

  /** The UKI of `target` (whose kind picks the extra profile), written to `out`, and the initramfs inside it, built in `dir`. */
  async writeUki(target: AssetTarget, dir: string, out: string | Writable, steps: BuildSteps): Promise<{ initramfs: string }> {
    const { version, request } = target;
    const inputs = await this.releases.imagerInputs(version, request.arch);
    const initramfs = await this.initramfs(target, await subdir(dir, 'initramfs'), steps);
    steps.progress(70, 'assembling the UKI');
    await buildTalosUki(
      {
        version: versionTag(version),
        kind: request.kind,
        systemdStub: inputs.systemdStub,
        kernel: inputs.kernel,
        initramfs,
        cmdline: this.cmdline(target),
        sourceDateEpoch: FACTORY_SOURCE_DATE_EPOCH,
        signal: steps.signal,
      },
      out,
    );
    return { initramfs };
  }

  /** The UKI of `target` as `dir`/vmlinuz.efi, and the initramfs inside it. */
  async uki(target: AssetTarget, dir: string, steps: BuildSteps): Promise<{ uki: string; initramfs: string }> {
    const uki = join(dir, 'vmlinuz.efi');
    const { initramfs } = await this.writeUki(target, dir, uki, steps);
    return { uki, initramfs };
  }

  /** What a boot loader boots: GRUB the initramfs (with the kernel), systemd-boot the UKI (a dual-boot image carries both). */
  async bootPayload(target: AssetTarget, bootloader: BootloaderKind, dir: string, steps: BuildSteps): Promise<{ uki?: string; initramfs: string }> {
    if (bootloader === 'grub') return { initramfs: await this.initramfs(target, await subdir(dir, 'initramfs'), steps) };
    return this.uki(target, dir, steps);
  }
}
