// What a user downloads as metal-amd64.iso and metal-amd64-uki.efi, judged by
// outside tools: xorriso reports the El Torito entries and the hybrid
// partition tables, fsck.fat / mdir / mattrib read the ESP carried as GPT
// partition 2, objdump reads the UKI's sections, and our PE reader gives back
// their contents. The schematic's boot loader choice changes the ISO from
// 1.12 on; the same request on another instance gives the same bytes.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PeFile } from '../../src/formats/pe/index.js';
import { createSchematic as createNewSchematic, downloadTo } from '../helpers/assets.js';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { fatToolsSkipReason, fsckFat, mattribList, mdirPaths, minfo } from '../helpers/fat-oracle.js';
import { isoToolsSkipReason, xorrisoList, xorrisoReport } from '../helpers/iso-oracle.js';
import { startService, type ServiceProcess } from '../helpers/server.js';

const release = await ensureDevRelease();
const [oldest, newest] = [release.versions[0]!, release.versions.at(-1)!];
const SKIP = isoToolsSkipReason(['xorriso']) ?? fatToolsSkipReason(['fsck.fat', 'mdir', 'mattrib', 'minfo']);
// C12A7328-F81F-11D2-BA4B-00A0C93EC93B as xorriso prints it: the GUID's bytes as stored (mixed-endian).
const ESP_TYPE = '28732ac11ff8d211ba4b00a0c93ec93b';
const work = mkdtempSync(join(tmpdir(), 'iso-uki-'));
let svc: ServiceProcess;
let id: string;

const createSchematic = (yaml: string): Promise<string> => createNewSchematic(svc, yaml);

async function download(url: string, name: string): Promise<string> {
  const file = join(work, name);
  await downloadTo(url, file);
  return file;
}

/** GPT partition 2 (the appended ESP) copied out of the ISO. */
async function extractEsp(iso: string): Promise<string> {
  const esp = xorrisoReport(iso).gpt.find((p) => p.number === 2);
  expect(esp, 'no GPT partition 2').toBeDefined();
  const out = `${iso}.esp`;
  await pipeline(createReadStream(iso, { start: esp!.start * 512, end: (esp!.start + esp!.size) * 512 - 1 }), createWriteStream(out));
  return out;
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

beforeAll(async () => {
  if (SKIP) return;
  svc = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir });
  id = await createSchematic('customization:\n  extraKernelArgs: [console=ttyS0, factory.test=iso-assets]\n  systemExtensions:\n    officialExtensions: [siderolabs/dummy-module]\n');
});

