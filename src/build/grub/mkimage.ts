// GRUB core images made by the host's grub-mkimage from the release's own
// GRUB modules (the imager image's usr/lib/grub/<platform>), so the GRUB that
// boots is the release's, whatever the host has installed.

import { join } from 'node:path';
import { access } from 'node:fs/promises';
import { GRUB_MKIMAGE, runTool } from '../../host-tool.js';
import { InvalidReleaseError } from '../../release/errors.js';

export type GrubPlatform = 'i386-pc' | 'x86_64-efi' | 'arm64-efi';

/** GRUB's EFI platform for an architecture. */
export function grubEfiPlatform(arch: 'amd64' | 'arm64'): GrubPlatform {
  return arch === 'arm64' ? 'arm64-efi' : 'x86_64-efi';
}

export interface GrubImageOptions {
  /** The release's usr/lib/grub directory. */
  grubDir: string;
  platform: GrubPlatform;
  /** grub-mkimage -O: e.g. i386-pc, i386-pc-eltorito, x86_64-efi. */
  format: string;
  /** Where GRUB looks for grub.cfg and modules, e.g. "/boot/grub" or "(hd0,gpt3)/grub". */
  prefix: string;
  modules: readonly string[];
  /** An early configuration embedded in the image (e.g. how to find the boot device). */
  config?: string;
  /** Compress the core (grub-mkimage --compression), e.g. 'xz'. */
  compression?: string;
  output: string;
  /** Kills grub-mkimage when aborted. */
  signal?: AbortSignal;
}

/** The module directory of a platform, or an error naming what the release lacks. */
export async function grubModuleDir(grubDir: string, platform: GrubPlatform): Promise<string> {
  const dir = join(grubDir, platform);
  await access(join(dir, 'moddep.lst')).catch(() => {
    throw new InvalidReleaseError(`the release's imager has no GRUB ${platform} modules (usr/lib/grub/${platform}/moddep.lst is missing)`);
  });
  return dir;
}

export async function makeGrubImage(options: GrubImageOptions): Promise<void> {
  const dir = await grubModuleDir(options.grubDir, options.platform);
  const args = ['--directory', dir, '--format', options.format, '--prefix', options.prefix, '--output', options.output];
  if (options.config) args.push('--config', options.config);
  if (options.compression) args.push('--compression', options.compression);
  await runTool(GRUB_MKIMAGE, [...args, ...options.modules], options.signal ? { signal: options.signal } : {});
}
