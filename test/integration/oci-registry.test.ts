// The registry client against a real registry (CNCF distribution 2.8), with
// anonymous, basic and token auth, behind a proxy that fails on purpose, and
// checked against skopeo both ways.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { downloadBlob } from '../../src/oci/blob-file.js';
import { digestHex, sha256Digest } from '../../src/oci/digest.js';
import { OciError } from '../../src/oci/errors.js';
import { type Descriptor, encodeManifest, selectPlatform } from '../../src/oci/manifest.js';
import { MEDIA_TYPE } from '../../src/oci/media-types.js';
import { RegistryClient, type RegistryClientOptions, type RegistryRepository } from '../../src/oci/registry/client.js';
import { parseChallenges } from '../../src/oci/registry/challenge.js';
import { nextPageUrl } from '../../src/oci/registry/link.js';
import { type FlakyProxy, startFlakyProxy } from '../helpers/flaky-proxy.js';
import { type TestRegistry, freePort, startRegistry } from '../helpers/registry.js';

const run = promisify(execFile);

// Small delays and timeouts keep the failure tests fast.
const FAST: Partial<RegistryClientOptions> = { retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 50 }, requestTimeoutMs: 5_000 };

function client(host: string, extra: Partial<RegistryClientOptions> = {}): RegistryClient {
  return new RegistryClient({ registry: host, insecure: true, ...FAST, ...extra });
}

interface TestBlob {
  bytes: Buffer;
  digest: string;
  size: number;
}

function makeBlob(bytes: Buffer | string): TestBlob {
  const buffer = Buffer.from(bytes);
  return { bytes: buffer, digest: sha256Digest(buffer), size: buffer.length };
}

interface PushedImage {
  bytes: Buffer;
  descriptor: Descriptor;
  blobs: TestBlob[];
}

/** Pushes a config and two layers (one of 3 MiB, so uploads stream in many chunks) and a manifest naming them. */
async function pushImage(repo: RegistryRepository, tag: string, kind: 'oci' | 'docker'): Promise<PushedImage> {
  const layers = [makeBlob(randomBytes(3 * 1024 * 1024)), makeBlob(`layer of ${tag} ${randomBytes(8).toString('hex')}`)];
  const config = makeBlob(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    }),
  );
  for (const blob of [config, ...layers]) await repo.putBlob(blob, () => Readable.from([blob.bytes]));
  const oci = kind === 'oci';
  const manifestType = oci ? MEDIA_TYPE.ociManifest : MEDIA_TYPE.dockerManifest;
  const bytes = encodeManifest({
    schemaVersion: 2,
    mediaType: manifestType,
    config: { mediaType: oci ? MEDIA_TYPE.ociConfig : MEDIA_TYPE.dockerConfig, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: oci ? MEDIA_TYPE.ociLayerGzip : MEDIA_TYPE.dockerLayerGzip, digest: l.digest, size: l.size })),
  });
  const descriptor = await repo.putManifest(bytes, manifestType, tag);
  return { bytes, descriptor, blobs: [config, ...layers] };
}

async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** The OciError a promise rejects with (fails the test when it resolves or throws something else). */
async function ociError(promise: Promise<unknown>): Promise<OciError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OciError);
  return error as OciError;
}

const registry = await startRegistry();
const scratch = await mkdtemp(join(tmpdir(), 'if-oci-registry-'));
const started: Array<{ stop(): Promise<void> }> = [];
afterAll(async () => {
  for (const s of started.reverse()) await s.stop();
  await registry.stop();
  await rm(scratch, { recursive: true, force: true });
});

async function track<T extends { stop(): Promise<void> }>(thing: Promise<T>): Promise<T> {
  const value = await thing;
  started.push(value);
  return value;
}

