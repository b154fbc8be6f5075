// Extracts a subtree of an image to a directory, like `unsquashfs -d dest
// image path`. Safe against hostile images: every name was checked by the
// reader (no '/', '.', '..', NUL, duplicates), paths are built only from
// those names, files are created exclusively (an existing file or symlink at
// the destination is an error, never followed), and a directory that already
// exists is only entered if it is a real directory. Symlinks are created as
// stored and never followed. Modes and mtimes are applied after the contents,
// so read-only directories do not get in the way.

import { createWriteStream, promises as fs } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { SquashfsError } from './errors.js';
import type { SquashfsEntry, SquashfsReader } from './reader.js';
import { splitPath } from '../file-tree.js';

export interface ExtractOptions {
  /**
   * Put the subtree's contents straight into `dest` (a file goes to
   * dest/<name>). Default false: keep the path from the image root, as
   * unsquashfs does (extracting usr/lib/modules gives dest/usr/lib/modules/...).
   */
  strip?: boolean;
  /** Device nodes, fifos and sockets: fail (default) or leave them out. */
  special?: 'error' | 'skip';
  /** Give entries the image's uid/gid (needs root). Default false: they belong to the caller. */
  owner?: boolean;
}

const SLASH = Buffer.from('/');

function child(dir: Buffer, name: Buffer): Buffer {
  return Buffer.concat([dir, SLASH, name]);
}

/** Creates a directory, or accepts an existing real directory (not a symlink to one). */
async function ensureDirectory(path: Buffer): Promise<void> {
  try {
    await fs.mkdir(path, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const st = await fs.lstat(path);
    if (!st.isDirectory()) throw new SquashfsError(`squashfs: extract: ${path.toString('utf8')} exists and is not a directory`);
  }
}

export async function extractSquashfs(reader: SquashfsReader, path: string, dest: string, options: ExtractOptions = {}): Promise<void> {
  const start = await reader.stat(path);
  await fs.mkdir(dest, { recursive: true });
  let base: Buffer = Buffer.from(dest);
  // Directories whose mode and time are set once their contents are in place.
  const ancestors: Array<{ path: Buffer; entry: SquashfsEntry }> = [];
  const directories: Array<{ path: Buffer; entry: SquashfsEntry }> = [];

  if (!options.strip) {
    // Recreate the ancestors of the subtree with their own modes and times.
    const names = splitPath(path);
    for (let depth = 1; depth < names.length; depth++) {
      const ancestor = await reader.stat(names.slice(0, depth).join('/'));
      base = child(base, ancestor.nameBytes);
      await ensureDirectory(base);
      ancestors.push({ path: base, entry: ancestor });
    }
  }

  const links = new Map<number, Buffer>();
  const visit = async (entry: SquashfsEntry, target: Buffer): Promise<void> => {
    switch (entry.type) {
      case 'directory':
        await ensureDirectory(target);
        for (const sub of await reader.readdir(entry)) await visit(sub, child(target, sub.nameBytes));
        directories.push({ path: target, entry }); // after its children: post-order
        return;
      case 'file': {
        const first = entry.nlink > 1 ? links.get(entry.inodeNumber) : undefined;
        if (first) {
          await fs.link(first, target);
          return;
        }
        await pipeline(reader.createReadStream(entry), createWriteStream(target, { flags: 'wx', mode: 0o600 }));
        if (entry.nlink > 1) links.set(entry.inodeNumber, target);
        // chown before chmod: changing the owner clears set-id bits.
        if (options.owner) await fs.lchown(target, entry.uid, entry.gid);
        await fs.chmod(target, entry.mode);
        await fs.utimes(target, entry.mtime, entry.mtime);
        return;
      }
      case 'symlink':
        await fs.symlink(entry.inode.kind === 'symlink' ? entry.inode.target : Buffer.alloc(0), target);
        if (options.owner) await fs.lchown(target, entry.uid, entry.gid);
        await fs.lutimes(target, entry.mtime, entry.mtime);
        return;
      default:
        if (options.special === 'skip') return;
        throw new SquashfsError(`squashfs: extract: /${entry.path} is a ${entry.type}, which is not extracted (special: 'skip' leaves them out)`);
    }
  };

  // The root, or a stripped directory, is extracted into the base directory itself.
  const intoBase = start.path === '' || (options.strip && start.type === 'directory');
  await visit(start, intoBase ? base : child(base, start.nameBytes));

  // Children before parents, so a read-only directory never blocks what is inside it.
  for (const { path: dir, entry } of [...directories, ...ancestors.reverse()]) {
    if (options.owner) await fs.lchown(dir, entry.uid, entry.gid);
    await fs.chmod(dir, entry.mode);
    await fs.utimes(dir, entry.mtime, entry.mtime);
  }
}
