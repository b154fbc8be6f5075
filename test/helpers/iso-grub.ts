// Boot pieces for ISO tests, made with host tools: GRUB's i386-pc El Torito
// image and an x86_64-efi BOOTX64.EFI (grub-mkimage over the development
// release's GRUB modules, or the host's grub-pc-bin / grub-efi-amd64-bin),
// GRUB's boot_hybrid.img MBR code, and a FAT ESP image (mkfs.vfat + mtools).

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type GrubPlatform = 'i386-pc' | 'x86_64-efi';

const HOST_GRUB = '/usr/lib/grub';
const PACKAGES: Record<GrubPlatform, string> = { 'i386-pc': 'grub-pc-bin', 'x86_64-efi': 'grub-efi-amd64-bin' };

/** The newest staged GRUB module directory of a development release (`<out>/work/imager-grub@*`), if any. */
function devReleaseGrub(releaseDir: string | undefined, platform: GrubPlatform): string | undefined {
  if (!releaseDir) return undefined;
  const work = join(releaseDir, 'work');
  if (!existsSync(work)) return undefined;
  const candidates = readdirSync(work)
    .filter((name) => name.startsWith('imager-grub@'))
    .map((name) => join(work, name, 'usr', 'lib', 'grub', platform))
    .filter((dir) => existsSync(join(dir, 'moddep.lst')))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return candidates[0];
}

/** Where to take `platform`'s GRUB modules from: the development release first, then the host. */
export function grubModules(platform: GrubPlatform, releaseDir?: string): string | undefined {
  const staged = devReleaseGrub(releaseDir, platform);
  if (staged) return staged;
  const host = join(HOST_GRUB, platform);
  return existsSync(join(host, 'moddep.lst')) ? host : undefined;
}

function tool(name: string): boolean {
  return spawnSync(name, ['--version'], { stdio: 'ignore' }).error === undefined;
}

/** Why GRUB images cannot be made here, or undefined. */
export function grubSkipReason(platforms: GrubPlatform[], releaseDir?: string): string | undefined {
  if (!tool('grub-mkimage')) return 'grub-mkimage is not installed (apt-get install grub-common)';
  const missing = platforms.filter((p) => !grubModules(p, releaseDir));
  return missing.length ? `no GRUB modules for ${missing.join(', ')} (apt-get install ${missing.map((p) => PACKAGES[p]).join(' ')})` : undefined;
}

export function espToolsSkipReason(): string | undefined {
  const missing = [['mkfs.vfat', 'dosfstools'], ['mcopy', 'mtools']].filter(([t]) => !tool(t!) && !existsSync(`/usr/sbin/${t}`) && !existsSync(`/sbin/${t}`));
  return missing.length ? `missing ${missing.map(([t]) => t).join(', ')} (apt-get install ${missing.map(([, p]) => p).join(' ')})` : undefined;
}

const BIOS_MODULES = ['biosdisk', 'iso9660', 'part_gpt', 'part_msdos', 'normal', 'linux', 'configfile', 'echo', 'serial', 'terminal', 'test'];
const EFI_MODULES = ['iso9660', 'part_gpt', 'part_msdos', 'fat', 'normal', 'linux', 'configfile', 'echo', 'serial', 'terminal', 'test', 'search', 'search_label', 'efi_gop', 'all_video'];

/** GRUB's El Torito no-emulation image (cdboot.img + core), prefix /boot/grub on the boot device. */
export function makeBiosEltorito(out: string, releaseDir?: string): void {
  const dir = grubModules('i386-pc', releaseDir)!;
  execFileSync('grub-mkimage', ['-d', dir, '-O', 'i386-pc-eltorito', '-p', '/boot/grub', '-o', out, ...BIOS_MODULES]);
}

/** GRUB's hybrid MBR boot code (boot_hybrid.img). */
export function bootHybridImage(releaseDir?: string): string {
  return join(grubModules('i386-pc', releaseDir)!, 'boot_hybrid.img');
}

/** BOOTX64.EFI that finds the ISO by volume label and reads /boot/grub/grub.cfg from it. */
export function makeEfiGrub(out: string, volumeId: string, scratch: string, releaseDir?: string): void {
  const dir = grubModules('x86_64-efi', releaseDir)!;
  const stub = join(scratch, 'grub-stub.cfg');
  writeFileSync(stub, `search --no-floppy --set=root --label ${volumeId}\nset prefix=($root)/boot/grub\nconfigfile $prefix/grub.cfg\n`);
  execFileSync('grub-mkimage', ['-d', dir, '-O', 'x86_64-efi', '-p', '/boot/grub', '-c', stub, '-o', out, ...EFI_MODULES]);
}

/** A FAT ESP image of `kib` KiB holding `files` (path in the FAT → file on disk), with a fixed serial. */
export function makeEsp(out: string, kib: number, files: Record<string, string>): void {
  const env = { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin`, SOURCE_DATE_EPOCH: '1700000000', MTOOLS_SKIP_CHECK: '1' };
  execFileSync('mkfs.vfat', ['-C', '-n', 'EFIBOOT', '-i', '12345678', '--invariant', out, String(kib)], { env, stdio: 'pipe' });
  const dirs = new Set<string>();
  for (const path of Object.keys(files)) {
    const parts = path.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  for (const dir of [...dirs].sort()) execFileSync('mmd', ['-i', out, `::/${dir}`], { env });
  for (const [path, source] of Object.entries(files)) execFileSync('mcopy', ['-m', '-i', out, source, `::/${path}`], { env });
}

/** A grub.cfg on the serial console booting `kernel` + `initrd` (ISO paths) with `cmdline`. */
export function grubConfig(kernel: string, initrd: string, cmdline: string): string {
  return [
    'serial --unit=0 --speed=115200',
    'terminal_input serial console',
    'terminal_output serial console',
    'set timeout=0',
    'menuentry "Talos ISO" {',
    `  linux ${kernel} ${cmdline}`,
    `  initrd ${initrd}`,
    '}',
    '',
  ].join('\n');
}