describe('WWW-Authenticate and Link parsing', () => {
  it('reads several challenges with quoted values holding commas, escapes and spaces', () => {
    expect(
      parseChallenges(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push" , ' +
          'Basic realm="say \\"hi\\", please"',
      ),
    ).toEqual([
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' },
      },
      { scheme: 'basic', params: { realm: 'say "hi", please' } },
    ]);
    expect(parseChallenges('BEARER Realm=https://auth.example/token, Error="insufficient_scope"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.example/token', error: 'insufficient_scope' } },
    ]);
    expect(parseChallenges('Basic')).toEqual([{ scheme: 'basic', params: {} }]);
  });

  it('finds the next page among several links, relative or absolute', () => {
    const page = 'http://r.example/v2/a/tags/list?n=2';
    expect(nextPageUrl('</v2/a/tags/list?n=2&last=b>; rel="next"', page)).toBe('http://r.example/v2/a/tags/list?n=2&last=b');
    expect(nextPageUrl('<https://x.example/p1>; rel="prev", <https://x.example/p3>; rel=next', page)).toBe('https://x.example/p3');
    expect(nextPageUrl('<https://x.example/p1>; rel="prev"', page)).toBeUndefined();
    expect(nextPageUrl(null, page)).toBeUndefined();
  });
});

