// The installer image layout, checked with skopeo and GNU tar: base layers
// kept (the old installer's artifacts layer dropped), one artifacts layer with
// Talos' entry shape, the base's runtime config, reproducible digests.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { buildInstallerImage } from '../../src/build/installer/installer-image.js';
import { OciLayout } from '../../src/oci/layout.js';
import { LayoutReleaseBackend } from '../../src/release/backend.js';
import { ReleaseService } from '../../src/release/release.js';
import { Quirks } from '../../src/talos/quirks.js';
import { parsePathVersion, parseVersion } from '../../src/talos/version.js';
import { ensureDevRelease } from '../helpers/dev-release.js';

const release = await ensureDevRelease();
const work = mkdtempSync(join(tmpdir(), 'if-installer-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const releases = new ReleaseService({
  backend: new LayoutReleaseBackend(release.layoutDir),
  dataDir: join(work, 'data'),
  minimumVersion: parseVersion('1.2.0'),
  brokenVersions: [],
  recheckIntervalMs: 60_000,
  logger: pino({ level: 'silent' }),
});

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

async function build(tag: string, out: string) {
  const version = parsePathVersion(tag);
  const inputs = await releases.imagerInputs(version, 'amd64');
  const base = await releases.installerBase(version, 'amd64');
  // What Talos puts there: systemd-boot and the UKI from 1.10, the kernel and initramfs before. The
  // builder only carries bytes, so the release's systemd-stub stands in for the UKI here (the factory's
  // real UKI in an installer is checked in registry.test.ts).
  const artifacts = new Quirks(version).usesInstallerBase()
    ? [
        { name: 'usr/install/amd64/systemd-boot.efi', file: inputs.systemdBoot },
        { name: 'usr/install/amd64/vmlinuz.efi', file: inputs.systemdStub },
      ]
    : [
        { name: 'usr/install/amd64/vmlinuz', file: inputs.kernel },
        { name: 'usr/install/amd64/initramfs.xz', file: inputs.initramfs },
      ];
  const layout = await OciLayout.create(out);
  const written = await buildInstallerImage({ base, baseReference: tag, arch: 'amd64', artifacts, tmpDir: work }, layout, tag);
  return { written, artifacts, base };
}

describe('installer image', () => {
  for (const tag of release.versions) {
    it(`${tag}: base layers, one artifacts layer in Talos' shape, base config, same digest twice`, async () => {
      const dir = join(work, `img-${tag}`);
      const { written, artifacts, base } = await build(tag, dir);
      const inspect = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${dir}:${tag}`], { encoding: 'utf8' })) as {
        Architecture: string;
        Os: string;
        Layers: string[];
        Env: string[];
      };
      expect(inspect).toMatchObject({ Architecture: 'amd64', Os: 'linux' });
      expect(inspect.Env.join(' ')).toMatch(/PATH=/);
      expect(inspect.Layers).toHaveLength(2); // v1.7.6's base has 2 (second dropped), v1.12.0's has 1
      const baseImage = JSON.parse(execFileSync('skopeo', ['inspect', base.location + `:${tag}`], { encoding: 'utf8' })) as { Layers: string[]; Env: string[] };
      expect(inspect.Layers[0]).toBe(baseImage.Layers[0]);
      expect(inspect.Env).toEqual(baseImage.Env);

      const copy = join(work, `dir-${tag}`);
      execFileSync('skopeo', ['copy', `oci:${dir}:${tag}`, `dir:${copy}`]);
      const last = join(copy, written.layers.at(-1)!.digest.replace('sha256:', ''));
      const listing = execFileSync('tar', ['-tvzf', last, '--numeric-owner', '--full-time'], { encoding: 'utf8' }).trim().split('\n');
      expect(listing.map((l) => l.split(/\s+/).slice(-1)[0])).toEqual(artifacts.map((a) => a.name).sort()); // sorted by path
      for (const line of listing) expect(line).toMatch(/^---------- 0\/0 +\d+ 1970-01-01 00:00:00 /);
      const extracted = join(work, `x-${tag}`);
      execFileSync('mkdir', ['-p', extracted]);
      execFileSync('tar', ['-xzf', last, '-C', extracted]);
      for (const artifact of artifacts) expect(sha(join(extracted, artifact.name))).toBe(sha(artifact.file));

      const again = await build(tag, join(work, `again-${tag}`));
      expect(again.written.index.digest).toBe(written.index.digest);
    });
  }
});
