// When extensions carry kernel modules, Talos adds a last layer holding a
// modules.dep (and friends) computed over the base modules plus every
// extension's: the base modules come out of rootfs.sqsh, depmod runs on the
// merged tree, and only the top-level `modules.*` files are kept.

import { copyFile, link, mkdir, readdir, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { extractSquashfs, SquashfsReader } from '../../formats/squashfs/index.js';
import { DEPMOD, runTool } from '../../host-tool.js';
import { materializeDirectory } from '../../materialize.js';
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
 * The kernel modules directory of a base initramfs' rootfs.sqsh, unpacked once
 * beside the initramfs and shared by every build, which only links to it. The
 * base never changes in place: the release keeps its inputs per digest. (Per
 * build, this was decompressing the whole base initramfs, writing rootfs.sqsh
 * and every module out again: with a real release, tens of megabytes.)
 */
async function unpackedBaseModules(baseInitramfs: string, modulesPath: string): Promise<string> {
  const dir = await materializeDirectory(`${baseInitramfs}.modules`, async (tmp) => {
    const rootfsSqsh = join(tmp, 'rootfs.sqsh');
    await extractBaseRootfs(baseInitramfs, rootfsSqsh);
    const reader = await SquashfsReader.open(rootfsSqsh);
    try {
      if (!(await reader.exists(modulesPath))) throw new KernelModulesError(`the base rootfs.sqsh has no /${modulesPath}`);
      await extractSquashfs(reader, modulesPath, join(tmp, 'tree'));
    } finally {
      await reader.close();
    }
    await rm(rootfsSqsh);
  });
  return join(dir, 'tree', modulesPath);
}

/**
 * Mirrors the tree at `source` into `dest` with hard links (copies where the
 * file system refuses a link), directories merged. With `replace`, a file
 * already at a path is unlinked first, never written through: it may be a
 * link into the shared base. depmod writes its outputs to a temporary and
 * renames it over the old one, so it never writes through a link either.
 */
async function linkTree(source: string, dest: string, replace: boolean): Promise<void> {
  await mkdir(dest, { recursive: true });
  const entries = await readdir(source, { withFileTypes: true });
  await Promise.all(
    entries.map(async (entry) => {
      const from = join(source, entry.name);
      const to = join(dest, entry.name);
      if (entry.isDirectory()) return linkTree(from, to, replace);
      if (replace) await rm(to, { force: true });
      await link(from, to).catch(async (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EXDEV' && error.code !== 'EPERM' && error.code !== 'EMLINK') throw error;
        if (entry.isSymbolicLink()) await symlink(await readlink(from), to);
        else await copyFile(from, to);
      });
    }),
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
  const merged = join(workDir, 'modules');
  const modulesRoot = join(merged, modulesPath);
  await linkTree(await unpackedBaseModules(baseInitramfs, modulesPath), modulesRoot, false);
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
    await linkTree(source, join(modulesRoot, kver), true);
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