describe('an anonymous registry', () => {
  const registryClient = client(registry.host);
  const repo = registryClient.repository('factory/images');
  let oci: PushedImage;
  let docker: PushedImage;
  let index: { bytes: Buffer; descriptor: Descriptor };

  it('answers ping, and an unreachable one is named with its URL after the retries', async () => {
    await registryClient.ping();
    expect(() => new RegistryClient({ registry: 'http://127.0.0.1:5000' })).toThrow(OciError);
    expect(() => registryClient.repository('Upper/Case')).toThrow(/not a valid repository name/);
    const port = await freePort();
    const error = await ociError(client(`127.0.0.1:${port}`, { retry: { attempts: 2, baseDelayMs: 5 } }).ping());
    expect(error.kind).toBe('unavailable');
    expect(error.message).toMatch(
      new RegExp(
        `^ping 127\\.0\\.0\\.1:${port}: gave up after 2 attempts; ` +
          `the last failed with: could not reach http://127\\.0\\.0\\.1:${port}/v2/: .*ECONNREFUSED`,
      ),
    );
  });

  it('pushes OCI and Docker v2 images and an index, and reads every byte back', async () => {
    oci = await pushImage(repo, 'oci-v1', 'oci');
    docker = await pushImage(repo, 'docker-v1', 'docker');
    const indexBytes = encodeManifest({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociIndex,
      manifests: [
        { ...oci.descriptor, platform: { os: 'linux', architecture: 'amd64' } },
        { ...docker.descriptor, platform: { os: 'linux', architecture: 'arm64' } },
      ],
    });
    index = { bytes: indexBytes, descriptor: await repo.putManifest(indexBytes, MEDIA_TYPE.ociIndex, 'multi') };
    expect(index.descriptor).toEqual({ mediaType: MEDIA_TYPE.ociIndex, digest: sha256Digest(indexBytes), size: indexBytes.length });

    for (const [tag, pushed] of [
      ['oci-v1', oci],
      ['docker-v1', docker],
      ['multi', index],
    ] as const) {
      for (const reference of [tag, pushed.descriptor.digest]) {
        const fetched = await repo.fetchManifest(reference);
        expect(fetched.bytes.equals(pushed.bytes)).toBe(true);
        expect(fetched.descriptor).toEqual(pushed.descriptor);
        expect(await repo.resolve(reference)).toEqual(pushed.descriptor);
      }
    }
    const parsed = (await repo.fetchManifest('multi')).parsed;
    expect(parsed.kind).toBe('index');
    if (parsed.kind === 'index') {
      expect(selectPlatform(parsed.index, { os: 'linux', architecture: 'arm64' })?.digest).toBe(docker.descriptor.digest);
    }

    for (const blob of [...oci.blobs, ...docker.blobs]) {
      expect(await repo.hasBlob(blob.digest)).toBe(true);
      expect((await readAll(await repo.openBlob(blob))).equals(blob.bytes)).toBe(true);
    }
  });

  it('also stores a manifest by digest only', async () => {
    const bytes = encodeManifest({ ...JSON.parse(oci.bytes.toString()), annotations: { untagged: 'yes' } });
    const descriptor = await repo.putManifest(bytes, MEDIA_TYPE.ociManifest);
    expect((await repo.fetchManifest(descriptor.digest)).bytes.equals(bytes)).toBe(true);
  });

  it('says what is missing, with the registry’s own error codes', async () => {
    const missing = sha256Digest('missing');
    const image = `${registry.host}/factory/images`;
    let error = await ociError(repo.fetchManifest('nope'));
    expect([error.kind, error.status, error.message]).toEqual([
      'not-found',
      404,
      `pull manifest ${image}:nope: HTTP 404 Not Found: MANIFEST_UNKNOWN: manifest unknown`,
    ]);
    error = await ociError(repo.resolve(missing));
    expect(error.kind).toBe('not-found');
    expect(error.message).toBe(`pull manifest ${image}@${missing}: HTTP 404 Not Found: MANIFEST_UNKNOWN: manifest unknown`);
    error = await ociError(repo.openBlob({ digest: missing, size: 7 }));
    expect([error.kind, error.message]).toEqual([
      'not-found',
      `pull blob ${image}@${missing}: HTTP 404 Not Found: BLOB_UNKNOWN: blob unknown to registry`,
    ]);
    error = await ociError(registryClient.repository('no/such/repo').listTags());
    expect([error.kind, error.message]).toEqual([
      'not-found',
      `list tags ${registry.host}/no/such/repo: HTTP 404 Not Found: NAME_UNKNOWN: repository name not known to registry`,
    ]);
    expect(await repo.hasBlob(missing)).toBe(false);
    error = await ociError(repo.fetchManifest('not a tag!'));
    expect(error.kind).toBe('invalid');
  });

  it('refuses uploads that are not what their descriptor says', async () => {
    const blob = makeBlob('twelve bytes');
    let error = await ociError(repo.putBlob({ ...blob, size: 20 }, () => Readable.from([blob.bytes])));
    expect([error.kind, error.detail]).toEqual(['digest-mismatch', 'the content to upload is not 20 bytes long']);
    error = await ociError(repo.putBlob(blob, () => Readable.from([Buffer.from('TWELVE BYTES')])));
    expect(error.kind).toBe('digest-mismatch');
    expect(error.detail).toMatch(/^HTTP 400 Bad Request: DIGEST_INVALID: /);
    error = await ociError(
      repo.putBlob(blob, () => {
        throw new Error('disk on fire');
      }),
    );
    expect([error.kind, error.detail]).toEqual(['invalid', 'reading the content to upload failed: disk on fire']);
    expect(await repo.hasBlob(blob.digest)).toBe(false);
  });

  it('is readable by skopeo, and reads what skopeo pushes', async () => {
    const ours = `docker://${registry.host}/factory/images:oci-v1`;
    const { stdout: raw } = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', ours]);
    expect(raw).toBe(oci.bytes.toString());
    const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', ours]);
    const inspected = JSON.parse(stdout) as { Digest: string; Layers: string[]; Architecture: string };
    expect(inspected.Digest).toBe(oci.descriptor.digest);
    expect(inspected.Layers).toEqual(oci.blobs.slice(1).map((b) => b.digest));
    expect(inspected.Architecture).toBe('amd64');

    // An OCI layout made by hand, copied in by skopeo.
    const layout = join(scratch, 'layout');
    await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
    const tar = pack();
    tar.entry({ name: 'etc/hello.txt', mtime: new Date(0) }, 'hello from skopeo\n');
    tar.finalize();
    const tarBytes = await readAll(tar as unknown as Readable); // @types/tar-stream types it against an older Readable
    const layer = makeBlob(gzipSync(tarBytes));
    const config = makeBlob(
      JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256Digest(tarBytes)] } }),
    );
    const manifest = makeBlob(
      encodeManifest({
        schemaVersion: 2,
        mediaType: MEDIA_TYPE.ociManifest,
        config: { mediaType: MEDIA_TYPE.ociConfig, digest: config.digest, size: config.size },
        layers: [{ mediaType: MEDIA_TYPE.ociLayerGzip, digest: layer.digest, size: layer.size }],
      }),
    );
    for (const blob of [layer, config, manifest]) await writeFile(join(layout, 'blobs', 'sha256', digestHex(blob.digest)), blob.bytes);
    await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(
      join(layout, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: MEDIA_TYPE.ociManifest,
            digest: manifest.digest,
            size: manifest.size,
            annotations: { 'org.opencontainers.image.ref.name': 'v1' },
          },
        ],
      }),
    );
    await run('skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${registry.host}/interop/skopeo:v1`]);

    const theirs = registryClient.repository('interop/skopeo');
    expect(await theirs.listTags()).toEqual(['v1']);
    const fetched = await theirs.fetchManifest('v1');
    expect(fetched.descriptor.digest).toBe(manifest.digest);
    expect(fetched.bytes.equals(manifest.bytes)).toBe(true);
    const dest = join(scratch, 'skopeo-layer.tar.gz');
    await downloadBlob(theirs, layer, dest);
    expect((await readFile(dest)).equals(layer.bytes)).toBe(true);
    expect((await readAll(await theirs.openBlob(config))).equals(config.bytes)).toBe(true);
  });
});

