// The factory serves arm64: with the development release's arm64 inputs (the
// imager's usr/install/arm64, per-platform installer bases and extension
// images), a schematic gets
// - an installer index for linux/amd64 and linux/arm64 at /v2, whose arm64
//   image (skopeo --override-arch arm64) holds arm64 systemd-boot and a UKI
//   around the arm64 kernel;
// - kernel-arm64 and initramfs-arm64.xz, which boot on QEMU's virt machine;
// - metal-arm64-uki.efi, an AArch64 UKI (no .uname: not a bzImage);
// - metal-arm64.iso, systemd-boot only (one UEFI El Torito entry, BOOTAA64.EFI
//   in its ESP), which AAVMF boots from disk and from CD to the release's
//   report (qemu-system-aarch64, TCG); before Talos 1.10 a GRUB arm64-efi ISO.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PeFile } from '../../src/formats/pe/index.js';
import { FIRMWARE_BOOT_TIMEOUT, createSchematic, downloadTo, expectBootedWith } from '../helpers/assets.js';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { fatToolsSkipReason, mdirPaths } from '../helpers/fat-oracle.js';
import { isoToolsSkipReason, sfdiskJson, xorrisoReport } from '../helpers/iso-oracle.js';
import { bootQemu, qemuSkipReason } from '../helpers/qemu.js';
import { startService, type ServiceProcess } from '../helpers/server.js';
import { readInitramfs, readUki } from '../helpers/uki-contents.js';

const release = await ensureDevRelease();
const VERSION = 'v1.12.0';
const MARKER = 'factory.test=arm64';
const SCHEMATIC = `customization:\n  extraKernelArgs: [console=ttyAMA0, ${MARKER}]\n  systemExtensions:\n    officialExtensions: [siderolabs/dummy-module]\n`;
const SKIP = qemuSkipReason('arm64') ?? isoToolsSkipReason(['xorriso', 'sfdisk']) ?? fatToolsSkipReason(['mdir']);

const work = mkdtempSync(join(tmpdir(), 'arm64-assets-'));
let svc: ServiceProcess;
let id: string;

beforeAll(async () => {
  svc = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir });
  id = await createSchematic(svc, SCHEMATIC);
}, 60_000);

afterAll(async () => {
  await svc?.stop();
  rmSync(work, { recursive: true, force: true });
});

const downloads = new Map<string, Promise<string>>();
/** The served asset in a file, downloaded once (the boot tests reuse what the content tests fetched). */
function served(name: string, version = VERSION): Promise<string> {
  let pending = downloads.get(`${version}/${name}`);
  if (!pending) {
    const file = join(work, `${version}-${name}`);
    pending = downloadTo(`${svc.url}/image/${id}/${version}/${name}`, file).then(() => file);
    downloads.set(`${version}/${name}`, pending);
  }
  return pending;
}

/** Off the event loop: the service builds while skopeo waits. */
const run = async (command: string, args: string[]): Promise<string> => (await promisify(execFile)(command, args, { encoding: 'utf8', maxBuffer: 1 << 26 })).stdout;

const arm64 = release.arches.arm64;
const ARM64_PE = 0xaa64;

async function peMachine(path: string): Promise<number> {
  return (await PeFile.open(path)).headers.coff.machine;
}

