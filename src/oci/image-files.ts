// Reads a few small named files out of an image's merged filesystem (catalog
// files, manifests) without unpacking the image anywhere.

import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import { flattenToTar } from './flatten.js';
import type { ImageManifest } from './manifest.js';
import type { ImageRepository } from './repository.js';

export async function readImageFiles(
  repo: ImageRepository,
  manifest: ImageManifest,
  names: readonly string[],
  maxBytes = 16 * 1024 * 1024,
): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const reader = extract();
  reader.on('entry', (header, stream, next) => {
    const name = header.name.replace(/^(\.\/|\/)+/, '');
    if (header.type !== 'file' || !names.includes(name)) {
      stream.on('end', next).resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (data) => {
      const chunk = data as Buffer;
      size += chunk.length;
      if (size > maxBytes) stream.destroy(new Error(`${name} in ${repo.location} is larger than ${maxBytes} bytes`));
      else chunks.push(chunk);
    });
    stream.on('error', (error) => reader.destroy(error));
    stream.on('end', () => {
      found.set(name, Buffer.concat(chunks).toString('utf8'));
      next();
    });
  });
  await pipeline(flattenToTar(repo, manifest), reader);
  return found;
}
