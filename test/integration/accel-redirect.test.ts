// IF_ACCEL_REDIRECT behind Debian's nginx: the factory answers cache hits with
// headers and X-Accel-Redirect, nginx sends the bytes from the cache directory
// with README.md's location block, and what a client sees (bytes, ranges, ETag,
// conditional requests, HEAD, checksums) is what the factory alone serves.

import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { nginxSkipReason, startNginx, type TestNginx } from '../helpers/nginx.js';
import { startService, type ServiceProcess } from '../helpers/server.js';

const SKIP = nginxSkipReason();
if (SKIP && process.env.CI) throw new Error(`CI must run the X-Accel-Redirect tests: ${SKIP}`);
if (SKIP) console.warn(`skipping the X-Accel-Redirect tests: ${SKIP}`);

const PREFIX = '/_factory_cache/';

describe.skipIf(SKIP !== undefined)('cache hits sent by nginx through X-Accel-Redirect', () => {
  let plain: ServiceProcess;
  let accel: ServiceProcess;
  let nginx: TestNginx;
  let path: string;
  let whole: Buffer;

  beforeAll(async () => {
    const release = await ensureDevRelease();
    const env = { IF_RELEASE_LAYOUT_DIR: release.layoutDir };
    plain = await startService(undefined, env);
    // A second instance on the same data directory, in the opt-in mode.
    accel = await startService(plain.dataDir, { ...env, IF_ACCEL_REDIRECT: PREFIX });
    nginx = await startNginx({ factory: accel.url, cacheDir: join(plain.dataDir, 'cache'), prefix: PREFIX });
    const res = await fetch(`${plain.url}/schematics`, { method: 'POST', body: 'customization:\n  extraKernelArgs: [factory.accel=1]\n' });
    const { id } = (await res.json()) as { id: string };
    path = `/image/${id}/${release.versions.at(-1)!}/initramfs-amd64.xz`;
    whole = Buffer.from(await (await fetch(`${plain.url}${path}`)).arrayBuffer());
  });
  afterAll(async () => {
    await nginx?.stop();
    await accel?.stop();
    await plain?.stop();
  });

  it('answers the factory with headers, an internal redirect into the cache and no body', async () => {
    const res = await fetch(`${accel.url}${path}`);
    const key = ((await (await fetch(`${accel.url}/status${path.slice('/image'.length)}`)).json()) as { key: string }).key;
    expect(res.status).toBe(200);
    expect(res.headers.get('x-accel-redirect')).toBe(`${PREFIX}${key.slice(0, 2)}/${key}.data`);
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  it('sends through nginx the same bytes and headers the factory sends itself', async () => {
    const direct = await fetch(`${plain.url}${path}`);
    await direct.arrayBuffer();
    const proxied = await fetch(`${nginx.url}${path}`);
    const bytes = Buffer.from(await proxied.arrayBuffer());
    expect(proxied.status).toBe(200);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(createHash('sha256').update(whole).digest('hex'));
    for (const header of ['content-type', 'content-disposition', 'content-length', 'etag', 'accept-ranges']) {
      expect([header, proxied.headers.get(header)]).toEqual([header, direct.headers.get(header)]);
    }
    expect(proxied.headers.get('x-accel-redirect')).toBeNull();
    expect(proxied.headers.get('x-request-id')).toMatch(/.+/);
  });

  it('leaves ranges, If-Range, HEAD and If-None-Match working', async () => {
    const etag = `"sha256:${createHash('sha256').update(whole).digest('hex')}"`;
    const range = await fetch(`${nginx.url}${path}`, { headers: { range: 'bytes=100-199' } });
    expect(range.status).toBe(206);
    expect(range.headers.get('content-range')).toBe(`bytes 100-199/${whole.length}`);
    expect(Buffer.from(await range.arrayBuffer()).equals(whole.subarray(100, 200))).toBe(true);
    const ifRange = await fetch(`${nginx.url}${path}`, { headers: { range: 'bytes=0-9', 'if-range': etag } });
    expect(ifRange.status).toBe(206);
    await ifRange.arrayBuffer();
    const stale = await fetch(`${nginx.url}${path}`, { headers: { range: 'bytes=0-9', 'if-range': '"sha256:0"' } });
    expect(stale.status).toBe(200);
    expect((await stale.arrayBuffer()).byteLength).toBe(whole.length);
    const past = await fetch(`${nginx.url}${path}`, { headers: { range: `bytes=${whole.length}-` } });
    expect(past.status).toBe(416);
    await past.arrayBuffer();
    const head = await fetch(`${nginx.url}${path}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(whole.length));
    expect(head.headers.get('etag')).toBe(etag);
    const notModified = await fetch(`${nginx.url}${path}`, { headers: { 'if-none-match': etag } });
    expect(notModified.status).toBe(304);
  });

  it('still answers checksums and unknown schematics from the factory itself', async () => {
    const sum = await (await fetch(`${nginx.url}${path}.sha256`)).text();
    expect(sum).toBe(`${createHash('sha256').update(whole).digest('hex')}  initramfs-amd64.xz\n`);
    const missing = await fetch(`${nginx.url}/image/${'0'.repeat(64)}/v1.12.0/kernel-amd64`);
    expect(missing.status).toBe(404);
  });
});
