// Disk images as cloud and VM users boot them: the served metal raw disk
// under SeaBIOS (GRUB's MBR code → core image → BOOT) and OVMF (systemd-boot
// → UKI for dual-boot, GRUB's EFI image for the GRUB layout), and the nocloud
// qcow2 under both, and a 4Kn disk image on a 4 KiB-sector disk. Each boot
// must reach the development release's report with the schematic's extension
// and kernel arguments, and the report must have read the schematic's META
// values from the booted disk's META partition (they are not on the command
// line of a disk image), checksum intact.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIRMWARE_BOOT_TIMEOUT, createSchematic, downloadRawDisk, downloadTo, expectBootedWith } from '../helpers/assets.js';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { OVMF_FD, bootQemu, qemuSkipReason } from '../helpers/qemu.js';
import { startService, type ServiceProcess } from '../helpers/server.js';

const release = await ensureDevRelease();
const [oldest, newest] = [release.versions[0]!, release.versions.at(-1)!];
const SKIP = qemuSkipReason();
const work = mkdtempSync(join(tmpdir(), 'disk-boot-'));
let svc: ServiceProcess;
let id: string;

async function download(path: string, name: string, schematic = id): Promise<string> {
  const file = join(work, name);
  await downloadTo(`${svc.url}/image/${schematic}/${path}`, file);
  return file;
}

function rawDisk(version: string, platform: string, schematic = id, name = `${platform}-${version}`): Promise<string> {
  return downloadRawDisk(`${svc.url}/image/${schematic}/${version}/${platform}-amd64.raw.tar.gz`, join(work, name));
}

// Two values, one with a space and a quote, so the report's reading of the ADV is judged on more than one tag.
const META = "  meta:\n    - key: 12\n      value: disk-boot meta\n    - key: 10\n      value: '{\"externalIPs\":[\"1.2.3.4\"]}'\n";

const disks = new Map<string, { file: string; format: string }>();

beforeAll(async () => {
  if (SKIP) return;
  svc = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir });
  id = await createSchematic(svc, `customization:\n  extraKernelArgs: [console=ttyS0, factory.test=disk-boot]\n${META}  systemExtensions:\n    officialExtensions: [siderolabs/dummy-module]\n`);
  disks.set(`metal ${newest}`, { file: await rawDisk(newest, 'metal'), format: 'raw' });
  disks.set(`metal ${oldest}`, { file: await rawDisk(oldest, 'metal'), format: 'raw' });
  disks.set(`nocloud ${newest} qcow2`, { file: await download(`${newest}/nocloud-amd64.qcow2`, 'nocloud.qcow2'), format: 'qcow2' });
  const k4Id = await createSchematic(
    svc,
    `customization:\n  extraKernelArgs: [console=ttyS0, factory.test=disk-boot]\n${META}  diskImage:\n    sectorSize: 4096\n  systemExtensions:\n    officialExtensions: [siderolabs/dummy-module]\n`,
  );
  disks.set(`metal ${newest} 4Kn`, { file: await rawDisk(newest, 'metal', k4Id, 'metal-4k'), format: 'raw' });
}, 300_000);

afterAll(async () => {
  await svc?.stop();
  rmSync(work, { recursive: true, force: true });
});

const BOOT_TIMEOUT = FIRMWARE_BOOT_TIMEOUT;

const CASES = [
  { disk: `metal ${newest}`, firmware: 'SeaBIOS', version: newest, platform: 'metal' },
  { disk: `metal ${newest}`, firmware: 'OVMF', version: newest, platform: 'metal' },
  { disk: `metal ${oldest}`, firmware: 'SeaBIOS', version: oldest, platform: 'metal' },
  { disk: `metal ${oldest}`, firmware: 'OVMF', version: oldest, platform: 'metal' },
  { disk: `nocloud ${newest} qcow2`, firmware: 'OVMF', version: newest, platform: 'nocloud' },
  { disk: `nocloud ${newest} qcow2`, firmware: 'SeaBIOS', version: newest, platform: 'nocloud' },
  // A 4Kn disk (diskImage.sectorSize: 4096) on a disk with 4 KiB logical blocks; UEFI only, as on real 4Kn hardware.
  { disk: `metal ${newest} 4Kn`, firmware: 'OVMF', version: newest, platform: 'metal', blockSize: 4096 },
];

describe.skipIf(SKIP !== undefined)('served disk images boot', () => {
  for (const c of CASES) {
    it(`${c.disk} with ${c.firmware}`, async () => {
      const { file, format } = disks.get(c.disk)!;
      const firmware = c.firmware === 'OVMF' ? ['-bios', OVMF_FD] : [];
      const drive = c.blockSize
        ? ['-drive', `file=${file},format=${format},snapshot=on,if=none,id=d0`, '-device', `virtio-blk-pci,drive=d0,logical_block_size=${c.blockSize},physical_block_size=${c.blockSize}`]
        : ['-drive', `file=${file},format=${format},snapshot=on`];
      const result = await bootQemu({ args: [...firmware, ...drive], timeoutMs: BOOT_TIMEOUT - 10_000 });
      expectBootedWith(result, c.version, c.platform, 'factory.test=disk-boot');
      // From 1.10 a dual-boot disk also says which boot loader it was made with (key 0x11); tags are stored by key.
      const dualBoot = c.version === newest ? [{ key: '0x11', value: 'dual-boot' }] : [];
      expect(result.report.metaPartition).toMatchObject({ adv: 'talos', checksum: 'ok' });
      expect(result.report.metaDisk).toEqual([{ key: '0xa', value: '{"externalIPs":["1.2.3.4"]}' }, { key: '0xc', value: 'disk-boot meta' }, ...dualBoot]);
      expect(result.report.meta).toEqual([]);
    }, BOOT_TIMEOUT);
  }
});
