// A private containerd (Debian's package, as a plain process, no systemd) with
// its own root and socket, driven through `ctr` the way Talos pulls installers.

import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { skipUnlessCi } from './tool-skip.js';

export interface Containerd {
  /** Runs `ctr` in the `talos` namespace and returns its output. */
  ctr(...args: string[]): string;
  stop(): Promise<void>;
}

export function containerdSkipReason(): string | undefined {
  return skipUnlessCi(
    spawnSync('containerd', ['--version'], { stdio: 'ignore' }).status === 0
      ? undefined
      : 'containerd is not installed (Debian package containerd): containerd pulls skipped',
  );
}

export async function startContainerd(): Promise<Containerd> {
  const dir = mkdtempSync(join(tmpdir(), 'ctrd-'));
  const socket = join(dir, 'containerd.sock');
  writeFileSync(join(dir, 'config.toml'), `version = 2\nroot = "${dir}/root"\nstate = "${dir}/state"\n[grpc]\n  address = "${socket}"\n`);
  const child: ChildProcess = spawn('containerd', ['--config', join(dir, 'config.toml')], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
  if (!existsSync(socket)) throw new Error('containerd did not start');
  return {
    ctr: (...args) => execFileSync('ctr', ['--address', socket, '-n', 'talos', ...args], { encoding: 'utf8' }),
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
        child.kill();
      }),
  };
}
