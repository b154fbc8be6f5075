// The schematic API through a real listening service, with fetch and curl.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService, type ServiceProcess } from '../helpers/server.js';

let svc: ServiceProcess;
beforeAll(async () => {
  svc = await startService();
});
afterAll(async () => {
  await svc.stop();
});

const post = (body: string | Uint8Array, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(`${svc.url}/schematics`, { method: 'POST', body, headers });

describe('POST /schematics', () => {
  it('creates a schematic: 201, JSON {id, schematic}, Go encoding', async () => {
    const res = await post('customization:\n  extraKernelArgs:\n    - vga=791\n    - "<a&b>"\n');
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('server')).toMatch(/^Image Factory v\d+\.\d+\.\d+/);
    const text = await res.text();
    expect(text.endsWith('}\n')).toBe(true);
    expect(text).toContain('\\u003ca\\u0026b\\u003e');
    const body = JSON.parse(text) as { id: string; schematic: string };
    expect(body.schematic).toBe('customization:\n    extraKernelArgs:\n        - vga=791\n        - <a&b>\n');
    expect(body.id).toMatch(/^[0-9a-f]{64}$/);
  });

  it('answers 201 with the same ID when the schematic exists already', async () => {
    const a = (await (await post('{}')).json()) as { id: string };
    const again = await post('customization: {}\n');
    expect(again.status).toBe(201);
    expect(((await again.json()) as { id: string }).id).toBe(a.id);
    expect(a.id).toBe('376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba');
  });

  it('rejects bad input with 400 plain text and stores nothing', async () => {
    const res = await post('something: 1\n');
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await res.text()).toBe('yaml: construct errors: line 1: field something not found in type schematic.Schematic\n');
    expect((await post('owner: alice\n')).status).toBe(400);
    expect((await post('')).status).toBe(400);
    expect((await post(Buffer.from([0xff, 0xfe, 0x00]))).status).toBe(400);
  });

  it('limits bodies to 1 MiB with 413', async () => {
    const res = await post(`customization:\n  extraKernelArgs: ["${'x'.repeat(1024 * 1024)}"]\n`);
    expect(res.status).toBe(413);
    expect(await res.text()).toMatch(/at most 1048576 bytes/);
  });
});

describe('GET /schematics/:id', () => {
  it('returns the canonical YAML as application/yaml', async () => {
    const { id, schematic } = (await (await post('overlay: {name: rpi_generic, image: siderolabs/sbc-raspberrypi}')).json()) as {
      id: string;
      schematic: string;
    };
    const res = await fetch(`${svc.url}/schematics/${id}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/yaml');
    expect(await res.text()).toBe(schematic);
    expect(id).toBe('ee21ef4a5ef808a9b7484cc0dda0f25075021691c8c09a276591eedb638ea1f9');
  });

  it.each(['0'.repeat(64), 'not-hex', 'ABCDEF'])('404 for unknown or malformed ID %s', async (id) => {
    const res = await fetch(`${svc.url}/schematics/${id}`);
    expect(res.status).toBe(404);
    expect(await res.text()).toBe('schematic not found\n');
  });
});

describe('router behaviour', () => {
  it('health endpoints answer GET and HEAD', async () => {
    for (const path of ['/healthz', '/readyz']) {
      expect((await fetch(`${svc.url}${path}`)).status).toBe(200);
      expect((await fetch(`${svc.url}${path}`, { method: 'HEAD' })).status).toBe(200);
    }
  });

  it('405 with Allow for a wrong method, 404 for unknown paths', async () => {
    const get = await fetch(`${svc.url}/schematics`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('OPTIONS, POST');
    const del = await fetch(`${svc.url}/schematics/${'a'.repeat(64)}`, { method: 'DELETE' });
    expect(del.status).toBe(405);
    expect(del.headers.get('allow')).toBe('GET, OPTIONS');
    const missing = await fetch(`${svc.url}/no/such/route`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe('404 page not found\n');
  });

  it('echoes X-Request-ID or makes one, and logs it as JSON', async () => {
    const given = await fetch(`${svc.url}/healthz`, { headers: { 'X-Request-ID': 'abc-123' } });
    expect(given.headers.get('x-request-id')).toBe('abc-123');
    await new Promise((r) => setTimeout(r, 200));
    const line = svc.logs().split('\n').find((l) => l.includes('"requestId":"abc-123"'));
    expect(JSON.parse(line ?? '{}')).toMatchObject({ requestId: 'abc-123', req: { method: 'GET', url: '/healthz' }, res: { statusCode: 200 } });
    const made = await fetch(`${svc.url}/healthz`);
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('CORS as upstream: preflight for GET with cache-control, exposed download headers', async () => {
    const pre = await fetch(`${svc.url}/schematics/${'a'.repeat(64)}`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://example.com', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'Cache-Control' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('*');
    expect(pre.headers.get('access-control-allow-methods')).toBe('GET');
    expect(pre.headers.get('access-control-allow-headers')).toBe('cache-control');
    const get = await fetch(`${svc.url}/healthz`, { headers: { Origin: 'https://example.com' } });
    expect(get.headers.get('access-control-allow-origin')).toBe('*');
    expect(get.headers.get('access-control-expose-headers')).toBe('Content-Disposition, Content-Length, Content-Type');
  });
});

describe('with curl, as the README shows', () => {
  it('POSTs a schematic file with --data-binary and reads it back', () => {
    const file = join(svc.dataDir, 'schematic.yaml');
    writeFileSync(file, 'customization:\n  systemExtensions:\n    officialExtensions:\n      - siderolabs/gvisor\n');
    const out = execFileSync('curl', ['-sS', '-X', 'POST', '--data-binary', `@${file}`, `${svc.url}/schematics`], { encoding: 'utf8' });
    const { id } = JSON.parse(out) as { id: string };
    const yaml = execFileSync('curl', ['-sS', '-f', `${svc.url}/schematics/${id}`], { encoding: 'utf8' });
    expect(yaml).toBe('customization:\n    systemExtensions:\n        officialExtensions:\n            - siderolabs/gvisor\n');
  });
});
