// Installing busybox into a tree: the static binary plus a relative symlink
// per applet, made at build time because the trees end up read-only. The
// applet list comes from the host's busybox (see DebianInputs.busyboxApplets):
// the arm64 binary does not run here.

import { chmod, copyFile, mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';

/** Copies busybox into `binDir` and links every applet to it; names in `skip` are left alone. */
export async function installBusybox(busyboxRoot: string, binDir: string, applets: readonly string[], skip: readonly string[] = []): Promise<void> {
  const busybox = join(busyboxRoot, 'bin', 'busybox');
  await mkdir(binDir, { recursive: true });
  await copyFile(busybox, join(binDir, 'busybox'));
  await chmod(join(binDir, 'busybox'), 0o755);
  for (const applet of applets) {
    if (applet !== 'busybox' && !skip.includes(applet)) await symlink('busybox', join(binDir, applet));
  }
}
