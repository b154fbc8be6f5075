// A private Docker daemon for the container tests: Debian's dockerd started as a
// plain process with its own data root, exec root and socket under a temporary
// directory, and no iptables (what works on a CI machine with no systemd and no
// Docker Hub). Without iptables' NAT containers reach nothing beyond the host, so
// builds need `--network host`; published ports work (docker-proxy), and so do
// compose networks. stop() also removes what dockerd leaves outside its roots
// (/etc/docker/key.json, /run/docker/plugins, containerd shim sockets under
// /run/containerd/s, the docker0 bridge), but only what was not there before it
// started.
//
//   const docker = await startDockerd();
//   await docker.run('docker', ['version']);   // DOCKER_HOST points at it
//   await docker.stop();

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, rmdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type HostTool, locate } from '../../src/host-tool.js';

/** The programs the container tests run, with the Debian packages that provide them. */
export const DOCKER_TOOLS: readonly HostTool[] = [
  { name: 'dockerd', debianPackage: 'docker.io' },
  { name: 'docker', debianPackage: 'docker.io' },
  { name: 'docker-compose', debianPackage: 'docker-compose' },
  { name: 'debootstrap', debianPackage: 'debootstrap' },
  { name: 'skopeo', debianPackage: 'skopeo' },
  { name: 'ip', debianPackage: 'iproute2' },
];

/** Why the container tests cannot run here (a missing tool, not root), or undefined. */
export async function dockerSkipReason(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'the container tests start their own dockerd and need root';
  for (const tool of DOCKER_TOOLS) {
    const missing = await locate(tool).then(
      () => undefined,
      (error: Error) => error.message,
    );
    if (missing) return missing;
  }
  return undefined;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

export interface Dockerd {
  /** Runs a command with DOCKER_HOST pointing at this daemon; a non-zero exit rejects with its stderr. */
  run(command: string, args: readonly string[], options?: { cwd?: string; env?: NodeJS.ProcessEnv }): Promise<RunResult>;
  stop(): Promise<void>;
}

/** What dockerd writes outside the roots it is given, innermost first, and how to remove each. */
const STRAYS: ReadonlyArray<{ path: string; remove: 'file' | 'tree' | 'empty-dir' }> = [
  { path: '/etc/docker/key.json', remove: 'file' },
  { path: '/etc/docker', remove: 'empty-dir' },
  { path: '/run/docker/plugins', remove: 'tree' },
  { path: '/run/docker', remove: 'empty-dir' },
  { path: '/run/containerd/s', remove: 'empty-dir' },
  { path: '/run/containerd', remove: 'empty-dir' },
];

export async function startDockerd(): Promise<Dockerd> {
  const dir = mkdtempSync(join(tmpdir(), 'if-dockerd-'));
  const socket = join(dir, 'docker.sock');
  const host = `unix://${socket}`;
  const before = snapshot();
  const child: ChildProcess = spawn(
    'dockerd',
    [
      '--iptables=false',
      '--ip6tables=false',
      '--storage-driver=overlay2',
      `--data-root=${join(dir, 'data')}`,
      `--exec-root=${join(dir, 'exec')}`,
      `--pidfile=${join(dir, 'docker.pid')}`,
      `--host=${host}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const collect = (chunk: Buffer): void => {
    if (out.length < 4 * 1024 * 1024) out += chunk.toString();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const env = { ...process.env, DOCKER_HOST: host };
  const run: Dockerd['run'] = (command, args, options = {}) => execute(command, args, { ...options, env: { ...env, ...options.env } });

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
    // Overlay mounts dockerd failed to undo would keep the data root busy.
    await execute('sh', ['-c', `grep -o ' ${dir}[^ ]*' /proc/self/mounts | sort -r | xargs -r umount -l`], {}).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    await cleanStrays(before);
  };

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      await rm(dir, { recursive: true, force: true });
      await cleanStrays(before);
      throw new Error(`dockerd exited with ${child.exitCode}:\n${out}`);
    }
    if (await run('docker', ['info', '--format', '{{.ServerVersion}}']).then(() => true, () => false)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`dockerd did not answer within 60 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { run, stop };
}

const exec = promisify(execFile);

/** Runs a command to completion, collecting its output; a non-zero exit rejects with its stderr in the message. */
export function execute(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv }): Promise<RunResult> {
  return exec(command, [...args], { ...options, maxBuffer: 256 * 1024 * 1024 });
}

/** The default bridge dockerd creates and leaves behind. */
const BRIDGE = '/sys/class/net/docker0';

interface Snapshot {
  existed: Set<string>;
  shims: Set<string>;
}

function snapshot(): Snapshot {
  const paths = [...STRAYS.map((s) => s.path), BRIDGE];
  return { existed: new Set(paths.filter((p) => existsSync(p))), shims: new Set(list('/run/containerd/s')) };
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

async function cleanStrays(before: Snapshot): Promise<void> {
  if (!before.existed.has(BRIDGE) && existsSync(BRIDGE)) await execute('ip', ['link', 'delete', 'docker0'], {});
  for (const shim of list('/run/containerd/s')) {
    if (!before.shims.has(shim)) rmSync(join('/run/containerd/s', shim), { force: true });
  }
  for (const { path, remove } of STRAYS) {
    if (before.existed.has(path) || !existsSync(path)) continue;
    if (remove === 'file' || remove === 'tree') rmSync(path, { recursive: true, force: true });
    else if (list(path).length === 0) rmdirSync(path); // not empty: someone else's files are in it
  }
}
