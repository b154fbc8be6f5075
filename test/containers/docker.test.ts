// The container image and the compose deployment, for real: on a private dockerd
// (test/helpers/dockerd.ts) with stand-ins for the Docker Hub base images
// (test/helpers/base-images.ts), the Dockerfile is built unchanged and run with
// the development release mounted read-only, then docker-compose.yml brings up
// Redis, a registry, the web process and two workers, one of which is killed in
// the middle of a build. The shell commands are README.md's, verbatim (only the
// host port differs), and the test checks that README.md still shows them.
// CI must run this: a missing tool fails it there instead of skipping.

import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_IMAGES, SUITE, ensureBaseImages } from '../helpers/base-images.js';
import { type DevReleaseInfo, ensureDevRelease } from '../helpers/dev-release.js';
import { type Dockerd, dockerSkipReason, startDockerd } from '../helpers/dockerd.js';
import { freePort } from '../helpers/registry.js';
import { skipUnlessCi } from '../helpers/tool-skip.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

const SKIP = skipUnlessCi(await dockerSkipReason());

// README.md's commands, as the test runs them.
const BUILD = `docker build --network host --build-arg VERSION="$(npm pkg get version | tr -d '"')" -t image-factory .`;
const RUN =
  'docker run -d --name image-factory -p 8080:8080 -v image-factory-data:/data \\\n' +
  '  -v "$RELEASE_DIR:/releases:ro" -e IF_RELEASE_LAYOUT_DIR=/releases image-factory';
const REMOVE = 'docker rm -f image-factory && docker volume rm image-factory-data';
const COMPOSE = 'docker-compose -f docker-compose.yml -f docker-compose.airgap.yml';
const COMPOSE_BUILD = `${COMPOSE} build`;
const COMPOSE_UP = `${COMPOSE} up -d --scale worker=2`;
const COMPOSE_DOWN = `${COMPOSE} down -v`;
const PROJECT = 'if-containers-test';
const VERSION = 'v1.12.0';
const MINUTE = 60_000;

