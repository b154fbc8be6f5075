// `docker save` format (what `docker load` and `skopeo copy docker-archive:`
// read): the config as `sha256:<hex>`, each layer as `<hex>.tar.gz`, and a
// manifest.json naming them with the image's tag, written as a tar stream.

import type { Readable } from 'node:stream';
import { type Pack, pack as createPack } from 'tar-stream';
import { digestHex } from './digest.js';
import type { ImageManifest } from './manifest.js';
import type { ImageRepository } from './repository.js';

function add(pack: Pack, name: string, size: number, open: () => Promise<Readable> | Readable): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const header = { name, size, mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: new Date(0), type: 'file' as const };
    const sink = pack.entry(header, (error) => (error ? reject(error) : resolve()));
    Promise.resolve(open()).then(
      (source) => {
        source.on('error', (error) => sink.destroy(error));
        source.pipe(sink as unknown as NodeJS.WritableStream);
      },
      (error: Error) => sink.destroy(error),
    );
  });
}

export function dockerArchive(repo: ImageRepository, manifest: ImageManifest, repoTag: string): Readable {
  const pack = createPack();
  void (async () => {
    try {
      const configName = manifest.config.digest;
      await add(pack, configName, manifest.config.size, () => repo.openBlob(manifest.config));
      const layers: string[] = [];
      for (const layer of manifest.layers) {
        const name = `${digestHex(layer.digest)}.tar.gz`;
        await add(pack, name, layer.size, () => repo.openBlob(layer));
        layers.push(name);
      }
      const index = Buffer.from(JSON.stringify([{ Config: configName, RepoTags: [repoTag], Layers: layers }]));
      pack.entry({ name: 'manifest.json', size: index.length, mode: 0o644, mtime: new Date(0) }, index);
      pack.finalize();
    } catch (error) {
      pack.destroy(error as Error);
    }
  })();
  return pack as unknown as Readable;
}
