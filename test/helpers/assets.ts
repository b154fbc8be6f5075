// What the asset tests do as a user would: create a schematic on a running
// service, download an asset to a file (streamed: disk images are GiBs), and
// judge a QEMU boot of it by the development release's report.

import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { expect } from 'vitest';
import type { BootResult } from './qemu.js';
import type { ServiceProcess } from './server.js';

/** Firmware + boot loader + the report under TCG: 15-25 s here (systemd-boot's menu waits 10 s); generous for a loaded CI machine. */
export const FIRMWARE_BOOT_TIMEOUT = 150_000;

export async function createSchematic(svc: ServiceProcess, yaml: string): Promise<string> {
  const res = await fetch(`${svc.url}/schematics`, { method: 'POST', body: yaml });
  expect(res.status, await res.clone().text()).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

/** GET `url` into `file`; fails the test unless 200. Returns the Content-Type. */
export async function downloadTo(url: string, file: string): Promise<string | null> {
  const res = await fetch(url);
  expect(res.status, `${url}: ${res.status} ${res.status === 200 ? '' : await res.text()}`).toBe(200);
  await pipeline(Readable.fromWeb(res.body! as WebReadableStream), createWriteStream(file));
  return res.headers.get('content-type');
}

/**
 * Downloads a `.raw.tar.gz` disk image into the new directory `dir` and
 * extracts its one member, `disk.raw`, with GNU tar (holes restored).
 */
export async function downloadRawDisk(url: string, dir: string): Promise<string> {
  mkdirSync(dir);
  const archive = join(dir, 'disk.raw.tar.gz');
  expect(await downloadTo(url, archive)).toBe('application/gzip');
  expect(execFileSync('tar', ['-tzf', archive], { encoding: 'utf8' })).toBe('disk.raw\n');
  execFileSync('tar', ['-xzf', archive, '-C', dir]);
  return join(dir, 'disk.raw');
}

/** The release's report says it booted `version` on `platform` with the schematic's marker argument and the dummy-module extension. */
export function expectBootedWith(result: BootResult, version: string, platform: string, marker: string): void {
  const tail = result.console.slice(-3000);
  expect(result.report.status, tail).toBe('ok');
  expect(result.report.talos, tail).toBe(version);
  expect(result.report.cmdline, tail).toContain(`talos.platform=${platform}`);
  expect(result.report.cmdline, tail).toContain(marker);
  expect(result.report.layers.map((l) => l.name)).toEqual(['dummy-module', 'schematic', 'modules.dep']);
  expect(result.report.modules.map((m) => m.modprobe)).toEqual(['ok']);
  expect(result.report.errors).toEqual([]);
}
