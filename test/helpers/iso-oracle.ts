// xorriso, isoinfo, sgdisk and sfdisk as the test oracles for ISO images:
// what xorriso lists (Rock Ridge names, modes, sizes, symlink targets) and
// extracts, what it reports about El Torito and the system area, the volume
// descriptor as isoinfo and xorriso print it, and the MBR/GPT as the
// partitioning tools read it. Also makes reference images with xorriso.

import { execFileSync, spawnSync } from 'node:child_process';
import { skipUnlessCi } from './tool-skip.js';

export const ISO_TOOLS = { xorriso: 'xorriso', isoinfo: 'genisoimage', sgdisk: 'gdisk', sfdisk: 'fdisk' } as const;

function available(tool: string): boolean {
  return spawnSync(tool, ['--version'], { stdio: 'ignore' }).error === undefined;
}

/** Why an oracle test is skipped, or undefined when every tool is there. */
export function isoToolsSkipReason(tools: Array<keyof typeof ISO_TOOLS> = ['xorriso', 'isoinfo', 'sgdisk', 'sfdisk']): string | undefined {
  const missing = tools.filter((t) => !available(t));
  if (missing.length === 0) return undefined;
  return skipUnlessCi(`missing ${missing.join(', ')} (apt-get install ${[...new Set(missing.map((t) => ISO_TOOLS[t]))].join(' ')})`);
}

function run(tool: string, args: string[]): string {
  const result = spawnSync(tool, args, { encoding: 'utf8', maxBuffer: 256 << 20, env: { ...process.env, TZ: 'UTC', LANG: 'C.UTF-8' } });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${tool} ${args.join(' ')} exited with ${result.status}: ${result.stderr}`);
  // xorriso writes its reports to stdout and its notes to stderr; keep both, in that order.
  return `${result.stdout}\n${result.stderr}`;
}

export interface XorrisoEntry {
  /** Path without the leading slash; '' for the root. */
  path: string;
  /** ls-style permission string, e.g. drwxr-xr-x. */
  perms: string;
  owner: string;
  group: string;
  size: number;
  target?: string;
}

/** Undoes xorriso's shell quoting of names: 'it'"'"'s' → it's. */
function unquote(quoted: string): string {
  return quoted.slice(1, -1).replace(/'"'"'/g, "'");
}

/** `xorriso -indev <iso> -find / -exec lsdl`: every entry with its Rock Ridge attributes. */
export function xorrisoList(iso: string): XorrisoEntry[] {
  const out: XorrisoEntry[] = [];
  for (const line of run('xorriso', ['-indev', iso, '-find', '/', '-exec', 'lsdl']).split('\n')) {
    const m = /^([-dl][-rwxsStT]{9})\s+\d+\s+(\S+)\s+(\S+)\s+(\d+)\s+\w{3}\s+\d+\s+[\d:]+\s+('(?:[^']|'"'"')*')(?: -> ('(?:[^']|'"'"')*'))?$/.exec(line);
    if (!m) continue;
    const path = unquote(m[5]!).replace(/^\//, '');
    out.push({ path, perms: m[1]!, owner: m[2]!, group: m[3]!, size: Number(m[4]), ...(m[6] !== undefined ? { target: unquote(m[6]) } : {}) });
  }
  return out;
}

/** `xorriso -osirrox on -indev <iso> -extract / <dir>`. */
export function xorrisoExtract(iso: string, dir: string): void {
  run('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/', dir]);
}

export interface XorrisoBootImage {
  number: number;
  platform: string;
  bootable: boolean;
  emulation: string;
  loadSize: number;
  lba: number;
}

export interface XorrisoGptPartition {
  number: number;
  name: string;
  guid: string;
  type: string;
  flags: string;
  start: number;
  size: number;
}

export interface XorrisoReport {
  text: string;
  bootRecord: string;
  catalogLba?: number;
  bootImages: XorrisoBootImage[];
  bootImageOptions: Record<number, string>;
  bootImagePaths: Record<number, string>;
  systemAreaSummary: string;
  imageSectors?: number;
  partitionOffset?: number;
  mbr: Array<{ number: number; status: string; type: string; start: number; blocks: number }>;
  gptDiskGuid?: string;
  gptEntryArray?: string;
  gptLbaRange?: [number, number, number];
  gpt: XorrisoGptPartition[];
}

/** `xorriso -indev <iso> -report_el_torito plain -report_system_area plain`, parsed. */
export function xorrisoReport(iso: string): XorrisoReport {
  const text = run('xorriso', ['-indev', iso, '-report_el_torito', 'plain', '-report_system_area', 'plain']);
  const field = (label: string): string | undefined => new RegExp(`^${label}\\s*:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim();
  const all = (label: string): string[][] => [...text.matchAll(new RegExp(`^${label}\\s*:\\s*(.*)$`, 'gm'))].map((m) => m[1]!.trim().split(/\s+/));
  const report: XorrisoReport = {
    text,
    bootRecord: field('Boot record') ?? '',
    bootImages: all('El Torito boot img').map(([n, platform, b, emulation, , , size, lba]) => ({
      number: Number(n),
      platform: platform!,
      bootable: b === 'y',
      emulation: emulation!,
      loadSize: Number(size),
      lba: Number(lba),
    })),
    bootImageOptions: Object.fromEntries(all('El Torito img opts').map(([n, ...rest]) => [Number(n), rest.join(' ')])),
    bootImagePaths: Object.fromEntries(all('El Torito img path').map(([n, ...rest]) => [Number(n), rest.join(' ')])),
    systemAreaSummary: field('System area summary') ?? '',
    mbr: all('MBR partition').map(([n, status, type, start, blocks]) => ({ number: Number(n), status: status!, type: type!, start: Number(start), blocks: Number(blocks) })),
    gpt: [],
  };
  const catalog = field('El Torito catalog');
  if (catalog) report.catalogLba = Number(catalog.split(/\s+/)[0]);
  const sectors = field('ISO image size/512');
  if (sectors) report.imageSectors = Number(sectors);
  const offset = field('Partition offset');
  if (offset) report.partitionOffset = Number(offset);
  const diskGuid = field('GPT disk GUID');
  if (diskGuid) report.gptDiskGuid = diskGuid;
  const entryArray = field('GPT entry array');
  if (entryArray) report.gptEntryArray = entryArray.replace(/\s+/g, ' ');
  const range = field('GPT lba range');
  if (range) report.gptLbaRange = range.split(/\s+/).map(Number) as [number, number, number];
  const byNumber = (label: string): Map<number, string[]> => new Map(all(label).map(([n, ...rest]) => [Number(n), rest]));
  const names = byNumber('GPT partname local');
  const guids = byNumber('GPT partition GUID');
  const types = byNumber('GPT type GUID');
  const flags = byNumber('GPT partition flags');
  for (const [n, [start, size]] of byNumber('GPT start and size')) {
    report.gpt.push({
      number: n,
      name: names.get(n)?.join(' ') ?? '',
      guid: guids.get(n)?.[0] ?? '',
      type: types.get(n)?.[0] ?? '',
      flags: flags.get(n)?.[0] ?? '',
      start: Number(start),
      size: Number(size),
    });
  }
  return report;
}

