// Debian packages, fetched with apt-get download (never installed) and
// unpacked with dpkg-deb -x. Versions come from the host's package lists
// (apt-cache), so the release follows Debian's security updates; downloads
// and unpacked trees are kept and reused.

import { randomUUID } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './exec.js';
import { exists } from './steps.js';

export interface Deb {
  name: string;
  version: string;
  architecture: string;
  /** `name_version_arch`, the identity used in cache keys. */
  id: string;
  file: string;
}

export interface PackageRecord {
  name: string;
  version: string;
  architecture: string;
  depends: string;
}

/**
 * The candidate versions' records, as `apt-cache show --no-all-versions`
 * prints them: one call for many packages (each call loads the package lists,
 * which takes most of a second).
 */
export async function candidates(names: readonly string[]): Promise<Map<string, PackageRecord>> {
  let text: string;
  try {
    text = await run('apt-cache', ['show', '--no-all-versions', ...names]);
  } catch (error) {
    throw new Error(`Debian packages ${names.join(', ')} are not all in the package lists (run apt-get update?): ${(error as Error).message}`);
  }
  const records = new Map<string, PackageRecord>();
  for (const paragraph of text.split(/\n\s*\n/)) {
    const field = (key: string): string => new RegExp(`^${key}: (.*)$`, 'm').exec(paragraph)?.[1]?.trim() ?? '';
    const name = field('Package');
    if (name && !records.has(name)) records.set(name, { name, version: field('Version'), architecture: field('Architecture'), depends: field('Depends') });
  }
  for (const name of names) {
    if (!records.get(name)?.version) throw new Error(`apt-cache has no candidate version of ${name} (run apt-get update?)`);
  }
  return records;
}

/**
 * The package a metapackage currently points at, e.g. linux-image-cloud-amd64
 * → linux-image-6.1.0-56-cloud-amd64: its first dependency whose name starts
 * with `prefix`.
 */
export function metapackageTarget(record: PackageRecord, prefix: string): string {
  for (const alternative of record.depends.split(/[,|]/)) {
    const dep = alternative.trim().split(/\s/)[0] ?? '';
    if (dep.startsWith(prefix) && dep !== record.name) return dep;
  }
  throw new Error(`${record.name} ${record.version} has no dependency starting with ${prefix} (Depends: ${record.depends})`);
}

export class DebCache {
  constructor(readonly dir: string) {}

  /** A package version (from `candidates`), downloaded unless already here. */
  async fetch({ name, version, architecture }: PackageRecord): Promise<Deb> {
    const id = `${name}_${version.replace(/:/g, '%3a')}_${architecture}`;
    const file = join(this.dir, `${id}.deb`);
    if (!(await exists(file))) {
      // apt-get download writes into the working directory under its own name.
      const tmp = join(this.dir, `.download-${randomUUID()}`);
      await mkdir(tmp, { recursive: true });
      try {
        await run('apt-get', ['download', '-q', `${name}=${version}`], { cwd: tmp });
        const got = (await readdir(tmp)).filter((f) => f.endsWith('.deb'));
        if (got.length !== 1) throw new Error(`apt-get download ${name}=${version} left ${got.length} .deb files`);
        await rename(join(tmp, got[0]!), file);
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    }
    return { name, version, architecture, id, file };
  }

  /** The package's files, unpacked once into `extracted/<id>/`. */
  async unpack(deb: Deb): Promise<string> {
    const dir = join(this.dir, 'extracted', deb.id);
    if (await exists(dir)) return dir;
    const tmp = join(this.dir, 'extracted', `.tmp-${randomUUID()}`);
    await mkdir(tmp, { recursive: true });
    try {
      await run('dpkg-deb', ['-x', deb.file, tmp]);
      await rename(tmp, dir);
    } catch (error) {
      await rm(tmp, { recursive: true, force: true });
      throw error;
    }
    return dir;
  }
}
