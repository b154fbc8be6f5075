// Boots QEMU (TCG, never KVM: this machine's /dev/kvm does not work) and
// collects the serial console until the development release's boot report
// ends, the kernel panics, QEMU exits, or the timeout kills it. Direct kernel
// boots pass kernel/initrd/append; firmware boots (SeaBIOS is the default,
// OVMF via `args`) pass drives and the rest in `args`. `arch: 'arm64'` runs
// qemu-system-aarch64 on the virt machine instead, with AAVMF (UEFI) unless a
// kernel is given.
//
//   const boot = await bootQemu({ kernel, initrd: [base, extensions], append: 'console=ttyS0' });
//   expect(boot.report.status).toBe('ok');
//
//   await bootQemu({ args: ['-bios', OVMF_FD, '-drive', `file=${disk},format=raw,if=virtio,snapshot=on`] });
//   await bootQemu({ arch: 'arm64', args: ['-drive', `file=${iso},format=raw,if=virtio,snapshot=on`] });

import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type BootReport, parseReport } from '../../devrelease/report.js';
import { skipUnlessCi } from './tool-skip.js';

export type { BootReport } from '../../devrelease/report.js';
export { parseReport } from '../../devrelease/report.js';

export const QEMU_BINARY = 'qemu-system-x86_64';
/** OVMF as one flash image (`-bios`), from Debian's ovmf package. */
export const OVMF_FD = '/usr/share/ovmf/OVMF.fd';

export type QemuArch = 'amd64' | 'arm64';

/** The QEMU binary of each architecture and the Debian package it comes in. */
export const QEMU_SYSTEMS: Record<QemuArch, { binary: string; package: string }> = {
  amd64: { binary: QEMU_BINARY, package: 'qemu-system-x86' },
  arm64: { binary: 'qemu-system-aarch64', package: 'qemu-system-arm' },
};

/**
 * arm64: the virt machine with the most capable CPU TCG emulates. Pointer
 * authentication is computed with QEMU's cheap implementation-defined
 * algorithm: with the architected QARMA one, Debian's kernel takes 4x as long
 * to boot under TCG.
 */
export const ARM64_MACHINE = ['-machine', 'virt', '-cpu', 'max,pauth-impdef=on'];
/** AAVMF, UEFI for QEMU's arm64 virt machine (Debian's qemu-efi-aarch64): read-only code and a variable store template. */
export const AAVMF_CODE = '/usr/share/AAVMF/AAVMF_CODE.fd';
export const AAVMF_VARS = '/usr/share/AAVMF/AAVMF_VARS.fd';

export interface BootOptions {
  /** `-kernel`. */
  kernel?: string;
  /** `-initrd`; several files are concatenated as they are (mind the 4-byte rule for uncompressed segments). */
  initrd?: string | string[];
  /** `-append`. */
  append?: string;
  /** More QEMU arguments: drives, `-bios`, `-machine`, `-cdrom`, … */
  args?: string[];
  memoryMb?: number;
  /** Kill QEMU after this long (default 120 s). */
  timeoutMs?: number;
  /** QEMU binary (default the architecture's). */
  qemu?: string;
  /**
   * The guest's architecture (default amd64). arm64 adds ARM64_MACHINE and,
   * unless a kernel is given, AAVMF as pflash with a fresh copy of its
   * variable store.
   */
  arch?: QemuArch;
  /** Called with console output as it arrives (for debugging). */
  onOutput?: (text: string) => void;
}

export interface BootResult {
  /** Everything QEMU wrote to the serial console (and stderr), `\r` removed. */
  console: string;
  report: BootReport;
  /** null when QEMU was killed. */
  exitCode: number | null;
  timedOut: boolean;
  /** QEMU was stopped after the report ended (it normally powers off by itself). */
  killedAfterReport: boolean;
  durationMs: number;
  command: string[];
}

export function qemuAvailable(binary = QEMU_BINARY): boolean {
  return spawnSync(binary, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** Why a boot test is skipped, or undefined when QEMU (of that architecture) is there. */
export function qemuSkipReason(arch: QemuArch = 'amd64'): string | undefined {
  const { binary, package: pkg } = QEMU_SYSTEMS[arch];
  return skipUnlessCi(qemuAvailable(binary) ? undefined : `${binary} is not installed (Debian package ${pkg}): boot tests skipped`);
}

const PANIC = /Kernel panic - not syncing/;
/** After the end record, how long QEMU gets to power off by itself. */
const EXIT_GRACE_MS = 5_000;

export async function bootQemu(options: BootOptions): Promise<BootResult> {
  const work = await mkdtemp(join(tmpdir(), 'qemu-boot-'));
  try {
    const arch = options.arch ?? 'amd64';
    const args = ['-accel', 'tcg', '-nographic', '-no-reboot', '-m', String(options.memoryMb ?? 512)];
    if (arch === 'arm64') {
      args.push(...ARM64_MACHINE);
      if (!options.kernel) {
        const vars = join(work, 'AAVMF_VARS.fd');
        await copyFile(AAVMF_VARS, vars);
        args.push('-drive', `if=pflash,format=raw,readonly=on,file=${AAVMF_CODE}`, '-drive', `if=pflash,format=raw,file=${vars}`);
      }
    }
    if (options.kernel) args.push('-kernel', options.kernel);
    if (options.initrd !== undefined) {
      const parts = Array.isArray(options.initrd) ? options.initrd : [options.initrd];
      args.push('-initrd', parts.length === 1 ? parts[0]! : await concatenate(parts, join(work, 'initrd')));
    }
    if (options.append !== undefined) args.push('-append', options.append);
    args.push(...(options.args ?? []));
    return await run(options.qemu ?? QEMU_SYSTEMS[arch].binary, args, options);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function concatenate(parts: string[], out: string): Promise<string> {
  const sink = createWriteStream(out);
  for (const part of parts) await pipeline(createReadStream(part), sink, { end: false });
  await new Promise<void>((resolve, reject) => sink.end((error?: Error | null) => (error ? reject(error) : resolve())));
  return out;
}

function run(binary: string, args: string[], options: BootOptions): Promise<BootResult> {
  const started = Date.now();
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  let timedOut = false;
  let killedAfterReport = false;
  let grace: NodeJS.Timeout | undefined;

  const onData = (chunk: Buffer): void => {
    const piece = chunk.toString('utf8').replace(/\r/g, '');
    text += piece;
    options.onOutput?.(piece);
    // The report is complete (or the kernel died): give QEMU a moment to power off, then stop it.
    if (grace === undefined && (/FACTORY-REPORT end /.test(text) || PANIC.test(text))) {
      grace = setTimeout(() => {
        killedAfterReport = true;
        child.kill('SIGKILL');
      }, EXIT_GRACE_MS);
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs ?? 120_000);

  return new Promise((resolve, reject) => {
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      clearTimeout(grace);
      const pkg = Object.values(QEMU_SYSTEMS).find((q) => q.binary === binary)?.package ?? 'that provides it';
      reject(error.code === 'ENOENT' ? new Error(`${binary} not found: install the Debian package ${pkg}`) : error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      clearTimeout(grace);
      resolve({
        console: text,
        report: parseReport(text),
        exitCode: code,
        timedOut,
        killedAfterReport,
        durationMs: Date.now() - started,
        command: [binary, ...args],
      });
    });
  });
}
