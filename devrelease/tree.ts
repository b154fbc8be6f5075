// Directory trees the build stages: copying, normalising what the archive
// tools would otherwise pick up from the host (umask, times), listing in
// archive order, and hashing sources for cache keys.

import { createHash } from 'node:crypto';
import { chmod, copyFile, lstat, lutimes, mkdir, readFile, readdir, readlink, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** Every path under `root`, relative, sorted by bytes (what `find . | LC_ALL=C sort` gives, without `.`). */
export async function listTree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, prefix: string): Promise<void> => {
    for (const dirent of await readdir(dir, { withFileTypes: true })) {
      const rel = prefix === '' ? dirent.name : `${prefix}/${dirent.name}`;
      out.push(rel);
      if (dirent.isDirectory()) await walk(join(dir, dirent.name), rel);
    }
  };
  await walk(root, '');
  return out.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/**
 * Copies `from` (a file, symlink or directory tree) to `to`, creating parents.
 * `rename` maps each relative path inside a copied directory to where it goes.
 */
export async function copyInto(from: string, to: string, rename: (rel: string) => string = (rel) => rel): Promise<void> {
  const stat = await lstat(from);
  if (!stat.isDirectory()) {
    await copyEntry(from, to);
    return;
  }
  for (const rel of await listTree(from)) {
    const src = join(from, rel);
    const dst = join(to, rename(rel));
    if ((await lstat(src)).isDirectory()) await mkdir(dst, { recursive: true });
    else await copyEntry(src, dst);
  }
}

async function copyEntry(src: string, dst: string): Promise<void> {
  await mkdir(dirname(dst), { recursive: true });
  const stat = await lstat(src);
  if (stat.isSymbolicLink()) await symlink(await readlink(src), dst);
  else if (stat.isFile()) {
    await copyFile(src, dst);
    await chmod(dst, stat.mode & 0o7777);
  } else throw new Error(`${src}: only files, directories and symlinks can be staged`);
}

/**
 * Makes a staged tree independent of the host: directories 0755, files 0755
 * when any execute bit is set and 0644 otherwise, every time 0 (cpio keeps
 * mtimes, and umask varies between machines).
 */
export async function normalizeTree(root: string): Promise<void> {
  const epoch = new Date(0);
  for (const rel of [...(await listTree(root))].reverse()) {
    const path = join(root, rel);
    const stat = await lstat(path);
    if (stat.isDirectory()) await chmod(path, 0o755);
    else if (stat.isFile()) await chmod(path, stat.mode & 0o111 ? 0o755 : 0o644);
    await lutimes(path, epoch, epoch);
  }
  await chmod(root, 0o755);
  await lutimes(root, epoch, epoch);
}

/** A digest of a tree's names, kinds, executable bits, link targets and contents. */
export async function hashTree(root: string): Promise<string> {
  const hash = createHash('sha256');
  for (const rel of await listTree(root)) {
    const path = join(root, rel);
    const stat = await lstat(path);
    if (stat.isDirectory()) hash.update(`d ${rel}\n`);
    else if (stat.isSymbolicLink()) hash.update(`l ${rel} ${await readlink(path)}\n`);
    else {
      hash.update(`f ${rel} ${stat.mode & 0o111 ? 'x' : '-'} ${stat.size}\n`);
      hash.update(await readFile(path));
    }
  }
  return hash.digest('hex');
}

export async function hashFile(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}
