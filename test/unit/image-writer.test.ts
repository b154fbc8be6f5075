// writeImageIndex: one manifest per platform under one tagged index, a layer
// directory the platforms share compressed once (and, with a kept memo, once
// across images), and writeImage still a one-platform index.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ImageSpec, type LayerMemo, writeImage, writeImageIndex } from '../../src/oci/image-writer.js';
import { OciLayout } from '../../src/oci/layout.js';

const root = mkdtempSync(join(tmpdir(), 'image-writer-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function tree(name: string, files: Record<string, string>): string {
  const dir = join(root, name);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

const shared = tree('shared', { 'usr/share/both': 'the same on every platform\n' });
const amd64 = tree('amd64', { 'usr/bin/tool': 'x86-64\n' });
const arm64 = tree('arm64', { 'usr/bin/tool': 'aarch64\n' });
const spec = (architecture: string, own: string): ImageSpec => ({
  layers: [{ directory: shared }, { directory: own }],
  config: { config: { Env: ['A=1'] } },
  platform: { os: 'linux', architecture },
});

async function manifestOf(layout: OciLayout, digest: string) {
  const fetched = await layout.fetchManifest(digest);
  if (fetched.parsed.kind !== 'image') throw new Error('not an image manifest');
  return fetched.parsed.manifest;
}

describe('writeImageIndex', () => {
  it('writes an index of the platforms in order, the shared layer once, each platform its own', async () => {
    const layout = await OciLayout.create(join(root, 'multi'));
    const { index, images } = await writeImageIndex(layout, [spec('amd64', amd64), spec('arm64', arm64)], 'v1');
    expect((await layout.resolve('v1')).digest).toBe(index.digest);
    const fetched = await layout.fetchManifest('v1');
    if (fetched.parsed.kind !== 'index') throw new Error('not an index');
    expect(fetched.parsed.index.manifests.map((m) => m.platform)).toEqual([
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ]);
    const [a, b] = await Promise.all(images.map((i) => manifestOf(layout, i.manifest.digest)));
    expect(a!.layers[0]).toEqual(b!.layers[0]);
    expect(a!.layers[1]!.digest).not.toBe(b!.layers[1]!.digest);
    expect(images.map((i) => i.config.digest)[0]).not.toBe(images[1]!.config.digest);

    // The same inputs give the same digests.
    const again = await writeImageIndex(await OciLayout.create(join(root, 'multi-again')), [spec('amd64', amd64), spec('arm64', arm64)], 'v1');
    expect(again.index.digest).toBe(index.digest);
  });

  it('refuses a platform given twice', async () => {
    const layout = await OciLayout.create(join(root, 'twice'));
    await expect(writeImageIndex(layout, [spec('amd64', amd64), spec('amd64', arm64)])).rejects.toThrow('platform linux/amd64/ given twice');
  });

  it('with a kept memo, a directory is not read again for a later image whose repository has the blob', async () => {
    const layout = await OciLayout.create(join(root, 'memo'));
    const memo: LayerMemo = new Map();
    const once = tree('once', { 'file': 'read once\n' });
    const first = await writeImageIndex(layout, [{ ...spec('amd64', amd64), layers: [{ directory: once }] }], 'a', { layerMemo: memo });
    rmSync(once, { recursive: true });
    const second = await writeImageIndex(layout, [{ ...spec('arm64', arm64), layers: [{ directory: once }] }], 'b', { layerMemo: memo });
    expect(second.images[0]!.layers[0]!.digest).toBe(first.images[0]!.layers[0]!.digest);
    // A repository without the blob gets it compressed again (here: the directory is gone, so that fails).
    const other = await OciLayout.create(join(root, 'memo-other'));
    await expect(writeImageIndex(other, [{ ...spec('amd64', amd64), layers: [{ directory: once }] }], 'c', { layerMemo: memo })).rejects.toThrow();
  });

  it('writeImage is a one-platform index', async () => {
    const layout = await OciLayout.create(join(root, 'single'));
    const written = await writeImage(layout, spec('arm64', arm64), 'v1');
    const fetched = await layout.fetchManifest('v1');
    if (fetched.parsed.kind !== 'index') throw new Error('not an index');
    expect(fetched.parsed.index.manifests).toEqual([expect.objectContaining({ digest: written.manifest.digest, platform: { os: 'linux', architecture: 'arm64' } })]);
    expect(written.layers).toHaveLength(2);
  });
});
