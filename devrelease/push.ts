// Publishing a built release into a registry (plain http, e.g. Debian's
// docker-registry on a loopback port): every image, by tag, blobs streamed
// from the layouts, children before the catalogs that name them, each with
// its signatures.

import { join } from 'node:path';
import { copyImage } from '../src/oci/copy.js';
import { copySignatures } from '../src/oci/cosign/attach.js';
import { OciLayout } from '../src/oci/layout.js';
import { RegistryClient } from '../src/oci/registry/client.js';
import type { DevReleaseInfo } from './release-info.js';

export async function pushDevRelease(info: DevReleaseInfo, registry: string, log: (message: string) => void = () => undefined): Promise<void> {
  const client = new RegistryClient({ registry, insecure: true });
  for (const image of info.images) {
    const source = await OciLayout.open(join(info.layoutDir, image.repository));
    const pushed = await copyImage(source, image.tag, client.repository(image.repository), { tag: image.tag });
    if (pushed.digest !== image.digest) {
      throw new Error(`${image.repository}:${image.tag} arrived in ${registry} as ${pushed.digest}, not ${image.digest}`);
    }
    await copySignatures(source, client.repository(image.repository), image.digest);
    log(`  pushed ${registry}/${image.repository}:${image.tag} (signed)`);
  }
}
