// Many instances, one registry: two factory processes with separate data
// directories and one `docker-registry` holding the schematics and the digest
// index. A schematic created on one is served by the other; an installer
// pulled by tag on one is pulled by digest on the other (skopeo, containerd);
// installers are signed, and skopeo — an independent verifier — accepts them
// under a `sigstoreSigned` policy with our key and refuses them with another;
// `kill -9` after the registry stored a schematic but before the answer loses
// nothing acknowledged; with the registry down creates answer 503 and known
// schematics keep being served.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushArtifact } from '../../src/oci/artifact.js';
import { generatePrivateKeyPem, parsePrivateKey, publicKeyPem } from '../../src/oci/cosign/keys.js';
import { RegistryClient } from '../../src/oci/registry/client.js';
import { parseSchematic } from '../../src/schematic/index.js';
import { containerdSkipReason, startContainerd } from '../helpers/containerd.js';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { startFlakyProxy } from '../helpers/flaky-proxy.js';
import { type TestRegistry, startRegistry } from '../helpers/registry.js';
import { type ServiceProcess, startService } from '../helpers/server.js';

const release = await ensureDevRelease();
const legacy = release.versions.find((v) => v.startsWith('v1.7.'))!;
const work = mkdtempSync(join(tmpdir(), 'if-fleet-'));
const signingKeyPem = generatePrivateKeyPem();
const keyPath = join(work, 'installer-signing.key');
writeFileSync(keyPath, signingKeyPem);

let registry: TestRegistry;
let a: ServiceProcess;
let b: ServiceProcess;
const env = (registryHost: string): Record<string, string> => ({
  IF_RELEASE_LAYOUT_DIR: release.layoutDir,
  IF_SCHEMATIC_REGISTRY: registryHost,
  IF_SCHEMATIC_INSECURE: 'true',
  IF_INSTALLER_SIGNING_KEY: keyPath,
});

