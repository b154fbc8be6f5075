// The few host programs builds run (depmod, mkfs.xfs, xfs_io, grub-mkimage): found on
// PATH or reported with the Debian package that provides them, run with their
// output captured for the error message, and killed when their build stops.

import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { trackChild } from './child-scope.js';

export class MissingToolError extends Error {
  override name = 'MissingToolError';
  constructor(
    readonly tool: string,
    readonly debianPackage: string,
  ) {
    super(`${tool} is not installed: install the Debian package ${debianPackage} (apt-get install ${debianPackage})`);
  }
}

export class ToolFailedError extends Error {
  override name = 'ToolFailedError';
}

export interface HostTool {
  readonly name: string;
  readonly debianPackage: string;
}

const EXTRA_PATHS = ['/usr/sbin', '/sbin'];

/** The absolute path of a tool, looking in PATH and the sbin directories non-root PATHs often lack. */
export async function locate(tool: HostTool): Promise<string> {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_PATHS];
  for (const dir of dirs) {
    const candidate = join(dir, tool.name);
    if (await access(candidate, constants.X_OK).then(() => true, () => false)) return candidate;
  }
  throw new MissingToolError(tool.name, tool.debianPackage);
}

/** More standard output than any of our tools prints is a failure, not something to hold. */
const STDOUT_LIMIT = 1 << 20;

/**
 * Runs a tool to completion and resolves with its standard output; a non-zero
 * exit becomes a ToolFailedError carrying its stderr. When `signal` aborts, the
 * tool is killed (SIGKILL: it holds no state worth a clean exit) and the call
 * rejects with the signal's reason once the process is gone.
 */
export async function runTool(tool: HostTool, args: readonly string[], options: { cwd?: string; signal?: AbortSignal } = {}): Promise<string> {
  const path = await locate(tool);
  options.signal?.throwIfAborted();
  return new Promise<string>((resolve, reject) => {
    const child = spawn(path, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], ...(options.signal && { signal: options.signal, killSignal: 'SIGKILL' as const }) });
    trackChild(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      if (stdout.length <= STDOUT_LIMIT) stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += chunk.toString();
    });
    // An abort is reported once the process has exited ('close'), never while it still runs.
    child.on('error', (error) => {
      if (!options.signal?.aborted) reject(error);
    });
    child.on('close', (code, signal) => {
      if (options.signal?.aborted) reject(options.signal.reason as Error);
      else if (code === 0 && stdout.length > STDOUT_LIMIT) reject(new ToolFailedError(`${tool.name} ${args.join(' ')} printed more than ${STDOUT_LIMIT} bytes`));
      else if (code === 0) resolve(stdout);
      else reject(new ToolFailedError(`${tool.name} ${args.join(' ')} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
    });
  });
}

export const DEPMOD: HostTool = { name: 'depmod', debianPackage: 'kmod' };
export const GRUB_MKIMAGE: HostTool = { name: 'grub-mkimage', debianPackage: 'grub-common' };
export const MKFS_XFS: HostTool = { name: 'mkfs.xfs', debianPackage: 'xfsprogs' };
export const XFS_IO: HostTool = { name: 'xfs_io', debianPackage: 'xfsprogs' };

/** Every host tool some build may run, checked when the service starts (zstd and xz: the codecs of src/formats/compression.ts). */
export const HOST_TOOLS: readonly HostTool[] = [
  DEPMOD,
  GRUB_MKIMAGE,
  MKFS_XFS,
  XFS_IO,
  { name: 'zstd', debianPackage: 'zstd' },
  { name: 'xz', debianPackage: 'xz-utils' },
];
