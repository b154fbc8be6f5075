// Builds the initramfs of a schematic: the release's base initramfs with the
// system extensions appended exactly as Talos' imager appends them.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { Quirks } from '../../talos/quirks.js';
import type { TalosVersion } from '../../talos/version.js';
import type { LoadedExtension } from '../extensions/load.js';
import { checkCompatibility, InvalidExtensionError } from '../extensions/manifest.js';
import { assembleInitramfs } from './assemble.js';
import { buildModulesDepExtension, hasKernelModules } from './modules-dep.js';
import { type StagedExtension, stageExtensions } from './stage.js';

export interface InitramfsInput {
  talosVersion: TalosVersion;
  /** The release's `initramfs.xz` (xz or zstd compressed cpio of init + rootfs.sqsh). */
  baseInitramfs: string;
  /** Extensions in schematic order, the virtual `schematic` extension last. */
  extensions: readonly LoadedExtension[];
  /** Scratch space for this build (the caller removes it). */
  workDir: string;
  /** Stops the build (depmod, the compressor, the writing) when aborted. */
  signal?: AbortSignal;
}

/**
 * Talos names each extension's checkout by its index and lists the directory
 * sorted by name, so with ten or more layers `10` comes before `2`. Kept as is:
 * it decides the overlay order nodes see.
 */
export function orderLikeTalos(extensions: readonly LoadedExtension[]): StagedExtension[] {
  return extensions
    .map((extension, index) => ({ name: String(index), extension }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export async function buildInitramfs(input: InitramfsInput, out: Writable): Promise<void> {
  const quirks = new Quirks(input.talosVersion);
  const staged = orderLikeTalos(input.extensions);
  for (const { extension } of staged) {
    try {
      checkCompatibility(extension.metadata, input.talosVersion);
    } catch (error) {
      throw new InvalidExtensionError(`error validating extension ${JSON.stringify(extension.metadata.name)}: ${(error as Error).message}`);
    }
  }

  const stagingDir = join(input.workDir, 'staging');
  await mkdir(stagingDir, { recursive: true, mode: 0o755 });
  const modulesPath = quirks.kernelModulesPath();
  const withModules: LoadedExtension[] = [];
  for (const { extension } of staged) if (await hasKernelModules(extension, modulesPath)) withModules.push(extension);
  // The modules.dep layer (base modules out of the base initramfs, depmod) is made while the others are staged.
  const layers: Array<StagedExtension | Promise<StagedExtension>> = [...staged];
  if (withModules.length > 0) {
    const modulesWork = join(input.workDir, 'modules');
    layers.push(
      mkdir(modulesWork, { recursive: true })
        .then(() => buildModulesDepExtension(input.baseInitramfs, withModules, modulesPath, modulesWork, input.signal))
        .then((extension) => ({ name: 'modules.dep', extension })),
    );
  }
  const codec = quirks.initramfsCodec();
  await stageExtensions(layers, stagingDir, { firmwarePath: quirks.firmwarePath(), compression: codec });
  input.signal?.throwIfAborted();
  await assembleInitramfs(input.baseInitramfs, stagingDir, codec, out, input.signal);
}
