// Every platform of Talos' disk image profile table (talos-imager.md §1.1),
// asked for as a user of the public factory would: `<platform>-amd64.<disk>`
// in the platform's own disk format, for the newest development release
// (dual-boot, so each disk is the profile's size + BIOS + 2 x BOOT). The
// table below is written from the reference, not taken from the code under
// test. Raw and VHD disks are fetched as `.tar.gz` (a sparse `disk.raw`, GCP's
// format and the cheap way to move a mostly empty multi-GiB disk; GNU tar
// restores the holes), qcow2 and OVA as they are. Each answer must have
// upstream's content type, and what it holds upstream's size and the
// oracles' approval: GNU sgdisk and sfdisk on the partition table, qemu-img
// on the qcow2 and on the OVA's VMDK, the VHD's own footer.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSchematic, downloadRawDisk, downloadTo } from '../helpers/assets.js';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { readFileRange } from '../helpers/disk-fixtures.js';
import { diskToolsSkipReason, qemuImgCheck, qemuImgInfo, sfdiskDump, sgdiskVerify } from '../helpers/disk-oracle.js';
import { startService, type ServiceProcess } from '../helpers/server.js';

const release = await ensureDevRelease();
const newest = release.versions.at(-1)!;
const SKIP = diskToolsSkipReason(['sgdisk', 'sfdisk', 'qemu-img', 'tar']);
const MIB = 1024 * 1024;
/** BIOS (1 MiB) and BOOT (2000 MiB from 1.11) on top of the profile's size, and BOOT's growth from 1000 MiB (§1.2). */
const DUAL_BOOT_GROWTH = (1 + 2000 + 1000) * MIB;

const PROFILES: Array<{ platform: string; mib: number; format: 'raw' | 'qcow2' | 'vhd' | 'ova' }> = [
  { platform: 'metal', mib: 1246, format: 'raw' },
  { platform: 'akamai', mib: 1246, format: 'raw' },
  { platform: 'alibabacloud', mib: 1246, format: 'qcow2' },
  { platform: 'aws', mib: 8192, format: 'raw' },
  { platform: 'azure', mib: 8192, format: 'vhd' },
  { platform: 'cloudstack', mib: 8192, format: 'raw' },
  { platform: 'digital-ocean', mib: 8192, format: 'raw' },
  { platform: 'exoscale', mib: 10240, format: 'qcow2' },
  { platform: 'gcp', mib: 8192, format: 'raw' },
  { platform: 'hcloud', mib: 1246, format: 'raw' },
  { platform: 'nocloud', mib: 1246, format: 'raw' },
  { platform: 'opennebula', mib: 1246, format: 'raw' },
  { platform: 'openstack', mib: 1246, format: 'raw' },
  { platform: 'oracle', mib: 8192, format: 'qcow2' },
  { platform: 'scaleway', mib: 1246, format: 'raw' },
  { platform: 'upcloud', mib: 8192, format: 'raw' },
  { platform: 'vultr', mib: 8192, format: 'raw' },
  { platform: 'vmware', mib: 8192, format: 'ova' },
];
/** What each format is asked for as, and upstream's content type for that name. */
const ASKED = {
  raw: { suffix: 'raw.tar.gz', type: 'application/gzip' },
  vhd: { suffix: 'vhd.tar.gz', type: 'application/gzip' },
  qcow2: { suffix: 'qcow2', type: 'application/x-qemu-disk' },
  ova: { suffix: 'ova', type: 'application/octet-stream' },
};

const work = mkdtempSync(join(tmpdir(), 'disk-platforms-'));
let svc: ServiceProcess;
let id: string;

beforeAll(async () => {
  if (SKIP) return;
  svc = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir });
  id = await createSchematic(svc, 'customization:\n  extraKernelArgs: [factory.test=disk-platforms]\n');
}, 60_000);

afterAll(async () => {
  await svc?.stop();
  rmSync(work, { recursive: true, force: true });
});

function expectDualBootGpt(file: string): void {
  const verify = sgdiskVerify(file);
  expect(verify.clean, verify.output).toBe(true);
  expect(sfdiskDump(file).partitions.map((p) => p.name)).toEqual(['EFI', 'BIOS', 'BOOT', 'META']);
}

describe.skipIf(SKIP !== undefined)(`every platform's disk image (${newest})`, () => {
  for (const { platform, mib, format } of PROFILES) {
    const { suffix, type } = ASKED[format];
    it(`${platform}-amd64.${suffix}: ${mib} MiB + BIOS + BOOT, ${type}`, async () => {
      const url = `${svc.url}/image/${id}/${newest}/${platform}-amd64.${suffix}`;
      const size = mib * MIB + DUAL_BOOT_GROWTH;
      switch (format) {
        case 'raw': {
          const raw = await downloadRawDisk(url, join(work, platform));
          expect(statSync(raw).size).toBe(size);
          expectDualBootGpt(raw);
          break;
        }
        case 'vhd': {
          // Fixed with force_size: the disk, then a 512-byte footer that says so.
          const vhd = await downloadRawDisk(url, join(work, platform));
          expect(statSync(vhd).size).toBe(size + 512);
          const footer = readFileRange(vhd, size, 512);
          expect(footer.subarray(0, 8).toString('latin1')).toBe('conectix');
          expect(footer.readUInt32BE(60)).toBe(2); // fixed
          expect(Number(footer.readBigUInt64BE(48))).toBe(size); // current size
          expect(qemuImgInfo(vhd, 'vpc')['virtual-size']).toBe(size);
          truncateSync(vhd, size);
          expectDualBootGpt(vhd);
          break;
        }
        case 'qcow2': {
          const file = join(work, `${platform}.qcow2`);
          expect(await downloadTo(url, file)).toBe(type);
          expect(qemuImgCheck(file, 'qcow2').status).toBe(0);
          expect(qemuImgInfo(file, 'qcow2')).toMatchObject({ 'virtual-size': size, 'cluster-size': 8192 });
          const raw = join(work, `${platform}.raw`);
          execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', file, raw]);
          expectDualBootGpt(raw);
          rmSync(raw);
          break;
        }
        case 'ova': {
          const file = join(work, `${platform}.ova`);
          expect(await downloadTo(url, file)).toBe(type);
          expect(execFileSync('tar', ['-tf', file], { encoding: 'utf8' })).toBe('disk.ovf\ndisk.mf\ndisk.vmdk\n');
          execFileSync('tar', ['-xf', file, '-C', work, 'disk.vmdk', 'disk.ovf']);
          expect(qemuImgCheck(join(work, 'disk.vmdk'), 'vmdk').status).toBe(0);
          expect(qemuImgInfo(join(work, 'disk.vmdk'), 'vmdk')['virtual-size']).toBe(size);
          expect(readFileSync(join(work, 'disk.ovf'), 'utf8')).toContain(`ovf:capacity="${size / MIB}"`);
          break;
        }
      }
      rmSync(join(work, platform), { recursive: true, force: true });
    }, 120_000);
  }
});
