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

/** The candidate version's record, as `apt-cache show --no-all-versions` prints it. */
export async function candidate(name: string): Promise<PackageRecord> {
  let text: string;
  try {
    text = await run('apt-cache', ['show', '--no-all-versions', name]);
  } catch (error) {
    throw new Error(`no Debian package ${name} in the package lists (run apt-get update?): ${(error as Error).message}`);
  }
  const field = (key: string): string => new RegExp(`^${key}: (.*)$`, 'm').exec(text)?.[1]?.trim() ?? '';
  const version = field('Version');
  if (!version) throw new Error(`apt-cache has no candidate version of ${name} (run apt-get update?)`);
  return { name, version, architecture: field('Architecture'), depends: field('Depends') };
}

/**
 * The package a metapackage currently points at, e.g. linux-image-cloud-amd64
 * → linux-image-6.1.0-56-cloud-amd64: its first dependency whose name starts
 * with `prefix`.
 */
export async function resolveMetapackage(name: string, prefix: string): Promise<string> {
  const record = await candidate(name);
  for (const alternative of record.depends.split(/[,|]/)) {
    const dep = alternative.trim().split(/\s/)[0] ?? '';
    if (dep.startsWith(prefix) && dep !== name) return dep;
  }
  throw new Error(`${name} ${record.version} has no dependency starting with ${prefix} (Depends: ${record.depends})`);
}

export class DebCache {
  constructor(readonly dir: string) {}

  /** The candidate version of a package, downloaded unless already here. */
  async fetch(name: string): Promise<Deb> {
    const { version, architecture } = await candidate(name);
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
