// The virtual `schematic` extension every factory build appends: it records on
// the node which schematic its image was built from (upstream's layout).

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Quirks } from '../../talos/quirks.js';
import type { TalosVersion } from '../../talos/version.js';
import type { LoadedExtension } from './load.js';

export interface SchematicExtensionInput {
  schematicId: string;
  /** The canonical schematic YAML (carried as extraInfo from Talos 1.7). */
  canonical: string;
  /** The factory's external URL, named in the author field. */
  externalUrl: string;
  talosVersion: TalosVersion;
}

export async function writeSchematicExtension(dir: string, input: SchematicExtensionInput): Promise<LoadedExtension> {
  const markerDir = join(dir, 'rootfs', 'usr', 'local', 'share', 'schematic');
  await mkdir(markerDir, { recursive: true, mode: 0o755 });
  await writeFile(join(markerDir, input.schematicId), '', { mode: 0o644 });
  return {
    dir,
    rootfs: join(dir, 'rootfs'),
    metadata: {
      name: 'schematic',
      version: input.schematicId,
      author: `Image Factory (${input.externalUrl})`,
      description: 'Virtual extension which specifies the schematic of the image built with schematic.',
      compatibility: { talos: { version: '>= 1.0.0' } },
      extraInfo: new Quirks(input.talosVersion).schematicInExtraInfo() ? input.canonical : '',
    },
  };
}
