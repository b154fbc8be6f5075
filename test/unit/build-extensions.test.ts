import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderExtensionsYaml } from '../../src/build/extensions/extensions-yaml.js';
import { loadExtension } from '../../src/build/extensions/load.js';
import { checkCompatibility, type ExtensionMetadata, InvalidExtensionError, parseExtensionManifest } from '../../src/build/extensions/manifest.js';
import { orderLikeTalos } from '../../src/build/initramfs/build.js';
import { type StagedExtension, stageExtensions } from '../../src/build/initramfs/stage.js';
import { parseVersion } from '../../src/talos/version.js';

const meta = (over: Partial<ExtensionMetadata> = {}): ExtensionMetadata => ({
  name: 'gvisor',
  version: '20231214.0',
  author: 'Sidero Labs',
  description: 'gVisor',
  compatibility: { talos: { version: '>= v1.5.0' } },
  extraInfo: '',
  ...over,
});

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('extension manifests', () => {
  it('reads upstream manifests, ignoring unknown fields', () => {
    const m = parseExtensionManifest(
      'version: v1alpha1\nmetadata:\n  name: gvisor\n  version: 20231214.0\n  author: Sidero Labs\n  description: |\n    gVisor\n  compatibility:\n    talos:\n      version: ">= v1.5.0"\n  future: field\n',
      'gvisor',
    );
    expect(m).toEqual({ ...meta(), description: 'gVisor\n' });
  });

  it('refuses other manifest versions', () => {
    expect(() => parseExtensionManifest('version: v1\nmetadata: {}\n', 'x')).toThrow('x: unsupported manifest version: "v1"');
  });

  it('checks compatibility as Talos does (v before digits ignored, pre-release dropped)', () => {
    expect(() => checkCompatibility(meta(), parseVersion('1.5.0-alpha.1'))).not.toThrow();
    expect(() => checkCompatibility(meta({ compatibility: { talos: { version: '>= v1.5.0, < v1.8.0' } } }), parseVersion('1.7.6'))).toThrow(InvalidExtensionError);
    expect(() => checkCompatibility(meta({ compatibility: { talos: { version: '>= v1.5.0 < v1.8.0' } } }), parseVersion('1.7.6'))).not.toThrow();
    expect(() => checkCompatibility(meta({ compatibility: { talos: { version: '>= v1.5.0 < v1.8.0' } } }), parseVersion('1.12.0'))).toThrow(
      "version constraint >= v1.5.0 < v1.8.0 can't be satisfied with Talos version 1.12.0",
    );
    expect(() => checkCompatibility(meta({ compatibility: { talos: { version: '' } } }), parseVersion('1.0.0'))).not.toThrow();
  });

  it('loads only manifest.yaml + rootfs/', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ext-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'manifest.yaml'), 'version: v1alpha1\nmetadata:\n  name: x\n');
    await expect(loadExtension(dir, 'x')).rejects.toThrow('x: extension rootfs is missing');
    mkdirSync(join(dir, 'rootfs'));
    await expect(loadExtension(dir, 'x')).resolves.toMatchObject({ metadata: { name: 'x' } });
    writeFileSync(join(dir, 'README'), '');
    await expect(loadExtension(dir, 'x')).rejects.toThrow('x: unexpected file "README"');
  });
});

describe('extensions.yaml', () => {
  it('is written as go-yaml writes Talos config (4-space indent, quoting, extraInfo omitted when empty)', () => {
    const text = renderExtensionsYaml([
      { image: '0.sqsh', metadata: meta() },
      { image: '1.sqsh', metadata: meta({ name: 'schematic', version: 'abc', compatibility: { talos: { version: '>= 1.0.0' } }, extraInfo: 'customization:\n    extraKernelArgs:\n        - a\n' }) },
    ]);
    expect(text).toBe(
      [
        'layers:',
        '    - image: 0.sqsh',
        '      metadata:',
        '        name: gvisor',
        '        version: "20231214.0"',
        '        author: Sidero Labs',
        '        description: gVisor',
        '        compatibility:',
        '            talos:',
        '                version: \'>= v1.5.0\'',
        '    - image: 1.sqsh',
        '      metadata:',
        '        name: schematic',
        '        version: abc',
        '        author: Sidero Labs',
        '        description: gVisor',
        '        compatibility:',
        '            talos:',
        '                version: \'>= 1.0.0\'',
        '        extraInfo: |',
        '            customization:',
        '                extraKernelArgs:',
        '                    - a',
        '',
      ].join('\n'),
    );
  });
});

describe('layer order', () => {
  it('follows Talos\' directory listing: 10 sorts before 2', () => {
    const exts = Array.from({ length: 12 }, (_, i) => ({ dir: '', rootfs: '', metadata: meta({ name: `e${i}` }) }));
    expect(orderLikeTalos(exts).map((s) => s.name)).toEqual(['0', '1', '10', '11', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(orderLikeTalos(exts).map((s) => s.extension.metadata.name).slice(0, 4)).toEqual(['e0', 'e1', 'e10', 'e11']);
  });
});

describe('staging extension layers', () => {
  const extension = (root: string, name: string, files: Record<string, string>) => {
    const dir = join(root, name);
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, 'rootfs', path, '..'), { recursive: true });
      writeFileSync(join(dir, 'rootfs', path), text);
    }
    return { dir, rootfs: join(dir, 'rootfs'), metadata: meta({ name }) };
  };

  it('writes every image, lists them in the given order (one still in the making included), and a later extension\'s firmware wins', async () => {
    const root = mkdtempSync(join(tmpdir(), 'stage-'));
    dirs.push(root);
    const a = extension(root, 'a', { 'usr/lib/firmware/fw.bin': 'from a', 'usr/bin/a': 'a' });
    const b = extension(root, 'b', { 'usr/lib/firmware/fw.bin': 'from b', 'usr/bin/b': 'b' });
    const late = new Promise<StagedExtension>((resolve) => setTimeout(() => resolve({ name: '2', extension: extension(root, 'c', { 'usr/bin/c': 'c' }) }), 50));
    const staging = join(root, 'staging');
    mkdirSync(staging);
    await stageExtensions([{ name: '0', extension: a }, { name: '1', extension: b }, late], staging, { firmwarePath: 'usr/lib/firmware', compression: 'zstd' });
    expect(readdirSync(staging).sort()).toEqual(['0.sqsh', '1.sqsh', '2.sqsh', 'extensions.yaml', 'usr']);
    expect(readFileSync(join(staging, 'usr/lib/firmware/fw.bin'), 'utf8')).toBe('from b');
    expect([...readFileSync(join(staging, 'extensions.yaml'), 'utf8').matchAll(/image: (\S+)/g)].map((m) => m[1])).toEqual(['0.sqsh', '1.sqsh', '2.sqsh']);
  });

  it('fails with the first error once everything it started has settled', async () => {
    const root = mkdtempSync(join(tmpdir(), 'stage-'));
    dirs.push(root);
    const staging = join(root, 'staging');
    mkdirSync(staging);
    const broken = Promise.reject(new Error('depmod failed'));
    await expect(
      stageExtensions([{ name: '0', extension: extension(root, 'a', { 'usr/bin/a': 'a' }) }, broken], staging, { firmwarePath: 'usr/lib/firmware', compression: 'zstd' }),
    ).rejects.toThrow('depmod failed');
    expect(readdirSync(staging)).not.toContain('extensions.yaml');
    // The image started before the failure is complete (padded to 4 KiB), not cut off mid-write.
    expect(statSync(join(staging, '0.sqsh')).size).toBe(4096);
  });
});