describe('through a proxy', () => {
  let proxy: FlakyProxy;
  const direct = client(registry.host).repository('proxied/app');
  let image: PushedImage;
  const big = () => image.blobs[1]!;

  beforeEach(async () => {
    proxy ??= await track(startFlakyProxy(registry.host, { paginateTags: true }));
    image ??= await pushImage(direct, 'v1', 'oci');
    proxy.reset();
  });

  const count = (pattern: RegExp): number => proxy.requests.filter((r) => pattern.test(`${r.method} ${r.url}`)).length;

  it('resolves with HEAD alone, and pushes nothing the registry already has', async () => {
    const repo = client(proxy.host).repository('proxied/app');
    expect(await repo.resolve('v1')).toEqual(image.descriptor);
    expect(proxy.requests.map((r) => r.method)).toEqual(['HEAD']);

    proxy.reset();
    let opened = 0;
    await repo.putBlob(big(), () => {
      opened++;
      return Readable.from([big().bytes]);
    });
    expect(opened).toBe(0);
    expect(proxy.requests.map((r) => `${r.method} ${r.url}`)).toEqual([`HEAD /v2/proxied/app/blobs/${big().digest}`]);
  });

  it('pages through tags with ?n= and Link headers (paged by the proxy: distribution 2.8 ignores n)', async () => {
    const tags = Array.from({ length: 7 }, (_, i) => `page-${i}`);
    for (const tag of tags) await direct.putManifest(image.bytes, MEDIA_TYPE.ociManifest, tag);
    const repo = client(proxy.host, { tagsPageSize: 3 }).repository('proxied/app');
    expect(await repo.listTags()).toEqual([...tags, 'v1']);
    const pages = proxy.requests.filter((r) => r.url.includes('/tags/list')).map((r) => r.url);
    expect(pages).toEqual([
      '/v2/proxied/app/tags/list?n=3',
      '/v2/proxied/app/tags/list?last=page-2&n=3',
      '/v2/proxied/app/tags/list?last=page-5&n=3',
    ]);
  });

  it('retries 503s and then succeeds', async () => {
    proxy.inject({ type: 'status', status: 503 }, { times: 2, match: /^GET .*\/manifests\/v1$/ });
    const fetched = await client(proxy.host).repository('proxied/app').fetchManifest('v1');
    expect(fetched.bytes.equals(image.bytes)).toBe(true);
    expect(count(/^GET .*\/manifests\/v1$/)).toBe(3);
  });

  it('honours Retry-After only up to the maximum delay', async () => {
    proxy.inject({ type: 'status', status: 429, retryAfter: '30' }, { match: /manifests/ });
    const start = Date.now();
    await client(proxy.host).repository('proxied/app').resolve('v1');
    expect(Date.now() - start).toBeLessThan(2_000);
    expect(count(/manifests/)).toBe(2);
  });

  it('gives up after the configured attempts and says so, with the last cause', async () => {
    proxy.inject({ type: 'status', status: 503 }, { times: 10 });
    const repo = client(proxy.host, { retry: { attempts: 3, baseDelayMs: 5 } }).repository('proxied/app');
    const error = await ociError(repo.fetchManifest('v1'));
    expect([error.kind, error.status]).toEqual(['unavailable', 503]);
    expect(error.message).toBe(
      `pull manifest ${proxy.host}/proxied/app:v1: gave up after 3 attempts; ` +
        'the last failed with: HTTP 503 Service Unavailable: UNAVAILABLE: injected failure',
    );
    expect(proxy.requests).toHaveLength(3);
  });

  it('does not retry other 4xx answers', async () => {
    const repo = client(proxy.host).repository('proxied/app');
    proxy.inject({ type: 'status', status: 400, body: '{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]}' });
    let error = await ociError(repo.fetchManifest('v1'));
    expect([error.kind, error.detail]).toEqual(['invalid', 'HTTP 400 Bad Request: MANIFEST_INVALID: manifest invalid']);
    const denied = { errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] };
    proxy.inject({ type: 'status', status: 403, body: JSON.stringify(denied) });
    error = await ociError(repo.openBlob(big()));
    expect([error.kind, error.status, error.detail]).toEqual([
      'denied',
      403,
      'HTTP 403 Forbidden: DENIED: requested access to the resource is denied',
    ]);
    expect(proxy.requests).toHaveLength(2);
  });

  it('retries a reset connection', async () => {
    proxy.inject({ type: 'reset' }, { match: /manifests/ });
    expect((await client(proxy.host).repository('proxied/app').resolve('v1')).digest).toBe(image.descriptor.digest);
    expect(proxy.requests.map((r) => r.fault)).toEqual(['reset', undefined]);
  });

  it('times out a request that gets no headers, or whose body stalls, and retries it', async () => {
    const repo = client(proxy.host, { requestTimeoutMs: 500 }).repository('proxied/app');
    proxy.inject({ type: 'hang' }, { match: /manifests/ });
    proxy.inject({ type: 'stall', afterBytes: 10 }, { match: /manifests/ });
    const start = Date.now();
    expect((await repo.fetchManifest('v1')).bytes.equals(image.bytes)).toBe(true);
    expect(Date.now() - start).toBeGreaterThanOrEqual(1_000);
    expect(proxy.requests.map((r) => r.fault)).toEqual(['hang', 'stall', undefined]);

    proxy.reset();
    proxy.inject({ type: 'hang' }, { times: 5 });
    const error = await ociError(client(proxy.host, { requestTimeoutMs: 200, retry: { attempts: 2, baseDelayMs: 5 } }).ping());
    expect(error.message).toBe(
      `ping ${proxy.host}: gave up after 2 attempts; the last failed with: no response from ${proxy.url}/v2/ within 200 ms`,
    );
  });

  it('downloads a blob to a file, starting over when the transfer stalls or breaks midway', async () => {
    const repo = client(proxy.host, { requestTimeoutMs: 500 }).repository('proxied/app');
    const dest = join(scratch, 'proxied', 'big.bin');
    proxy.inject({ type: 'stall', afterBytes: 100_000 }, { match: /blobs/ });
    proxy.inject({ type: 'reset', afterBytes: 200_000 }, { match: /blobs/ });
    await downloadBlob(repo, big(), dest, { retryDelayMs: 5 });
    expect((await readFile(dest)).equals(big().bytes)).toBe(true);
    expect(proxy.requests.map((r) => r.fault)).toEqual(['stall', 'reset', undefined]);
    expect(await readdir(join(scratch, 'proxied'))).toEqual(['big.bin']);
  });

  it('keeps a blob whose connection breaks before anyone reads it, and reports the break to the late reader', async () => {
    const repo = client(proxy.host).repository('proxied/app');
    proxy.inject({ type: 'reset', afterBytes: 200_000 }, { match: /blobs/ });
    const blob = await repo.openBlob(big());
    // The reset arrives while nothing reads the stream (a caller still opening its file).
    await new Promise((resolve) => setTimeout(resolve, 300));
    const error = await ociError(readAll(blob));
    expect(error.kind).toBe('unavailable');
    expect(error.message).toMatch(/was interrupted/);
  });

  it('leaves no file when the transfer keeps stalling', async () => {
    const repo = client(proxy.host, { requestTimeoutMs: 400 }).repository('proxied/app');
    const dir = join(scratch, 'stalled');
    proxy.inject({ type: 'stall', afterBytes: 1000 }, { times: 5, match: /blobs/ });
    const error = await ociError(downloadBlob(repo, big(), join(dir, 'big.bin'), { attempts: 2, retryDelayMs: 5 }));
    expect(error.kind).toBe('unavailable');
    expect(error.message).toBe(
      `pull blob ${proxy.host}/proxied/app@${big().digest}: gave up after 2 transfers; the last failed with: ` +
        `transfer from ${proxy.url}/v2/proxied/app/blobs/${big().digest} stalled: no data for 400 ms`,
    );
    expect(await readdir(dir)).toEqual([]);
  });

  it('detects corrupted content and leaves no file behind', async () => {
    const repo = client(proxy.host).repository('proxied/app');
    const dir = join(scratch, 'corrupt');
    proxy.inject({ type: 'corrupt', atByte: 12345 }, { match: /blobs/ });
    const error = await ociError(downloadBlob(repo, big(), join(dir, 'big.bin')));
    expect(error.kind).toBe('digest-mismatch');
    expect(error.message).toMatch(new RegExp(`^pull blob .*@${big().digest}: digest mismatch: expected ${big().digest}, got sha256:`));
    expect(existsSync(join(dir, 'big.bin'))).toBe(false);
    expect(await readdir(dir)).toEqual([]);

    proxy.inject({ type: 'corrupt' }, { match: /blobs/ });
    const streamError = await ociError(repo.openBlob(big()).then(readAll));
    expect(streamError.kind).toBe('digest-mismatch');

    proxy.inject({ type: 'corrupt', atByte: 20 }, { match: /manifests/ });
    const manifestError = await ociError(repo.fetchManifest(image.descriptor.digest));
    expect(manifestError.kind).toBe('digest-mismatch');
  });

  it('starts a new upload, reopening the content, when a push fails midway', async () => {
    const repo = client(proxy.host).repository('proxied/upload');
    const blob = makeBlob(randomBytes(2 * 1024 * 1024));
    proxy.inject({ type: 'status', status: 503 }, { match: /^PUT .*\/blobs\/uploads\// });
    proxy.inject({ type: 'reset' }, { match: /^PUT .*\/blobs\/uploads\// });
    let opened = 0;
    await repo.putBlob(blob, () => {
      opened++;
      return Readable.from([blob.bytes.subarray(0, 1 << 20), blob.bytes.subarray(1 << 20)]);
    });
    expect(opened).toBe(3);
    expect(count(/^POST .*\/blobs\/uploads\/$/)).toBe(3);
    const stored = client(registry.host).repository('proxied/upload');
    expect((await readAll(await stored.openBlob(blob))).equals(blob.bytes)).toBe(true);
  });
});

describe('a registry with basic auth', () => {
  let basic: TestRegistry;
  beforeEach(async () => {
    basic ??= await track(startRegistry({ auth: 'basic' }));
  });

  it('pushes and pulls with the configured credentials', async () => {
    const repo = client(basic.host, { credentials: basic.credentials }).repository('secured/app');
    const image = await pushImage(repo, 'v1', 'docker');
    expect((await repo.fetchManifest('v1')).bytes.equals(image.bytes)).toBe(true);
    expect((await readAll(await repo.openBlob(image.blobs[0]!))).equals(image.blobs[0]!.bytes)).toBe(true);
  });

  it('says that credentials are needed, or that they were wrong', async () => {
    let error = await ociError(client(basic.host).ping());
    expect([error.kind, error.message]).toEqual([
      'unauthorized',
      `ping ${basic.host}: the registry requires credentials (Basic realm "test-registry") and none are configured; ` +
        'pass credentials: { username, password } in the RegistryClient options',
    ]);
    const wrong = client(basic.host, { credentials: { username: 'factory', password: 'wrong' } });
    error = await ociError(wrong.repository('secured/app').fetchManifest('v1'));
    expect([error.kind, error.message]).toEqual([
      'unauthorized',
      `pull manifest ${basic.host}/secured/app:v1: the registry rejected the credentials of user "factory" (HTTP 401)`,
    ]);
  });

  it('follows a redirect to storage without taking the credentials along, but keeps them on the same host', async () => {
    const proxy = await track(startFlakyProxy(basic.host));
    const writer = client(basic.host, { credentials: basic.credentials }).repository('secured/redirect');
    const blob = makeBlob(randomBytes(50_000));
    await writer.putBlob(blob, () => Readable.from([blob.bytes]));

    // "Storage" on another port: records what it was sent, serves the blob it fetches with its own credentials.
    const seen: Array<string | undefined> = [];
    const storage: Server = createServer((req, res) => {
      seen.push(req.headers.authorization);
      void writer.openBlob(blob).then(async (s) => res.end(await readAll(s)));
    });
    await new Promise<void>((resolve) => storage.listen(0, '127.0.0.1', resolve));
    started.push({ stop: () => new Promise<void>((resolve) => storage.close(() => resolve())) });
    const storageUrl = `http://127.0.0.1:${(storage.address() as AddressInfo).port}`;

    const reader = client(proxy.host, { credentials: basic.credentials });
    await reader.ping(); // learns that the registry wants Basic
    const repo = reader.repository('secured/redirect');
    proxy.reset();
    proxy.inject({ type: 'redirect', location: (path) => `${storageUrl}/storage${path}` }, { match: /^GET .*\/blobs\// });
    expect((await readAll(await repo.openBlob(blob))).equals(blob.bytes)).toBe(true);
    expect(proxy.requests[0]!.headers.authorization).toMatch(/^Basic /);
    expect(seen).toEqual([undefined]);

    // The same host again: the registry still needs (and gets) the credentials.
    proxy.reset();
    proxy.inject({ type: 'redirect', location: (path) => `${path}?hop=1` }, { match: /^GET .*\/blobs\/sha256:[0-9a-f]+$/ });
    expect((await readAll(await repo.openBlob(blob))).equals(blob.bytes)).toBe(true);
    expect(proxy.requests.map((r) => [r.url.endsWith('?hop=1'), r.headers.authorization?.startsWith('Basic ')])).toEqual([
      [false, true],
      [true, true],
    ]);
  });
});

describe('a registry with token auth', () => {
  let token: TestRegistry;
  beforeEach(async () => {
    token ??= await track(startRegistry({ auth: 'token' }));
  });
  const scopesAsked = (scope: string): number =>
    token.tokenServer!.requests.filter((r) => r.scopes.includes(scope) && r.status === 200).length;

  it('gets push and pull tokens, once per scope, and uses them', async () => {
    const writer = client(token.host, { credentials: token.credentials }).repository('tok/app');
    const image = await pushImage(writer, 'v1', 'oci');
    expect(scopesAsked('repository:tok/app:pull,push')).toBe(1);
    expect(token.tokenServer!.requests.every((r) => r.user === 'factory')).toBe(true);

    // Anonymous readers get pull tokens; concurrent requests share one.
    const reader = client(token.host).repository('tok/app');
    const fetched = await Promise.all(Array.from({ length: 5 }, () => reader.fetchManifest('v1')));
    expect(fetched.every((f) => f.bytes.equals(image.bytes))).toBe(true);
    for (const blob of image.blobs) expect((await readAll(await reader.openBlob(blob))).equals(blob.bytes)).toBe(true);
    expect(scopesAsked('repository:tok/app:pull')).toBe(1);
    expect(token.tokenServer!.requests.at(-1)).toEqual({
      scopes: ['repository:tok/app:pull'],
      granted: ['repository:tok/app:pull'],
      status: 200,
    });
  });

  it('explains a refused push and refused credentials', async () => {
    const blob = makeBlob('anonymous writes');
    let error = await ociError(client(token.host).repository('tok/anon').putBlob(blob, () => Readable.from([blob.bytes])));
    expect([error.kind, error.message]).toEqual([
      'unauthorized',
      `push blob ${token.host}/tok/anon@${blob.digest}: the registry refused the token for repository:tok/anon:pull,push ` +
        '(insufficient_scope): anonymous access does not allow it; pass credentials: { username, password } in the RegistryClient options',
    ]);
    const wrong = client(token.host, { credentials: { username: 'factory', password: 'nope' } });
    error = await ociError(wrong.repository('tok/app').resolve('v1'));
    expect([error.kind, error.message]).toEqual([
      'unauthorized',
      `resolve ${token.host}/tok/app:v1: the token server ${token.tokenServer!.url} rejected the credentials of user "factory" ` +
        `(HTTP 401 Unauthorized: ${JSON.stringify({ details: 'invalid username or password' })})`,
    ]);
  });

  it('accepts access_token, and asks again when a token expires', async () => {
    const server = token.tokenServer!;
    server.tokenField = 'access_token';
    server.expiresIn = 1;
    try {
      const repo = client(token.host).repository('tok/app');
      const before = scopesAsked('repository:tok/app:pull');
      await repo.resolve('v1');
      await repo.resolve('v1');
      expect(scopesAsked('repository:tok/app:pull')).toBe(before + 1);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await repo.resolve('v1');
      expect(scopesAsked('repository:tok/app:pull')).toBe(before + 2);
    } finally {
      server.tokenField = 'token';
      server.expiresIn = 300;
    }
  });
});

describe('a server that is not a well-behaved registry', () => {
  it('refuses manifests over 4 MiB, declared or not', async () => {
    const huge = Buffer.alloc(5 * 1024 * 1024, 0x20);
    const server = createServer((req, res) => {
      const chunked = req.url!.includes('chunked');
      res.writeHead(200, {
        'content-type': MEDIA_TYPE.ociManifest,
        ...(chunked ? {} : { 'content-length': huge.length }),
      });
      res.end(huge);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    started.push({ stop: () => new Promise<void>((resolve) => server.close(() => resolve())) });
    const repo = client(`127.0.0.1:${(server.address() as AddressInfo).port}`).repository('big/manifest');
    for (const tag of ['declared', 'chunked']) {
      const error = await ociError(repo.fetchManifest(tag));
      expect(error.kind).toBe('invalid');
      expect(error.detail).toMatch(/^the manifest is \d+ bytes or more, over the 4194304 byte limit$/);
    }
  });
});