afterAll(async () => {
  await svc?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe.skipIf(SKIP !== undefined)('metal ISOs and UKIs as served', () => {
  it(`${newest}: dual-boot hybrid ISO, GRUB for BIOS, systemd-boot + UKI on the appended ESP`, async () => {
    const iso = await download(`${svc.url}/image/${id}/${newest}/metal-amd64.iso`, 'newest.iso');
    const report = xorrisoReport(iso);
    expect(report.bootImages.map((b) => [b.platform, b.emulation])).toEqual([
      ['BIOS', 'none'],
      ['UEFI', 'none'],
    ]);
    expect(report.bootImagePaths[1]).toBe('/boot/grub/i386-pc/eltorito.img');
    expect(report.bootImageOptions[1]).toContain('boot-info-table');
    expect(report.systemAreaSummary).toMatch(/grub2-mbr/);
    expect(report.systemAreaSummary).toMatch(/GPT/);
    expect(report.text).toMatch(/Volume id\s*:\s*'TALOS_V1_12_0'/);
    const espPart = report.gpt.find((p) => p.number === 2)!;
    expect(espPart.type.toLowerCase()).toBe(ESP_TYPE);
    // The UEFI El Torito entry is the appended partition itself.
    expect(report.bootImages[1]!.lba * 4).toBe(espPart.start);

    const paths = xorrisoList(iso).map((e) => e.path);
    for (const path of ['boot/vmlinuz', 'boot/initramfs.xz', 'boot/grub/grub.cfg', 'EFI/BOOT/BOOTX64.EFI', `EFI/Linux/Talos-${newest}.efi`, 'loader/loader.conf', 'loader/random-seed']) {
      expect(paths).toContain(path);
    }
    const grubCfg = execFileSync('xorriso', ['-indev', iso, '-osirrox', 'on', '-extract', '/boot/grub/grub.cfg', join(work, 'grub.cfg')], { stdio: 'pipe' }) && readFileSync(join(work, 'grub.cfg'), 'utf8');
    expect(grubCfg).toMatch(/^set default=0\nset timeout=3\n/);
    expect(grubCfg).toContain('menuentry "Talos ISO" {');
    expect(grubCfg).toContain('menuentry "Reset Talos installation" {');
    expect(grubCfg).toContain(' factory.test=iso-assets talos.experimental.wipe=system\n');

    const esp = await extractEsp(iso);
    const fsck = fsckFat(esp);
    expect(fsck.status, fsck.stdout + fsck.stderr).toBe(0);
    expect(minfo(esp)['disk type']).toMatch(/FAT32/);
    expect(mdirPaths(esp)).toEqual(['EFI/', 'EFI/BOOT/', 'EFI/BOOT/BOOTX64.EFI', 'EFI/Linux/', `EFI/Linux/Talos-${newest}.efi`, 'loader/', 'loader/loader.conf', 'loader/random-seed']);
    expect(mattribList(esp).get('loader/random-seed')).toContain('R');
  });

  it(`${oldest}: GRUB for BIOS and UEFI, no UKI, the pre-1.8 volume id`, async () => {
    const iso = await download(`${svc.url}/image/${id}/${oldest}/metal-amd64.iso`, 'oldest.iso');
    const report = xorrisoReport(iso);
    expect(report.bootImages.map((b) => b.platform)).toEqual(['BIOS', 'UEFI']);
    expect(report.text).toMatch(/Volume id\s*:\s*'ISOIMAGE'/);
    const paths = xorrisoList(iso).map((e) => e.path);
    expect(paths.some((p) => p.startsWith('EFI/Linux'))).toBe(false);
    const esp = await extractEsp(iso);
    expect(fsckFat(esp).status).toBe(0);
    expect(mdirPaths(esp)).toEqual(['EFI/', 'EFI/BOOT/', 'EFI/BOOT/BOOTX64.EFI']);
  });

  it('the schematic picks the ISO boot loader from 1.12: sd-boot only, or GRUB only', async () => {
    const sdBoot = await createSchematic('customization:\n  bootloader: sd-boot\n');
    const sdIso = await download(`${svc.url}/image/${sdBoot}/${newest}/metal-amd64.iso`, 'sd-boot.iso');
    expect(xorrisoReport(sdIso).bootImages.map((b) => b.platform)).toEqual(['UEFI']);
    expect(xorrisoList(sdIso).some((e) => e.path === 'boot/vmlinuz')).toBe(false);

    // With a META value too: ISOs carry META on the command line (Talos writes it to the disk it installs to).
    const grub = await createSchematic('customization:\n  bootloader: grub\n  meta:\n    - key: 10\n      value: "{}"\n');
    const grubIso = await download(`${svc.url}/image/${grub}/${newest}/metal-amd64.iso`, 'grub.iso');
    expect(xorrisoReport(grubIso).bootImages.map((b) => b.platform)).toEqual(['BIOS', 'UEFI']);
    execFileSync('xorriso', ['-indev', grubIso, '-osirrox', 'on', '-extract', '/boot/grub/grub.cfg', join(work, 'grub-meta.cfg')], { stdio: 'pipe' });
    const metaArg = `talos.environment=INSTALLER_META_BASE64=${Buffer.from('0xa={}').toString('base64')}`;
    expect(readFileSync(join(work, 'grub-meta.cfg'), 'utf8')).toContain(`linux /boot/vmlinuz ${(await (await fetch(`${svc.url}/image/${grub}/${newest}/cmdline-metal-amd64`)).text()).replace(' console=tty0', ' console=tty0 talos.halt_if_installed=1')}\n`);
    expect(readFileSync(join(work, 'grub-meta.cfg'), 'utf8')).toContain(metaArg);
    expect(mdirPaths(await extractEsp(grubIso))).toEqual(['EFI/', 'EFI/BOOT/', 'EFI/BOOT/BOOTX64.EFI']);
    expect(xorrisoList(grubIso).some((e) => e.path.startsWith('EFI/Linux'))).toBe(false);
  });

  it(`${newest} UKI: objdump sees the sections in upstream's order; .cmdline is the served command line`, async () => {
    const uki = await download(`${svc.url}/image/${id}/${newest}/metal-amd64-uki.efi`, 'newest-uki.efi');
    const names = [...execFileSync('objdump', ['-h', uki], { encoding: 'utf8' }).matchAll(/^\s+\d+\s+(\.\S+)/gm)].map((m) => m[1]);
    const appended = names.slice(names.indexOf('.osrel'));
    expect(appended).toEqual(['.osrel', '.cmdline', '.uname', '.linux', '.initrd', '.profile']);
    const pe = await PeFile.open(uki);
    const cmdline = await (await fetch(`${svc.url}/image/${id}/${newest}/cmdline-metal-amd64`)).text();
    expect(String(await pe.readSection('.cmdline'))).toBe(cmdline.replace(' talos.halt_if_installed=1', ''));
    expect(String(await pe.readSection('.cmdline'))).toContain('factory.test=iso-assets');
    expect(String(await pe.readSection('.osrel'))).toContain(`VERSION_ID=${newest}\n`);
    expect(String(await pe.readSection('.uname'))).toBe(release.kernel.release);
    expect(String(await pe.readSection('.profile'))).toBe('ID=main');
  });

  it(`${oldest} UKI: no profiles and no schematic kernel args (before 1.10 only installers/SecureBoot get them)`, async () => {
    const uki = await download(`${svc.url}/image/${id}/${oldest}/metal-amd64-uki.efi`, 'oldest-uki.efi');
    const pe = await PeFile.open(uki);
    expect(pe.sectionsNamed('.profile')).toHaveLength(0);
    expect(String(await pe.readSection('.cmdline'))).not.toContain('factory.test');
  });

  it('another instance with its own data directory serves the same bytes', async () => {
    const other = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir });
    try {
      const res = await fetch(`${other.url}/schematics`, { method: 'POST', body: 'customization:\n  extraKernelArgs: [console=ttyS0, factory.test=iso-assets]\n  systemExtensions:\n    officialExtensions: [siderolabs/dummy-module]\n' });
      expect(((await res.json()) as { id: string }).id).toBe(id);
      const again = await download(`${other.url}/image/${id}/${newest}/metal-amd64.iso`, 'again.iso');
      expect(sha256(again)).toBe(sha256(join(work, 'newest.iso')));
      const ukiAgain = await download(`${other.url}/image/${id}/${newest}/metal-amd64-uki.efi`, 'again-uki.efi');
      expect(sha256(ukiAgain)).toBe(sha256(join(work, 'newest-uki.efi')));
    } finally {
      await other.stop();
    }
  });

  it('without grub-mkimage the ISO answers 503 naming the Debian package, and nothing is cached', async () => {
    // A PATH with everything in /usr/bin but grub-mkimage.
    const bin = join(work, 'bin');
    mkdirSync(bin);
    for (const name of readdirSync('/usr/bin')) if (name !== 'grub-mkimage') symlinkSync(join('/usr/bin', name), join(bin, name));
    const bare = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir, PATH: bin });
    try {
      const created = await fetch(`${bare.url}/schematics`, { method: 'POST', body: 'customization:\n  extraKernelArgs: [factory.test=no-grub]\n' });
      const bareId = ((await created.json()) as { id: string }).id;
      const url = `${bare.url}/image/${bareId}/${newest}/metal-amd64.iso`;
      const res = await fetch(url);
      expect(res.status).toBe(503);
      expect(await res.text()).toContain('apt-get install grub-common');
      expect((await fetch(url)).status).toBe(503);
    } finally {
      await bare.stop();
    }
  });
});
