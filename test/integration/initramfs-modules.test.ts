// The modules.dep layer is computed over the base modules plus the
// extensions', from a copy of the base modules unpacked once beside the base
// initramfs and shared by every build through hard links: no build may write
// through a link into that copy, and every build gives the same bytes.

import { execFileSync } from 'node:child_process';
import { copyFileSync, createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { loadExtension } from '../../src/build/extensions/load.js';
import { buildInitramfs } from '../../src/build/initramfs/build.js';
import { parsePathVersion } from '../../src/talos/version.js';
import { ensureDevRelease } from '../helpers/dev-release.js';

const release = await ensureDevRelease();
const work = mkdtempSync(join(tmpdir(), 'if-modules-dep-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A file of a squashfs image, as unsquashfs reads it. */
const fromImage = (image: string, path: string) => execFileSync('unsquashfs', ['-cat', image, path], { maxBuffer: 1 << 26 });

describe.each(release.versions)('the modules.dep layer for %s', (tag) => {
  it('adds the extension modules, leaves the shared base modules untouched, and is the same every build', async () => {
    const boot = release.boot[tag]!;
    const base = join(work, `${tag}-initramfs.xz`);
    copyFileSync(boot.initramfs, base);
    const extensions = await Promise.all(release.extensions[tag]!.map((e) => loadExtension(e.tree, e.name)));
    const outputs: Buffer[] = [];
    for (const round of [0, 1]) {
      const file = join(work, `${tag}-${round}.img`);
      const out = createWriteStream(file);
      await buildInitramfs({ talosVersion: parsePathVersion(tag), baseInitramfs: base, extensions, workDir: join(work, `${tag}-work-${round}`) }, out);
      await finished(out);
      outputs.push(readFileSync(file));
    }
    expect(outputs[1]!.equals(outputs[0]!)).toBe(true);

    const kver = execFileSync('unsquashfs', ['-l', '-d', '', boot.rootfsSqsh, boot.modulesPath], { encoding: 'utf8' })
      .split('\n')
      .find((line) => line.startsWith(`/${boot.modulesPath}/`))!
      .split('/')
      .at(-1)!;
    const shared = join(`${base}.modules`, 'tree', boot.modulesPath, kver);
    for (const name of ['modules.dep', 'modules.alias', 'modules.order', 'modules.builtin']) {
      expect(readFileSync(join(shared, name)).equals(fromImage(boot.rootfsSqsh, `${boot.modulesPath}/${kver}/${name}`)), name).toBe(true);
    }
    expect(readFileSync(join(shared, 'modules.dep'), 'utf8')).not.toContain('dummy');

    // The layer itself, from the last build's work directory (kept: this test calls the builder directly).
    const layerDep = readFileSync(join(work, `${tag}-work-1`, 'modules', 'modules.dep', 'rootfs', boot.modulesPath, kver, 'modules.dep'), 'utf8');
    expect(layerDep).toMatch(/extras\/dummy\.ko:/);
    expect(layerDep.split('\n').length).toBeGreaterThan(readFileSync(join(shared, 'modules.dep'), 'utf8').split('\n').length);
  });
});
