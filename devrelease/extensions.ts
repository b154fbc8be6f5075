// The sample system extensions (extensions/<name>/): sources in upstream's
// layout (manifest.yaml + rootfs/), turned into the tree of an extension
// image for one Talos version: /manifest.yaml + /rootfs/..., with module and
// firmware paths moved to lib/... before 1.10, and the kernel modules named
// in <name>/kernel-modules taken from the release's kernel package.

import { copyFile, lstat, mkdir, readFile, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { type Kernel, findModule, withDependencies } from './kernel.js';
import { exists } from './steps.js';
import type { TalosRelease } from './talos.js';
import { copyInto, hashTree, listTree, normalizeTree } from './tree.js';

export interface ExtensionSource {
  dir: string;
  name: string;
  version: string;
  author: string;
  description: string;
  /** Module names (as modprobe takes them) to copy from the kernel package. */
  kernelModules: string[];
  /** Digest of the whole source directory, for cache keys. */
  hash: string;
}

export async function loadExtensionSources(root: string): Promise<ExtensionSource[]> {
  const out: ExtensionSource[] = [];
  for (const entry of (await readdir(root, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (!entry.isDirectory()) continue;
    out.push(await loadExtensionSource(join(root, entry.name)));
  }
  if (out.length === 0) throw new Error(`no extension sources under ${root}`);
  return out;
}

async function loadExtensionSource(dir: string): Promise<ExtensionSource> {
  const name = dir.split('/').pop()!;
  const manifest = parseYaml(await readFile(join(dir, 'manifest.yaml'), 'utf8')) as Record<string, unknown> | null;
  const problem = (what: string): Error => new Error(`${join(dir, 'manifest.yaml')}: ${what}`);
  if (manifest?.version !== 'v1alpha1') throw problem('version must be v1alpha1');
  const metadata = manifest.metadata as Record<string, unknown> | undefined;
  for (const key of ['name', 'version', 'author', 'description']) {
    if (typeof metadata?.[key] !== 'string' || metadata[key] === '') throw problem(`metadata.${key} must be a non-empty string`);
  }
  const compatibility = (metadata!.compatibility as { talos?: { version?: unknown } } | undefined)?.talos?.version;
  if (typeof compatibility !== 'string') throw problem('metadata.compatibility.talos.version must be set');
  if (metadata!.name !== name) throw problem(`metadata.name ${String(metadata!.name)} is not the directory name ${name}`);
  if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/.test(name)) throw problem(`${name} is not a valid image repository name`);
  if (!(await exists(join(dir, 'rootfs')))) throw problem('rootfs/ is missing');

  const modulesFile = join(dir, 'kernel-modules');
  const kernelModules = (await exists(modulesFile))
    ? (await readFile(modulesFile, 'utf8'))
        .split('\n')
        .map((l) => l.replace(/#.*/, '').trim())
        .filter(Boolean)
    : [];
  return {
    dir,
    name,
    version: metadata!.version as string,
    author: metadata!.author as string,
    description: metadata!.description as string,
    kernelModules,
    hash: await hashTree(dir),
  };
}

/** Upstream's tag shape for per-Talos-version extension builds: `<version>-<talos tag>`. */
export function extensionTag(source: ExtensionSource, release: TalosRelease): string {
  return `${source.version}-${release.tag}`;
}

/** Where an extension source path goes for a version: usr/lib/{modules,firmware} → lib/... before 1.10. */
export function mapExtensionPath(rel: string, release: TalosRelease): string {
  for (const [modern, legacy] of [
    ['usr/lib/modules', release.modulesPath],
    ['usr/lib/firmware', release.firmwarePath],
  ] as const) {
    if (rel === modern || rel.startsWith(`${modern}/`)) return legacy + rel.slice(modern.length);
  }
  return rel;
}

export interface ExtensionTreeInputs {
  source: ExtensionSource;
  release: TalosRelease;
  kernel: Kernel;
  /** Module paths the base root filesystem has (not copied again). */
  baseModules: ReadonlySet<string>;
}

export async function buildExtensionTree(out: string, { source, release, kernel, baseModules }: ExtensionTreeInputs): Promise<void> {
  await copyFile(join(source.dir, 'manifest.yaml'), join(out, 'manifest.yaml'));
  const rootfs = join(out, 'rootfs');
  await mkdir(rootfs);
  // Files and links only: directories come from their paths, so nothing is
  // left behind empty when a path is moved.
  const from = join(source.dir, 'rootfs');
  for (const rel of await listTree(from)) {
    if ((await lstat(join(from, rel))).isDirectory()) continue;
    await copyInto(join(from, rel), join(rootfs, mapExtensionPath(rel, release)));
  }
  if (source.kernelModules.length > 0) {
    const extras = join(rootfs, release.modulesPath, kernel.release, 'extras');
    const wanted = source.kernelModules.map((name) => findModule(kernel, name));
    for (const path of withDependencies(kernel, wanted).filter((p) => !baseModules.has(p))) {
      const target = join(extras, path.split('/').pop()!);
      await mkdir(dirname(target), { recursive: true });
      await copyFile(join(kernel.modulesDir, path), target);
    }
  }
  await normalizeTree(out);
}
