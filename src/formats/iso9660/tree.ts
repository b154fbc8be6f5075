// What goes into an ISO: a tree of directories, regular files (content from a
// path on disk, read while the image is written, or from bytes) and symlinks.
// Owners and times are not part of the model: every entry is written as
// root:root with the image's one file date, so the same tree always gives the
// same image. Names are kept as given (Rock Ridge carries them); the writer
// derives the ISO 9660 identifiers.

import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { Iso9660Error } from './errors.js';

/** Content of a regular file: a file on disk or bytes. */
export type IsoFileSource = { path: string } | { data: Uint8Array };

export interface IsoDirectory {
  kind: 'directory';
  /** Permission bits (0..0o7777). */
  mode: number;
  children: Map<string, IsoNode>;
}

export interface IsoFile {
  kind: 'file';
  mode: number;
  source: IsoFileSource;
}

export interface IsoSymlink {
  kind: 'symlink';
  mode: number;
  target: string;
}

export type IsoNode = IsoDirectory | IsoFile | IsoSymlink;

export const DEFAULT_DIR_MODE = 0o755;
export const DEFAULT_FILE_MODE = 0o644;
export const DEFAULT_SYMLINK_MODE = 0o777;
/**
 * Longest name in bytes. Rock Ridge could carry more (NM entries continue),
 * but Linux' isofs drops any NM piece that would take a name to 254 bytes or
 * more, so a 254- or 255-byte name would come out truncated there (measured).
 */
export const NAME_MAX = 253;
/** Linux' PATH_MAX less the terminating NUL. */
export const SYMLINK_MAX = 4095;

function checkMode(mode: number, path: string): number {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new Iso9660Error(`iso9660: ${path}: mode ${mode} is not a permission value (0..0o7777)`);
  return mode;
}

/** Splits a '/'-separated path into checked names; '' and '/' are the root. */
export function splitPath(path: string): string[] {
  const names = path.split('/').filter((name) => name !== '');
  for (const name of names) {
    if (name === '.' || name === '..') throw new Iso9660Error(`iso9660: ${path}: '.' and '..' are not allowed in paths`);
    if (name.includes('\0')) throw new Iso9660Error(`iso9660: ${JSON.stringify(path)}: NUL in a name`);
    if (Buffer.byteLength(name, 'utf8') > NAME_MAX) throw new Iso9660Error(`iso9660: ${path}: name longer than ${NAME_MAX} bytes`);
  }
  return names;
}

export class IsoTree {
  readonly root: IsoDirectory;

  constructor(options: { rootMode?: number } = {}) {
    this.root = { kind: 'directory', mode: checkMode(options.rootMode ?? DEFAULT_DIR_MODE, '/'), children: new Map() };
  }

  /** A tree holding a copy of a directory's contents (files by path), with the directory's mode for the root. */
  static async fromDirectory(dir: string): Promise<IsoTree> {
    const st = await fs.stat(dir);
    if (!st.isDirectory()) throw new Iso9660Error(`iso9660: ${dir} is not a directory`);
    const tree = new IsoTree({ rootMode: st.mode & 0o7777 });
    await tree.addDirectoryContents(dir);
    return tree;
  }

  get(path: string): IsoNode | undefined {
    let node: IsoNode = this.root;
    for (const name of splitPath(path)) {
      if (node.kind !== 'directory') return undefined;
      const next: IsoNode | undefined = node.children.get(name);
      if (!next) return undefined;
      node = next;
    }
    return node;
  }

  /** The directory at `path`, created with any missing parents (0755); `mode` sets its mode. */
  directory(path: string, options: { mode?: number } = {}): IsoDirectory {
    let dir = this.root;
    const names = splitPath(path);
    for (const [i, name] of names.entries()) {
      let next = dir.children.get(name);
      if (!next) {
        next = { kind: 'directory', mode: DEFAULT_DIR_MODE, children: new Map() };
        dir.children.set(name, next);
      } else if (next.kind !== 'directory') {
        throw new Iso9660Error(`iso9660: ${names.slice(0, i + 1).join('/')} exists and is not a directory`);
      }
      dir = next;
    }
    if (options.mode !== undefined) dir.mode = checkMode(options.mode, path);
    return dir;
  }

  /** Adds (or replaces) a regular file; parents are created as needed. */
  file(path: string, source: IsoFileSource, options: { mode?: number } = {}): IsoFile {
    const node: IsoFile = { kind: 'file', mode: checkMode(options.mode ?? DEFAULT_FILE_MODE, path), source };
    this.add(path, node);
    return node;
  }

  /** Adds (or replaces) a symlink; the target is stored as given, never resolved. */
  symlink(path: string, target: string, options: { mode?: number } = {}): IsoSymlink {
    const size = Buffer.byteLength(target, 'utf8');
    if (size === 0 || size > SYMLINK_MAX) throw new Iso9660Error(`iso9660: ${path}: symlink target must be 1..${SYMLINK_MAX} bytes`);
    if (target.includes('\0')) throw new Iso9660Error(`iso9660: ${path}: NUL in symlink target`);
    const node: IsoSymlink = { kind: 'symlink', mode: checkMode(options.mode ?? DEFAULT_SYMLINK_MODE, path), target };
    this.add(path, node);
    return node;
  }

  /** Copies a host directory's entries under `at` (files by path, symlinks by target). */
  async addDirectoryContents(dir: string, at = ''): Promise<void> {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
    for (const entry of entries) {
      const source = join(dir, entry.name);
      const path = at === '' ? entry.name : `${at}/${entry.name}`;
      const st = await fs.lstat(source);
      const mode = st.mode & 0o7777;
      if (st.isDirectory()) {
        this.directory(path, { mode });
        await this.addDirectoryContents(source, path);
      } else if (st.isFile()) {
        this.file(path, { path: source }, { mode });
      } else if (st.isSymbolicLink()) {
        this.symlink(path, await fs.readlink(source), { mode });
      } else {
        throw new Iso9660Error(`iso9660: ${source}: only directories, regular files and symlinks can go into an ISO`);
      }
    }
  }

  private add(path: string, node: IsoNode): void {
    const names = splitPath(path);
    const name = names.pop();
    if (name === undefined) throw new Iso9660Error('iso9660: the root cannot be replaced');
    const parent = this.directory(names.join('/'));
    if (parent.children.get(name)?.kind === 'directory') throw new Iso9660Error(`iso9660: ${path} is a directory`);
    parent.children.set(name, node);
  }
}
