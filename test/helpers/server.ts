// Starts the real service the way a user does (the CLI, as a child process)
// on a free loopback port with its own data directory. Installer prebuilds
// are off unless a test asks for them (IF_PREBUILD_INSTALLERS=true): every
// schematic created would otherwise start a build in the background.

import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

export interface ServiceProcess {
  url: string;
  dataDir: string;
  child: ChildProcess;
  /** What the service has logged so far (the first MiB). */
  logs(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

const ROOT = new URL('../../', import.meta.url).pathname;
/** How much of a service's log `logs()` returns. */
const LOG_BYTES_KEPT = 1024 * 1024;

/** Data directories made here; removed after the test file (a test may restart a service on one). */
const madeDirs = new Set<string>();
const removeMadeDirs = (): void => madeDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true }));
// Inside vitest the file's hooks do it; elsewhere (benchmarks) the process exit does.
if (process.env.VITEST) afterAll(removeMadeDirs);
else process.once('exit', removeMadeDirs);

function newDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'if-test-'));
  madeDirs.add(dir);
  return dir;
}

export async function startService(
  dataDir = newDataDir(),
  env: Record<string, string> = {},
  listen = '127.0.0.1:0',
): Promise<ServiceProcess> {
  // The service logs into a file, as under a process manager: a pipe would make the test process read
  // every request's log line, CPU a benchmark would count against the service.
  const logDir = mkdtempSync(join(tmpdir(), 'if-log-'));
  madeDirs.add(logDir);
  const logFile = join(logDir, 'service.log');
  const fd = openSync(logFile, 'a');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'serve', '--listen', listen, '--data-dir', dataDir],
    { cwd: ROOT, stdio: ['ignore', fd, fd], env: { ...process.env, IF_LOG_LEVEL: 'info', IF_METRICS_LISTEN: '127.0.0.1:0', IF_PREBUILD_INSTALLERS: 'false', ...env } },
  );
  closeSync(fd);
  const logs = (): string => {
    const handle = openSync(logFile, 'r');
    try {
      const buffer = Buffer.alloc(LOG_BYTES_KEPT);
      return buffer.subarray(0, readSync(handle, buffer, 0, LOG_BYTES_KEPT, 0)).toString();
    } finally {
      closeSync(handle);
    }
  };
  const deadline = Date.now() + 30_000;
  let url: string | undefined;
  while (url === undefined) {
    const address = /"address":"([^"]+)"/.exec(logs());
    if (address) url = `http://${address[1]}`;
    else if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`service exited with ${child.exitCode ?? child.signalCode}:\n${logs()}`);
    } else if (Date.now() > deadline) {
      child.kill('SIGKILL'); // a service that never said it listens must not outlive the test run
      throw new Error(`service did not start:\n${logs()}`);
    } else await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    url,
    dataDir,
    child,
    logs,
    stop: (signal = 'SIGTERM') =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
      }),
  };
}
