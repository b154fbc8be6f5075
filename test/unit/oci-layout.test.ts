import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyImage, resolveImage } from '../../src/oci/copy.js';
import { digestHex, sha256Digest } from '../../src/oci/digest.js';
import { OciError } from '../../src/oci/errors.js';
import { extractImage } from '../../src/oci/flatten.js';
import { OciLayout } from '../../src/oci/layout.js';
import { type Descriptor, encodeManifest } from '../../src/oci/manifest.js';
import { MEDIA_TYPE, REF_NAME_ANNOTATION } from '../../src/oci/media-types.js';
import type { ImageRepository } from '../../src/oci/repository.js';
import { type StoredImage, bufferStream, dir, file, storeImage, storeIndex } from '../helpers/layers.js';
import { rejection } from '../helpers/oci-errors.js';

const scratch = mkdtempSync(join(tmpdir(), 'oci-layout-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let counter = 0;
const freshDir = (name = 'layout'): string => join(scratch, `${name}-${++counter}`);

const AMD64 = { os: 'linux', architecture: 'amd64' };
const ARM64 = { os: 'linux', architecture: 'arm64' };
const ARMV7 = { os: 'linux', architecture: 'arm', variant: 'v7' };

function run(command: string, args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const blob = (text: string): { bytes: Buffer; descriptor: { digest: string; size: number } } => {
  const bytes = Buffer.from(text);
  return { bytes, descriptor: { digest: sha256Digest(bytes), size: bytes.length } };
};

describe('OciLayout files', () => {
  it('create writes oci-layout, an empty index.json and blobs/sha256/, and keeps what is there when run again', async () => {
    const path = freshDir();
    const layout = await OciLayout.create(path);
    expect(layout.location).toBe(`oci:${path}`);
    expect(JSON.parse(readFileSync(join(path, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    expect(JSON.parse(readFileSync(join(path, 'index.json'), 'utf8'))).toMatchObject({ schemaVersion: 2, manifests: [] });
    expect(readdirSync(join(path, 'blobs', 'sha256'))).toEqual([]);
    await storeImage(layout, [{ entries: [file('a', 'a')] }], { tag: 'v1' });
    const again = await OciLayout.create(path);
    expect(await again.listTags()).toEqual(['v1']);
  });

  it('open fails with not-found when there is no oci-layout file', async () => {
    const path = freshDir();
    const error = await rejection(OciLayout.open(path));
    expect(error.kind).toBe('not-found');
    expect(error.message).toContain('oci-layout');
    writeFileSync(join(scratch, 'not-a-dir'), '');
    expect((await rejection(OciLayout.open(join(scratch, 'not-a-dir')))).kind).toBe('not-found');
  });

  it('round-trips blobs and manifests; tags resolve to the index entry, digests to the blob', async () => {
    const layout = await OciLayout.create(freshDir());
    const { bytes, descriptor } = blob('hello, layout');
    expect(await layout.hasBlob(descriptor.digest)).toBe(false);
    await layout.putBlob(descriptor, () => bufferStream(bytes));
    expect(await layout.hasBlob(descriptor.digest)).toBe(true);
    expect((await readAll(await layout.openBlob(descriptor))).toString()).toBe('hello, layout');

    const image = await storeImage(layout, [{ entries: [file('x', '1')] }], { tag: 'v1' });
    expect(await layout.resolve('v1')).toEqual(image.descriptor);
    expect(await layout.resolve(image.descriptor.digest)).toEqual(image.descriptor);
    const fetched = await layout.fetchManifest('v1');
    expect(fetched.descriptor).toEqual(image.descriptor);
    expect(fetched.parsed).toMatchObject({ kind: 'image', manifest: image.manifest });
    expect(sha256Digest(fetched.bytes)).toBe(image.descriptor.digest);

    const missing = await rejection(layout.resolve('v2'));
    expect(missing.kind).toBe('not-found');
    expect(missing.message).toContain('tags: v1');
    expect((await rejection(layout.fetchManifest(sha256Digest('nothing')))).kind).toBe('not-found');
  });

  it('lists tags in index order; retagging replaces the entry in place', async () => {
    const path = freshDir();
    const layout = await OciLayout.create(path);
    const a = await storeImage(layout, [{ entries: [file('a', 'a')] }], { tag: 'a' });
    await storeImage(layout, [{ entries: [file('b', 'b')] }], { tag: 'b' });
    await storeImage(layout, [{ entries: [file('c', 'c')] }], { tag: 'c' });
    const newA = await storeImage(layout, [{ entries: [file('a', 'A')] }], { tag: 'a' });
    expect(newA.descriptor.digest).not.toBe(a.descriptor.digest);
    expect(await layout.listTags()).toEqual(['a', 'b', 'c']);
    expect((await layout.resolve('a')).digest).toBe(newA.descriptor.digest);
    const index = JSON.parse(readFileSync(join(path, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    expect(index.manifests).toHaveLength(3);
    expect(index.manifests[0]).toEqual({ ...newA.descriptor, annotations: { [REF_NAME_ANNOTATION]: 'a' } });
    // Untagged manifests are stored but not listed.
    await storeImage(layout, [{ entries: [file('d', 'd')] }]);
    expect(await layout.listTags()).toEqual(['a', 'b', 'c']);
  });

  it('keeps fields it does not model in index.json, and copes with a tag listed twice', async () => {
    const path = freshDir();
    const layout = await OciLayout.create(path);
    const one = await storeImage(layout, [{ entries: [file('1', '1')] }]);
    const two = await storeImage(layout, [{ entries: [file('2', '2')] }]);
    const tagged = (d: Descriptor, tag: string): object => ({ ...d, annotations: { [REF_NAME_ANNOTATION]: tag, 'x.note': 'kept' } });
    writeFileSync(
      join(path, 'index.json'),
      JSON.stringify({ schemaVersion: 2, annotations: { 'x.index': 'kept' }, manifests: [tagged(one.descriptor, 'dup'), tagged(two.descriptor, 'other'), tagged(two.descriptor, 'dup')] }),
    );
    expect(await layout.listTags()).toEqual(['dup', 'other']);
    expect((await layout.resolve('dup')).digest).toBe(two.descriptor.digest); // the last entry wins
    await layout.putManifest(encodeManifest(one.manifest), MEDIA_TYPE.ociManifest, 'new');
    const index = JSON.parse(readFileSync(join(path, 'index.json'), 'utf8')) as { annotations: object; manifests: Array<{ annotations: object }> };
    expect(index.annotations).toEqual({ 'x.index': 'kept' });
    expect(index.manifests[1]!.annotations).toEqual({ [REF_NAME_ANNOTATION]: 'other', 'x.note': 'kept' });
    await layout.putManifest(encodeManifest(one.manifest), MEDIA_TYPE.ociManifest, 'dup');
    expect(await layout.listTags()).toEqual(['dup', 'other', 'new']);
    expect((await layout.resolve('dup')).digest).toBe(one.descriptor.digest);
  });

  it('serialises concurrent index updates, also across instances of the same directory', async () => {
    const path = freshDir();
    const layouts = [await OciLayout.create(path), await OciLayout.open(path)];
    const image = await storeImage(layouts[0]!, [{ entries: [file('a', 'a')] }]);
    const bytes = encodeManifest(image.manifest);
    const tags = Array.from({ length: 24 }, (_, i) => `t${i}`);
    await Promise.all(tags.map((tag, i) => layouts[i % 2]!.putManifest(bytes, MEDIA_TYPE.ociManifest, tag)));
    expect((await layouts[0]!.listTags()).sort()).toEqual([...tags].sort());
    expect(readdirSync(path).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses content that does not match its digest and leaves nothing behind', async () => {
    const path = freshDir();
    const layout = await OciLayout.create(path);
    const { descriptor } = blob('expected');
    const error = await rejection(layout.putBlob(descriptor, () => bufferStream(Buffer.from('tampered'))));
    expect(error.kind).toBe('digest-mismatch');
    expect(await layout.hasBlob(descriptor.digest)).toBe(false);
    expect(readdirSync(join(path, 'blobs', 'sha256'))).toEqual([]);
  });

  it('skips blobs it has, and opens the source again after a transient failure', async () => {
    const layout = await OciLayout.create(freshDir());
    const { bytes, descriptor } = blob('x'.repeat(200_000));
    let opened = 0;
    await layout.putBlob(descriptor, () => {
      opened++;
      if (opened > 1) return bufferStream(bytes);
      // The first transfer breaks off midway, as a reset connection would.
      return new Readable({
        read() {
          this.push(bytes.subarray(0, 1000));
          this.destroy(new OciError('unavailable', 'pull blob', 'test', 'connection reset'));
        },
      });
    });
    expect(opened).toBe(2);
    expect((await readAll(await layout.openBlob(descriptor))).equals(bytes)).toBe(true);
    await layout.putBlob(descriptor, () => {
      throw new Error('must not be opened: the blob is there');
    });
  });

  it('openBlob: not-found for a missing blob; a corrupted blob fails the stream with digest-mismatch', async () => {
    const path = freshDir();
    const layout = await OciLayout.create(path);
    expect((await rejection(layout.openBlob(blob('absent').descriptor))).kind).toBe('not-found');
    const { bytes, descriptor } = blob('original content');
    await layout.putBlob(descriptor, () => bufferStream(bytes));
    expect((await rejection(layout.openBlob({ ...descriptor, size: descriptor.size + 1 }))).kind).toBe('digest-mismatch');
    writeFileSync(join(path, 'blobs', 'sha256', digestHex(descriptor.digest)), 'ORIGINAL CONTENT');
    const stream = await layout.openBlob(descriptor);
    const error = await rejection(readAll(stream));
    expect(error.kind).toBe('digest-mismatch');
  });

  it('putManifest refuses what is not a manifest, and invalid tags', async () => {
    const layout = await OciLayout.create(freshDir());
    expect((await rejection(layout.putManifest(Buffer.from('{"hello":1}'), MEDIA_TYPE.ociManifest, 'v1'))).kind).toBe('invalid');
    const image = await storeImage(layout, [{ entries: [file('a', 'a')] }]);
    expect((await rejection(layout.putManifest(encodeManifest(image.manifest), MEDIA_TYPE.ociManifest, 'bad tag!'))).kind).toBe('invalid');
    expect(await layout.listTags()).toEqual([]);
  });

  it('fetchManifest notices a manifest blob that was changed on disk', async () => {
    const path = freshDir();
    const layout = await OciLayout.create(path);
    const image = await storeImage(layout, [{ entries: [file('a', 'a')] }], { tag: 'v1' });
    const manifestPath = join(path, 'blobs', 'sha256', digestHex(image.descriptor.digest));
    writeFileSync(manifestPath, readFileSync(manifestPath, 'utf8').replace('"schemaVersion":2', '"schemaVersion": 2'));
    expect((await rejection(layout.fetchManifest('v1'))).kind).toBe('digest-mismatch');
  });
});

describe('OciLayout with skopeo and umoci as oracles', () => {
  let path: string;
  let image: StoredImage;

  beforeAll(async () => {
    path = freshDir('ours');
    const layout = await OciLayout.create(path);
    image = await storeImage(
      layout,
      [{ entries: [dir('etc'), file('etc/os-release', 'ID=test\n'), file('bin/tool', '#!/bin/sh\n', 0o755)], codec: 'gzip' }, { entries: [file('etc/motd', 'hi\n')], codec: 'none' }],
      { tag: 'v1.0.0' },
    );
    await storeImage(layout, [{ entries: [file('other', 'x')] }], { tag: 'second' });
  });

  it('skopeo inspect reads what we write', () => {
    const inspected = JSON.parse(run('skopeo', ['inspect', `oci:${path}:v1.0.0`])) as { Digest: string; Architecture: string; Layers: string[]; Labels: object };
    expect(inspected.Digest).toBe(image.descriptor.digest);
    expect(inspected.Architecture).toBe('amd64');
    expect(inspected.Layers).toEqual(image.layers.map((l) => l.digest));
    expect(sha256Digest(run('skopeo', ['inspect', '--raw', `oci:${path}:v1.0.0`]))).toBe(image.descriptor.digest);
  });

  it('umoci lists our tags', () => {
    expect(run('umoci', ['ls', '--layout', path]).trim().split('\n')).toEqual(['v1.0.0', 'second']);
  });

  it('we read what skopeo copies into a new layout, and skopeo adds to a layout we created', async () => {
    const theirs = freshDir('theirs');
    run('skopeo', ['copy', '-q', `oci:${path}:v1.0.0`, `oci:${theirs}:copied`]);
    const layout = await OciLayout.open(theirs);
    expect(await layout.listTags()).toEqual(['copied']);
    const { descriptor, manifest } = await resolveImage(layout, 'copied', AMD64);
    // skopeo gzips the uncompressed layer on the way, so only the config and the first layer stay the same.
    expect(manifest.config).toEqual(image.manifest.config);
    expect(manifest.layers[0]).toEqual(image.layers[0]);
    expect(manifest.layers[1]!.mediaType).toBe(MEDIA_TYPE.ociLayerGzip);
    const out = freshDir('extracted');
    await extractImage(layout, manifest, out);
    expect(readFileSync(join(out, 'etc', 'motd'), 'utf8')).toBe('hi\n');

    run('skopeo', ['copy', '-q', `oci:${theirs}:copied`, `oci:${path}:from-skopeo`]);
    const ours = await OciLayout.open(path);
    expect(await ours.listTags()).toEqual(['v1.0.0', 'second', 'from-skopeo']);
    expect((await ours.resolve('from-skopeo')).digest).toBe(descriptor.digest);
  });

  it('we read a layout skopeo converted from a docker archive', async () => {
    const archive = join(scratch, 'image.tar');
    run('skopeo', ['copy', '-q', `oci:${path}:v1.0.0`, `docker-archive:${archive}:test/image:v1`]);
    const converted = freshDir('from-archive');
    run('skopeo', ['copy', '-q', `docker-archive:${archive}`, `oci:${converted}:v1`]);
    const layout = await OciLayout.open(converted);
    const { manifest, config } = await resolveImage(layout, 'v1', AMD64);
    expect(manifest.layers).toHaveLength(2);
    expect(config.config?.Labels).toEqual({ 'test.label': 'test' });
    const out = freshDir('extracted');
    await extractImage(layout, manifest, out);
    expect(readFileSync(join(out, 'etc', 'os-release'), 'utf8')).toBe('ID=test\n');
    expect(readFileSync(join(out, 'etc', 'motd'), 'utf8')).toBe('hi\n');
  });
});

/** Counts the blobs read from a repository, to see which a copy transferred. */
function counting(repo: ImageRepository): ImageRepository & { opened: string[] } {
  const opened: string[] = [];
  return {
    location: repo.location,
    opened,
    resolve: (reference) => repo.resolve(reference),
    fetchManifest: (reference) => repo.fetchManifest(reference),
    listTags: () => repo.listTags(),
    openBlob: (descriptor) => {
      opened.push(descriptor.digest);
      return repo.openBlob(descriptor);
    },
  };
}

describe('copyImage and resolveImage', () => {
  let source: OciLayout;
  let amd64: StoredImage;
  let arm64: StoredImage;
  let armv7: StoredImage;
  let attestation: StoredImage;
  let twoPlatforms: Descriptor;
  let threePlatforms: Descriptor;

  beforeAll(async () => {
    source = await OciLayout.create(freshDir('source'));
    const shared = { entries: [dir('etc'), file('etc/shared', 'same on every platform')] };
    amd64 = await storeImage(source, [shared, { entries: [file('bin/arch', 'amd64')] }], { platform: AMD64 });
    arm64 = await storeImage(source, [shared, { entries: [file('bin/arch', 'arm64')], codec: 'zstd' }], { platform: ARM64 });
    armv7 = await storeImage(source, [{ entries: [file('bin/arch', 'armv7')], codec: 'none' }], { platform: ARMV7 });
    attestation = await storeImage(source, [{ entries: [file('sbom.json', '{}')] }], { platform: { os: 'unknown', architecture: 'unknown' } });
    twoPlatforms = await storeIndex(source, [{ descriptor: amd64.descriptor, platform: AMD64 }, { descriptor: arm64.descriptor, platform: ARM64 }], 'multi');
    threePlatforms = await storeIndex(
      source,
      [
        { descriptor: amd64.descriptor, platform: AMD64 },
        { descriptor: arm64.descriptor, platform: ARM64 },
        { descriptor: armv7.descriptor, platform: ARMV7 },
        {
          descriptor: attestation.descriptor,
          platform: { os: 'unknown', architecture: 'unknown' },
          annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': amd64.descriptor.digest },
        },
      ],
      'three',
    );
  });

  const blobsOf = (image: StoredImage): string[] => [image.manifest.config.digest, ...image.layers.map((l) => l.digest)];

  it('copies an index with every platform, bytes unchanged, readable by skopeo and umoci', async () => {
    const path = freshDir('copy');
    const destination = await OciLayout.create(path);
    const root = await copyImage(source, 'multi', destination, { tag: 'multi' });
    expect(root).toEqual(twoPlatforms);
    expect(await destination.listTags()).toEqual(['multi']);
    for (const digest of [...blobsOf(amd64), ...blobsOf(arm64)]) expect(await destination.hasBlob(digest)).toBe(true);
    expect((await resolveImage(destination, 'multi', ARM64)).descriptor).toEqual(arm64.descriptor);
    expect(sha256Digest(run('skopeo', ['inspect', '--raw', `oci:${path}:multi`]))).toBe(twoPlatforms.digest);
    // skopeo picks the platform from the index: its layers are arm64's.
    const armInspect = JSON.parse(run('skopeo', ['inspect', '--override-arch', 'arm64', `oci:${path}:multi`])) as { Architecture: string; Layers: string[] };
    expect(armInspect).toMatchObject({ Architecture: 'arm64', Layers: arm64.layers.map((l) => l.digest) });
    expect(run('umoci', ['ls', '--layout', path]).trim()).toBe('multi');
  });

  it('with one platform, the copy is that platform manifest alone', async () => {
    const destination = await OciLayout.create(freshDir('copy'));
    const root = await copyImage(source, 'multi', destination, { tag: 'arm', platforms: [ARM64] });
    expect(root).toEqual(arm64.descriptor);
    expect(await destination.resolve('arm')).toEqual(arm64.descriptor);
    for (const digest of blobsOf(arm64)) expect(await destination.hasBlob(digest)).toBe(true);
    expect(await destination.hasBlob(amd64.layers[1]!.digest)).toBe(false);
    expect(await destination.hasBlob(amd64.descriptor.digest)).toBe(false);
  });

  it('with some platforms of an index, a new index of those (and their attestations)', async () => {
    const path = freshDir('copy');
    const destination = await OciLayout.create(path);
    const root = await copyImage(source, 'three', destination, { tag: 'two', platforms: [ARMV7, AMD64] });
    expect(root.mediaType).toBe(MEDIA_TYPE.ociIndex);
    expect(root.digest).not.toBe(threePlatforms.digest);
    const { parsed } = await destination.fetchManifest('two');
    if (parsed.kind !== 'index') throw new Error('expected an index');
    // Source order is kept.
    expect(parsed.index.manifests.map((m) => m.digest)).toEqual([amd64.descriptor.digest, armv7.descriptor.digest, attestation.descriptor.digest]);
    for (const digest of [...blobsOf(amd64), ...blobsOf(armv7), ...blobsOf(attestation)]) expect(await destination.hasBlob(digest)).toBe(true);
    expect(await destination.hasBlob(arm64.layers[1]!.digest)).toBe(false);
    const armInspect = JSON.parse(run('skopeo', ['inspect', '--override-arch', 'arm', '--override-variant', 'v7', `oci:${path}:two`])) as { Layers: string[] };
    expect(armInspect.Layers).toEqual(armv7.layers.map((l) => l.digest));
  });

  it('with every platform of an index named, the original index', async () => {
    const destination = await OciLayout.create(freshDir('copy'));
    expect(await copyImage(source, 'multi', destination, { tag: 'm', platforms: [AMD64, ARM64] })).toEqual(twoPlatforms);
    expect(await copyImage(source, 'three', destination, { tag: 't', platforms: [AMD64, ARM64, ARMV7] })).toEqual(threePlatforms);
  });

  it('a platform the index lacks is not-found, naming what it has', async () => {
    const destination = await OciLayout.create(freshDir('copy'));
    const error = await rejection(copyImage(source, 'multi', destination, { platforms: [AMD64, { os: 'linux', architecture: 'riscv64' }] }));
    expect(error.kind).toBe('not-found');
    expect(error.message).toContain('no linux/riscv64 image in the index (it has linux/amd64, linux/arm64)');
    expect(await destination.listTags()).toEqual([]);
  });

  it('a single manifest is copied when it is for a requested platform (its config read once), refused otherwise', async () => {
    const destination = await OciLayout.create(freshDir('copy'));
    const reading = counting(source);
    expect(await copyImage(reading, amd64.descriptor.digest, destination, { tag: 'a', platforms: [AMD64] })).toEqual(amd64.descriptor);
    expect(reading.opened.sort()).toEqual(blobsOf(amd64).sort());
    for (const digest of blobsOf(amd64)) expect(await destination.hasBlob(digest)).toBe(true);
    const error = await rejection(copyImage(source, amd64.descriptor.digest, destination, { tag: 'b', platforms: [ARM64] }));
    expect(error.kind).toBe('not-found');
    expect(error.message).toContain('the image is for linux/amd64, not linux/arm64');
    expect(await destination.listTags()).toEqual(['a']);
  });

  it('transfers only the blobs the destination lacks', async () => {
    const destination = await OciLayout.create(freshDir('copy'));
    const first = counting(source);
    await copyImage(first, 'multi', destination, { tag: 'multi', platforms: [AMD64] });
    expect(first.opened.sort()).toEqual(blobsOf(amd64).sort());
    const second = counting(source);
    await copyImage(second, 'multi', destination, { tag: 'multi' });
    // The shared layer and amd64's blobs are there already.
    expect(second.opened.sort()).toEqual([arm64.manifest.config.digest, arm64.layers[1]!.digest].sort());
    const third = counting(source);
    await copyImage(third, 'multi', destination);
    expect(third.opened).toEqual([]);
  });

  it('resolveImage follows an index to the platform manifest and reads its config', async () => {
    const resolved = await resolveImage(source, 'three', ARMV7);
    expect(resolved.descriptor).toEqual(armv7.descriptor);
    expect(resolved.manifest).toEqual(armv7.manifest);
    expect(resolved.config).toMatchObject({ architecture: 'arm', os: 'linux', variant: 'v7' });
    expect((await resolveImage(source, amd64.descriptor.digest, AMD64)).descriptor).toEqual(amd64.descriptor);

    const absent = await rejection(resolveImage(source, 'multi', { os: 'windows', architecture: 'amd64' }));
    expect(absent.kind).toBe('not-found');
    expect(absent.message).toContain('it has linux/amd64, linux/arm64');
    expect(absent.message).toContain(`${source.location}:multi`);
    const wrongArch = await rejection(resolveImage(source, arm64.descriptor.digest, AMD64));
    expect(wrongArch.kind).toBe('not-found');
    expect(wrongArch.message).toContain('the image is for linux/arm64');
  });

  it('leaves a destination without the tag when a blob cannot be read', async () => {
    const brokenSource = await OciLayout.create(freshDir('broken'));
    const image = await storeImage(brokenSource, [{ entries: [file('a', 'a')] }], { tag: 'v1' });
    rmSync(join(brokenSource.dir, 'blobs', 'sha256', digestHex(image.layers[0]!.digest)));
    const destination = await OciLayout.create(freshDir('copy'));
    expect((await rejection(copyImage(brokenSource, 'v1', destination, { tag: 'v1' }))).kind).toBe('not-found');
    expect(await destination.listTags()).toEqual([]);
    expect(existsSync(join(destination.dir, 'blobs', 'sha256', digestHex(image.descriptor.digest)))).toBe(false);
  });
});
