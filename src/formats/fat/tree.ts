// What goes into a FAT image: directories and regular files (content from a
// path on disk, read while the image is written, or from bytes), with the
// DOS attributes a file may carry. Times are not part of the model: the
// image has one timestamp for every entry, so the same tree always gives
// the same image. Names are kept as given; the writer derives short names.

import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { FatError } from './errors.js';
import { checkLongName, nameKey } from './names.js';

/** Content of a regular file: a file on disk or bytes. */
export type FatFileSource = { path: string } | { data: Uint8Array };

export interface FatAttributes {
  readOnly?: boolean;
  hidden?: boolean;
  system?: boolean;
}

export interface FatDirectory {
  kind: 'directory';
  attributes: FatAttributes;
  /** Keyed by the name as given. */
  children: Map<string, FatNode>;
}

export interface FatFile {
  kind: 'file';
  attributes: FatAttributes;
  source: FatFileSource;
}

export type FatNode = FatDirectory | FatFile;

/** Splits a '/'-separated path into checked names; '' and '/' are the root. */
export function splitFatPath(path: string): string[] {
  const names = path.split('/').filter((name) => name !== '');
  for (const name of names) checkLongName(name, path);
  return names;
}

export class FatTree {
  readonly root: FatDirectory = { kind: 'directory', attributes: {}, children: new Map() };
  /** Per directory: case-folded name → name as given. */
  private readonly keys = new WeakMap<FatDirectory, Map<string, string>>();

  /** A tree holding a copy of a directory's contents (files by path); symlinks and devices are refused. */
  static async fromDirectory(dir: string): Promise<FatTree> {
    const tree = new FatTree();
    await tree.addDirectoryContents(dir);
    return tree;
  }

  get(path: string): FatNode | undefined {
    let node: FatNode = this.root;
    for (const name of splitFatPath(path)) {
      if (node.kind !== 'directory') return undefined;
      const next: FatNode | undefined = node.children.get(name);
      if (!next) return undefined;
      node = next;
    }
    return node;
  }

  /** The directory at `path`, created with any missing parents. */
  directory(path: string, attributes: FatAttributes = {}): FatDirectory {
    let dir = this.root;
    const names = splitFatPath(path);
    for (const [i, name] of names.entries()) {
      let next = dir.children.get(name);
      if (!next) {
        next = { kind: 'directory', attributes: {}, children: new Map() };
        this.attach(dir, name, next, names.slice(0, i + 1).join('/'));
      } else if (next.kind !== 'directory') {
        throw new FatError(`fat: ${names.slice(0, i + 1).join('/')} exists and is not a directory`);
      }
      dir = next;
    }
    if (names.length > 0) dir.attributes = { ...dir.attributes, ...attributes };
    return dir;
  }

  /** Adds (or replaces) a regular file; parents are created as needed. */
  file(path: string, source: FatFileSource, attributes: FatAttributes = {}): FatFile {
    const names = splitFatPath(path);
    const name = names.pop();
    if (name === undefined) throw new FatError('fat: the root cannot be replaced');
    const parent = this.directory(names.join('/'));
    const existing = parent.children.get(name);
    if (existing?.kind === 'directory') throw new FatError(`fat: ${path} is a directory`);
    const node: FatFile = { kind: 'file', attributes: { ...attributes }, source };
    if (existing) parent.children.set(name, node);
    else this.attach(parent, name, node, path);
    return node;
  }

  /** Copies a host directory's entries under `at` (files by path). */
  async addDirectoryContents(dir: string, at = ''): Promise<void> {
    const entries = await fs.readdir(dir, { withFileTypes: true });
    for (const entry of entries) {
      const source = join(dir, entry.name);
      const path = at === '' ? entry.name : `${at}/${entry.name}`;
      if (entry.isDirectory()) {
        this.directory(path);
        await this.addDirectoryContents(source, path);
      } else if (entry.isFile()) {
        this.file(path, { path: source });
      } else {
        throw new FatError(`fat: ${source}: only directories and regular files can go into a FAT image`);
      }
    }
  }

  /** FAT compares names case-insensitively: "EFI" and "efi" cannot both exist. */
  private attach(parent: FatDirectory, name: string, node: FatNode, path: string): void {
    let keys = this.keys.get(parent);
    if (!keys) {
      keys = new Map();
      this.keys.set(parent, keys);
    }
    const key = nameKey(name);
    const other = keys.get(key);
    if (other !== undefined) throw new FatError(`fat: ${path} clashes with ${JSON.stringify(other)} (FAT names are case-insensitive)`);
    keys.set(key, name);
    parent.children.set(name, node);
  }
}
