// Disk images as a user downloads them, judged by outside tools: sgdisk -v and
// sfdisk on the partition table (names, sizes, type GUIDs, label-derived
// GUIDs), fsck.fat and mdir on the ESP, xfs_repair on BOOT, qemu-img on the
// qcow2, VHD and the OVA's VMDK against the raw disk, GNU tar on the sparse
// tar.gz, and our own META reader on the META partition.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guidFromLabel } from '../../src/formats/gpt.js';
import { readTalosMetaStrings } from '../../src/formats/talos-meta.js';
import { createSchematic as createNewSchematic, downloadRawDisk, downloadTo } from '../helpers/assets.js';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { readFileRange } from '../helpers/disk-fixtures.js';
import { diskToolsSkipReason, fdiskList, sfdiskDump, sgdiskVerify } from '../helpers/disk-oracle.js';
import { fatToolsSkipReason, fsckFat, mdirPaths } from '../helpers/fat-oracle.js';
import { startService, type ServiceProcess } from '../helpers/server.js';

const release = await ensureDevRelease();
const [oldest, newest] = [release.versions[0]!, release.versions.at(-1)!];
const SKIP = diskToolsSkipReason(['sgdisk', 'sfdisk', 'qemu-img', 'tar']) ?? fatToolsSkipReason(['fsck.fat', 'mdir']);
const MIB = 1024 * 1024;
const EFI = 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B';
const BIOS = '21686148-6449-6E6F-744E-656564454649';
const LINUX = '0FC63DAF-8483-4772-8E79-3D69D8477DE4';
const work = mkdtempSync(join(tmpdir(), 'disk-images-'));
let svc: ServiceProcess;
let id: string;

const createSchematic = (yaml: string): Promise<string> => createNewSchematic(svc, yaml);

async function download(url: string, name: string): Promise<{ file: string; type: string | null }> {
  const file = join(work, name);
  return { file, type: await downloadTo(url, file) };
}

/** The sparse disk.raw of a `.raw.tar.gz`, restored by GNU tar. */
function rawFromTarGz(schematic: string, version: string, platform: string, name: string): Promise<string> {
  return downloadRawDisk(`${svc.url}/image/${schematic}/${version}/${platform}-amd64.raw.tar.gz`, join(work, name));
}

/** A partition's bytes copied out to a file of its own. */
function extractPartition(disk: string, start: number, size: number, name: string): string {
  const out = join(work, name);
  execFileSync('dd', [`if=${disk}`, `of=${out}`, 'bs=1M', `skip=${start * 512}`, `count=${size * 512}`, 'iflag=skip_bytes,count_bytes', 'conv=sparse', 'status=none']);
  return out;
}

function partitions(disk: string) {
  return sfdiskDump(disk).partitions;
}

beforeAll(async () => {
  if (SKIP) return;
  svc = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir });
  id = await createSchematic(
    'customization:\n  extraKernelArgs: [console=ttyS0, factory.test=disk-images]\n  meta:\n    - key: 12\n      value: hello-meta\n  systemExtensions:\n    officialExtensions: [siderolabs/dummy-module]\n',
  );
}, 60_000);

