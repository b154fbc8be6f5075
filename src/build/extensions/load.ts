// An extension checked out on disk: `manifest.yaml` + `rootfs/` and nothing else.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ExtensionMetadata, InvalidExtensionError, parseExtensionManifest } from './manifest.js';

export interface LoadedExtension {
  /** The directory holding manifest.yaml and rootfs/. */
  dir: string;
  rootfs: string;
  metadata: ExtensionMetadata;
}

export async function loadExtension(dir: string, label = dir): Promise<LoadedExtension> {
  const names = await readdir(dir);
  for (const name of names) {
    if (name !== 'manifest.yaml' && name !== 'rootfs') throw new InvalidExtensionError(`${label}: unexpected file ${JSON.stringify(name)}`);
  }
  if (!names.includes('manifest.yaml')) throw new InvalidExtensionError(`${label}: extension manifest is missing`);
  if (!names.includes('rootfs')) throw new InvalidExtensionError(`${label}: extension rootfs is missing`);
  const metadata = parseExtensionManifest(await readFile(join(dir, 'manifest.yaml'), 'utf8'), label);
  return { dir, rootfs: join(dir, 'rootfs'), metadata };
}
