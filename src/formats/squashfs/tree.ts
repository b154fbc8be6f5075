// What goes into an image: a tree of directories, regular files (content from
// a path on disk or from bytes in memory) and symlinks, built by hand or read
// from a directory. Ownership and times are not part of the model: the writer
// stores every entry as root:root with one fixed mtime (mksquashfs -all-root
// -all-time), so the same tree always gives the same image.

import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { SYMLINK_MAX, WRITE_NAME_MAX } from './constants.js';
import { SquashfsError } from './errors.js';

/** Content of a regular file: a file on disk (read when the image is written) or bytes. */
export type FileSource = { path: string } | { data: Uint8Array };

export interface TreeDirectory {
  kind: 'directory';
  /** Permission bits (0..0o7777). */
  mode: number;
  children: Map<string, TreeNode>;
}

export interface TreeFile {
  kind: 'file';
  mode: number;
  source: FileSource;
}

export interface TreeSymlink {
  kind: 'symlink';
  mode: number;
  target: string;
}

export type TreeNode = TreeDirectory | TreeFile | TreeSymlink;

export const DEFAULT_DIR_MODE = 0o755;
export const DEFAULT_FILE_MODE = 0o644;
export const DEFAULT_SYMLINK_MODE = 0o777;

function checkMode(mode: number, path: string): number {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new SquashfsError(`squashfs: ${path}: mode ${mode} is not a permission value (0..0o7777)`);
  return mode;
}

/** Splits a '/'-separated path into checked names; '' and '/' are the root. */
export function splitPath(path: string): string[] {
  const names = path.split('/').filter((name) => name !== '');
  for (const name of names) {
    if (name === '.' || name === '..') throw new SquashfsError(`squashfs: ${path}: '.' and '..' are not allowed in paths`);
    if (name.includes('\0')) throw new SquashfsError(`squashfs: ${JSON.stringify(path)}: NUL in a name`);
    if (Buffer.byteLength(name, 'utf8') > WRITE_NAME_MAX) throw new SquashfsError(`squashfs: ${path}: name longer than ${WRITE_NAME_MAX} bytes`);
  }
  return names;
}

/** Bytes as UTF-8 text, refusing anything that would not survive the round trip. */
function utf8(bytes: Buffer, what: string): string {
  const text = bytes.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(bytes)) throw new SquashfsError(`squashfs: ${what} is not valid UTF-8`);
  return text;
}

export class SquashfsTree {
  readonly root: TreeDirectory;

  constructor(options: { rootMode?: number } = {}) {
    this.root = { kind: 'directory', mode: checkMode(options.rootMode ?? DEFAULT_DIR_MODE, '/'), children: new Map() };
  }

  /** A tree holding a copy of a directory's contents, with the directory's mode for the root. */
  static async fromDirectory(dir: string): Promise<SquashfsTree> {
    const st = await fs.stat(dir);
    if (!st.isDirectory()) throw new SquashfsError(`squashfs: ${dir} is not a directory`);
    const tree = new SquashfsTree({ rootMode: st.mode & 0o7777 });
    await tree.addDirectoryContents(dir);
    return tree;
  }

  get(path: string): TreeNode | undefined {
    let node: TreeNode = this.root;
    for (const name of splitPath(path)) {
      if (node.kind !== 'directory') return undefined;
      const next: TreeNode | undefined = node.children.get(name);
      if (!next) return undefined;
      node = next;
    }
    return node;
  }

  /** The directory at `path`, created with any missing parents (0755); `mode` sets its mode. */
  directory(path: string, options: { mode?: number } = {}): TreeDirectory {
    let dir = this.root;
    const names = splitPath(path);
    for (const [i, name] of names.entries()) {
      let next = dir.children.get(name);
      if (!next) {
        next = { kind: 'directory', mode: DEFAULT_DIR_MODE, children: new Map() };
        dir.children.set(name, next);
      } else if (next.kind !== 'directory') {
        throw new SquashfsError(`squashfs: ${names.slice(0, i + 1).join('/')} exists and is not a directory`);
      }
      dir = next;
    }
    if (options.mode !== undefined) dir.mode = checkMode(options.mode, path);
    return dir;
  }

  /** Adds a regular file (parents are created as needed). */
  file(path: string, source: FileSource, options: { mode?: number } = {}): TreeFile {
    const node: TreeFile = { kind: 'file', mode: checkMode(options.mode ?? DEFAULT_FILE_MODE, path), source };
    this.add(path, node);
    return node;
  }

  /** Adds a symlink; the target is stored as given, never resolved. */
  symlink(path: string, target: string, options: { mode?: number } = {}): TreeSymlink {
    const size = Buffer.byteLength(target, 'utf8');
    if (size === 0 || size > SYMLINK_MAX) throw new SquashfsError(`squashfs: ${path}: symlink target must be 1..${SYMLINK_MAX} bytes`);
    if (target.includes('\0')) throw new SquashfsError(`squashfs: ${path}: NUL in symlink target`);
    const node: TreeSymlink = { kind: 'symlink', mode: checkMode(options.mode ?? DEFAULT_SYMLINK_MODE, path), target };
    this.add(path, node);
    return node;
  }

  private add(path: string, node: TreeFile | TreeSymlink): void {
    const names = splitPath(path);
    const name = names.pop();
    if (name === undefined) throw new SquashfsError('squashfs: the root is a directory');
    const parent = this.directory(names.join('/'));
    if (parent.children.has(name)) throw new SquashfsError(`squashfs: ${path} already exists`);
    parent.children.set(name, node);
  }

  /**
   * Copies what is in `src` (recursively, symlinks not followed) under `at`.
   * Directories that already exist are merged and take the source's mode;
   * any other clash is an error. Device nodes, fifos and sockets are refused.
   * Hard links become independent copies.
   */
  async addDirectoryContents(src: string, at = ''): Promise<void> {
    const names = await fs.readdir(src, { encoding: 'buffer' });
    for (const raw of names) {
      const name = utf8(raw, `name ${JSON.stringify(raw.toString('latin1'))} in ${src}`);
      const full = join(src, name);
      const dest = at === '' ? name : `${at}/${name}`;
      const st = await fs.lstat(full);
      const mode = st.mode & 0o7777;
      if (st.isDirectory()) {
        this.directory(dest, { mode });
        await this.addDirectoryContents(full, dest);
      } else if (st.isFile()) {
        this.file(dest, { path: full }, { mode });
      } else if (st.isSymbolicLink()) {
        this.symlink(dest, utf8(await fs.readlink(full, { encoding: 'buffer' }), `symlink target of ${full}`), { mode });
      } else {
        const kind = st.isFIFO() ? 'a fifo' : st.isSocket() ? 'a socket' : 'a device node';
        throw new SquashfsError(`squashfs: ${full} is ${kind}; only directories, regular files and symlinks are supported`);
      }
    }
  }
}
