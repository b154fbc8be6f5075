// Starts the real service the way a user does (the CLI, as a child process)
// on a free loopback port with its own data directory. Installer prebuilds
// are off unless a test asks for them (IF_PREBUILD_INSTALLERS=true): every
// schematic created would otherwise start a build in the background.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'serve', '--listen', listen, '--data-dir', dataDir],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, IF_LOG_LEVEL: 'info', IF_METRICS_LISTEN: '127.0.0.1:0', IF_PREBUILD_INSTALLERS: 'false', ...env } },
  );
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // a service that never said it listens must not outlive the test run
      reject(new Error(`service did not start:\n${out}`));
    }, 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      if (out.length > 1024 * 1024) return; // keep draining the pipe, stop keeping the text
      out += chunk.toString();
      const m = /"address":"([^"]+)"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(`http://${m[1]}`);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('exit', (code) => reject(new Error(`service exited with ${code}:\n${out}`)));
  });
  return {
    url,
    dataDir,
    child,
    logs: () => out,
    stop: (signal = 'SIGTERM') =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
      }),
  };
}
