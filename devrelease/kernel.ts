// The release's kernel: Debian's cloud kernel, whatever version
// linux-image-cloud-amd64 points at today. Its package ships no modules.dep
// (the host's depmod makes it at install time), so depmod is run once over
// the unpacked copy to learn the modules' dependencies.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Deb, type DebCache, type PackageRecord, candidates, metapackageTarget } from './debs.js';
import { run } from './exec.js';
import { exists } from './steps.js';

export const KERNEL_METAPACKAGE = 'linux-image-cloud-amd64';

export interface Kernel {
  /** `uname -r`, e.g. `6.1.0-56-cloud-amd64`. */
  release: string;
  deb: Deb;
  vmlinuz: string;
  /** `lib/modules/<release>` of the unpacked package. */
  modulesDir: string;
  /** Module path (relative to modulesDir) → the module paths it needs. */
  dependencies: Map<string, string[]>;
}

/** `metapackage` is the candidate record of linux-image-cloud-amd64. */
export async function loadKernel(debs: DebCache, metapackage: PackageRecord): Promise<Kernel> {
  const packageName = metapackageTarget(metapackage, 'linux-image-');
  const release = packageName.slice('linux-image-'.length);
  const deb = await debs.fetch((await candidates([packageName])).get(packageName)!);
  const root = await debs.unpack(deb);
  const modulesDir = join(root, 'lib', 'modules', release);
  const vmlinuz = join(root, 'boot', `vmlinuz-${release}`);
  if (!(await exists(vmlinuz))) throw new Error(`${deb.id} has no boot/vmlinuz-${release}`);
  if (!(await exists(join(modulesDir, 'modules.dep')))) await run('depmod', ['-b', root, release]);
  return { release, deb, vmlinuz, modulesDir, dependencies: parseModulesDep(await readFile(join(modulesDir, 'modules.dep'), 'utf8')) };
}

export function parseModulesDep(text: string): Map<string, string[]> {
  const deps = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    deps.set(line.slice(0, colon), line.slice(colon + 1).trim().split(/\s+/).filter(Boolean));
  }
  return deps;
}

/** A module's path by name (`dummy`, `nls_utf8`; `-` and `_` are the same, as for modprobe). */
export function findModule(kernel: Kernel, name: string): string {
  const want = name.replace(/-/g, '_');
  const found = [...kernel.dependencies.keys()].filter((path) => moduleName(path) === want);
  if (found.length !== 1) throw new Error(`kernel ${kernel.release} has ${found.length} modules named ${name}`);
  return found[0]!;
}

export function moduleName(path: string): string {
  return (path.split('/').pop() ?? '').replace(/\.ko(\.[a-z]+)?$/, '').replace(/-/g, '_');
}

/** The modules and everything they need, dependencies first, each once. */
export function withDependencies(kernel: Kernel, paths: readonly string[]): string[] {
  const ordered: string[] = [];
  const visit = (path: string, stack: string[]): void => {
    if (ordered.includes(path)) return;
    if (stack.includes(path)) throw new Error(`module dependency cycle: ${[...stack, path].join(' → ')}`);
    const deps = kernel.dependencies.get(path);
    if (deps === undefined) throw new Error(`kernel ${kernel.release} has no module ${path}`);
    for (const dep of deps) visit(dep, [...stack, path]);
    ordered.push(path);
  };
  for (const path of paths) visit(path, []);
  return ordered;
}
