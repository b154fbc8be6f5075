// The test oracles for disk images: sgdisk and sfdisk (512-byte sectors on
// image files), fdisk -b 4096 (4Kn images: sgdisk 1.0.9 always assumes 512
// on files and sfdisk 2.38 has no --sector-size), sgdisk on a 4K loop device
// when running as root, qemu-img (check, info, compare), tar and sha256sum.

import { spawnSync } from 'node:child_process';
import { skipUnlessCi } from './tool-skip.js';

export const DISK_TOOLS = { sgdisk: 'gdisk', sfdisk: 'fdisk', fdisk: 'fdisk', 'qemu-img': 'qemu-utils', tar: 'tar', sha256sum: 'coreutils' } as const;
type Tool = keyof typeof DISK_TOOLS;

function available(tool: string): boolean {
  return spawnSync(tool, ['--version'], { stdio: 'ignore' }).error === undefined;
}

/** Why an oracle test is skipped, or undefined when every tool is there. */
export function diskToolsSkipReason(tools: Tool[]): string | undefined {
  const missing = tools.filter((t) => !available(t));
  if (missing.length === 0) return undefined;
  return skipUnlessCi(`missing ${missing.join(', ')} (apt-get install -y ${[...new Set(missing.map((t) => DISK_TOOLS[t]))].join(' ')})`);
}

export interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function run(tool: string, args: string[], cwd?: string): RunResult {
  const result = spawnSync(tool, args, { encoding: 'utf8', cwd, maxBuffer: 64 << 20, env: { ...process.env, LANG: 'C', LC_ALL: 'C' } });
  if (result.error) throw result.error;
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

function ok(tool: string, args: string[], cwd?: string): string {
  const r = run(tool, args, cwd);
  if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} exited with ${r.status}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

// ---- partition tables ----------------------------------------------------

/** `sgdisk -v`: the output, and whether it found no problems. */
export function sgdiskVerify(path: string): { clean: boolean; output: string } {
  const r = run('sgdisk', ['-v', path]);
  const output = r.stdout + r.stderr;
  return { clean: r.status === 0 && /No problems found/.test(output) && !/Problem:/.test(output), output };
}

export interface SgdiskPrint {
  sectors: number;
  sectorSize: number;
  diskGuid: string;
  firstUsable: number;
  lastUsable: number;
  alignment: number;
  partitions: Array<{ number: number; start: number; end: number; code: string; name: string }>;
}

export function sgdiskPrint(path: string): SgdiskPrint {
  const out = ok('sgdisk', ['-p', path]);
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? NaN);
  const partitions: SgdiskPrint['partitions'] = [];
  for (const m of out.matchAll(/^\s+(\d+)\s+(\d+)\s+(\d+)\s+[\d.]+ \S+\s+([0-9A-F]{4})\s+(.*)$/gm)) {
    partitions.push({ number: Number(m[1]), start: Number(m[2]), end: Number(m[3]), code: m[4]!, name: m[5]!.trim() });
  }
  return {
    sectors: num(/: (\d+) sectors,/),
    sectorSize: num(/Sector size \(logical(?:\/physical)?\): (\d+)/),
    diskGuid: /Disk identifier \(GUID\): (\S+)/.exec(out)?.[1] ?? '',
    firstUsable: num(/First usable sector is (\d+)/),
    lastUsable: num(/last usable sector is (\d+)/),
    alignment: num(/aligned on (\d+)-sector/),
    partitions,
  };
}

export interface SgdiskInfo {
  typeGuid: string;
  uniqueGuid: string;
  first: number;
  last: number;
  attributes: bigint;
  name: string;
}

export function sgdiskInfo(path: string, partition: number): SgdiskInfo {
  const out = ok('sgdisk', ['-i', String(partition), path]);
  const field = (label: string): string => new RegExp(`^${label}: (.*)$`, 'm').exec(out)?.[1] ?? '';
  return {
    typeGuid: field('Partition GUID code').split(' ')[0]!,
    uniqueGuid: field('Partition unique GUID'),
    first: Number(field('First sector').split(' ')[0]),
    last: Number(field('Last sector').split(' ')[0]),
    attributes: BigInt(`0x${field('Attribute flags')}`),
    name: /^Partition name: '(.*)'$/m.exec(out)?.[1] ?? '',
  };
}

export interface PartitionDump {
  header: Record<string, string>;
  partitions: Array<{ start: number; size: number; type: string; uuid: string; name: string; attrs: string }>;
}

function parseDumpLine(line: string): PartitionDump['partitions'][number] {
  const field = (key: string): string => new RegExp(`${key}=\\s*("([^"]*)"|[^,]+)`).exec(line)?.[2] ?? new RegExp(`${key}=\\s*([^,]+)`).exec(line)?.[1]?.trim() ?? '';
  return { start: Number(field('start')), size: Number(field('size')), type: field('type'), uuid: field('uuid'), name: field('name'), attrs: field('attrs') };
}

/** `sfdisk -d` (512-byte sectors). */
export function sfdiskDump(path: string): PartitionDump {
  const out = ok('sfdisk', ['-d', path]);
  const header: Record<string, string> = {};
  const partitions: PartitionDump['partitions'] = [];
  for (const line of out.split('\n')) {
    if (line.includes(' : start=')) partitions.push(parseDumpLine(line));
    else {
      const m = /^([a-z-]+): (.*)$/.exec(line);
      if (m) header[m[1]!] = m[2]!;
    }
  }
  return { header, partitions };
}

export interface FdiskList {
  sectorSize: number;
  diskGuid: string;
  firstUsable: number;
  lastUsable: number;
  alternateLba: number;
  entriesLba: number;
  partitions: Array<{ start: number; end: number; sectors: number; type: string; uuid: string; name: string; attrs: string }>;
  /** Anything fdisk complained about (corrupt tables and the like). */
  warnings: string;
}

