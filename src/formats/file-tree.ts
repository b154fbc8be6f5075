// What goes into a filesystem image (squashfs, ISO 9660, FAT): a tree of
// directories, regular files (content from a path on disk, read while the
// image is written, or from bytes) and symlinks, each with permission bits,
// built by hand or read from a directory. Owners and times are not part of the
// model: every writer stores one owner and one time for all entries, so the
// same tree always gives the same image. Names are kept as given; the rules of
// one format (name lengths and characters, FAT's case-insensitive names and
// lack of symlinks) are checked by that format where it plans its image.

import { promises as fs } from 'node:fs';
import { join } from 'node:path';

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

/** A tree that cannot be built as asked (bad path, mode or target, a clash, an unsupported file type). */
export class FileTreeError extends Error {
  override name = 'FileTreeError';
}

function checkMode(mode: number, path: string): number {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new FileTreeError(`${path}: mode ${mode} is not a permission value (0..0o7777)`);
  return mode;
}

/** Splits a '/'-separated path into names; '' and '/' are the root. */
export function splitPath(path: string): string[] {
  const names = path.split('/').filter((name) => name !== '');
  for (const name of names) {
    if (name === '.' || name === '..') throw new FileTreeError(`${path}: '.' and '..' are not allowed in paths`);
    if (name.includes('\0')) throw new FileTreeError(`${JSON.stringify(path)}: NUL in a name`);
  }
  return names;
}

/** `name` under `dir`, '' being the root. */
export function childPath(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** Bytes as UTF-8 text, refusing anything that would not survive the round trip. */
function utf8(bytes: Buffer, what: string): string {
  const text = bytes.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(bytes)) throw new FileTreeError(`${what} is not valid UTF-8`);
  return text;
}

/** A source's size in bytes; a path must name a regular file. */
export async function sourceSize(source: FileSource, what: string): Promise<number> {
  if ('data' in source) return source.data.length;
  const st = await fs.stat(source.path);
  if (!st.isFile()) throw new FileTreeError(`${what}: ${source.path} is not a regular file`);
  return st.size;
}

export class FileTree {
  readonly root: TreeDirectory;

  constructor(options: { rootMode?: number } = {}) {
    this.root = { kind: 'directory', mode: checkMode(options.rootMode ?? DEFAULT_DIR_MODE, '/'), children: new Map() };
  }

  /** A tree holding a copy of a directory's contents, with the directory's mode for the root. */
  static async fromDirectory(dir: string): Promise<FileTree> {
    const st = await fs.stat(dir);
    if (!st.isDirectory()) throw new FileTreeError(`${dir} is not a directory`);
    const tree = new FileTree({ rootMode: st.mode & 0o7777 });
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
        throw new FileTreeError(`${names.slice(0, i + 1).join('/')} exists and is not a directory`);
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
    if (target === '') throw new FileTreeError(`${path}: empty symlink target`);
    if (target.includes('\0')) throw new FileTreeError(`${path}: NUL in symlink target`);
    const node: TreeSymlink = { kind: 'symlink', mode: checkMode(options.mode ?? DEFAULT_SYMLINK_MODE, path), target };
    this.add(path, node);
    return node;
  }

  /** Removes the entry at `path` (a directory with everything under it); false when there is none. */
  remove(path: string): boolean {
    const names = splitPath(path);
    const name = names.pop();
    if (name === undefined) throw new FileTreeError('the root cannot be removed');
    const parent = this.get(names.join('/'));
    return parent?.kind === 'directory' && parent.children.delete(name);
  }

  /**
   * Copies what is in `src` (recursively, symlinks not followed) under `at`.
   * Directories that already exist are merged and take the source's mode;
   * any other clash is an error. Device nodes, fifos and sockets are refused.
   * Hard links become independent copies.
   */
  async addDirectoryContents(src: string, at = ''): Promise<void> {
    const names = await fs.readdir(src, { encoding: 'buffer' });
    names.sort(Buffer.compare);
    for (const raw of names) {
      const name = utf8(raw, `name ${JSON.stringify(raw.toString('latin1'))} in ${src}`);
      const full = join(src, name);
      const dest = childPath(at, name);
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
        throw new FileTreeError(`${full} is ${kind}; only directories, regular files and symlinks are supported`);
      }
    }
  }

  private add(path: string, node: TreeFile | TreeSymlink): void {
    const names = splitPath(path);
    const name = names.pop();
    if (name === undefined) throw new FileTreeError('the root is a directory');
    const parent = this.directory(names.join('/'));
    if (parent.children.has(name)) throw new FileTreeError(`${path} already exists`);
    parent.children.set(name, node);
  }
}
