// Linux's isofs as the oracle of our ISO 9660 + Rock Ridge writer: a tree
// with the longest names isofs reads, long symlink targets and multi-block
// directories, mounted by the development release's kernel under QEMU, whole
// disk and as GPT partition 1 of the hybrid image. (Booting ISOs is proven on
// what the factory serves: test/e2e/iso-assets-boot.test.ts.)

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeIso } from '../../src/formats/iso9660/index.js';
import { FileTree } from '../../src/formats/file-tree.js';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { buildIsoProbeInitramfs, parseIsoProbe } from '../helpers/iso-kernel.js';
import { snapshot } from '../helpers/squashfs-oracle.js';
import { buildTree, sampleTrees } from '../helpers/squashfs-trees.js';
import { fitNames } from '../helpers/iso-trees.js';
import { bootQemu, qemuSkipReason } from '../helpers/qemu.js';

const release = await ensureDevRelease();
const version = release.versions.at(-1)!;
const boot = release.boot[version]!;
const work = mkdtempSync(join(tmpdir(), 'iso-boot-'));

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.skipIf(qemuSkipReason() !== undefined)("Linux's isofs reads our tree, whole disk and as GPT partition 1", () => {
  it('every entry with its Rock Ridge name, type, mode, size, contents and symlink target', async () => {
    const src = join(work, 'probe-tree');
    // The shared sample trees: 253-byte names (the longest isofs reads), 4095-byte symlink targets, multi-block directories.
    const samples = sampleTrees(2048);
    buildTree(
      src,
      fitNames([
        ...samples.nested.map((s) => ({ ...s, path: `nested/${s.path}` })),
        ...samples.sizes.map((s) => ({ ...s, path: `sizes/${s.path}` })),
        ...samples.many.map((s) => ({ ...s, path: `many/${s.path}` })),
      ]),
    );
    const image = join(work, 'probe.iso');
    await writeIso(await FileTree.fromDirectory(src), image, { volumeId: 'PROBE', date: new Date('2023-11-14T22:13:13Z'), hybrid: { guidSeed: 'probe' } });
    const initrd = join(work, 'probe.cpio');
    await buildIsoProbeInitramfs(release, boot.kernel, initrd);
    const result = await bootQemu({
      kernel: boot.kernel,
      initrd,
      append: 'console=ttyS0 quiet loglevel=1',
      args: ['-drive', `file=${image},format=raw,if=virtio,snapshot=on`],
      timeoutMs: 240_000,
    });
    const probe = parseIsoProbe(result.console);
    const tail = result.console.slice(-3000);
    expect(probe.errors, tail).toEqual([]);
    expect(probe.done, tail).toEqual(['vda', 'vda1']);
    const expected = snapshot(src).map((e) => ({
      type: e.type,
      mode: e.mode,
      size: e.type === 'file' ? e.size : 0,
      path: e.path,
      ...(e.type === 'file' ? { sha256: e.sha256 } : {}),
      ...(e.type === 'symlink' ? { target: e.target } : {}),
    }));
    expect(probe.devices.vda).toEqual(expected);
    expect(probe.devices.vda1).toEqual(expected);
  }, 300_000);
});
