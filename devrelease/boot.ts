// One version's boot files: rootfs.sqsh, then the initramfs that carries it.

import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { buildInitramfsTree, packInitramfs } from './initramfs.js';
import type { Kernel } from './kernel.js';
import { buildRootfsTree, squash } from './rootfs.js';
import type { TalosRelease } from './talos.js';

export const BOOT_FILES = { rootfs: 'rootfs.sqsh', initramfs: 'initramfs.xz' } as const;

/** Writes rootfs.sqsh and initramfs.xz into `dir`, for the kernel's architecture (busybox must be of the same). */
export async function buildBootFiles(dir: string, release: TalosRelease, kernel: Kernel, busyboxRoot: string, busyboxApplets: readonly string[]): Promise<void> {
  const rootfsTree = join(dir, '.rootfs');
  const initramfsTree = join(dir, '.initramfs');
  try {
    await mkdir(rootfsTree);
    await buildRootfsTree(rootfsTree, { release, kernel, busyboxRoot, busyboxApplets });
    await squash(rootfsTree, join(dir, BOOT_FILES.rootfs), release);
    await mkdir(initramfsTree);
    await buildInitramfsTree(initramfsTree, { release, kernel, busyboxRoot, rootfsSqsh: join(dir, BOOT_FILES.rootfs) });
    await packInitramfs(initramfsTree, join(dir, BOOT_FILES.initramfs), release);
  } finally {
    await rm(rootfsTree, { recursive: true, force: true });
    await rm(initramfsTree, { recursive: true, force: true });
  }
}
