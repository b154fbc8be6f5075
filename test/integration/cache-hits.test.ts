// The lane in front of express (src/http/cache-hits.ts) answers plain cache
// hits itself; a `?filename=` sends the same request through express's image
// route. Both must give the same answer, header for header, and the lane must
// notice at once a cache file that was cut short.

import { createHash } from 'node:crypto';
import { truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { startService, type ServiceProcess } from '../helpers/server.js';

/** Headers that differ between any two answers. */
const PER_ANSWER = new Set(['date', 'x-request-id']);

function headersOf(res: Response): Array<[string, string]> {
  return [...res.headers].filter(([name]) => !PER_ANSWER.has(name));
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

describe('cache hits answered before express', () => {
  let svc: ServiceProcess;
  let lane: string;
  let routed: string;
  let whole: Buffer;

  beforeAll(async () => {
    const release = await ensureDevRelease();
    svc = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir, IF_ALLOWED_ORIGINS: 'https://ui.example' });
    const { id } = (await (await fetch(`${svc.url}/schematics`, { method: 'POST', body: 'customization: {}\n' })).json()) as { id: string };
    lane = `${svc.url}/image/${id}/${release.versions.at(-1)!}/kernel-amd64`;
    routed = `${lane}?filename=kernel-amd64`; // a query string goes to express
    whole = Buffer.from(await (await fetch(lane)).arrayBuffer());
  });
  afterAll(() => svc?.stop());

  const requests: Array<[string, RequestInit]> = [
    ['GET', {}],
    ['HEAD', { method: 'HEAD' }],
    ['GET from an allowed origin', { headers: { Origin: 'https://ui.example' } }],
    ['GET from another origin', { headers: { Origin: 'https://elsewhere.example' } }],
    ['a range', { headers: { Range: 'bytes=1000-2999' } }],
    ['a suffix range', { headers: { Range: 'bytes=-100' } }],
    ['a range past the end', { headers: { Range: 'bytes=99999999-' } }],
    ['If-None-Match', { headers: { 'If-None-Match': '*' } }],
  ];
  for (const [what, init] of requests) {
    it(`answers ${what} as the express route does`, async () => {
      const [fast, slow] = [await fetch(lane, init), await fetch(routed, init)];
      const [fastBody, slowBody] = [Buffer.from(await fast.arrayBuffer()), Buffer.from(await slow.arrayBuffer())];
      expect(fast.status).toBe(slow.status);
      expect(headersOf(fast)).toEqual(headersOf(slow));
      expect(fastBody.equals(slowBody)).toBe(true);
    });
  }

  it('sends the whole file through its reused buffers, several downloads at once', async () => {
    const bodies = await Promise.all(Array.from({ length: 8 }, async () => Buffer.from(await (await fetch(lane)).arrayBuffer())));
    expect(new Set(bodies.map(sha256))).toEqual(new Set([sha256(whole)]));
  });

  it('notices at once a cache file cut short, and serves the asset rebuilt', async () => {
    const { key } = (await (await fetch(lane.replace('/image/', '/status/'))).json()) as { key: string };
    truncateSync(join(svc.dataDir, 'cache', key.slice(0, 2), `${key}.data`), 1000);
    const res = await fetch(lane);
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.status).toBe(200);
    expect(sha256(body)).toBe(sha256(whole));
    const head = await fetch(lane, { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe(String(whole.length));
  });
});
