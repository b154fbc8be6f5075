// dosfstools and mtools as the test oracles for FAT images: fsck.fat's
// verdict, what mdir lists (long names) and mcopy extracts, the label mlabel
// reads, minfo's boot sector view and mattrib's attributes. Also makes
// reference images with mkfs.vfat + mtools. Images may sit at a byte offset
// inside a bigger file (mtools' `img@@offset`).

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { skipUnlessCi } from './tool-skip.js';

export const FAT_TOOLS = { 'fsck.fat': 'dosfstools', 'mkfs.vfat': 'dosfstools', mdir: 'mtools', mcopy: 'mtools', mlabel: 'mtools', minfo: 'mtools', mattrib: 'mtools', mmd: 'mtools' } as const;
type FatTool = keyof typeof FAT_TOOLS;

// fsck.fat and mkfs.vfat live in /usr/sbin, which a non-root PATH may lack.
const ENV = { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin`, MTOOLS_SKIP_CHECK: '1', TZ: 'UTC', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };

function available(tool: string): boolean {
  const probe = spawnSync(tool, ['--version'], { stdio: 'ignore', env: ENV });
  return probe.error === undefined;
}

/** Why an oracle test is skipped, or undefined when every tool is there. */
export function fatToolsSkipReason(tools: FatTool[] = Object.keys(FAT_TOOLS) as FatTool[]): string | undefined {
  const missing = tools.filter((t) => !available(t));
  if (missing.length === 0) return undefined;
  return skipUnlessCi(`missing ${missing.join(', ')} (apt-get install ${[...new Set(missing.map((t) => FAT_TOOLS[t]))].join(' ')})`);
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runTool(tool: string, args: string[]): RunResult {
  const result = spawnSync(tool, args, { encoding: 'utf8', maxBuffer: 256 << 20, env: ENV });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function run(tool: string, args: string[]): string {
  const result = runTool(tool, args);
  if (result.status !== 0) throw new Error(`${tool} ${args.join(' ')} exited with ${result.status}: ${result.stderr}${result.stdout}`);
  return result.stdout;
}

/** mtools' name for an image at a byte offset. */
export function mtoolsImage(image: string, offset = 0): string {
  return offset === 0 ? image : `${image}@@${offset}`;
}

/** `fsck.fat -n -v`: exit status and everything it said. */
export function fsckFat(image: string): RunResult {
  return runTool('fsck.fat', ['-n', '-v', image]);
}

/** `mdir -/ -b -a ::`: every path (long names, hidden ones too), directories with a trailing '/', without the leading "::/". */
export function mdirPaths(image: string, offset = 0): string[] {
  return run('mdir', ['-i', mtoolsImage(image, offset), '-/', '-b', '-a', '::'])
    .split('\n')
    .filter((line) => line.startsWith('::/'))
    .map((line) => line.slice(3))
    .sort();
}

/** `mcopy -s -n ::/ <dir>`: the whole tree extracted. */
export function mcopyExtract(image: string, dir: string, offset = 0): void {
  run('mcopy', ['-i', mtoolsImage(image, offset), '-s', '-n', '::/', `${dir}/`]);
}

/** `mlabel -s ::`'s label, trailing spaces removed. */
export function mlabelShow(image: string, offset = 0): string {
  const out = run('mlabel', ['-i', mtoolsImage(image, offset), '-s', '::']);
  const m = /Volume label is (.*)$/m.exec(out);
  if (!m) throw new Error(`unexpected mlabel output: ${out}`);
  return m[1]!.trimEnd();
}

/** `minfo ::` as key → value (the boot sector part, e.g. "serial number", "sectors per cluster"). */
export function minfo(image: string, offset = 0): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of run('minfo', ['-i', mtoolsImage(image, offset), '::']).split('\n')) {
    const m = /^([a-zA-Z][^:=]*?)\s*[:=]\s*(.*)$/.exec(line);
    if (m) fields[m[1]!.trim()] = m[2]!.trim().replace(/^"|"$/g, '');
  }
  return fields;
}

/** `mattrib -/ ::`: path → attribute letters (A, R, S, H). */
export function mattribList(image: string, offset = 0): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of run('mattrib', ['-i', mtoolsImage(image, offset), '-/', '::']).split('\n')) {
    const m = /^(.{10})\s*::\/(.*)$/.exec(line);
    if (m && m[2] !== '') out.set(m[2]!, m[1]!.replace(/\s/g, ''));
  }
  return out;
}

/**
 * A reference FAT32 image made the way Talos' imager does it: mkfs.vfat -F 32
 * --invariant (optionally -s <spc>), then mmd + mcopy for `files` (path in the
 * image → file on disk).
 */
export function makeMtoolsFat(out: string, kib: number, files: Record<string, string>, options: { label?: string; sectorsPerCluster?: number } = {}): void {
  const args = ['-C', '-F', '32', '--invariant'];
  if (options.label) args.push('-n', options.label);
  if (options.sectorsPerCluster) args.push('-s', String(options.sectorsPerCluster));
  if (existsSync(out)) throw new Error(`${out} exists`);
  run('mkfs.vfat', [...args, out, String(kib)]);
  const dirs = new Set<string>();
  for (const path of Object.keys(files)) {
    for (let dir = dirname(path); dir !== '.' && dir !== '/'; dir = dirname(dir)) dirs.add(dir);
  }
  const ordered = [...dirs].sort((a, b) => a.split('/').length - b.split('/').length);
  if (ordered.length) run('mmd', ['-i', out, ...ordered.map((d) => `::/${d}`)]);
  for (const [path, source] of Object.entries(files)) run('mcopy', ['-i', out, source, `::/${path}`]);
}