/** `fdisk -b <sector size> -x`, which reads image files with 4096-byte sectors. */
export function fdiskList(path: string, sectorSize: number): FdiskList {
  const r = run('fdisk', ['-b', String(sectorSize), '-x', '-o', 'Device,Start,End,Sectors,Type-UUID,UUID,Name,Attrs', path]);
  if (r.status !== 0) throw new Error(`fdisk exited with ${r.status}: ${r.stderr}`);
  const out = r.stdout;
  const num = (re: RegExp): number => Number(re.exec(out)?.[1] ?? NaN);
  const partitions: FdiskList['partitions'] = [];
  for (const m of out.matchAll(/^\S+\s+(\d+)\s+(\d+)\s+(\d+)\s+([0-9A-F-]{36})\s+([0-9A-F-]{36})\s?(\S*)\s*(\S*)$/gm)) {
    partitions.push({ start: Number(m[1]), end: Number(m[2]), sectors: Number(m[3]), type: m[4]!, uuid: m[5]!, name: m[6]!, attrs: m[7]! });
  }
  return {
    sectorSize: num(/Sector size \(logical\/physical\): (\d+)/),
    diskGuid: /Disk identifier: (\S+)/.exec(out)?.[1] ?? '',
    firstUsable: num(/First usable LBA: (\d+)/),
    lastUsable: num(/Last usable LBA: (\d+)/),
    alternateLba: num(/Alternative LBA: (\d+)/),
    entriesLba: num(/Partition entries starting LBA: (\d+)/),
    partitions,
    warnings: r.stderr,
  };
}

/** Runs `fn` on a read-only loop device with the given logical sector size; undefined when loop devices are out of reach (not root). */
export function withLoopDevice<T>(path: string, sectorSize: number, fn: (device: string) => T): T | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const attach = run('losetup', ['-f', '--show', '-r', '-b', String(sectorSize), path]);
  if (attach.status !== 0) return undefined;
  const device = attach.stdout.trim();
  try {
    return fn(device);
  } finally {
    run('losetup', ['-d', device]);
  }
}

// ---- qemu-img ------------------------------------------------------------------

export interface QemuCheck {
  status: number;
  report: Record<string, unknown>;
}

/** `qemu-img check`: exit status (0 clean, 2 corruptions, 3 leaks) and the JSON report. */
export function qemuImgCheck(path: string, format: string): QemuCheck {
  const r = run('qemu-img', ['check', '-f', format, '--output=json', path]);
  let report: Record<string, unknown> = {};
  try {
    report = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    report = { unparsed: r.stdout + r.stderr };
  }
  return { status: r.status, report };
}

export function qemuImgInfo(path: string, format: string): Record<string, unknown> & { 'virtual-size': number; format: string } {
  return JSON.parse(ok('qemu-img', ['info', '-f', format, '--output=json', path])) as Record<string, unknown> & { 'virtual-size': number; format: string };
}

/** `qemu-img compare` of a raw image with an image in `format`: status 0 identical, 1 different. */
export function qemuImgCompare(raw: string, image: string, format: string): RunResult {
  return run('qemu-img', ['compare', '-f', 'raw', '-F', format, raw, image]);
}

/** The reference conversion: `qemu-img convert -f raw -O <format> -o <options>`. */
export function qemuImgConvert(raw: string, out: string, format: string, options: string): void {
  ok('qemu-img', ['convert', '-f', 'raw', '-O', format, ...(options ? ['-o', options] : []), raw, out]);
}

// ---- archives -------------------------------------------------------------------

export interface TarListing {
  mode: string;
  owner: string;
  size: number;
  name: string;
}

export function tarList(path: string): TarListing[] {
  return ok('tar', ['-tvf', path])
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const m = /^(\S+)\s+(\S+)\s+(\d+)\s+\S+\s+\S+\s+(.*)$/.exec(line);
      if (!m) throw new Error(`unexpected tar -tv line: ${line}`);
      return { mode: m[1]!, owner: m[2]!, size: Number(m[3]), name: m[4]! };
    });
}

export function tarExtract(path: string, dir: string): void {
  ok('tar', ['-xf', path, '-C', dir]);
}

/** `sha256sum` of each file, in `dir`. */
export function sha256sums(dir: string, names: string[]): Map<string, string> {
  const out = ok('sha256sum', names, dir);
  return new Map(out.split('\n').filter(Boolean).map((line) => {
    const [hash, name] = line.split(/\s+\*?/);
    return [name!, hash!];
  }));
}

// ---- open-vmdk -------------------------------------------------------------------

/**
 * VMware's own reader, open-vmdk's vmdk-convert (what Talos makes its OVA
 * disks with). Not packaged in Debian: build it from github.com/vmware/open-vmdk
 * (`make -C vmdk`, needs zlib1g-dev) and put it on PATH or in $VMDK_CONVERT.
 */
export function vmdkConvertTool(): string | undefined {
  const tool = process.env.VMDK_CONVERT ?? 'vmdk-convert';
  return spawnSync(tool, ['-h'], { stdio: 'ignore' }).error === undefined ? tool : undefined;
}

/** `vmdk-convert -i`: capacity and bytes in use, as open-vmdk reads the file. */
export function vmdkConvertInfo(tool: string, path: string): { capacity: number; used: number } {
  return JSON.parse(ok(tool, ['-i', path])) as { capacity: number; used: number };
}

/** `vmdk-convert in.vmdk out.raw`: open-vmdk's reading of the disk, as a raw file. */
export function vmdkConvertToRaw(tool: string, vmdk: string, raw: string): void {
  ok(tool, [vmdk, raw]);
}
