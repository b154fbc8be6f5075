// The ISO a user downloads, booted the four ways it gets used: as a CD-ROM and
// as a USB stick / hard disk, under SeaBIOS and under OVMF (QEMU, TCG). For
// the newest development release that is GRUB for BIOS and systemd-boot + UKI
// for UEFI (dual-boot); for the older one GRUB both ways. Each boot must reach
// the release's report with the schematic's extension, kernel arguments and
// META values (an ISO carries them on its command line, as
// talos.environment=INSTALLER_META_BASE64=...); the disk it boots from
// has no META partition.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIRMWARE_BOOT_TIMEOUT, createSchematic, downloadTo, expectBootedWith } from '../helpers/assets.js';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { OVMF_FD, bootQemu, qemuSkipReason } from '../helpers/qemu.js';
import { startService, type ServiceProcess } from '../helpers/server.js';

const release = await ensureDevRelease();
const SKIP = qemuSkipReason();
const work = mkdtempSync(join(tmpdir(), 'iso-assets-boot-'));
let svc: ServiceProcess;
let id: string;
const isos = new Map<string, string>();

beforeAll(async () => {
  if (SKIP) return;
  svc = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir });
  id = await createSchematic(
    svc,
    'customization:\n  extraKernelArgs: [console=ttyS0, factory.test=iso-boot]\n  meta:\n    - key: 12\n      value: iso-boot meta\n  systemExtensions:\n    officialExtensions: [siderolabs/dummy-module]\n',
  );
  for (const version of release.versions) {
    const file = join(work, `metal-${version}.iso`);
    await downloadTo(`${svc.url}/image/${id}/${version}/metal-amd64.iso`, file);
    isos.set(version, file);
  }
}, 300_000);

afterAll(async () => {
  await svc?.stop();
  rmSync(work, { recursive: true, force: true });
});

const BOOT_TIMEOUT = FIRMWARE_BOOT_TIMEOUT;

const WAYS = [
  { name: 'SeaBIOS from CD', firmware: [], media: (iso: string) => ['-cdrom', iso] },
  { name: 'SeaBIOS from disk', firmware: [], media: (iso: string) => ['-drive', `file=${iso},format=raw,snapshot=on`] },
  { name: 'OVMF from CD', firmware: ['-bios', OVMF_FD], media: (iso: string) => ['-cdrom', iso] },
  { name: 'OVMF from disk', firmware: ['-bios', OVMF_FD], media: (iso: string) => ['-drive', `file=${iso},format=raw,snapshot=on`] },
];

describe.skipIf(SKIP !== undefined)('served metal ISOs boot on BIOS and UEFI, from CD and from disk', () => {
  for (const version of release.versions) {
    for (const way of WAYS) {
      it(`${version}: ${way.name}`, async () => {
        const result = await bootQemu({ args: [...way.firmware, ...way.media(isos.get(version)!)], timeoutMs: BOOT_TIMEOUT - 10_000 });
        expectBootedWith(result, version, 'metal', 'factory.test=iso-boot');
        expect(result.report.meta).toEqual([{ key: '0xc', value: 'iso-boot meta' }]);
        expect(result.report.metaPartition).toBeUndefined();
      }, BOOT_TIMEOUT);
    }
  }
});
