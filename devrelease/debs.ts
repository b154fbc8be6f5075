// Debian packages, fetched with apt-get download (never installed) and
// unpacked with dpkg-deb -x. Versions come from the host's package lists
// (apt-cache), so the release follows Debian's security updates; downloads
// and unpacked trees are kept and reused.

import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
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
 * which takes seconds where apt keeps no binary cache). A name may carry an
 * architecture (`busybox-static:arm64`); the map is keyed by the names as
 * given.
 */
export async function candidates(names: readonly string[]): Promise<Map<string, PackageRecord>> {
  let text: string;
  try {
    text = await run('apt-cache', ['show', '--no-all-versions', ...names]);
  } catch (error) {
    throw new Error(`Debian packages ${names.join(', ')} are not all in the package lists (run apt-get update?): ${(error as Error).message}`);
  }
  const found: PackageRecord[] = [];
  for (const paragraph of text.split(/\n\s*\n/)) {
    const field = (key: string): string => new RegExp(`^${key}: (.*)$`, 'm').exec(paragraph)?.[1]?.trim() ?? '';
    const name = field('Package');
    if (name) found.push({ name, version: field('Version'), architecture: field('Architecture'), depends: field('Depends') });
  }
  const records = new Map<string, PackageRecord>();
  for (const requested of names) {
    const [name, arch] = requested.split(':');
    const record = found.find((r) => r.name === name && (arch === undefined || r.architecture === arch || r.architecture === 'all'));
    if (!record?.version) {
      const hint = arch !== undefined ? ` (for a foreign architecture: dpkg --add-architecture ${arch} && apt-get update)` : ' (run apt-get update?)';
      throw new Error(`apt-cache has no candidate version of ${requested}${hint}`);
    }
    records.set(requested, record);
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

  /**
   * `candidates(names)`, remembered in `<dir>/candidates-<names digest>.json` for as long as
   * the package lists (`/var/lib/apt/lists`) are the same files: a rebuild
   * with nothing changed does not pay for apt-cache.
   */
  async candidates(names: readonly string[]): Promise<Map<string, PackageRecord>> {
    const key = JSON.stringify([names, await aptListsState()]);
    const file = join(this.dir, `candidates-${createHash('sha256').update(JSON.stringify(names)).digest('hex').slice(0, 16)}.json`);
    const saved = await readFile(file, 'utf8')
      .then((text) => JSON.parse(text) as { key: string; records: [string, PackageRecord][] })
      .catch(() => undefined);
    if (saved?.key === key) return new Map(saved.records);
    const records = await candidates(names);
    await mkdir(this.dir, { recursive: true });
    const tmp = join(this.dir, `.candidates-${randomUUID()}`);
    await writeFile(tmp, JSON.stringify({ key, records: [...records] }));
    await rename(tmp, file);
    return records;
  }

  /** A package version (from `candidates`), downloaded unless already here. */
  async fetch({ name, version, architecture }: PackageRecord): Promise<Deb> {
    const id = `${name}_${version.replace(/:/g, '%3a')}_${architecture}`;
    const file = join(this.dir, `${id}.deb`);
    if (!(await exists(file))) {
      // apt-get download writes into the working directory under its own name.
      const tmp = join(this.dir, `.download-${randomUUID()}`);
      await mkdir(tmp, { recursive: true });
      try {
        await run('apt-get', ['download', '-q', `${name}:${architecture}=${version}`], { cwd: tmp });
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

const APT_LISTS = '/var/lib/apt/lists';

/** Names, sizes and times of the package lists: changes with every `apt-get update` that fetched something. */
async function aptListsState(): Promise<string[]> {
  const names = (await readdir(APT_LISTS).catch(() => [] as string[])).filter((n) => n.includes('_Packages')).sort();
  return Promise.all(
    names.map(async (n) => {
      const s = await stat(join(APT_LISTS, n));
      return `${n} ${s.size} ${s.mtimeMs}`;
    }),
  );
}
