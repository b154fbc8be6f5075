// Delivery of cached assets (ranges, ETags, HEAD, checksums) and a registry
// cache shared by two instances with their own data directories.

import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { startRegistry } from '../helpers/registry.js';
import { startService, type ServiceProcess } from '../helpers/server.js';

const release = await ensureDevRelease();
const version = release.versions.at(-1)!;
const cacheRegistry = await startRegistry();
let a: ServiceProcess;
let b: ServiceProcess;
let id: string;
const body = 'customization:\n  extraKernelArgs: [factory.cache=1]\n  systemExtensions:\n    officialExtensions: [siderolabs/hello-service]\n';

beforeAll(async () => {
  const env = { IF_RELEASE_LAYOUT_DIR: release.layoutDir, IF_CACHE_REGISTRY: cacheRegistry.host, IF_CACHE_INSECURE: 'true' };
  [a, b] = await Promise.all([startService(undefined, env), startService(undefined, env)]);
  const res = await fetch(`${a.url}/schematics`, { method: 'POST', body });
  id = ((await res.json()) as { id: string }).id;
  await fetch(`${b.url}/schematics`, { method: 'POST', body });
});
afterAll(async () => {
  await a.stop();
  await b.stop();
  await cacheRegistry.stop();
});

const builtLines = (svc: ServiceProcess): number => svc.logs().split('\n').filter((l) => l.includes('"msg":"asset built"')).length;

describe('a registry cache shared by two instances', () => {
  it('serves on the second instance what the first built, without building it again', async () => {
    const path = `/image/${id}/${version}/initramfs-amd64.xz`;
    const first = Buffer.from(await (await fetch(`${a.url}${path}`)).arrayBuffer());
    expect(builtLines(a)).toBe(1);
    const second = Buffer.from(await (await fetch(`${b.url}${path}`)).arrayBuffer());
    expect(second.equals(first)).toBe(true);
    expect(builtLines(b)).toBe(0);
    // The asset is an OCI artifact in the registry, tagged by its key, readable by skopeo.
    const key = ((await (await fetch(`${b.url}/status/${id}/${version}/initramfs-amd64.xz`)).json()) as { key: string }).key;
    const raw = JSON.parse(
      execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${cacheRegistry.host}/image-factory/cache:${key}`], { encoding: 'utf8' }),
    ) as { artifactType: string; layers: Array<{ digest: string; size: number }> };
    expect(raw.artifactType).toBe('application/vnd.talos-image-factory.asset.v1');
    expect(raw.layers[0]).toMatchObject({ digest: `sha256:${createHash('sha256').update(first).digest('hex')}`, size: first.length });
  });
});

describe('delivery', () => {
  const path = () => `/image/${id}/${version}/initramfs-amd64.xz`;
  let whole: Buffer;
  let etag: string;

  beforeAll(async () => {
    const res = await fetch(`${a.url}${path()}`);
    whole = Buffer.from(await res.arrayBuffer());
    etag = res.headers.get('etag')!;
  });

  it('gives an ETag from the content digest and answers If-None-Match with 304', async () => {
    expect(etag).toBe(`"sha256:${createHash('sha256').update(whole).digest('hex')}"`);
    const res = await fetch(`${a.url}${path()}`, { headers: { 'If-None-Match': etag } });
    expect(res.status).toBe(304);
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  it('serves byte ranges with 206, and 416 for a range past the end', async () => {
    const res = await fetch(`${a.url}${path()}`, { headers: { Range: 'bytes=100-199' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes 100-199/${whole.length}`);
    expect(Buffer.from(await res.arrayBuffer()).equals(whole.subarray(100, 200))).toBe(true);
    const tail = await fetch(`${a.url}${path()}`, { headers: { Range: 'bytes=-10' } });
    expect(Buffer.from(await tail.arrayBuffer()).equals(whole.subarray(whole.length - 10))).toBe(true);
    const past = await fetch(`${a.url}${path()}`, { headers: { Range: `bytes=${whole.length}-` } });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${whole.length}`);
  });

  it('resumes a download with curl -C -', () => {
    const out = `/tmp/if-resume-${process.pid}.xz`;
    execFileSync('bash', ['-c', `head -c 1000 > ${out} < <(curl -s ${a.url}${path()}) || true; curl -s -C - -o ${out} ${a.url}${path()}`]);
    const got = execFileSync('sha256sum', [out], { encoding: 'utf8' }).split(' ')[0];
    expect(got).toBe(createHash('sha256').update(whole).digest('hex'));
    execFileSync('rm', ['-f', out]);
  });

  it('serves .sha256 and .sha512 companions that sha256sum/sha512sum accept', async () => {
    for (const [suffix, algorithm] of [['.sha256', 'sha256'], ['.sha512', 'sha512']] as const) {
      const res = await fetch(`${a.url}${path()}${suffix}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-disposition')).toBe(`attachment; filename="initramfs-amd64.xz${suffix}"`);
      expect(await res.text()).toBe(`${createHash(algorithm).update(whole).digest('hex')}  initramfs-amd64.xz\n`);
    }
  });

  it('answers HEAD with headers only', async () => {
    const res = await fetch(`${a.url}${path()}`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(whole.length));
    expect(res.headers.get('accept-ranges')).toBe('bytes');
  });
});

describe('metrics', () => {
  it('counts built and cached deliveries under upstream names', async () => {
    const address = /"metricsAddress":"([^"]+)"/.exec(a.logs())![1];
    const text = await (await fetch(`http://${address}/metrics`)).text();
    expect(text).toMatch(/image_factory_assets_built_total\{talos_version="v1\.12\.0",output_kind="initramfs",arch="amd64"\} 1/);
    expect(text).toMatch(/image_factory_assets_delivered_cached_total\{[^}]*output_kind="initramfs"[^}]*\} \d+/);
    expect(text).toMatch(/image_factory_build_queue_depth 0/);
    expect(text).toMatch(/image_factory_builds_active 0/);
  });
});
