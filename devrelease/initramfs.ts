// initramfs.xz (the historical name): a newc cpio made by GNU cpio,
// compressed with zstd from Talos 1.8 and with xz (CRC32 check: the kernel
// rejects CRC64) before.
//
// Real Talos' initramfs holds exactly `init` and `rootfs.sqsh`. Debian's
// kernel has loop, squashfs, overlay and disk drivers as modules where Talos'
// kernel has them built in, so this one also carries bin/busybox (for init's
// shell) and those modules under modules/, loaded in the order of
// modules/load-order.

import { chmod, copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { filter, run } from './exec.js';
import { type Kernel, findModule, withDependencies } from './kernel.js';
import { SCRIPTS, renderScript } from './scripts.js';
import type { TalosRelease } from './talos.js';
import { listTree, normalizeTree } from './tree.js';

/**
 * What init needs before it can mount rootfs.sqsh and the layers, then the
 * disk drivers of QEMU's IDE and virtio disks, so that the report can read
 * the META partition of a disk image it booted from.
 */
export const INITRAMFS_MODULES = ['loop', 'squashfs', 'overlay', 'virtio_pci', 'virtio_blk', 'ata_piix', 'sd_mod'];

export interface InitramfsInputs {
  release: TalosRelease;
  kernel: Kernel;
  busyboxRoot: string;
  rootfsSqsh: string;
}

export async function buildInitramfsTree(root: string, { release, kernel, busyboxRoot, rootfsSqsh }: InitramfsInputs): Promise<void> {
  await writeFile(join(root, 'init'), await renderScript(SCRIPTS.init, release), { mode: 0o755 });
  await mkdir(join(root, 'bin'));
  await copyFile(join(busyboxRoot, 'bin', 'busybox'), join(root, 'bin', 'busybox'));
  await chmod(join(root, 'bin', 'busybox'), 0o755);
  await mkdir(join(root, 'modules'));
  const order: string[] = [];
  for (const path of withDependencies(
    kernel,
    INITRAMFS_MODULES.map((name) => findModule(kernel, name)),
  )) {
    const file = path.split('/').pop()!;
    await copyFile(join(kernel.modulesDir, path), join(root, 'modules', file));
    order.push(file);
  }
  await writeFile(join(root, 'modules', 'load-order'), order.map((f) => `${f}\n`).join(''));
  await copyFile(rootfsSqsh, join(root, 'rootfs.sqsh'));
  await normalizeTree(root);
}

/** `find . | LC_ALL=C sort | cpio -o -H newc --reproducible -R 0:0` (without the `.` entry), then compressed. */
export async function packInitramfs(tree: string, out: string, release: TalosRelease): Promise<void> {
  const cpio = `${out}.cpio`;
  try {
    const list = (await listTree(tree)).map((p) => `${p}\n`).join('');
    await run('sh', ['-c', 'exec cpio -o -H newc --reproducible -R 0:0 --quiet > "$0"', cpio], { cwd: tree, input: list });
    await compress(cpio, out, release);
  } finally {
    await rm(cpio, { force: true });
  }
}

/** The compression Talos uses for the version (single-threaded, so the bytes do not depend on the machine). */
export async function compress(input: string, out: string, release: TalosRelease): Promise<void> {
  if (release.zstd) await filter('zstd', ['-q', '-18', '-T1', '-c'], input, out);
  else await filter('xz', ['--check=crc32', '-6', '-T1', '-c'], input, out);
}
