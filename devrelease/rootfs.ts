// rootfs.sqsh: the release's root filesystem. Busybox with every applet
// linked, /usr/bin/report, an os-release naming the Talos version, a few real
// modules of the kernel with the modules.dep files depmod makes for them, and
// the empty directories init mounts things on. Module and firmware paths
// follow the version (usr/lib/... from 1.10, lib/... before).

import { copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { installBusybox } from './busybox.js';
import { run } from './exec.js';
import { type Kernel, findModule, withDependencies } from './kernel.js';
import { SCRIPTS, renderScript } from './scripts.js';
import type { TalosRelease } from './talos.js';
import { copyInto, normalizeTree } from './tree.js';

/** Real modules of the base root filesystem (the sample extension's module is deliberately not one of them). */
export const ROOTFS_MODULES = ['loop', 'squashfs', 'overlay', 'veth', 'vfat', 'nls_utf8'];

/** Files of lib/modules/<release> that depmod reads besides the modules. */
const MODULE_INDEX_INPUTS = ['modules.builtin', 'modules.builtin.modinfo'];

export interface RootfsInputs {
  release: TalosRelease;
  kernel: Kernel;
  /** Unpacked busybox-static (of the kernel's architecture). */
  busyboxRoot: string;
  busyboxApplets: readonly string[];
}

export async function buildRootfsTree(root: string, { release, kernel, busyboxRoot, busyboxApplets }: RootfsInputs): Promise<void> {
  const bin = join(root, 'usr', 'bin');
  await installBusybox(busyboxRoot, bin, busyboxApplets, ['report']);
  await writeFile(join(bin, 'report'), await renderScript(SCRIPTS.report, release), { mode: 0o755 });
  await symlink('usr/bin', join(root, 'bin'));
  await symlink('usr/bin', join(root, 'sbin'));
  // busybox modprobe looks in /lib/modules/$(uname -r): from 1.10 /lib is usr/lib.
  if (release.modulesPath.startsWith('usr/')) await symlink('usr/lib', join(root, 'lib'));

  for (const dir of ['dev', 'proc', 'sys', 'run', 'tmp', 'etc', 'usr/local', 'usr/lib', release.firmwarePath]) {
    await mkdir(join(root, dir), { recursive: true });
  }
  await writeFile(join(root, 'etc', 'os-release'), osRelease(release));
  // Mount point for init's bind mount of the initramfs' /extensions.yaml.
  await writeFile(join(root, 'extensions.yaml'), '');

  const modules = join(root, release.modulesPath, kernel.release);
  const paths = withDependencies(
    kernel,
    ROOTFS_MODULES.map((name) => findModule(kernel, name)),
  );
  for (const path of paths) await copyInto(join(kernel.modulesDir, path), join(modules, path));
  for (const file of MODULE_INDEX_INPUTS) await copyFile(join(kernel.modulesDir, file), join(modules, file));
  await writeFile(join(modules, 'modules.order'), paths.map((p) => `${p}\n`).join(''));
  // depmod -b <base> reads <base>/lib/modules/<release>.
  const base = release.modulesPath.startsWith('usr/') ? join(root, 'usr') : root;
  await run('depmod', ['-b', base, kernel.release]);
  await normalizeTree(root);
}

export function osRelease(release: TalosRelease): string {
  return [
    'NAME="Talos"',
    'ID=talos',
    `VERSION_ID=${release.tag}`,
    `PRETTY_NAME="Talos (${release.tag})"`,
    'VARIANT="development release built from Debian packages"',
    'HOME_URL="https://www.talos.dev/"',
    '',
  ].join('\n');
}

/** mksquashfs, reproducible: root-owned, every time 0, no host xattrs; zstd from 1.8, xz before (as Talos). */
export async function squash(tree: string, out: string, release: TalosRelease): Promise<void> {
  const compression = release.zstd ? ['-comp', 'zstd', '-Xcompression-level', '18'] : ['-comp', 'xz', '-Xdict-size', '100%'];
  await run('mksquashfs', [tree, out, '-all-root', '-noappend', '-no-xattrs', '-no-progress', '-quiet', '-mkfs-time', '0', '-all-time', '0', ...compression]);
}
