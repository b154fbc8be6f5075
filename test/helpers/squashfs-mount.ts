// The running kernel as an oracle: loop-mount an image read-only, when this
// machine allows it (root, squashfs and loop devices available). Tests that
// use it are skipped elsewhere; QEMU boot tests cover the kernel everywhere.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';

export interface Mounted {
  dir: string;
  unmount(): void;
}

export function mountSquashfs(image: string, parent: string): Mounted {
  const dir = mkdtempSync(join(parent, 'mnt-'));
  try {
    execFileSync('mount', ['-t', 'squashfs', '-o', 'loop,ro', image, dir], { stdio: 'pipe' });
  } catch (error) {
    rmdirSync(dir);
    throw error;
  }
  return {
    dir,
    unmount: () => {
      execFileSync('umount', [dir], { stdio: 'pipe' });
      rmdirSync(dir);
    },
  };
}

/** Whether loop-mounting a squashfs image works here (tried once with `probe`, a valid image). */
export function canMountSquashfs(probe: () => string, parent: string): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    if (!/\tsquashfs$/m.test(readFileSync('/proc/filesystems', 'utf8'))) return false;
    mountSquashfs(probe(), parent).unmount();
    return true;
  } catch {
    return false;
  }
}
