// squashfs-tools as the test oracle: what unsquashfs lists, extracts and says
// about a superblock, mksquashfs to make reference images, and a snapshot of
// a directory tree on disk to compare extractions byte for byte.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

function run(tool: string, args: string[]): string {
  return execFileSync(tool, args, { encoding: 'utf8', maxBuffer: 256 << 20, env: { ...process.env, TZ: 'UTC' } });
}

export interface ListedEntry {
  /** Path without the squashfs-root prefix; '' for the root. */
  path: string;
  /** ls-style permission string, e.g. -rwsr-xr-x. */
  perms: string;
  owner: string;
  size: number;
  target?: string;
  /** Device nodes: "major,minor". */
  device?: string;
}

/** `unsquashfs -lls`: one entry per line, like ls -l. */
export function unsquashfsList(image: string): ListedEntry[] {
  const out: ListedEntry[] = [];
  for (const line of run('unsquashfs', ['-lls', '-UTC', image]).split('\n')) {
    // Devices show "major, minor" where others show a size.
    const m = /^([-dlcbps][-rwxsStT]{9}) (\S+)\s+(\d+|\d+,\s*\d+) \d{4}-\d\d-\d\d \d\d:\d\d squashfs-root(.*)$/.exec(line);
    if (!m) continue;
    let path = m[4]!.replace(/^\//, '');
    let target: string | undefined;
    if (m[1]!.startsWith('l')) {
      const arrow = path.indexOf(' -> ');
      target = path.slice(arrow + 4);
      path = path.slice(0, arrow);
    }
    const device = m[3]!.includes(',') ? m[3]!.replace(/\s+/g, '') : undefined;
    out.push({ path, perms: m[1]!, owner: m[2]!, size: device ? 0 : Number(m[3]), ...(target !== undefined ? { target } : {}), ...(device ? { device } : {}) });
  }
  return out;
}

export interface PseudoEntry {
  path: string;
  /** D, R, S, ... */
  type: string;
  mtime: number;
  mode: number;
  uid: number;
  gid: number;
  size?: number;
  target?: string;
}

/** Splits a pseudo-file line into fields, undoing unsquashfs' backslash escapes. */
function pseudoFields(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && i + 1 < line.length) field += line[++i];
    else if (c === ' ') {
      fields.push(field);
      field = '';
    } else field += c;
  }
  fields.push(field);
  return fields;
}

/** `unsquashfs -pf`: the pseudo-file definition of the image (exact modes, ids, times). */
export function unsquashfsPseudo(image: string, scratch: string): PseudoEntry[] {
  const file = join(scratch, `pseudo-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  run('unsquashfs', ['-no-progress', '-pf', file, image]);
  const text = readFileSync(file).toString('utf8');
  const out: PseudoEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) break;
    if (line === '') continue;
    const f = pseudoFields(line);
    const entry: PseudoEntry = {
      path: f[0] === '/' ? '' : f[0]!,
      type: f[1]!,
      mtime: Number(f[2]),
      mode: parseInt(f[3]!, 8),
      uid: Number(f[4]),
      gid: Number(f[5]),
    };
    if (entry.type === 'R') entry.size = Number(f[6]);
    if (entry.type === 'S') entry.target = f.slice(6).join(' ');
    out.push(entry);
  }
  return out;
}

export interface SuperblockInfo {
  compression: string;
  blockSize: number;
  level?: number;
  fragments: number;
  inodes: number;
  created: string;
  text: string;
}

/** `unsquashfs -s`. */
export function unsquashfsStat(image: string): SuperblockInfo {
  const text = run('unsquashfs', ['-s', '-UTC', image]);
  const get = (re: RegExp) => re.exec(text)?.[1];
  const level = get(/compression-level (\d+)/) ?? get(/Compression level (\d+)/);
  return {
    compression: get(/^Compression (\S+)/m) ?? '',
    blockSize: Number(get(/^Block size (\d+)/m)),
    ...(level !== undefined ? { level: Number(level) } : {}),
    fragments: Number(get(/^Number of fragments (\d+)/m)),
    inodes: Number(get(/^Number of inodes (\d+)/m)),
    created: get(/^Creation or last append time (.*)$/m) ?? '',
    text,
  };
}

/** `unsquashfs -d dest image [paths]` (dest must not exist). */
export function unsquashfsExtract(image: string, dest: string, paths: string[] = []): void {
  run('unsquashfs', ['-no-progress', '-quiet', '-d', dest, image, ...paths]);
}

/** `mksquashfs src out -all-root -noappend -mkfs-time 0 -all-time 0 ...` (allRoot false: keep owners). */
export function mksquashfs(src: string, out: string, args: string[], options: { allRoot?: boolean } = {}): void {
  const owners = options.allRoot === false ? [] : ['-all-root'];
  run('mksquashfs', [src, out, ...owners, '-noappend', '-mkfs-time', '0', '-all-time', '0', '-quiet', '-no-progress', ...args]);
}

export interface DiskEntry {
  path: string;
  type: 'directory' | 'file' | 'symlink' | 'other';
  mode: number;
  size?: number;
  sha256?: string;
  target?: string;
}

/** Every entry under `root` (excluded), sorted by path bytes, with content digests. */
export function snapshot(root: string): DiskEntry[] {
  const out: DiskEntry[] = [];
  const walk = (dir: string, prefix: string) => {
    const names = readdirSync(dir).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const name of names) {
      const full = join(dir, name);
      const path = prefix ? `${prefix}/${name}` : name;
      const st = lstatSync(full);
      const mode = st.mode & 0o7777;
      if (st.isDirectory()) {
        out.push({ path, type: 'directory', mode });
        walk(full, path);
      } else if (st.isFile()) {
        out.push({ path, type: 'file', mode, size: st.size, sha256: createHash('sha256').update(readFileSync(full)).digest('hex') });
      } else if (st.isSymbolicLink()) {
        out.push({ path, type: 'symlink', mode, target: readlinkSync(full) });
      } else {
        out.push({ path, type: 'other', mode });
      }
    }
  };
  walk(root, '');
  return out;
}

/** ls -l permission string for a type and mode. */
export function permString(type: 'directory' | 'file' | 'symlink', mode: number): string {
  const t = type === 'directory' ? 'd' : type === 'symlink' ? 'l' : '-';
  const bit = (m: number, c: string) => (mode & m ? c : '-');
  const special = (x: number, s: number, lower: string, upper: string) => (mode & s ? (mode & x ? lower : upper) : bit(x, 'x'));
  return (
    t +
    bit(0o400, 'r') + bit(0o200, 'w') + special(0o100, 0o4000, 's', 'S') +
    bit(0o040, 'r') + bit(0o020, 'w') + special(0o010, 0o2000, 's', 'S') +
    bit(0o004, 'r') + bit(0o002, 'w') + special(0o001, 0o1000, 't', 'T')
  );
}
