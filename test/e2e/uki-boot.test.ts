// Our UKI assembler and FAT writer together, booted by OVMF under QEMU (TCG):
// the development release's systemd-stub, kernel and initramfs assembled into
// a UKI, put on an ESP, and the release's init reports on the serial console.
//
// - the ESP laid out like Talos' ISO ESP (systemd-boot as BOOTX64.EFI, the
//   UKI in EFI/Linux under its long name, loader/loader.conf, a read-only
//   loader/random-seed), written by our FAT writer: systemd-boot finds the
//   UKI and boots it;
// - the same UKI as BOOTX64.EFI on an ESP made by mkfs.vfat + mcopy, so the
//   PE is judged without our FAT writer;
// - a pre-1.10 UKI (no profiles, xz initramfs) as BOOTX64.EFI on our ESP.
//
// The ESPs are whole-disk FAT volumes (no partition table); OVMF boots those.

import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { extraUkiProfiles, talosUkiSections } from '../../src/build/uki/sections.js';
import { writeFat } from '../../src/formats/fat/index.js';
import { FileTree } from '../../src/formats/file-tree.js';
import { PeFile, assembleUki } from '../../src/formats/pe/index.js';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { fatToolsSkipReason, makeMtoolsFat } from '../helpers/fat-oracle.js';
import { OVMF_FD, bootQemu, qemuSkipReason } from '../helpers/qemu.js';
import { skipUnlessCi } from '../helpers/tool-skip.js';

const release = await ensureDevRelease();
const newest = release.versions.at(-1)!;
const oldest = release.versions[0]!;
const EPOCH = 1_700_000_000;

const { systemdStub: stub, systemdBoot: sdBoot } = release.boot[newest]!;
const SKIP = qemuSkipReason() ?? skipUnlessCi(existsSync(OVMF_FD) ? undefined : `${OVMF_FD} is missing (apt-get install ovmf): UKI boot tests skipped`);
const MTOOLS_SKIP = SKIP ?? fatToolsSkipReason(['mkfs.vfat', 'mmd', 'mcopy']);

const work = mkdtempSync(join(tmpdir(), 'uki-boot-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const CMDLINE = 'console=ttyS0 factory.test=uki-boot';
const newestUki = join(work, 'newest.efi');
const oldestUki = join(work, 'oldest.efi');
let stubMajor = 0;

async function buildUki(version: string, out: string): Promise<void> {
  const boot = release.boot[version]!;
  const sections = await talosUkiSections({ version, kernel: boot.kernel, initrd: boot.initramfs, cmdline: CMDLINE, profiles: extraUkiProfiles('iso', CMDLINE) });
  await assembleUki({ stub: boot.systemdStub, sections, timestamp: EPOCH }, out);
}

beforeAll(async () => {
  if (SKIP) return;
  await buildUki(newest, newestUki);
  await buildUki(oldest, oldestUki);
  // systemd-stub names itself in .sdmagic: "#### LoaderInfo: systemd-stub 252.39-1~deb12u2 ####".
  const magic = String(await (await PeFile.open(stub)).readSection('.sdmagic'));
  stubMajor = Number(/systemd-stub (\d+)/.exec(magic)?.[1] ?? 0);
});

/**
 * The command line the kernel should get from a multi-profile UKI: stubs that
 * know profiles (systemd 257+) boot profile 0, "main", which has no
 * `.cmdline` of its own, so the base one applies; older stubs know nothing of
 * profiles and, scanning the whole section table, keep the last `.cmdline`,
 * the reset profile's.
 */
function multiProfileCmdline(): string {
  return stubMajor >= 257 ? CMDLINE : extraUkiProfiles('iso', CMDLINE)[0]!.cmdline!;
}

/** A firmware boot with the release's report: 5-10 s here. */
const BOOT_TIMEOUT = 120_000;

async function bootEsp(esp: string, version: string, cmdline: string, firmwareSays?: RegExp): Promise<void> {
  const result = await bootQemu({ args: ['-bios', OVMF_FD, '-drive', `file=${esp},format=raw,if=virtio,snapshot=on`], timeoutMs: BOOT_TIMEOUT - 10_000 });
  const tail = result.console.slice(-3000);
  expect(result.report.status, tail).toBe('ok');
  expect(result.report.talos, tail).toBe(version);
  expect(result.report.kernel, tail).toBe(release.kernel.release);
  expect(result.report.cmdline, tail).toBe(cmdline);
  if (firmwareSays) expect(result.console).toMatch(firmwareSays);
}

describe.skipIf(SKIP !== undefined)('UKIs boot with OVMF', () => {
  it('carries the kernel release the bzImage announces in .uname', async () => {
    const pe = await PeFile.open(newestUki);
    expect(String(await pe.readSection('.uname'))).toBe(release.kernel.release);
    expect(pe.sectionsNamed('.profile')).toHaveLength(2);
    expect((await PeFile.open(oldestUki)).sectionsNamed('.profile')).toHaveLength(0);
  });

  it('systemd-boot boots the multi-profile UKI from EFI/Linux on our ESP laid out like Talos ISO ESPs', async () => {
    const tree = new FileTree();
    tree.file('EFI/BOOT/BOOTX64.EFI', { path: sdBoot });
    tree.file(`EFI/Linux/Talos-${newest}.efi`, { path: newestUki });
    // Talos writes `timeout 10` too; no menu wait here.
    tree.file('loader/loader.conf', { data: Buffer.from('timeout 0\nsecure-boot-enroll off\n') });
    tree.file('loader/random-seed', { data: Buffer.alloc(32) }, { mode: 0o444 });
    const esp = join(work, 'esp-sdboot.img');
    await writeFat(tree, esp, { label: 'EFI', timestamp: EPOCH });
    await bootEsp(esp, newest, multiProfileCmdline(), /UEFI QEMU HARDDISK|BdsDxe/);
  }, BOOT_TIMEOUT);

  it.skipIf(MTOOLS_SKIP !== undefined)('the same UKI boots as BOOTX64.EFI from an ESP made by mkfs.vfat + mcopy', async () => {
    const esp = join(work, 'esp-mtools.img');
    makeMtoolsFat(esp, Math.ceil(statSync(newestUki).size / 1024) + 40 * 1024, { 'EFI/BOOT/BOOTX64.EFI': newestUki }, { label: 'EFI' });
    await bootEsp(esp, newest, multiProfileCmdline());
  }, BOOT_TIMEOUT);

  it('a pre-1.10 UKI (no profiles) boots as BOOTX64.EFI from our ESP with its one command line', async () => {
    const tree = new FileTree();
    tree.file('EFI/BOOT/BOOTX64.EFI', { path: oldestUki });
    const esp = join(work, 'esp-oldest.img');
    await writeFat(tree, esp, { label: 'EFI', timestamp: EPOCH });
    await bootEsp(esp, oldest, CMDLINE);
  }, BOOT_TIMEOUT);
});
