// Removes the blobs of a layout that no tag reaches any more (left by earlier
// builds whose inputs changed), so rebuilding does not grow the layouts.
// Only the build calls it, under the build lock.

import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

interface Node {
  digest: string;
  mediaType?: string;
}

const MANIFEST_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
]);

export async function pruneLayout(dir: string): Promise<number> {
  const blobs = join(dir, 'blobs', 'sha256');
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests?: Node[] };
  const reachable = new Set<string>();
  const queue: Node[] = [...(index.manifests ?? [])];
  while (queue.length > 0) {
    const node = queue.pop()!;
    const hex = node.digest.replace(/^sha256:/, '');
    if (reachable.has(hex)) continue;
    reachable.add(hex);
    if (node.mediaType === undefined || !MANIFEST_TYPES.has(node.mediaType)) continue;
    const doc = JSON.parse(await readFile(join(blobs, hex), 'utf8')) as { manifests?: Node[]; config?: Node; layers?: Node[] };
    queue.push(...(doc.manifests ?? []), ...(doc.config ? [doc.config] : []), ...(doc.layers ?? []));
  }
  let removed = 0;
  for (const name of await readdir(blobs)) {
    if (name.startsWith('.') || reachable.has(name)) continue;
    await rm(join(blobs, name), { force: true });
    removed++;
  }
  return removed;
}
