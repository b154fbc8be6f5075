// Running the Debian tools the build is made of. A missing tool is reported
// with the package that provides it; a failing one with its stderr.

import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';

/** command → Debian package, for the message when a tool is missing. */
export const TOOL_PACKAGES: Record<string, string> = {
  'apt-get': 'apt',
  'apt-cache': 'apt',
  'dpkg-deb': 'dpkg',
  mksquashfs: 'squashfs-tools',
  unsquashfs: 'squashfs-tools',
  cpio: 'cpio',
  depmod: 'kmod',
  zstd: 'zstd',
  xz: 'xz-utils',
};

export interface RunOptions {
  cwd?: string;
  /** Bytes fed to stdin. */
  input?: Buffer | string;
  env?: NodeJS.ProcessEnv;
}

function describeMissing(command: string): string {
  const pkg = TOOL_PACKAGES[command];
  return pkg ? `${command} not found: install the Debian package ${pkg}` : `${command} not found`;
}

/** Runs a command to completion and returns its stdout; rejects with stderr on failure. */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' ? new Error(describeMissing(command)) : error),
    );
    child.on('close', (code, signal) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else {
        const stderr = Buffer.concat(err).toString('utf8').trim();
        reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`})${stderr ? `: ${stderr}` : ''}`));
      }
    });
    child.stdin.on('error', () => undefined); // a tool that exits early closes its stdin
    child.stdin.end(options.input ?? '');
  });
}

/**
 * `command < input > output` with files, streamed (for compressors). The
 * output is written even when partial on failure; callers write to a
 * temporary place.
 */
export async function filter(command: string, args: readonly string[], input: string, output: string): Promise<void> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const err: Buffer[] = [];
  child.stderr.on('data', (c: Buffer) => err.push(c));
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT' ? new Error(describeMissing(command)) : error),
    );
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}): ${Buffer.concat(err).toString().trim()}`));
    });
  });
  await Promise.all([pipeline(createReadStream(input), child.stdin), pipeline(child.stdout, createWriteStream(output)), exited]);
}