afterAll(async () => {
  await svc?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(SKIP !== undefined)('disk images as served', () => {
  let nocloudRaw: string;
  let metalOldRaw: string;

  it(`${newest} dual-boot: EFI (UKI-sized), BIOS, BOOT, META on a 4247 MiB disk that sgdisk and sfdisk accept`, async () => {
    nocloudRaw = await rawFromTarGz(id, newest, 'nocloud', 'nocloud-newest');
    expect(statSync(nocloudRaw).size).toBe(4247 * MIB);
    expect(sgdiskVerify(nocloudRaw).clean).toBe(true);
    const table = sfdiskDump(nocloudRaw);
    expect(table.header.label).toBe('gpt');
    expect(table.header['label-id']).toBe(guidFromLabel('talos-image-disk'));
    expect(table.partitions.map((p) => [p.name, p.type, p.size * 512 / MIB, p.uuid])).toEqual([
      ['EFI', EFI, 2101, guidFromLabel('EFI')],
      ['BIOS', BIOS, 1, guidFromLabel('BIOS')],
      ['BOOT', LINUX, 2000, guidFromLabel('BOOT')],
      ['META', LINUX, 1, guidFromLabel('META')],
    ]);
    expect(table.partitions[1]!.attrs).toContain('LegacyBIOSBootable');
    // GRUB's boot.img is the MBR boot code; the protective partition table stays.
    expect(readFileRange(nocloudRaw, 0, 3).toString('hex')).toBe('eb6390');
    expect(readFileRange(nocloudRaw, 510, 2).toString('hex')).toBe('55aa');
  });

  it('the ESP holds systemd-boot, the UKI and loader.conf; BOOT is a clean XFS; META has the values', () => {
    const [efi, , boot, meta] = partitions(nocloudRaw);
    const esp = extractPartition(nocloudRaw, efi!.start, efi!.size, 'esp-newest.img');
    const fsck = fsckFat(esp);
    expect(fsck.status, fsck.stdout + fsck.stderr).toBe(0);
    expect(mdirPaths(esp)).toEqual(['EFI/', 'EFI/Linux/', `EFI/Linux/Talos-${newest}.efi`, 'EFI/boot/', 'EFI/boot/BOOTX64.efi', 'loader/', 'loader/loader.conf']);
    const bootImg = extractPartition(nocloudRaw, boot!.start, boot!.size, 'boot-newest.img');
    execFileSync('xfs_repair', ['-n', '-f', bootImg], { stdio: 'pipe' });
    const metaPart = readFileRange(nocloudRaw, meta!.start * 512, meta!.size * 512);
    expect(Object.fromEntries(readTalosMetaStrings(metaPart))).toEqual({ 12: 'hello-meta', 17: 'dual-boot' });
  });

  it('the qcow2 (8 KiB clusters) holds the same disk as the raw', async () => {
    const qcow2 = (await download(`${svc.url}/image/${id}/${newest}/nocloud-amd64.qcow2`, 'nocloud.qcow2')).file;
    execFileSync('qemu-img', ['check', qcow2]);
    expect(execFileSync('qemu-img', ['info', qcow2], { encoding: 'utf8' })).toMatch(/cluster_size: 8192/);
    execFileSync('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', nocloudRaw, qcow2]);

  });

  it(`${oldest} GRUB: EFI 100 MiB, BIOS, BOOT, META, STATE and EPHEMERAL on the 1246 MiB metal disk`, async () => {
    const raw = await rawFromTarGz(id, oldest, 'metal', 'metal-oldest');
    metalOldRaw = raw;
    expect(statSync(raw).size).toBe(1246 * MIB);
    expect(sgdiskVerify(raw).clean).toBe(true);
    const parts = partitions(raw);
    expect(parts.map((p) => p.name)).toEqual(['EFI', 'BIOS', 'BOOT', 'META', 'STATE', 'EPHEMERAL']);
    expect(parts.slice(0, 5).map((p) => (p.size * 512) / MIB)).toEqual([100, 1, 1000, 1, 100]);
    const esp = extractPartition(raw, parts[0]!.start, parts[0]!.size, 'esp-oldest.img');
    expect(fsckFat(esp).status).toBe(0);
    expect(mdirPaths(esp)).toEqual(['EFI/', 'EFI/boot/', 'EFI/boot/BOOTX64.efi']);
    execFileSync('xfs_repair', ['-n', '-f', extractPartition(raw, parts[2]!.start, parts[2]!.size, 'boot-oldest.img')], { stdio: 'pipe' });
    const metaPart = readFileRange(raw, parts[3]!.start * 512, parts[3]!.size * 512);
    expect(Object.fromEntries(readTalosMetaStrings(metaPart))).toEqual({ 12: 'hello-meta' });
  });

  it(`${oldest}: the VHD (dynamic: metal's profile has no vpc options) and the OVA's stream-optimized VMDK hold the same disk as the raw`, async () => {
    const vhd = await download(`${svc.url}/image/${id}/${oldest}/metal-amd64.vhd`, 'metal.vhd');
    expect(readFileRange(vhd.file, 0, 8).toString('latin1')).toBe('conectix');
    expect(readFileRange(vhd.file, 60, 4).readUInt32BE(0)).toBe(3); // dynamic
    expect(statSync(vhd.file).size).toBeLessThan(1246 * MIB);
    execFileSync('qemu-img', ['compare', '-f', 'raw', '-F', 'vpc', metalOldRaw, vhd.file]);

    const ova = await download(`${svc.url}/image/${id}/${oldest}/metal-amd64.ova`, 'metal.ova');
    expect(execFileSync('tar', ['-tf', ova.file], { encoding: 'utf8' })).toBe('disk.ovf\ndisk.mf\ndisk.vmdk\n');
    const dir = join(work, 'ova');
    mkdirSync(dir);
    execFileSync('tar', ['-xf', ova.file, '-C', dir]);
    const sha = (f: string) => createHash('sha256').update(readFileSync(join(dir, f))).digest('hex');
    expect(readFileSync(join(dir, 'disk.mf'), 'utf8')).toBe(`SHA256(disk.vmdk)= ${sha('disk.vmdk')}\nSHA256(disk.ovf)= ${sha('disk.ovf')}\n`);
    expect(readFileSync(join(dir, 'disk.ovf'), 'utf8')).toContain('ovf:key="talos.config"');
    execFileSync('qemu-img', ['check', join(dir, 'disk.vmdk')]);
    execFileSync('qemu-img', ['compare', '-f', 'raw', '-F', 'vmdk', metalOldRaw, join(dir, 'disk.vmdk')]);
  }, 180_000);

  it('a schematic asking for sd-boot gets EFI and META only, and the same bytes from another instance', async () => {
    const sd = await createSchematic('customization:\n  bootloader: sd-boot\n');
    const raw = await rawFromTarGz(sd, newest, 'metal', 'metal-sd');
    expect(statSync(raw).size).toBe(2246 * MIB);
    expect(partitions(raw).map((p) => [p.name, (p.size * 512) / MIB])).toEqual([
      ['EFI', 2101],
      ['META', 1],
    ]);
    expect(readFileRange(raw, 0, 446).equals(Buffer.alloc(446))).toBe(true);
    const first = createHash('sha256').update(readFileSync(join(work, 'metal-sd', 'disk.raw.tar.gz'))).digest('hex');
    const other = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir });
    try {
      await fetch(`${other.url}/schematics`, { method: 'POST', body: 'customization:\n  bootloader: sd-boot\n' });
      const res = await fetch(`${other.url}/image/${sd}/${newest}/metal-amd64.raw.tar.gz`);
      expect(createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex')).toBe(first);
    } finally {
      await other.stop();
    }
  });

  it('answers every compression with its content type', async () => {
    for (const [suffix, type, magic] of [
      ['raw.zst', 'application/octet-stream', '28b52ffd'],
      ['raw.xz', 'application/x-xz', 'fd377a58'],
      ['raw.gz', 'application/gzip', '1f8b'],
    ] as const) {
      const res = await fetch(`${svc.url}/image/${id}/${oldest}/metal-amd64.${suffix}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(type);
      const head = Buffer.from(await res.arrayBuffer()).subarray(0, magic.length / 2).toString('hex');
      expect(head).toBe(magic);
    }
    // Three 1246 MiB disks through zstd -18, xz and gzip: about a minute on two busy cores.
  }, 180_000);

  it('diskImage.sectorSize 4096: the GPT, the ESP and BOOT in 4 KiB sectors; other sizes are refused', async () => {
    const k4 = await createSchematic('customization:\n  diskImage:\n    sectorSize: 4096\n');
    const raw = await rawFromTarGz(k4, newest, 'metal', 'metal-4k');
    const listing = fdiskList(raw, 4096);
    expect(listing.partitions.map((p) => [p.name, (p.sectors * 4096) / MIB])).toEqual([
      ['EFI', 2101],
      ['BIOS', 1],
      ['BOOT', 2000],
      ['META', 1],
    ]);
    const [efi, , boot] = listing.partitions;
    const esp = join(work, 'esp-4k.img');
    execFileSync('dd', [`if=${raw}`, `of=${esp}`, 'bs=4096', `skip=${efi!.start}`, `count=${efi!.sectors}`, 'conv=sparse', 'status=none']);
    const fsck = fsckFat(esp);
    expect(fsck.status, fsck.stdout + fsck.stderr).toBe(0);
    expect(readFileRange(esp, 11, 2).readUInt16LE(0)).toBe(4096);
    expect(mdirPaths(esp)).toContain(`EFI/Linux/Talos-${newest}.efi`);
    const bootImg = join(work, 'boot-4k.img');
    execFileSync('dd', [`if=${raw}`, `of=${bootImg}`, 'bs=4096', `skip=${boot!.start}`, `count=${boot!.sectors}`, 'conv=sparse', 'status=none']);
    execFileSync('xfs_repair', ['-n', '-f', bootImg], { stdio: 'pipe' });
    expect(execFileSync('xfs_db', ['-r', '-c', 'sb 0', '-c', 'p sectsize', bootImg], { encoding: 'utf8' })).toBe('sectsize = 4096\n');

    const odd = await createSchematic('customization:\n  diskImage:\n    sectorSize: 1024\n');
    const res = await fetch(`${svc.url}/image/${odd}/${newest}/metal-amd64.raw.zst`);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('use 512 or 4096');
  });
});
