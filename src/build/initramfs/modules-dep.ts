// When extensions carry kernel modules, Talos adds a last layer holding a
// modules.dep (and friends) computed over the base modules plus every
// extension's: the base modules come out of rootfs.sqsh, depmod runs on the
// merged tree, and only the top-level `modules.*` files are kept.

import { cp, mkdir, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { extractSquashfs, SquashfsReader } from '../../formats/squashfs/index.js';
import { DEPMOD, runTool } from '../../host-tool.js';
import type { LoadedExtension } from '../extensions/load.js';
import { extractBaseRootfs } from './base-rootfs.js';

export class KernelModulesError extends Error {
  override name = 'KernelModulesError';
}

export async function hasKernelModules(extension: LoadedExtension, modulesPath: string): Promise<boolean> {
  return stat(join(extension.rootfs, modulesPath)).then(
    () => true,
    () => false,
  );
}

/**
 * Builds the `modules.dep` extension in `workDir` from the base initramfs and
 * the extensions that carry modules under `modulesPath` (`usr/lib/modules` or `lib/modules`).
 */
export async function buildModulesDepExtension(
  baseInitramfs: string,
  withModules: readonly LoadedExtension[],
  modulesPath: string,
  workDir: string,
  signal?: AbortSignal,
): Promise<LoadedExtension> {
  const rootfsSqsh = join(workDir, 'rootfs.sqsh');
  await extractBaseRootfs(baseInitramfs, rootfsSqsh);
  const merged = join(workDir, 'modules');
  const reader = await SquashfsReader.open(rootfsSqsh);
  try {
    if (!(await reader.exists(modulesPath))) throw new KernelModulesError(`the base rootfs.sqsh has no /${modulesPath}`);
    await extractSquashfs(reader, modulesPath, merged);
  } finally {
    await reader.close();
  }
  const modulesRoot = join(merged, modulesPath);
  const versions = await readdir(modulesRoot, { withFileTypes: true });
  const [kernel] = versions;
  if (versions.length !== 1 || !kernel?.isDirectory()) {
    throw new KernelModulesError(`invalid kernel modules path: /${modulesPath} in rootfs.sqsh must hold exactly one kernel version directory`);
  }
  const kver = kernel.name;
  for (const extension of withModules) {
    const source = join(extension.rootfs, modulesPath, kver);
    if (!(await stat(source).then((s) => s.isDirectory(), () => false))) {
      throw new KernelModulesError(`extension ${extension.metadata.name} carries modules that are not for kernel ${kver}`);
    }
    await cp(source, join(modulesRoot, kver), { recursive: true, force: true, verbatimSymlinks: true });
  }

  const config = join(workDir, 'extra-modules.conf');
  await writeFile(config, 'search extras built-in\n');
  // depmod reads <basedir>/lib/modules/<kver>: the base dir is the path above "lib/modules".
  const baseDir = join(merged, modulesPath.replace(/\/?lib\/modules$/, ''));
  await runTool(DEPMOD, ['--all', '--basedir', baseDir, '--config', config, kver], signal ? { signal } : {});

  const dir = join(workDir, 'modules.dep');
  const target = join(dir, 'rootfs', modulesPath, kver);
  await mkdir(target, { recursive: true, mode: 0o755 });
  for (const entry of await readdir(join(modulesRoot, kver), { withFileTypes: true })) {
    if (!entry.isDirectory() && entry.name.startsWith('modules.')) await rename(join(modulesRoot, kver, entry.name), join(target, entry.name));
  }
  return {
    dir,
    rootfs: join(dir, 'rootfs'),
    metadata: {
      name: 'modules.dep',
      version: kver,
      author: 'Talos Machinery',
      description: 'Combined modules.dep for all extensions',
      compatibility: { talos: { version: '' } },
      extraInfo: '',
    },
  };
}
