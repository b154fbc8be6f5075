// Boots QEMU (TCG, never KVM: this machine's /dev/kvm does not work) and
// collects the serial console until the development release's boot report
// ends, the kernel panics, QEMU exits, or the timeout kills it. Direct kernel
// boots pass kernel/initrd/append; firmware boots (SeaBIOS is the default,
// OVMF via `args`) pass drives and the rest in `args`.
//
//   const boot = await bootQemu({ kernel, initrd: [base, extensions], append: 'console=ttyS0' });
//   expect(boot.report.status).toBe('ok');
//
//   await bootQemu({ args: ['-bios', OVMF_FD, '-drive', `file=${disk},format=raw,if=virtio,snapshot=on`] });

import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type BootReport, parseReport } from '../../devrelease/report.js';

export type { BootReport } from '../../devrelease/report.js';
export { parseReport } from '../../devrelease/report.js';

export const QEMU_BINARY = 'qemu-system-x86_64';
/** OVMF as one flash image (`-bios`), from Debian's ovmf package. */
export const OVMF_FD = '/usr/share/ovmf/OVMF.fd';

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
  /** QEMU binary (default qemu-system-x86_64). */
  qemu?: string;
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

/** Why a boot test is skipped, or undefined when QEMU is there. */
export function qemuSkipReason(binary = QEMU_BINARY): string | undefined {
  return qemuAvailable(binary) ? undefined : `${binary} is not installed (Debian package qemu-system-x86): boot tests skipped`;
}

const PANIC = /Kernel panic - not syncing/;
/** After the end record, how long QEMU gets to power off by itself. */
const EXIT_GRACE_MS = 5_000;

export async function bootQemu(options: BootOptions): Promise<BootResult> {
  const work = await mkdtemp(join(tmpdir(), 'qemu-boot-'));
  try {
    const args = ['-accel', 'tcg', '-nographic', '-no-reboot', '-m', String(options.memoryMb ?? 512)];
    if (options.kernel) args.push('-kernel', options.kernel);
    if (options.initrd !== undefined) {
      const parts = Array.isArray(options.initrd) ? options.initrd : [options.initrd];
      args.push('-initrd', parts.length === 1 ? parts[0]! : await concatenate(parts, join(work, 'initrd')));
    }
    if (options.append !== undefined) args.push('-append', options.append);
    args.push(...(options.args ?? []));
    return await run(options.qemu ?? QEMU_BINARY, args, options);
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
      reject(error.code === 'ENOENT' ? new Error(`${binary} not found: install the Debian package qemu-system-x86`) : error);
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
