// The release's kernel: Debian's cloud kernel of each architecture, whatever
// version linux-image-cloud-<arch> points at today (amd64: a bzImage; arm64:
// an uncompressed `Image`, which is also a PE/EFI executable: systemd-stub
// starts it as it starts Talos' EFI-zboot vmlinuz). Its package ships no modules.dep
// (the host's depmod makes it at install time), so depmod is run once over
// the unpacked copy to learn the modules' dependencies.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Deb, DebCache, PackageRecord } from './debs.js';
import { run } from './exec.js';
import { exists } from './steps.js';

/** `linux-image-cloud-amd64`, `linux-image-cloud-arm64`. */
export function kernelMetapackage(arch: string): string {
  return `linux-image-cloud-${arch}`;
}

export interface Kernel {
  /** `uname -r`, e.g. `6.1.0-56-cloud-amd64`. */
  release: string;
  /** Debian's architecture name (amd64, arm64). */
  arch: string;
  deb: Deb;
  vmlinuz: string;
  /** `lib/modules/<release>` of the unpacked package. */
  modulesDir: string;
  /** Module path (relative to modulesDir) → the module paths it needs. */
  dependencies: Map<string, string[]>;
}

/** The package (its candidate record) that linux-image-cloud-<arch> points at. */
export async function loadKernel(debs: DebCache, record: PackageRecord, arch: string): Promise<Kernel> {
  const release = record.name.slice('linux-image-'.length);
  const deb = await debs.fetch(record);
  const root = await debs.unpack(deb);
  const modulesDir = join(root, 'lib', 'modules', release);
  const vmlinuz = join(root, 'boot', `vmlinuz-${release}`);
  if (!(await exists(vmlinuz))) throw new Error(`${deb.id} has no boot/vmlinuz-${release}`);
  // The host's depmod reads modules of any architecture.
  if (!(await exists(join(modulesDir, 'modules.dep')))) await run('depmod', ['-b', root, release]);
  return { release, arch, deb, vmlinuz, modulesDir, dependencies: parseModulesDep(await readFile(join(modulesDir, 'modules.dep'), 'utf8')) };
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