describe('installer images cover linux/arm64', () => {
  it('the installer index lists linux/amd64 and linux/arm64; skopeo pulls the arm64 image with arm64 systemd-boot and UKI', async () => {
    const res = await fetch(`${svc.url}/v2/installer/${id}/manifests/${VERSION}`, {
      headers: { accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' },
    });
    const body = await res.text();
    expect(res.status, body).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.oci.image.index.v1+json');
    const index = JSON.parse(body) as { manifests: Array<{ platform: { os: string; architecture: string } }> };
    expect(index.manifests.map((m) => m.platform)).toEqual([
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ]);

    const ref = `docker://${new URL(svc.url).host}/installer/${id}:${VERSION}`;
    const inspect = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', '--override-arch', 'arm64', ref])) as { Architecture: string; Layers: string[] };
    expect(inspect.Architecture).toBe('arm64');
    expect(inspect.Layers).toHaveLength(2);
    const dir = join(work, 'installer-arm64');
    await run('skopeo', ['copy', '--src-tls-verify=false', '--override-arch', 'arm64', ref, `dir:${dir}`]);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { layers: Array<{ digest: string }> };
    const root = join(work, 'installer-arm64-root');
    for (const layer of manifest.layers) await run('sh', ['-c', 'mkdir -p "$1" && tar -xzf "$0" -C "$1"', join(dir, layer.digest.replace('sha256:', '')), root]);

    const install = join(root, 'usr/install/arm64');
    expect(await peMachine(join(install, 'systemd-boot.efi'))).toBe(ARM64_PE);
    expect(await peMachine(join(install, 'vmlinuz.efi'))).toBe(ARM64_PE);
    // The base is the arm64 installer-base: its busybox is AArch64 (ELF e_machine 183).
    expect(readFileSync(join(root, 'usr/bin/busybox')).readUInt16LE(18)).toBe(183);
    const uki = await readUki(join(install, 'vmlinuz.efi'));
    expect(uki.linux.equals(readFileSync(arm64.boot[VERSION]!.kernel))).toBe(true);
    expect(uki.cmdlines[0]).toContain('console=ttyAMA0');
    expect(uki.cmdlines[0]).toContain(MARKER);
    expect(uki.sections).not.toContain('.uname');
  }, 300_000);
});

describe('boot assets for arm64', () => {
  it('kernel-arm64 is the release arm64 kernel; initramfs-arm64.xz is its initramfs plus the extensions', async () => {
    const kernel = await served('kernel-arm64');
    expect(readFileSync(kernel).equals(readFileSync(arm64.boot[VERSION]!.kernel))).toBe(true);
    const bytes = readFileSync(await served('initramfs-arm64.xz'));
    const base = readFileSync(arm64.boot[VERSION]!.initramfs);
    expect(bytes.subarray(0, base.length).equals(base)).toBe(true);
    const contents = await readInitramfs(bytes);
    expect(contents.segments.flatMap((s) => s.names)).toEqual(expect.arrayContaining(['extensions.yaml', 'modules.dep.sqsh']));
  }, 120_000);

  it('metal-arm64-uki.efi is an AArch64 UKI around the arm64 kernel with the schematic command line', async () => {
    const file = await served('metal-arm64-uki.efi');
    expect(await peMachine(file)).toBe(ARM64_PE);
    const uki = await readUki(file);
    // No .uname (an arm64 kernel has no bzImage header to read it from), and no extra profile for a -uki.efi download.
    expect(uki.sections.slice(uki.sections.indexOf('.osrel'))).toEqual(['.osrel', '.cmdline', '.linux', '.initrd', '.profile']);
    expect(uki.linux.equals(readFileSync(arm64.boot[VERSION]!.kernel))).toBe(true);
    expect(uki.cmdlines[0]).toMatch(/^talos\.platform=metal console=ttyAMA0 /);
    expect(uki.cmdlines[0]).toContain(MARKER);
  }, 120_000);

  it('metal-arm64.iso is systemd-boot only: one UEFI El Torito entry, BOOTAA64.EFI and the UKI in its ESP', async () => {
    if (SKIP) return;
    const iso = await served('metal-arm64.iso');
    const report = xorrisoReport(iso);
    expect(report.bootImages.map((b) => b.platform)).toEqual(['UEFI']);
    const table = sfdiskJson(iso);
    const esp = table.partitions.find((p) => p.type.toUpperCase() === 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B' || p.type === 'ef');
    expect(esp, JSON.stringify(table)).toBeDefined();
    const paths = mdirPaths(iso, esp!.start * 512);
    expect(paths).toEqual(expect.arrayContaining(['EFI/BOOT/BOOTAA64.EFI', `EFI/Linux/Talos-${VERSION}.efi`, 'loader/loader.conf']));
    expect(paths.filter((p) => /BOOTX64|grub/i.test(p))).toEqual([]);
  }, 300_000);
});

const BOOT_TIMEOUT = FIRMWARE_BOOT_TIMEOUT + 60_000;

describe.skipIf(SKIP !== undefined)(`arm64 boots under TCG ${SKIP ? `(${SKIP})` : ''}`, () => {
  it('kernel-arm64 + initramfs-arm64.xz boot on the virt machine to the report with the extension', async () => {
    const cmdline = (await (await fetch(`${svc.url}/image/${id}/${VERSION}/cmdline-metal-arm64`)).text()).trim();
    const result = await bootQemu({ arch: 'arm64', kernel: await served('kernel-arm64'), initrd: await served('initramfs-arm64.xz'), append: cmdline, timeoutMs: 110_000 });
    expectBootedWith(result, VERSION, 'metal', MARKER);
    expect(result.report.kernel).toBe(arm64.kernel.release);
    console.log(`arm64 direct kernel boot: ${(result.durationMs / 1000).toFixed(1)} s`);
  }, 120_000);

  for (const [way, media] of [
    ['from disk', (iso: string) => ['-drive', `file=${iso},format=raw,if=virtio,snapshot=on`]],
    ['from CD', (iso: string) => ['-device', 'virtio-scsi-pci', '-drive', `file=${iso},format=raw,if=none,id=cd,media=cdrom,readonly=on`, '-device', 'scsi-cd,drive=cd']],
  ] as const) {
    it(`AAVMF boots the served metal-arm64.iso ${way}: systemd-boot, then the UKI, to the report`, async () => {
      const result = await bootQemu({ arch: 'arm64', args: [...media(await served('metal-arm64.iso'))], timeoutMs: BOOT_TIMEOUT - 10_000 });
      expectBootedWith(result, VERSION, 'metal', MARKER);
      expect(result.report.kernel).toBe(arm64.kernel.release);
      expect(result.report.cmdline).toContain('console=ttyAMA0');
      console.log(`arm64 ISO boot ${way}: ${(result.durationMs / 1000).toFixed(1)} s`);
    }, BOOT_TIMEOUT);
  }

  it(`before 1.10 (${release.versions[0]}) metal-arm64.iso is GRUB's arm64-efi, which AAVMF boots from disk to the report`, async () => {
    const version = release.versions[0]!;
    const iso = await served('metal-arm64.iso', version);
    expect(xorrisoReport(iso).bootImages.map((b) => b.platform)).toEqual(['UEFI']);
    const result = await bootQemu({ arch: 'arm64', args: ['-drive', `file=${iso},format=raw,if=virtio,snapshot=on`], timeoutMs: BOOT_TIMEOUT - 10_000 });
    expectBootedWith(result, version, 'metal', MARKER);
    expect(result.report.kernel).toBe(arm64.kernel.release);
    console.log(`arm64 GRUB ISO boot from disk: ${(result.durationMs / 1000).toFixed(1)} s`);
  }, BOOT_TIMEOUT);
});
