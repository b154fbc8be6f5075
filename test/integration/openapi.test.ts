// The OpenAPI document at /openapi.json is valid OpenAPI 3.1, and real
// responses of every route (successes and the errors a user meets) match
// what it says: status, Content-Type and body schema.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { OpenApiChecker } from '../helpers/openapi.js';
import { startService, type ServiceProcess } from '../helpers/server.js';

let svc: ServiceProcess;
let checker: OpenApiChecker;
let id: string;

beforeAll(async () => {
  const release = await ensureDevRelease();
  svc = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir });
  checker = new OpenApiChecker((await (await fetch(`${svc.url}/openapi.json`)).json()) as Record<string, unknown>);
}, 600_000);
afterAll(async () => {
  await svc.stop();
});

/** Sends a request, checks its response against the document, and returns it. */
async function call(method: string, path: string, init: RequestInit = {}): Promise<{ status: number; body: string; headers: Headers }> {
  const url = `${svc.url}${path}`;
  const res = await fetch(url, { method, redirect: 'manual', ...init });
  const body = await res.text();
  checker.check({ method, url, status: res.status, contentType: res.headers.get('content-type'), body });
  return { status: res.status, body, headers: res.headers };
}

const form = (fields: Array<[string, string]>): RequestInit => ({
  headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams(fields).toString(),
});

