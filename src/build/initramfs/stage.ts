// Lays extensions out the way Talos' imager does before appending them to the
// initramfs: `<dir>.sqsh` per extension (its rootfs without firmware), firmware
// files beside them (they must be in the initramfs for early drivers), CPU
// microcode concatenated under kernel/x86/microcode/, and extensions.yaml.

import { appendFile, cp, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FileTree } from '../../formats/file-tree.js';
import { type WriteCompression, writeSquashfs } from '../../formats/squashfs/index.js';
import type { LoadedExtension } from '../extensions/load.js';
import { type ExtensionLayer, renderExtensionsYaml } from '../extensions/extensions-yaml.js';

export interface StagedExtension {
  /** The layer's name in the initramfs without `.sqsh` (Talos uses its checkout directory name). */
  name: string;
  extension: LoadedExtension;
}

export interface StageOptions {
  firmwarePath: string;
  compression: WriteCompression;
}

/** Microcode sources (relative to the firmware directory) and the early-load file they are concatenated into. */
const MICROCODE = [
  { dir: 'intel-ucode', match: (_name: string) => true, blob: 'kernel/x86/microcode/GenuineIntel.bin' },
  { dir: 'amd-ucode', match: (name: string) => /^microcode_amd.*\.bin$/.test(name), blob: 'kernel/x86/microcode/AuthenticAMD.bin' },
];

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
}

/** Appends an extension's microcode to the early-load blobs; returns the files used (they stay out of the firmware copy). */
async function stageMicrocode(firmwareDir: string, stagingDir: string): Promise<Set<string>> {
  const used = new Set<string>();
  for (const source of MICROCODE) {
    const dir = join(firmwareDir, source.dir);
    if (!(await isDirectory(dir))) continue;
    const names = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile() && source.match(e.name)).map((e) => e.name);
    names.sort();
    if (names.length === 0) continue;
    const blob = join(stagingDir, source.blob);
    await mkdir(dirname(blob), { recursive: true, mode: 0o755 });
    for (const name of names) {
      await appendFile(blob, await readFile(join(dir, name))); // microcode files are small
      used.add(join(dir, name));
    }
  }
  return used;
}

/** Layer images written at once: enough to overlap the small ones' file and worker round trips. */
const CONCURRENT_IMAGES = 4;

/**
 * Stages the layers in order. Firmware and microcode are staged one extension
 * after the other (a later extension's files win), while the squashfs images,
 * which do not depend on each other, are written up to CONCURRENT_IMAGES at a
 * time. An entry may still be in the making (the modules.dep layer, made while
 * the others are staged). On failure, everything started has settled before
 * the error is thrown: nothing writes into the staging directory afterwards.
 */
export async function stageExtensions(
  extensions: ReadonlyArray<StagedExtension | Promise<StagedExtension>>,
  stagingDir: string,
  options: StageOptions,
): Promise<void> {
  const started: Array<Promise<unknown>> = [...extensions].filter((e) => e instanceof Promise);
  for (const pending of started) pending.catch(() => {}); // awaited in turn below; not unhandled meanwhile
  const images = new ImageSlots(CONCURRENT_IMAGES);
  const layers: Array<Promise<ExtensionLayer>> = [];
  try {
    for (const pending of extensions) {
      const { name, extension } = await pending;
      const firmwareDir = join(extension.rootfs, options.firmwarePath);
      const tree = await FileTree.fromDirectory(extension.rootfs);
      if (await isDirectory(firmwareDir)) {
        const microcode = await stageMicrocode(firmwareDir, stagingDir);
        await cp(firmwareDir, join(stagingDir, options.firmwarePath), {
          recursive: true,
          verbatimSymlinks: true,
          filter: (source) => !microcode.has(source),
        });
        tree.remove(options.firmwarePath);
      }
      const image = `${name}.sqsh`;
      const written = images.run(() => writeSquashfs(tree, join(stagingDir, image), { compression: options.compression }));
      written.catch(() => {}); // awaited below; this only keeps it from counting as unhandled meanwhile
      started.push(written);
      layers.push(written.then(() => ({ image, metadata: extension.metadata })));
    }
    await writeFile(join(stagingDir, 'extensions.yaml'), renderExtensionsYaml(await Promise.all(layers)));
  } catch (error) {
    await Promise.allSettled(started);
    throw error;
  }
}

/** Runs at most `size` jobs at a time, the others in the order they were given. */
class ImageSlots {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly size: number) {}

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running < this.size) this.running++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve)); // the slot is handed over
    try {
      return await job();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
