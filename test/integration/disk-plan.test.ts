// planTalosDisk where the imager's choices are easy to miss, judged on the
// written raw disk by sgdisk, sfdisk, xfs_repair and our META reader:
// dual-boot forced on Talos 1.7 gets the dual-boot partitions plus the
// pre-1.8 data partitions and no DiskImageBootloader key (written only from
// 1.10); with no META value at all, META stays zeroed as the imager leaves
// it; dual-boot on arm64 is refused, as Talos' installer refuses it; the
// disk's first MiB streams before the boot files it holds exist. The ESP's
// content is not judged here (the release kernel stands in for the UKI).

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planTalosDisk, type DiskBuildInput } from '../../src/build/disk/build.js';
import { type StreamableDisk, diskData, rawDiskStream, writeSparseFile } from '../../src/formats/disk/sparse.js';
import { guidFromLabel } from '../../src/formats/gpt.js';
import { readTalosMetaStrings } from '../../src/formats/talos-meta.js';
import { parsePathVersion } from '../../src/talos/version.js';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { MiB, tempDir } from '../helpers/disk-fixtures.js';
import { diskToolsSkipReason, sfdiskDump, sgdiskVerify } from '../helpers/disk-oracle.js';

const release = await ensureDevRelease();
const [oldest, newest] = [release.versions[0]!, release.versions.at(-1)!];
const SKIP = diskToolsSkipReason(['sgdisk', 'sfdisk']);
let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  tmp = tempDir('disk-plan-test-');
});
afterAll(() => tmp.remove());

function input(tag: string, overrides: Partial<DiskBuildInput>): DiskBuildInput {
  const workDir = join(tmp.path, `${tag}-${overrides.arch ?? 'amd64'}-${overrides.bootloader ?? 'grub'}`);
  mkdirSync(workDir, { recursive: true });
  const boot = release.boot[tag]!;
  return {
    version: parsePathVersion(tag),
    versionTag: tag,
    arch: 'amd64',
    bootloader: 'grub',
    baseSize: 1246 * MiB,
    sectorSize: 512,
    kernel: boot.kernel,
    initramfs: boot.initramfs,
    cmdline: 'console=ttyS0 talos.platform=metal',
    uki: boot.kernel,
    systemdBoot: boot.systemdBoot,
    grubDir: release.grubDir,
    meta: [{ key: 0x0c, value: 'plan-test' }],
    sourceDateEpoch: 1_700_000_000,
    workDir,
    ...overrides,
  };
}

describe.skipIf(SKIP !== undefined)('disk plans for forced boot loaders', () => {
  it(`${oldest} with dual-boot: UKI-sized EFI, BIOS, BOOT, META, STATE, EPHEMERAL; no DiskImageBootloader`, async () => {
    const disk = await planTalosDisk(input(oldest, { bootloader: 'dual-boot' }));
    const raw = join(tmp.path, 'dual-old.raw');
    await writeSparseFile(disk, raw);
    // The 1246 MiB metal disk grows by BIOS + BOOT (1 + 1000 MiB), as the imager sizes dual-boot.
    expect(disk.size).toBe(2247 * MiB);
    expect(sgdiskVerify(raw).clean).toBe(true);
    const parts = sfdiskDump(raw).partitions;
    expect(parts.map((p) => [p.name, p.uuid])).toEqual(['EFI', 'BIOS', 'BOOT', 'META', 'STATE', 'EPHEMERAL'].map((n) => [n, guidFromLabel(n)]));
    expect(parts.slice(0, 5).map((p) => (p.size * 512) / MiB)).toEqual([1101, 1, 1000, 1, 100]);
    const [, , boot, meta] = parts;
    const bootImg = join(tmp.path, 'boot.img');
    execFileSync('dd', [`if=${raw}`, `of=${bootImg}`, 'bs=1M', `skip=${boot!.start * 512}`, `count=${boot!.size * 512}`, 'iflag=skip_bytes,count_bytes', 'conv=sparse', 'status=none']);
    execFileSync('xfs_repair', ['-n', '-f', bootImg], { stdio: 'pipe', env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin` } });
    const metaBytes = execFileSync('dd', [`if=${raw}`, 'bs=512', `skip=${meta!.start}`, `count=${meta!.size}`, 'status=none'], { maxBuffer: 4 * MiB });
    expect(Object.fromEntries(readTalosMetaStrings(metaBytes))).toEqual({ 12: 'plan-test' });
  });

  it(`${newest} sd-boot without META values: EFI and META only, META left zeroed as the imager leaves it`, async () => {
    const disk = await planTalosDisk(input(newest, { bootloader: 'sd-boot', meta: [] }));
    const raw = join(tmp.path, 'sd-new.raw');
    await writeSparseFile(disk, raw);
    expect(sgdiskVerify(raw).clean).toBe(true);
    const parts = sfdiskDump(raw).partitions;
    expect(parts.map((p) => [p.name, (p.size * 512) / MiB])).toEqual([
      ['EFI', 2101],
      ['META', 1],
    ]);
    const meta = parts[1]!;
    expect(disk.extents.some((e) => e.offset < (meta.start + meta.size) * 512 && e.offset + e.length > meta.start * 512)).toBe(false);
  });

  it(`${newest} dual-boot: the MBR and GPT stream before the UKI and initramfs exist, and the disk is the same once they do`, async () => {
    const boot = release.boot[newest]!;
    let provide!: () => void;
    const built = new Promise<void>((resolve) => (provide = resolve));
    const later = (path: string): Promise<string> => built.then(() => path);
    const disk = await planTalosDisk(input(newest, { bootloader: 'dual-boot', initramfs: later(boot.initramfs), uki: later(boot.kernel) }));
    const streaming = rawDiskStream(disk);
    const head = (await streaming[Symbol.asyncIterator]().next()).value as Buffer;
    streaming.destroy();
    // Protective MBR with GRUB's boot code, then the primary GPT header: all there while nothing else is built.
    expect(head.readUInt16LE(510)).toBe(0xaa55);
    expect(head[0x1c2]).toBe(0xee);
    expect(head.subarray(512, 520).toString('latin1')).toBe('EFI PART');
    provide();
    const digest = async (of: StreamableDisk): Promise<string> => {
      const hash = createHash('sha256');
      for await (const { offset, data } of diskData(of)) hash.update(`${offset}:`).update(data);
      return hash.digest('hex');
    };
    const streamed = await digest(disk);
    expect(streamed).toBe(await digest(await planTalosDisk(input(newest, { bootloader: 'dual-boot' }))));
  });

  it('refuses dual-boot on arm64', async () => {
    await expect(planTalosDisk(input(oldest, { arch: 'arm64', bootloader: 'dual-boot' }))).rejects.toThrow('dual-boot is not supported on arm64');
  });
});
