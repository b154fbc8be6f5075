// Issue 13's reproductions against the real service, one test each: bodies
// that used to kill the process, client mistakes that used to earn a 500,
// checksum bodies a file name could inject lines into, and builds queued
// without bound.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { startService, type ServiceProcess } from '../helpers/server.js';

const release = await ensureDevRelease();
const version = release.versions.at(-1)!;
const HUGE = 'v9999999999999999999999.0.0';

let svc: ServiceProcess;
let id: string;

async function createSchematic(target: ServiceProcess, args: string[]): Promise<string> {
  const res = await fetch(`${target.url}/schematics`, { method: 'POST', body: `customization:\n  extraKernelArgs: ${JSON.stringify(args)}\n` });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

async function get(path: string, target = svc): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(`${target.url}${path}`);
  return { status: res.status, body: await res.text(), headers: res.headers };
}

/** The service's log lines at level error (50) or above. */
function errorLines(target: ServiceProcess): string[] {
  return target
    .logs()
    .split('\n')
    .filter((l) => /"level":(5|6)\d/.test(l));
}

beforeAll(async () => {
  svc = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir });
  id = await createSchematic(svc, ['hardening.test=1']);
});
afterAll(() => svc.stop());

describe('fault 1: a 2 KB body killed the process', () => {
  it('answers 400 naming the limit, as often as it is sent, and keeps serving', async () => {
    const bodies: Array<[string, number]> = [
      ['['.repeat(1000) + ']'.repeat(1000), 1],
      [Array.from({ length: 1000 }, (_, i) => `${' '.repeat(i * 2)}- `).join('\n') + 'x', 65],
    ];
    for (let round = 0; round < 3; round++) {
      for (const [body, line] of bodies) {
        const res = await fetch(`${svc.url}/schematics`, { method: 'POST', body });
        expect(res.status).toBe(400);
        expect(await res.text()).toBe(`yaml: line ${line}: more than 64 levels of nesting (limit maxDepth=64): simplify the document\n`);
      }
    }
    expect(svc.child.exitCode).toBeNull();
    expect((await get('/healthz')).status).toBe(200);
  });
});

describe('fault 2: client mistakes answered 500', () => {
  it.each([
    ['/image with a version beyond semver', () => `/image/${id}/${HUGE}/metal-amd64.iso`, 400, /invalid semantic version .*: use a Talos version such as v1\.12\.0/],
    ['/pxe with a version beyond semver', () => `/pxe/${id}/${HUGE}/metal-amd64`, 400, /invalid semantic version/],
    ['/status with a version beyond semver', () => `/status/${id}/${HUGE}/metal-amd64.iso`, 400, /invalid semantic version/],
    ['the catalog with a version beyond semver', () => `/version/${HUGE}/extensions/official`, 400, /invalid semantic version/],
    ['/v2 with a tag beyond semver', () => `/v2/installer/${id}/manifests/${HUGE}`, 404, /MANIFEST_UNKNOWN/],
    ['/v2 with an image name that is no platform', () => `/v2/a-b-c-d-installer/${id}/manifests/${version}`, 400, /NAME_INVALID.*invalid image: a-b-c-d-installer/],
    ['/pxe for an unknown platform', () => `/pxe/${id}/${version}/evil-amd64`, 400, /^error parsing profile from path: unknown platform: "evil"\n$/],
    ['/image for an unknown platform', () => `/image/${id}/${version}/evil-amd64.raw.xz`, 400, /^error parsing profile from path: unknown platform: "evil"\n$/],
  ])('%s', async (_name, path, status, body) => {
    const res = await get(path());
    expect(res.status).toBe(status);
    expect(res.body).toMatch(body);
  });

  it.each(['%E2%82%AC', '%00', '%7f', '%0b', '.hidden', 'a%2Fb', 'x'.repeat(256)])('?filename=%s is refused before anything is built', async (name) => {
    const res = await get(`/image/${id}/${version}/metal-amd64.iso?filename=${name}`);
    expect(res.status).toBe(400);
    expect(res.body).toMatch(/^invalid filename .*: use up to 255 letters, digits and \. _ - \+ ~, not starting with a dot\n$/);
    expect(JSON.parse((await get(`/status/${id}/${version}/metal-amd64.iso`)).body)).toMatchObject({ state: 'idle' });
  });

  it('an unknown platform never reaches the build queue, and none of these is logged as an error', async () => {
    expect((await get(`/status/${id}/${version}/evil-amd64.raw.xz?build=true`)).status).toBe(400);
    expect(svc.logs()).not.toContain('"asset build started"');
    expect(errorLines(svc)).toEqual([]);
  });
});