/** `xorriso -indev <iso> -pvd_info`: the primary volume descriptor's ids and dates. */
export function xorrisoPvdInfo(iso: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of run('xorriso', ['-indev', iso, '-pvd_info']).split('\n')) {
    const m = /^(Volume Id|Volume Set Id|Publisher Id|Preparer Id|App Id|System Id|Creation Time|Modif\. Time|Expir\. Time|Eff\. Time)\s*:\s?(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** `isoinfo -d -i <iso>` as label → value. */
export function isoinfoDescriptor(iso: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of run('isoinfo', ['-d', '-i', iso]).split('\n')) {
    const m = /^([A-Za-z][A-Za-z ]*?):\s?(.*)$/.exec(line);
    if (m && !(m[1]! in out)) out[m[1]!] = m[2]!;
  }
  return out;
}

/** `isoinfo -R -f -i <iso>`: every path genisoimage's reader finds through Rock Ridge, without the leading slash. */
export function isoinfoPaths(iso: string): string[] {
  return run('isoinfo', ['-R', '-f', '-i', iso])
    .split('\n')
    .filter((line) => line.startsWith('/'))
    .map((line) => line.slice(1));
}

/** `sgdisk -v`: its verdict text (it exits 0 even on some problems, so callers check the words). */
export function sgdiskVerify(image: string): string {
  return run('sgdisk', ['-v', image]);
}

export function sgdiskPrint(image: string): string {
  return run('sgdisk', ['-p', image]);
}

export interface SfdiskTable {
  label: string;
  id: string;
  firstlba?: number;
  lastlba?: number;
  partitions: Array<{ node: string; start: number; size: number; type: string; uuid?: string; name?: string; attrs?: string }>;
}

/** `sfdisk -J <image>`: the partition table as util-linux reads it. */
export function sfdiskJson(image: string): SfdiskTable {
  return (JSON.parse(execFileSync('sfdisk', ['-J', image], { encoding: 'utf8' })) as { partitiontable: SfdiskTable }).partitiontable;
}

/** `sfdisk -d <image>` (the dump must parse without warnings). */
export function sfdiskDump(image: string): string {
  return run('sfdisk', ['-d', image]);
}

/** xorriso -as mkisofs with the given arguments (reference images). */
export function xorrisoMkisofs(args: string[]): void {
  run('xorriso', ['-as', 'mkisofs', ...args]);
}