beforeAll(async () => {
  registry = await startRegistry();
  [a, b] = await Promise.all([startService(undefined, env(registry.host)), startService(undefined, env(registry.host))]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

const run = async (command: string, args: string[]): Promise<string> => (await promisify(execFile)(command, args, { encoding: 'utf8', maxBuffer: 1 << 26 })).stdout;
const hostOf = (svc: ServiceProcess): string => svc.url.replace('http://', '');

async function create(svc: ServiceProcess, yaml: string): Promise<{ id: string; schematic: string }> {
  const res = await fetch(`${svc.url}/schematics`, { method: 'POST', body: yaml });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as { id: string; schematic: string };
}

const SCHEMATIC = 'customization:\n  extraKernelArgs: [fleet.test=1]\n  systemExtensions:\n    officialExtensions: [siderolabs/dummy-module]\n';

describe('schematics shared through the registry', () => {
  it('serves on one instance what was created on the other, and keeps it as an artifact tagged by its ID', async () => {
    const { id, schematic } = await create(a, SCHEMATIC);
    const res = await fetch(`${b.url}/schematics/${id}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(schematic);
    const manifest = JSON.parse(await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/image-factory/schematics:${id}`])) as {
      artifactType: string;
      layers: Array<{ mediaType: string; size: number }>;
    };
    expect(manifest.artifactType).toBe('application/vnd.image-factory.schematic.v1');
    expect(manifest.layers).toEqual([expect.objectContaining({ mediaType: 'application/vnd.sidero.dev-image.schematic', digest: `sha256:${id}`, size: Buffer.byteLength(schematic) })]);
  });

  it('treats an artifact whose layer does not hash to its tag as absent', async () => {
    const id = 'e'.repeat(64);
    const repo = new RegistryClient({ registry: registry.host, insecure: true }).repository('image-factory/schematics');
    await pushArtifact(repo, id, { artifactType: 'application/vnd.image-factory.schematic.v1', layers: [{ mediaType: 'application/vnd.sidero.dev-image.schematic', bytes: Buffer.from('customization: {}\n') }] });
    expect((await fetch(`${b.url}/schematics/${id}`)).status).toBe(404);
  });
});

describe('installers across instances', () => {
  let id: string;
  let digest: string;
  beforeAll(async () => {
    ({ id } = await create(a, SCHEMATIC));
    // Pulled by tag on A: A builds it and records its digests where B can find them.
    const head = await fetch(`${a.url}/v2/installer/${id}/manifests/${legacy}`, { method: 'HEAD', headers: { Accept: 'application/vnd.oci.image.index.v1+json' } });
    expect(head.status).toBe(200);
    digest = head.headers.get('docker-content-digest')!;
  }, 600_000);

  it('is pulled by digest from the other instance with skopeo, which builds it once, to the same digest', async () => {
    const ref = `docker://${hostOf(b)}/installer/${id}@${digest}`;
    const raw = await run('skopeo', ['inspect', '--raw', '--tls-verify=false', ref]);
    expect(JSON.parse(raw).mediaType).toBe('application/vnd.oci.image.index.v1+json');
    const dir = join(work, 'by-digest');
    await run('skopeo', ['copy', '--src-tls-verify=false', ref, `dir:${dir}`]);
    expect(b.logs()).not.toMatch(/"level":50/);
  }, 600_000);

  it.skipIf(containerdSkipReason() !== undefined)('is pulled by digest from the other instance with containerd, as Talos pulls it', async () => {
    const containerd = await startContainerd();
    try {
      const out = containerd.ctr('images', 'pull', '--plain-http', `${hostOf(b)}/installer/${id}@${digest}`);
      expect(out).toMatch(/done|elapsed/);
      expect(containerd.ctr('images', 'ls', '-q')).toContain(`${hostOf(b)}/installer/${id}@${digest}`);
    } finally {
      await containerd.stop();
    }
  }, 600_000);

  // Debian's skopeo 1.9.3 is built with sigstore disabled ("Debian-local change: sigstore disabled"), so a
  // `sigstoreSigned` policy cannot be checked with it here. The independent check is therefore: skopeo fetches
  // the `sha256-<hex>.sig` image as cosign and skopeo look it up, and OpenSSL verifies its ECDSA signature over
  // the payload with the published key (and refuses it with another). Where skopeo has sigstore, its policy
  // check runs as well.
  it('serves its signature where cosign clients look, verified by OpenSSL with our key and refused with another', async () => {
    const pub = await fetch(`${a.url}/oci/cosign/signing-key.pub`);
    expect(pub.status).toBe(200);
    const pem = await pub.text();
    expect(pem).toBe(publicKeyPem(parsePrivateKey(signingKeyPem, 'key')));
    writeFileSync(join(work, 'ours.pub'), pem);
    writeFileSync(join(work, 'other.pub'), publicKeyPem(parsePrivateKey(generatePrivateKeyPem(), 'other')));
    const tag = `sha256-${digest.slice('sha256:'.length)}.sig`;
    for (const svc of [a, b]) {
      const dir = join(work, `sig-${hostOf(svc).replace(/\W/g, '-')}`);
      await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${hostOf(svc)}/installer/${id}:${tag}`, `dir:${dir}`]);
      const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { layers: Array<{ mediaType: string; digest: string; annotations: Record<string, string> }> };
      const [layer] = manifest.layers;
      expect(layer!.mediaType).toBe('application/vnd.dev.cosign.simplesigning.v1+json');
      const payloadPath = join(dir, layer!.digest.slice('sha256:'.length));
      const payload = JSON.parse(readFileSync(payloadPath, 'utf8')) as { critical: { identity: Record<string, string>; image: Record<string, string>; type: string } };
      expect(payload.critical).toEqual({
        identity: { 'docker-reference': `${hostOf(svc)}/installer/${id}` },
        image: { 'docker-manifest-digest': digest },
        type: 'cosign container image signature',
      });
      writeFileSync(join(dir, 'signature.der'), Buffer.from(layer!.annotations['dev.cosignproject.cosign/signature']!, 'base64'));
      const openssl = (keyFile: string) => run('openssl', ['dgst', '-sha256', '-verify', join(work, keyFile), '-signature', join(dir, 'signature.der'), payloadPath]);
      expect((await openssl('ours.pub')).trim()).toBe('Verified OK');
      expect(await openssl('other.pub').then(() => 'accepted', (error: Error & { stdout: string }) => error.stdout.trim())).toBe('Verification failure');
    }
    await skopeoPolicyCheck(id);
  }, 600_000);

  it("serves the blobs of one instance's signature from the other, as a client behind a load balancer fetches them", async () => {
    const tag = `sha256-${digest.slice('sha256:'.length)}.sig`;
    const manifest = (await (await fetch(`${a.url}/v2/installer/${id}/manifests/${tag}`)).json()) as { config: { digest: string }; layers: Array<{ digest: string }> };
    for (const blob of [manifest.config.digest, manifest.layers[0]!.digest]) {
      const res = await fetch(`${b.url}/v2/installer/${id}/blobs/${blob}`);
      expect(res.status).toBe(200);
      expect(`sha256:${createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex')}`).toBe(blob);
    }
  });
});

/** skopeo's own `sigstoreSigned` verdict, where its build has sigstore: accepts with our key, refuses with another. */
async function skopeoPolicyCheck(id: string): Promise<void> {
  const registriesD = join(work, 'registries.d');
  mkdirSync(registriesD, { recursive: true });
  writeFileSync(join(registriesD, 'factory.yaml'), `docker:\n  ${hostOf(a)}:\n    use-sigstore-attachments: true\n`);
  const copy = (keyFile: string) => {
    const policy = join(work, `policy-${keyFile}.json`);
    const requirement = [{ type: 'sigstoreSigned', keyPath: join(work, keyFile), signedIdentity: { type: 'matchRepository' } }];
    writeFileSync(policy, JSON.stringify({ default: [{ type: 'reject' }], transports: { docker: { [hostOf(a)]: requirement } } }));
    const args = ['--policy', policy, '--registries.d', registriesD, 'copy', '--src-tls-verify=false', `docker://${hostOf(a)}/installer/${id}:${legacy}`, `dir:${join(work, `policy-${keyFile}`)}`];
    return run('skopeo', args).then(
      () => 'accepted',
      (error: Error) => error.message,
    );
  };
  const ours = await copy('ours.pub');
  if (/sigstore disabled/.test(ours)) {
    console.warn('skopeo here is built with sigstore disabled (Debian): its sigstoreSigned policy check was not run; OpenSSL verified the signatures');
    return;
  }
  expect(ours).toBe('accepted');
  expect(await copy('other.pub')).toMatch(/signature/i);
}

describe('crash safety', () => {
  it('loses no acknowledged schematic when killed -9 after the registry stored one and before the answer', async () => {
    const proxy = await startFlakyProxy(registry.host);
    const c = await startService(undefined, env(proxy.host));
    try {
      const acknowledged = [];
      for (let i = 0; i < 5; i++) acknowledged.push(await create(c, `customization:\n  extraKernelArgs: [crash.acknowledged=${i}]\n`));
      const last = 'customization:\n  extraKernelArgs: [crash.unanswered=1]\n';
      proxy.inject({ type: 'withhold' }, { match: /^PUT \/v2\/image-factory\/schematics\/manifests\/[0-9a-f]{64}$/ });
      const unanswered = fetch(`${c.url}/schematics`, { method: 'POST', body: last }).then(
        (res) => res.status,
        () => 'no answer',
      );
      // Wait until the registry has it while the factory still waits for the registry's answer, then kill.
      let id: string | undefined;
      for (let i = 0; i < 200 && id === undefined; i++) {
        const put = proxy.requests.find((r) => r.fault === 'withhold');
        const tag = put?.url.split('/').at(-1);
        if (tag && (await fetch(`${registry.url}/v2/image-factory/schematics/manifests/${tag}`, { method: 'HEAD', headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })).status === 200) id = tag;
        else await new Promise((r) => setTimeout(r, 50));
      }
      expect(id).toBeDefined();
      await c.stop('SIGKILL');
      expect(await unanswered).toBe('no answer');

      // A new instance with nothing on disk serves every acknowledged schematic, byte for byte, from the registry.
      const fresh = await startService(undefined, env(registry.host));
      try {
        for (const { id: known, schematic } of acknowledged) {
          const res = await fetch(`${fresh.url}/schematics/${known}`);
          expect(res.status).toBe(200);
          expect(await res.text()).toBe(schematic);
        }
        // The unanswered one is whole too: the client retries and gets the same ID.
        expect((await fetch(`${fresh.url}/schematics/${id}`)).status).toBe(200);
      } finally {
        await fresh.stop();
      }
      // The killed instance, restarted on its data directory, serves them all as well.
      const restarted = await startService(c.dataDir, env(registry.host));
      try {
        for (const { id: known } of acknowledged) expect((await fetch(`${restarted.url}/schematics/${known}`)).status).toBe(200);
      } finally {
        await restarted.stop();
      }
    } finally {
      await c.stop('SIGKILL');
      await proxy.stop();
    }
  }, 120_000);
});

describe('registry down', () => {
  it('answers creates with 503 and the reason, and keeps serving the schematics it knows', async () => {
    const known = await create(a, 'customization:\n  extraKernelArgs: [down.known=1]\n');
    expect((await fetch(`${b.url}/schematics/${known.id}`)).status).toBe(200); // now on B's disk too
    await registry.stop();
    const fresh = 'customization:\n  extraKernelArgs: [down.new=1]\n';
    const res = await fetch(`${a.url}/schematics`, { method: 'POST', body: fresh });
    expect(res.status).toBe(503);
    expect(await res.text()).toMatch(new RegExp(`schematic registry ${registry.host}/image-factory/schematics is unavailable`));
    // Nothing acknowledged, nothing stored.
    const { id } = parseSchematic(fresh);
    expect(existsSync(join(a.dataDir, 'schematics', id.slice(0, 2), `${id}.yaml`))).toBe(false);
    expect((await fetch(`${a.url}/schematics/${id}`)).status).toBe(503);
    for (const svc of [a, b]) {
      const served = await fetch(`${svc.url}/schematics/${known.id}`);
      expect(served.status).toBe(200);
      expect(await served.text()).toBe(known.schematic);
    }
  }, 60_000);
});