describe('OpenAPI', () => {
  it('is a valid OpenAPI 3.1 document, also served as a readable page', async () => {
    expect(await OpenApiChecker.validateDocument(checker.document)).toEqual([]);
    expect(checker.document.openapi).toBe('3.1.0');
    const page = await call('GET', '/api');
    expect(page.body).toContain('POST /schematics');
  });

  it('describes the schematic and catalog routes as they answer', async () => {
    expect((await call('GET', '/openapi.json')).status).toBe(200);
    for (const method of ['GET', 'HEAD']) {
      expect((await call(method, '/healthz')).status).toBe(200);
      expect((await call(method, '/readyz')).status).toBe(200);
      expect((await call(method, '/v2/')).status).toBe(200);
    }
    const created = await call('POST', '/schematics', { body: 'customization:\n  extraKernelArgs: [net.ifnames=0]\n' });
    expect(created.status).toBe(201);
    id = (JSON.parse(created.body) as { id: string }).id;
    expect((await call('POST', '/schematics', { body: 'something: 1\n' })).status).toBe(400);
    expect((await call('POST', '/schematics', { body: `customization:\n  extraKernelArgs: ["${'x'.repeat(1024 * 1024)}"]\n` })).status).toBe(413);
    expect((await call('GET', `/schematics/${id}`)).status).toBe(200);
    expect((await call('GET', `/schematics/${'0'.repeat(64)}`)).status).toBe(404);
    expect((await call('GET', '/versions')).status).toBe(200);
    expect((await call('GET', '/versions?broken=true')).status).toBe(200);
    expect((await call('GET', '/version/v1.12.0/extensions/official')).status).toBe(200);
    expect((await call('GET', '/version/v1.5.0/extensions/official')).status).toBe(404);
    expect((await call('GET', '/version/not-a-version/extensions/official')).status).toBe(400);
    expect((await call('GET', '/version/v1.12.0/overlays/official')).status).toBe(200);
  });

  it('describes assets, checksums, ranges, build status and iPXE scripts', async () => {
    const file = `/image/${id}/v1.12.0/cmdline-metal-amd64`;
    const got = await call('GET', file);
    expect(got.status).toBe(200);
    // A cold GET streams while the asset is built (no ETag yet); HEAD waits for the cached entry.
    const head = await call('HEAD', file);
    expect(head.status).toBe(200);
    expect((await call('GET', `${file}.sha256`)).status).toBe(200);
    expect((await call('GET', file, { headers: { Range: 'bytes=0-3' } })).status).toBe(206);
    expect((await call('GET', file, { headers: { Range: 'bytes=999999-' } })).status).toBe(416);
    expect((await call('GET', file, { headers: { 'If-None-Match': head.headers.get('etag')! } })).status).toBe(304);
    expect((await call('GET', `/image/${id}/v1.12.0/metal-amd64.ssd`)).status).toBe(400);
    expect((await call('GET', `/image/${'0'.repeat(64)}/v1.12.0/kernel-amd64`)).status).toBe(404);
    expect((await call('GET', `/image/${id}/v1.12.0/metal-amd64-secureboot.iso`)).status).toBe(400);
    const status = await call('GET', `/status/${id}/v1.12.0/cmdline-metal-amd64`);
    expect(JSON.parse(status.body)).toMatchObject({ state: 'cached' });
    const events = await call('GET', `/status/${id}/v1.12.0/cmdline-metal-amd64/events`);
    expect(events.body).toMatch(/^data: \{.*"state":"cached"/);
    expect((await call('GET', `/pxe/${id}/v1.12.0/metal-amd64`)).status).toBe(200);
    expect((await call('GET', `/pxe/${id}/v1.12.0/metal`)).status).toBe(400);
  });

  it('describes the registry endpoint and its errors', async () => {
    expect((await call('GET', `/v2/metal-installer/${id}/tags/list`)).status).toBe(200);
    expect((await call('GET', '/oci/cosign/signing-key.pub')).status).toBe(200);
    expect((await call('GET', `/v2/metal-installer/${id}/manifests/v1.5.0`)).status).toBe(404);
    expect((await call('HEAD', `/v2/not-an-installer/${id}/manifests/v1.12.0`)).status).toBe(400);
    // An installer name whose platform part holds a dash no platform has is an invalid name, not a server error.
    expect(JSON.parse((await call('GET', `/v2/not-an-installer/${id}/manifests/v1.12.0`)).body)).toMatchObject({ errors: [{ code: 'NAME_INVALID' }] });
    for (const method of ['GET', 'HEAD']) expect((await call(method, `/v2/metal-installer/${id}/blobs/sha256:${'0'.repeat(64)}`)).status).toBe(404);
  });

  it('describes the web UI routes', async () => {
    expect((await call('GET', '/')).status).toBe(200);
    expect((await call('HEAD', '/?target=metal')).status).toBe(200);
    expect((await call('GET', '/?target=toaster')).status).toBe(400);
    expect((await call('GET', `/?schematic-id=${'1'.repeat(64)}`)).status).toBe(404);
    const state: Array<[string, string]> = [
      ['target', 'metal'],
      ['version', 'v1.12.0'],
      ['arch', 'amd64'],
      ['extensions-set', '1'],
      ['cmdline-set', '1'],
    ];
    const created = await call('POST', '/ui/schematics', form([...state, ['cmdline', 'net.ifnames=0']]));
    expect(created.status).toBe(303);
    const result = created.headers.get('location')!;
    expect(result).toBe(`/ui/result/${id}/v1.12.0?target=metal&arch=amd64`);
    expect((await call('POST', '/ui/schematics', form([...state.slice(0, 2), ['arch', 'sparc']]))).status).toBe(400);
    expect((await call('GET', result)).status).toBe(200);
    expect((await call('GET', `/ui/result/${id}/v1.12.0?target=metal`)).status).toBe(400);
    expect((await call('GET', `/ui/result/${'2'.repeat(64)}/v1.12.0?target=metal&arch=amd64`)).status).toBe(404);
    expect((await call('POST', `/ui/prepare/${id}/v1.12.0/kernel-amd64`, form([['back', result]]))).headers.get('location')).toBe(result);
    // Never an open redirect: anything but a result page of this UI goes back to the wizard.
    expect((await call('POST', `/ui/prepare/${id}/v1.12.0/kernel-amd64`, form([['back', '//evil.example/ui/result/']]))).headers.get('location')).toBe(`/?schematic-id=${id}`);
    expect((await call('POST', `/ui/prepare/${id}/v1.12.0/kernel.exe`, form([['back', result]]))).status).toBe(400);
    expect((await call('POST', `/ui/prepare/${id}/v1.12.0/metal-amd64-secureboot.iso`, form([['back', result]]))).status).toBe(400);
    expect((await call('POST', `/ui/prepare/${id}/not-a-version/kernel-amd64`, form([['back', result]]))).status).toBe(400);
    expect((await call('POST', `/ui/prepare/${id}/v1.5.0/kernel-amd64`, form([['back', result]]))).status).toBe(404);
    expect((await call('POST', `/ui/prepare/${'3'.repeat(64)}/v1.12.0/kernel-amd64`, form([['back', result]]))).status).toBe(404);
    expect((await call('GET', '/ui/paste')).status).toBe(200);
    const pasted = [['version', 'v1.12.0'], ['platform', 'metal'], ['arch', 'amd64']] as Array<[string, string]>;
    expect((await call('POST', '/ui/paste', form([['yaml', 'customization:\n  extraKernelArgs: [net.ifnames=0]\n'], ...pasted]))).headers.get('location')).toBe(result);
    expect((await call('POST', '/ui/paste', form([['yaml', 'customisation: {}\n'], ...pasted]))).status).toBe(400);
    expect((await call('POST', '/ui/paste', form([['yaml', 'x'.repeat(3 * 1024 * 1024)], ...pasted]))).status).toBe(413);
    expect((await call('POST', '/ui/schematics', form([...state, ['embedded-config', 'x'.repeat(3 * 1024 * 1024)]]))).status).toBe(413);
    const page = await call('GET', '/');
    const [css] = /\/ui\/static\/app-[0-9a-f]+\.css/.exec(page.body)!;
    const style = await call('GET', css);
    expect(style.status).toBe(200);
    expect((await call('HEAD', css)).status).toBe(200);
    expect((await call('GET', css, { headers: { 'If-None-Match': style.headers.get('etag')! } })).status).toBe(304);
    expect((await call('GET', '/ui/static/app-0000.css')).status).toBe(404);
  });

  it('was exercised on every route it describes', () => {
    const described = Object.entries(checker.document.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) =>
      ['get', 'head', 'post'].filter((m) => item[m]).map((m) => `${m.toUpperCase()} ${path}`),
    );
    const reached = new Set([...checker.seen].map((s) => s.split(' ').slice(0, 2).join(' ')));
    expect(described.filter((d) => !reached.has(d))).toEqual([]);
  });
});
