// Where a release's images are read from: a registry (the official one, or a
// mirror) or OCI layout directories on disk, one per repository, as
// `skopeo copy docker://ghcr.io/<repo>:<tag> oci:<root>/<repo>:<tag>` lays them out.

import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { OciError } from '../oci/errors.js';
import { OciLayout } from '../oci/layout.js';
import type { RegistryClient } from '../oci/registry/client.js';
import type { ImageRepository } from '../oci/repository.js';

export interface ReleaseBackend {
  /** For logs and messages: `registry ghcr.io` or `OCI layouts under /srv/mirror`. */
  readonly description: string;
  /** A repository by its path as the catalogs name it (`siderolabs/imager`); the namespace prefix is applied here. */
  repository(path: string): Promise<ImageRepository>;
}

function withNamespace(namespace: string, path: string): string {
  return namespace === '' ? path : `${namespace.replace(/\/+$/, '')}/${path}`;
}

export class RegistryReleaseBackend implements ReleaseBackend {
  readonly description: string;

  constructor(
    private readonly client: RegistryClient,
    private readonly namespace = '',
  ) {
    this.description = `registry ${client.registry}${namespace ? `/${namespace}` : ''}`;
  }

  async repository(path: string): Promise<ImageRepository> {
    return this.client.repository(withNamespace(this.namespace, path));
  }
}

export class LayoutReleaseBackend implements ReleaseBackend {
  readonly description: string;
  private readonly opened = new Map<string, Promise<OciLayout>>();

  constructor(
    private readonly root: string,
    private readonly namespace = '',
  ) {
    this.description = `OCI layouts under ${root}`;
  }

  repository(path: string): Promise<ImageRepository> {
    const dir = join(this.root, withNamespace(this.namespace, path));
    let layout = this.opened.get(dir);
    if (!layout) {
      layout = this.open(dir, path);
      this.opened.set(dir, layout);
      layout.catch(() => this.opened.delete(dir)); // a mirror added later is picked up
    }
    return layout;
  }

  private async open(dir: string, path: string): Promise<OciLayout> {
    const exists = await stat(dir).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!exists) {
      throw new OciError(
        'not-found',
        'open',
        `oci:${dir}`,
        `no OCI layout directory for ${path} (mirror it with: skopeo copy docker://ghcr.io/${path}:<tag> oci:${dir}:<tag>)`,
      );
    }
    return OciLayout.open(dir);
  }
}