describe.skipIf(SKIP !== undefined)('the container image and the compose deployment', () => {
  let docker: Dockerd;
  let release: DevReleaseInfo;
  let port: number;
  let metricsPort: number;
  let env: NodeJS.ProcessEnv;
  const strays = ['/etc/docker/key.json', '/run/docker/plugins', '/run/containerd/s', '/sys/class/net/docker0'].filter((p) => !existsSync(p));

  /** Runs one of README.md's commands in the checkout, against the private dockerd. */
  const sh = async (command: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<string> =>
    (await docker.run('bash', ['-euo', 'pipefail', '-c', command.replaceAll('8080:8080', `${port}:8080`)], { cwd: ROOT, env: { ...env, ...extraEnv } })).stdout;
  const url = (): string => `http://127.0.0.1:${port}`;

  beforeAll(async () => {
    release = await ensureDevRelease();
    docker = await startDockerd();
    const started = Date.now();
    const base = await ensureBaseImages(docker);
    console.info(`base images ${base.made ? 'made and saved to' : 'loaded from'} ${base.archive} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    port = await freePort();
    metricsPort = await freePort();
    env = {
      RELEASE_DIR: release.layoutDir,
      COMPOSE_PROJECT_NAME: PROJECT,
      FACTORY_PORT: String(port),
      FACTORY_METRICS_PORT: String(metricsPort),
      IF_EXTERNAL_URL: `http://127.0.0.1:${port}/`,
    };
  }, 20 * MINUTE);

  afterAll(async () => {
    if (!docker) return;
    await sh(`${COMPOSE_DOWN} --remove-orphans`).catch(() => undefined);
    await docker.stop();
  }, 5 * MINUTE);

  it('README.md shows the commands this test runs', () => {
    for (const command of [BUILD, RUN, REMOVE, COMPOSE_BUILD, COMPOSE_UP, COMPOSE_DOWN]) expect(readme).toContain(command);
    // The stand-ins are made under the names the Dockerfile and the compose file use.
    const from = [...readFileSync(join(ROOT, 'Dockerfile'), 'utf8').matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(new Set(from)).toEqual(new Set([BASE_IMAGES.node]));
    const compose = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
    expect(compose).toContain(`image: ${BASE_IMAGES.redis}\n`);
    expect(compose).toContain(`image: ${BASE_IMAGES.registry}\n`);
    expect(BASE_IMAGES.node).toContain(SUITE);
  });

  it('builds the image: non-root, /data volume, health check, OCI labels, lean', async () => {
    await sh(BUILD);
    const image = JSON.parse(await sh('docker image inspect image-factory')) as Array<{
      Size: number;
      Config: { User: string; Volumes: Record<string, unknown>; Healthcheck?: { Test: string[] }; Labels: Record<string, string> };
    }>;
    const { Config: config, Size: size } = image[0]!;
    expect(config.User).toBe('node');
    expect(Object.keys(config.Volumes)).toEqual(['/data']);
    expect(config.Healthcheck?.Test.join(' ')).toContain('/healthz');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; license: string };
    expect(config.Labels).toMatchObject({ 'org.opencontainers.image.version': pkg.version, 'org.opencontainers.image.licenses': pkg.license });
    expect(config.Labels).toHaveProperty(['org.opencontainers.image.source']);
    const base = JSON.parse(await sh(`docker image inspect ${BASE_IMAGES.node}`)) as Array<{ Size: number }>;
    console.info(`image-factory: ${(size / 1e6).toFixed(0)} MB (${BASE_IMAGES.node} stand-in ${(base[0]!.Size / 1e6).toFixed(0)} MB)`);
    // The service, its production dependencies and the host tools on top of the Node image.
    expect(size - base[0]!.Size).toBeLessThan(200e6);
  }, 20 * MINUTE);

  it('names the package of every host tool it cannot find when it starts', async () => {
    // Only /usr/local/bin (node) on PATH: everything in /usr/bin is "missing" (depmod and mkfs.xfs sit in /usr/sbin).
    const out = await sh(
      'docker run --rm --entrypoint sh image-factory -c \'PATH=/usr/local/bin /usr/bin/timeout -s INT 10 node dist/src/cli/main.js serve 2>&1 || true\'',
    ).catch((error: Error) => error.message);
    for (const [tool, pkg] of [['zstd', 'zstd'], ['xz', 'xz-utils'], ['grub-mkimage', 'grub-common']]) {
      expect(out).toContain(`${tool} is not installed: install the Debian package ${pkg}`);
    }
  }, 5 * MINUTE);

  describe('docker run with the development release mounted read-only', () => {
    let id: string;
    beforeAll(async () => {
      await sh(RUN);
      await until('the container to be healthy', async () => ((await sh("docker inspect -f '{{.State.Health.Status}}' image-factory")).trim() === 'healthy' ? true : undefined), 2 * MINUTE);
    }, 3 * MINUTE);
    afterAll(() => sh(REMOVE).catch(() => undefined));

    it('runs as a non-root user, finds its host tools and answers /healthz', async () => {
      expect((await sh('docker exec image-factory id -u')).trim()).not.toBe('0');
      const logs = await sh('docker logs image-factory 2>&1');
      expect(logs).toContain('image factory listening');
      expect(logs).not.toContain('is not installed');
      expect((await fetch(`${url()}/healthz`)).status).toBe(200);
    });

    it('serves the web UI with its stylesheet and script (files the build copies beside the compiled code)', async () => {
      const page = await fetch(`${url()}/`);
      expect(page.status).toBe(200);
      const assets = [...(await page.text()).matchAll(/(?:href|src)="(\/ui\/static\/[^"]+)"/g)].map((m) => m[1]);
      expect(assets).toHaveLength(2);
      for (const asset of assets) expect((await fetch(`${url()}${asset}`)).status, asset).toBe(200);
    });

    it('creates a schematic and serves an initramfs and an ISO that match their .sha256', async () => {
      id = await createSchematic(url(), 'docker-run');
      for (const file of ['initramfs-amd64.xz', 'metal-amd64.iso']) await expectDownload(`${url()}/image/${id}/${VERSION}/${file}`);
    }, 10 * MINUTE);

    it('serves an installer to skopeo from its /v2 registry', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'if-skopeo-'));
      try {
        await sh(`skopeo copy --src-tls-verify=false docker://127.0.0.1:${port}/installer/${id}:${VERSION} oci:${dir}:installer`);
        const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ annotations?: Record<string, string> }> };
        expect(index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name'])).toEqual(['installer']);
        const inspect = JSON.parse(await sh(`skopeo inspect oci:${dir}:installer`)) as { Architecture: string; Layers: string[] };
        expect(inspect.Architecture).toBe('amd64');
        expect(inspect.Layers.length).toBeGreaterThan(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }, 10 * MINUTE);
  });

  describe('docker-compose with two workers', () => {
    /** The JSON log lines of each container of a service (running or not), by container ID. */
    const logLines = async (service: string): Promise<Array<{ container: string; line: Record<string, unknown> }>> => {
      const ids = (await sh(`${COMPOSE} ps -q ${service}`)).split('\n').filter(Boolean);
      const logs = await Promise.all(ids.map(async (container) => ({ container, text: await sh(`docker logs ${container} 2>&1`) })));
      return logs.flatMap(({ container, text }) =>
        text
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => ({ container, line: JSON.parse(l) as Record<string, unknown> })),
      );
    };

    beforeAll(async () => {
      await sh(COMPOSE_BUILD);
      await sh(COMPOSE_UP);
      await until('the web process to answer', async () => ((await fetch(`${url()}/healthz`).catch(() => undefined))?.status === 200 ? true : undefined), 2 * MINUTE);
    }, 10 * MINUTE);

    it('builds a cold asset on a worker, and finishes it on the other when that worker is killed mid-build', async () => {
      const id = await createSchematic(url(), 'compose');
      const file = 'metal-amd64.raw.xz';
      const asset = `${url()}/image/${id}/${VERSION}/${file}`;
      // Start the build and go away: builds do not depend on their first client.
      const abort = new AbortController();
      void fetch(asset, { signal: abort.signal }).catch(() => undefined);
      const { key } = await until('the build to be queued', () => buildStatus(url(), id, file).then((s) => (s.state !== 'idle' ? s : undefined)), MINUTE);
      abort.abort();
      const victim = await until('a worker to start the build', async () => (await logLines('worker')).find((l) => l.line.msg === 'asset build started' && l.line.key === key)?.container, 2 * MINUTE);
      await sh(`docker kill ${victim}`);
      const done = await until('the build to finish', () => buildStatus(url(), id, file).then((s) => (s.state === 'cached' ? s : undefined)), 10 * MINUTE);
      const built = (await logLines('worker')).filter((l) => l.line.msg === 'asset built' && l.line.key === key).map((l) => l.container);
      expect(built).toHaveLength(1);
      expect(built[0]).not.toBe(victim);
      expect(await expectDownload(asset)).toBe(done.sha256);
      // The web process built nothing: it got the asset from the registry the workers share.
      expect((await logLines('web')).filter((l) => l.line.msg === 'asset built')).toEqual([]);
      // Its metrics are published on the host's loopback.
      expect(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()).toContain('image_factory_build_queue_depth');
    }, 20 * MINUTE);

    it('down -v leaves no container, volume or network behind', async () => {
      await sh(COMPOSE_DOWN);
      expect((await sh('docker ps -aq')).trim()).toBe('');
      expect((await sh('docker volume ls -q')).trim()).toBe('');
      expect((await sh("docker network ls --format '{{.Name}}'")).trim().split('\n').sort()).toEqual(['bridge', 'host', 'none']);
    }, 5 * MINUTE);
  });

  it('stops dockerd leaving none of its files outside its roots', async () => {
    await docker.stop();
    for (const path of strays) expect(existsSync(path), path).toBe(false);
  }, 2 * MINUTE);
});

async function createSchematic(base: string, tag: string): Promise<string> {
  const body = `customization:\n  extraKernelArgs: [console=ttyS0, factory.containers=${tag}]\n  systemExtensions:\n    officialExtensions: [siderolabs/hello-service]\n`;
  const res = await fetch(`${base}/schematics`, { method: 'POST', body });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

/** Downloads an asset, streaming it through SHA-256, and checks it against its `.sha256` companion. */
async function expectDownload(asset: string): Promise<string> {
  const res = await fetch(asset);
  expect(res.status, asset).toBe(200);
  const hash = createHash('sha256');
  for await (const chunk of res.body!) hash.update(chunk as Uint8Array);
  const sha256 = hash.digest('hex');
  const companion = await (await fetch(`${asset}.sha256`)).text();
  expect(companion.split(/\s+/)[0]).toBe(sha256);
  return sha256;
}

async function buildStatus(base: string, id: string, file: string): Promise<{ key: string; state: string; sha256?: string }> {
  return (await (await fetch(`${base}/status/${id}/${VERSION}/${file}`)).json()) as { key: string; state: string; sha256?: string };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
