// The initramfs the factory serves, taken apart with independent tools: the
// base bytes are untouched, the leading microcode archive is what GNU cpio
// reads, and every squashfs layer is what unsquashfs lists and extracts, equal
// to the extension's rootfs (firmware moved out, as Talos does).

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { startService, type ServiceProcess } from '../helpers/server.js';

const release = await ensureDevRelease();
const work = mkdtempSync(join(tmpdir(), 'if-oracle-'));
let svc: ServiceProcess;
beforeAll(async () => {
  svc = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir });
});
afterAll(async () => {
  await svc.stop();
  rmSync(work, { recursive: true, force: true });
});

/** `path size` lines of a directory tree, for comparison (directories and files; modes as octal). */
function tree(dir: string): string[] {
  return execFileSync('find', ['.', '-mindepth', '1', '-printf', '%P %y %m %s\\n'], { cwd: dir, encoding: 'utf8' })
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => (l.split(' ')[1] === 'd' ? l.replace(/ \d+$/, '') : l))
    .sort();
}

describe.each(release.versions)('the initramfs served for %s', (version) => {
  it('keeps the base, leads with a microcode cpio, and carries squashfs layers unsquashfs agrees with', async () => {
    const boot = release.boot[version]!;
    const extensions = release.extensions[version]!;
    const res = await fetch(`${svc.url}/schematics`, {
      method: 'POST',
      body: `customization:\n  systemExtensions:\n    officialExtensions: [${extensions.map((e) => e.repository).join(', ')}]\n`,
    });
    const id = ((await res.json()) as { id: string }).id;
    const served = Buffer.from(await (await fetch(`${svc.url}/image/${id}/${version}/initramfs-amd64.xz`)).arrayBuffer());
    const base = readFileSync(boot.initramfs);
    const dir = join(work, version);
    mkdirSync(dir);

    // 1. A leading uncompressed cpio with the microcode, read by GNU cpio.
    const early = join(dir, 'early.cpio');
    const baseAt = served.indexOf(base.subarray(0, 64));
    expect(baseAt).toBeGreaterThan(0);
    expect(baseAt % 4).toBe(0);
    writeFileSync(early, served.subarray(0, baseAt));
    expect(execFileSync('cpio', ['-t', '--quiet', '-F', early], { encoding: 'utf8' }).trim().split('\n')).toEqual([
      'kernel',
      'kernel/x86',
      'kernel/x86/microcode',
      'kernel/x86/microcode/AuthenticAMD.bin',
      'kernel/x86/microcode/GenuineIntel.bin',
    ]);
    // 2. The base initramfs bytes, untouched.
    expect(served.subarray(baseAt, baseAt + base.length).equals(base)).toBe(true);
    // 3. The appended segment: compressed cpio of the layers, extensions.yaml and firmware.
    const segment = join(dir, 'segment');
    writeFileSync(segment, served.subarray(baseAt + base.length));
    const unpacked = join(dir, 'unpacked');
    mkdirSync(unpacked);
    const decompress = boot.compression === 'zstd' ? 'zstd -dc' : 'xz -dc';
    execFileSync('bash', ['-euo', 'pipefail', '-c', `${decompress} ${segment} | (cd ${unpacked} && cpio -i -d --quiet)`]);
    const images = tree(unpacked).filter((l) => l.includes('.sqsh ')).map((l) => l.split(' ')[0]);
    // The extensions, the schematic extension, and the modules.dep layer.
    expect(images).toEqual([...extensions.map((_e, i) => `${i}.sqsh`), `${extensions.length}.sqsh`, 'modules.dep.sqsh']);
    expect(readFileSync(join(unpacked, 'extensions.yaml'), 'utf8')).toMatch(/^layers:\n {4}- image: 0\.sqsh\n/);

    for (const [i, extension] of extensions.entries()) {
      const image = join(unpacked, `${i}.sqsh`);
      const listing = execFileSync('unsquashfs', ['-lls', image], { encoding: 'utf8' });
      expect(listing).toMatch(/root\/root/);
      expect(listing).not.toMatch(/ [1-9]\d*\/\d+ | \d+\/[1-9]\d* /); // every entry owned by 0:0
      const out = join(dir, `layer-${i}`);
      execFileSync('unsquashfs', ['-q', '-n', '-d', out, image]);
      // The rootfs as the extension ships it, without the firmware directory the build moved out.
      const expected = tree(join(extension.tree, 'rootfs')).filter((l) => !l.startsWith(`${boot.firmwarePath} `) && !l.startsWith(`${boot.firmwarePath}/`));
      expect(tree(out)).toEqual(expected);
    }
  });
});