describe('fault 3: checksum body injection', () => {
  it('refuses a file name with a line break, and writes one line for a safe one', async () => {
    const injected = await get(`/image/${id}/${version}/cmdline-metal-amd64.sha256?filename=x%0a${'0'.repeat(64)}%20%20/etc/shadow`);
    expect(injected.status).toBe(400);
    const ok = await get(`/image/${id}/${version}/cmdline-metal-amd64.sha256?filename=my-cmdline`);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatch(/^[0-9a-f]{64} {2}my-cmdline\n$/);
    expect(ok.headers.get('content-disposition')).toBe('attachment; filename="my-cmdline.sha256"');
  });
});

describe('fault 6: unbounded work', () => {
  it('refuses a client its 9th queued build with 429 and Retry-After; status-triggered builds count, joining is free', async () => {
    const web = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir, IF_WORKERS: '1' });
    try {
      const ids = await Promise.all(Array.from({ length: 12 }, (_, i) => createSchematic(web, [`admission.test=${i}`])));
      const statuses: number[] = [];
      for (const each of ids) statuses.push((await get(`/status/${each}/${version}/metal-amd64.iso?build=true`, web)).status);
      expect(statuses).toEqual([...Array(8).fill(200), 429, 429, 429, 429]);
      // A download is a build too, and joining one already queued costs nothing.
      const refused = await get(`/image/${ids[9]}/${version}/metal-amd64.iso`, web);
      expect([refused.status, refused.headers.get('retry-after')]).toEqual([429, '30']);
      expect(refused.body).toBe('too many builds queued for your address (8, at most 8): wait for them to finish, then retry\n');
      expect((await get(`/status/${ids[7]}/${version}/metal-amd64.iso?build=true`, web)).status).toBe(200);
    } finally {
      await web.stop('SIGKILL'); // not SIGTERM: that waits for the queued builds
    }
  }, 120_000);

  it('refuses everyone with 503 and Retry-After once the factory has its total', async () => {
    const web = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir, IF_WORKERS: '1', IF_MAX_QUEUED_BUILDS: '2', IF_MAX_QUEUED_BUILDS_PER_CLIENT: '100' });
    try {
      const ids = await Promise.all([1, 2, 3].map((i) => createSchematic(web, [`total.test=${i}`])));
      const answers = [];
      for (const each of ids) answers.push(await get(`/status/${each}/${version}/metal-amd64.iso?build=true`, web));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 503]);
      expect(answers[2]!.headers.get('retry-after')).toBe('30');
      expect(answers[2]!.body).toBe('the factory has 2 builds queued (at most 2): retry later\n');
      // The registry endpoint answers the same in its own envelope.
      const pulled = await get(`/v2/installer/${ids[2]}/manifests/${version}`, web);
      expect([pulled.status, pulled.headers.get('retry-after')]).toEqual([503, '30']);
      expect(JSON.parse(pulled.body)).toEqual({ errors: [{ code: 'TOOMANYREQUESTS', message: 'the factory has 2 builds queued (at most 2): retry later' }] });
    } finally {
      await web.stop('SIGKILL');
    }
  }, 120_000);
});
