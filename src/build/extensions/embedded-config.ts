// Talos' `embedded-config` virtual extension (>= 1.12): the machine
// configuration baked into the image, read-only to root.

import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { LoadedExtension } from './load.js';

export async function writeEmbeddedConfigExtension(dir: string, config: string): Promise<LoadedExtension> {
  const configDir = join(dir, 'rootfs', 'usr', 'local', 'etc', 'talos');
  await mkdir(configDir, { recursive: true, mode: 0o755 });
  await pipeline(Readable.from([config]), createWriteStream(join(configDir, 'config.yaml'), { mode: 0o400 }));
  return {
    dir,
    rootfs: join(dir, 'rootfs'),
    metadata: {
      name: 'embedded-config',
      version: createHash('sha256').update(config).digest('hex'),
      author: 'Imager',
      description: 'Virtual extension which embeds the machine configuration.',
      compatibility: { talos: { version: '>= 1.0.0' } },
      extraInfo: '',
    },
  };
}
