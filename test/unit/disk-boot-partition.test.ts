// The BOOT partition judged by XFS's and GRUB's own readers: xfs_repair finds
// it clean, xfs_db shows the label, the label-derived UUID and the features
// of the xfsprogs LTS config Talos picks for the version, and GRUB's XFS
// driver (grub-fstest) reads grub.cfg and the kernel back.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootGrubConfig, buildBootPartition } from '../../src/build/disk/boot-partition.js';
import { fileDataRanges, parseSeekOutput } from '../../src/build/disk/data-ranges.js';
import { fileDataExtents } from '../../src/formats/disk/scan.js';
import { guidFromLabel } from '../../src/formats/gpt.js';
import { Quirks } from '../../src/talos/quirks.js';
import { parsePathVersion } from '../../src/talos/version.js';
import { MiB, pseudoRandom, tempDir } from '../helpers/disk-fixtures.js';
import { skipUnlessCi } from '../helpers/tool-skip.js';

const ENV = { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` };
const TOOLS: Record<string, string> = { 'mkfs.xfs': 'xfsprogs', xfs_db: 'xfsprogs', xfs_repair: 'xfsprogs', 'grub-fstest': 'grub-common' };
const missing = Object.keys(TOOLS).filter((t) => spawnSync(t, ['-V'], { env: ENV, stdio: 'ignore' }).error !== undefined);
const SKIP = skipUnlessCi(missing.length > 0 ? `missing ${missing.join(', ')} (apt-get install ${[...new Set(missing.map((t) => TOOLS[t]))].join(' ')})` : undefined);

let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir('boot-partition-test-');
});
afterAll(() => tmp.remove());

const tool = (name: string, args: string[]) => execFileSync(name, args, { env: ENV, encoding: 'utf8', maxBuffer: 64 * MiB, stdio: ['ignore', 'pipe', 'pipe'] });

describe('the xfsprogs LTS config per Talos version', () => {
  it('follows upstream quirks: 6.1 before 1.8, 6.6 to 1.9, 6.12 to 1.12, 6.18 from 1.13', () => {
    const config = (v: string) => new Quirks(parsePathVersion(v)).xfsMkfsConfig();
    expect(['v1.5.0', 'v1.7.6', 'v1.8.0', 'v1.9.5', 'v1.10.0-alpha.1', 'v1.12.0', 'v1.13.0', 'v1.14.1'].map(config)).toEqual([
      'lts_6.1',
      'lts_6.1',
      'lts_6.6',
      'lts_6.6',
      'lts_6.12',
      'lts_6.12',
      'lts_6.18',
      'lts_6.18',
    ]);
  });
});

describe("xfs_io's SEEK_DATA/SEEK_HOLE listing", () => {
  it('becomes the data ranges, for holes at either end, no data at all, and an empty file', () => {
    expect(parseSeekOutput('Whence\tResult\nDATA\t0\nHOLE\t12288\nDATA\t1048576\nHOLE\t1048577\n')).toEqual([
      { start: 0, end: 12288 },
      { start: 1048576, end: 1048577 },
    ]);
    expect(parseSeekOutput('Whence\tResult\nHOLE\t0\n')).toEqual([]);
    expect(parseSeekOutput('Whence\tResult\nDATA\tEOF\n')).toEqual([]);
    expect(() => parseSeekOutput('seek: command not found\n')).toThrow(/unexpected output/);
    expect(() => parseSeekOutput('Whence\tResult\nDATA\t0\n')).toThrow(/without the hole/);
  });
});

describe.skipIf(SKIP !== undefined)('BOOT as mkfs.xfs makes it', () => {
  for (const [version, later] of [
    ['v1.7.6', false],
    ['v1.12.0', true],
  ] as const) {
    it(`${version}: clean, labelled, ${later ? 'with' : 'without'} rmapbt and nrext64, readable by GRUB`, async () => {
      const dir = join(tmp.path, version);
      mkdirSync(dir);
      const kernel = join(dir, 'vmlinuz');
      const initramfs = join(dir, 'initramfs.xz');
      writeFileSync(kernel, pseudoRandom(1, 3 * MiB + 17));
      writeFileSync(initramfs, pseudoRandom(2, MiB));
      const cmdline = 'console=ttyS0 talos.platform=metal a="b;c"';
      const image = await buildBootPartition({
        version,
        kernel,
        initramfs,
        cmdline,
        resetEntry: true,
        xfsConfig: new Quirks(parsePathVersion(version)).xfsMkfsConfig(),
        size: 1000 * MiB,
        sectorSize: 512,
        workDir: dir,
      });
      tool('xfs_repair', ['-n', '-f', image]);
      const info = tool('xfs_db', ['-r', '-c', 'version', '-c', 'label', '-c', 'uuid', image]);
      expect(info).toContain('label = "BOOT"');
      expect(info).toContain(`UUID = ${guidFromLabel('BOOT').toLowerCase()}`);
      for (const feature of ['CRC', 'FTYPE', 'FINOBT', 'SPARSE_INODES', 'REFLINK', 'INOBTCNT', 'BIGTIME']) expect(info).toMatch(new RegExp(`[=,]${feature}[,\\n]`));
      expect(info.includes(',RMAPBT,')).toBe(later);
      expect(info.includes('NREXT64')).toBe(later);
      expect(tool('grub-fstest', [image, 'cat', '/grub/grub.cfg'])).toBe(bootGrubConfig(version, cmdline, true));
      const copy = join(dir, 'kernel-back');
      tool('grub-fstest', [image, 'cp', '/A/vmlinuz', copy]);
      execFileSync('cmp', [kernel, copy]);
      // Its data found from where the filesystem keeps it is what reading every byte finds, holes skipped.
      const ranges = await fileDataRanges(image);
      expect(ranges.reduce((n, r) => n + r.end - r.start, 0)).toBeLessThan(100 * MiB);
      expect(await fileDataExtents(image, { dataRanges: ranges })).toEqual(await fileDataExtents(image));
    });
  }
});
