// /versions and the catalog routes, with the service pointed at the development
// release in a real registry and in OCI layout directories. Expected values are
// read from the published images with skopeo and tar, not with our own code.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ensureDevRelease, publishDevRelease } from '../helpers/dev-release.js';
import { startRegistry } from '../helpers/registry.js';
import { startService, type ServiceProcess } from '../helpers/server.js';

interface CatalogFile {
  digests: string[];
  descriptions: Record<string, { author: string; description: string }>;
}

/** image-digests and descriptions.yaml of a version, unpacked with skopeo + tar. */
function catalogWithTools(layoutDir: string, tag: string): CatalogFile {
  const dir = mkdtempSync(join(tmpdir(), 'if-catalog-'));
  try {
    execFileSync('skopeo', ['copy', '--override-arch', 'amd64', `oci:${join(layoutDir, 'siderolabs/extensions')}:${tag}`, `dir:${dir}`], { stdio: 'pipe' });
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { layers: Array<{ digest: string }> };
    const files: Record<string, string> = {};
    for (const layer of manifest.layers) {
      const blob = join(dir, layer.digest.replace('sha256:', ''));
      const names = execFileSync('tar', ['-tzf', blob], { encoding: 'utf8' }).split('\n');
      for (const name of ['image-digests', 'descriptions.yaml']) {
        const entry = names.find((n) => n.replace(/^\.\//, '') === name);
        if (entry) files[name] = execFileSync('tar', ['-xzOf', blob, entry], { encoding: 'utf8' });
      }
    }
    return {
      digests: (files['image-digests'] ?? '').split('\n').filter((l) => l.includes('@')),
      descriptions: (parseYaml(files['descriptions.yaml'] ?? '{}') ?? {}) as CatalogFile['descriptions'],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function get(svc: ServiceProcess, path: string): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(`${svc.url}${path}`);
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

const release = await ensureDevRelease();
const registry = await startRegistry();
await publishDevRelease(registry.host);
afterAll(() => registry.stop());

const backends: Array<[string, () => Record<string, string>, string]> = [
  ['a registry', () => ({ IF_RELEASE_REGISTRY: registry.host, IF_RELEASE_INSECURE: 'true' }), registry.host],
  ['OCI layout directories', () => ({ IF_RELEASE_LAYOUT_DIR: release.layoutDir }), 'ghcr.io'],
];

describe.each(backends)('release routes reading from %s', (_name, env, refHost) => {
  let svc: ServiceProcess;
  beforeAll(async () => {
    svc = await startService(undefined, { ...env(), IF_BROKEN_TALOS_VERSIONS: 'v1.4.7,1.5.0-beta.1' });
  });
  afterAll(async () => {
    await svc.stop();
    rmSync(svc.dataDir, { recursive: true, force: true });
  });

  it('lists the versions of the release, ascending, as Go encodes them', async () => {
    const res = await get(svc, '/versions');
    expect(res.status).toBe(200);
    expect(res.type).toBe('text/plain; charset=utf-8');
    expect(res.body).toBe(`${JSON.stringify(release.versions)}\n`);
  });

  it('lists the configured broken versions with ?broken=true', async () => {
    expect((await get(svc, '/versions?broken=true')).body).toBe('["v1.4.7","v1.5.0-beta.1"]\n');
    expect((await get(svc, '/versions?broken=1')).body).toBe(`${JSON.stringify(release.versions)}\n`);
  });

  for (const version of release.versions) {
    it(`answers the extension catalog of ${version} as upstream shapes it`, async () => {
      const expected = catalogWithTools(release.layoutDir, version);
      expect(expected.digests.length).toBeGreaterThanOrEqual(4);
      for (const path of [`/version/${version}/extensions/official`, `/version/${version.slice(1)}/extensions/official`]) {
        const res = await get(svc, path);
        expect(res.status).toBe(200);
        expect(res.type).toBe('text/plain; charset=utf-8');
        const list = JSON.parse(res.body) as Array<Record<string, string>>;
        expect(list.map((e) => Object.keys(e))).toEqual(list.map(() => ['name', 'ref', 'digest', 'author', 'description']));
        expect(list).toEqual(
          expected.digests.map((line) => {
            const [tagged = '', digest] = line.split('@');
            const repoAndTag = tagged.replace(/^ghcr\.io\//, '');
            return {
              name: repoAndTag.split(':')[0],
              ref: `${refHost}/${repoAndTag}`,
              digest,
              author: expected.descriptions[line]?.author ?? '',
              description: expected.descriptions[line]?.description ?? '',
            };
          }),
        );
      }
    });

    it(`answers the overlay catalog of ${version}`, async () => {
      const res = await get(svc, `/version/${version}/overlays/official`);
      expect(res.status).toBe(200);
      const list = JSON.parse(res.body) as Array<Record<string, string>>;
      expect(list.length).toBeGreaterThanOrEqual(1);
      for (const overlay of list) {
        expect(Object.keys(overlay)).toEqual(['name', 'image', 'ref', 'digest']);
        expect(overlay.ref).toBe(`ghcr.io/${overlay.image}:${overlay.ref?.split(':').pop()}`);
        expect(overlay.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
      }
    });
  }

  it('answers upstream 404 text for a valid version that is not in the release', async () => {
    const res = await get(svc, '/version/v1.5.0-alpha.0/extensions/official');
    expect(res.status).toBe(404);
    expect(res.body).toBe('version 1.5.0-alpha.0 is not available\n');
    expect((await get(svc, '/version/1.9.9/overlays/official')).body).toBe('version 1.9.9 is not available\n');
  });

  it('answers [] for overlays before Talos 1.7 without asking the release', async () => {
    expect(await get(svc, '/version/v1.6.0/overlays/official')).toMatchObject({ status: 200, body: '[]\n' });
  });

  it('answers 400 naming the problem for a version that is not semver', async () => {
    const res = await get(svc, '/version/v1.12/extensions/official');
    expect(res.status).toBe(400);
    expect(res.body).toMatch(/invalid semantic version "1.12"/);
  });

  it('keeps the pulled catalog on disk only as far as builds need it (no catalog dirs)', () => {
    expect(readdirSync(svc.dataDir).sort()).not.toContain('releases');
  });
});

describe('release routes when the release source is down', () => {
  it('answers 502 saying which source failed', async () => {
    const svc = await startService(undefined, { IF_RELEASE_REGISTRY: '127.0.0.1:9', IF_RELEASE_INSECURE: 'true' });
    try {
      const res = await get(svc, '/versions');
      expect(res.status).toBe(502);
      expect(res.body).toMatch(/127\.0\.0\.1:9/);
    } finally {
      await svc.stop();
    }
  });
});
