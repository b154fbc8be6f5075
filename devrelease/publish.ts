// Writes images into per-repository OCI layout directories
// (<root>/siderolabs/imager/, as `skopeo copy … oci:<root>/siderolabs/imager:<tag>`
// lays them out), skipping an image whose inputs have not changed since it
// was last written there.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type ImageSpec, type LayerMemo, writeImageIndex } from '../src/oci/image-writer.js';
import { OciLayout } from '../src/oci/layout.js';

export interface ImagePlan {
  /** `siderolabs/imager`. */
  repository: string;
  tag: string;
  /** Digest of every input; the image is rewritten when it changes. */
  key: string;
  /** One per platform, in index order. */
  specs: ImageSpec[];
}

export interface PublishedImage {
  repository: string;
  tag: string;
  /** Digest of the tagged index. */
  digest: string;
}

interface Stamp {
  key: string;
  digest: string;
}

export class LayoutPublisher {
  /** Step directories never change under their (keyed) names: each is compressed once per build. */
  private readonly layers: LayerMemo = new Map();

  constructor(
    readonly layoutRoot: string,
    private readonly stampDir: string,
  ) {}

  layoutDir(repository: string): string {
    return join(this.layoutRoot, repository);
  }

  /** Writes the image unless the layout already has this tag, written from the same inputs. */
  async publish(plan: ImagePlan): Promise<PublishedImage & { written: boolean }> {
    const layout = await OciLayout.create(this.layoutDir(plan.repository));
    const stampPath = join(this.stampDir, plan.repository, `${plan.tag}.json`);
    const stamp = await readStamp(stampPath);
    if (stamp?.key === plan.key) {
      const current = await layout.resolve(plan.tag).catch(() => undefined);
      if (current?.digest === stamp.digest && (await layout.hasBlob(stamp.digest))) {
        return { repository: plan.repository, tag: plan.tag, digest: stamp.digest, written: false };
      }
    }
    const written = await writeImageIndex(layout, plan.specs, plan.tag, { layerMemo: this.layers });
    await mkdir(dirname(stampPath), { recursive: true });
    await writeFile(stampPath, JSON.stringify({ key: plan.key, digest: written.index.digest } satisfies Stamp));
    return { repository: plan.repository, tag: plan.tag, digest: written.index.digest, written: true };
  }
}

async function readStamp(path: string): Promise<Stamp | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Stamp;
  } catch {
    return undefined;
  }
}
