// The file trees of the release's image layers, each staged into a directory
// that becomes one tar layer. Paths are where the real images have them.

import { chmod, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { installBusybox } from './busybox.js';
import type { Arch, ArchInputs, Unpacked } from './inputs.js';
import { SCRIPTS, renderScript } from './scripts.js';
import type { TalosRelease } from './talos.js';
import { copyInto, normalizeTree } from './tree.js';

/** The overlay's artifacts are for this architecture (its content is the same on every platform). */
const OVERLAY_ARCH: Arch = 'amd64';

/**
 * The imager's GRUB modules: usr/lib/grub/{i386-pc,x86_64-efi,arm64-efi}/ (the
 * same for every version; the imager of either architecture builds for both).
 */
export async function stageGrub(dir: string, grubPc: Unpacked, efi: ReadonlyArray<Pick<ArchInputs, 'grubEfi' | 'grubEfiPlatform'>>): Promise<void> {
  const modules: Array<readonly [Unpacked, string]> = [[grubPc, 'i386-pc'], ...efi.map((e) => [e.grubEfi, e.grubEfiPlatform] as const)];
  for (const [pkg, platform] of modules) {
    await copyInto(join(pkg.root, 'usr', 'lib', 'grub', platform), join(dir, 'usr', 'lib', 'grub', platform));
  }
  await normalizeTree(dir);
}

export interface BootArtifacts {
  vmlinuz: string;
  initramfs: string;
}

/** The imager's usr/install/<arch>/: kernel, initramfs, systemd-boot and systemd-stub of that architecture. */
export async function stageImagerInstall(dir: string, inputs: Pick<ArchInputs, 'arch' | 'systemdBootEfi' | 'systemdStubEfi'>, boot: BootArtifacts): Promise<void> {
  const install = join(dir, 'usr', 'install', inputs.arch);
  await mkdir(install, { recursive: true });
  await copyFile(boot.vmlinuz, join(install, 'vmlinuz'));
  await copyFile(boot.initramfs, join(install, 'initramfs.xz'));
  await copyFile(inputs.systemdBootEfi, join(install, 'systemd-boot.efi'));
  await copyFile(inputs.systemdStubEfi, join(install, 'systemd-stub.efi'));
  await normalizeTree(dir);
}

/**
 * The installer base: busybox and /usr/bin/installer (a stand-in script that
 * says what it would do), /usr/bin/imager linked to it as in the real image,
 * and /bin → usr/bin so `/bin/installer` (what machined runs) works too.
 */
export async function stageInstallerBase(dir: string, busybox: Unpacked, applets: readonly string[], release: TalosRelease): Promise<void> {
  const bin = join(dir, 'usr', 'bin');
  await installBusybox(busybox.root, bin, applets, ['installer', 'imager']);
  await writeFile(join(bin, 'installer'), await renderScript(SCRIPTS.installer, release), { mode: 0o755 });
  await symlink('installer', join(bin, 'imager'));
  await symlink('usr/bin', join(dir, 'bin'));
  await normalizeTree(dir);
}

/** The pre-1.10 installer's second layer: usr/install/<arch>/{vmlinuz,initramfs.xz}. */
export async function stageInstallerArtifacts(dir: string, arch: Arch, boot: BootArtifacts): Promise<void> {
  const install = join(dir, 'usr', 'install', arch);
  await mkdir(install, { recursive: true });
  await copyFile(boot.vmlinuz, join(install, 'vmlinuz'));
  await copyFile(boot.initramfs, join(install, 'initramfs.xz'));
  await normalizeTree(dir);
}

/** Plain files at the root of an image (the catalogs). */
export async function stageFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
  await normalizeTree(dir);
}

export const OVERLAY = { name: 'devboard', repository: 'siderolabs/sbc-devboard', tag: 'v0.1.0' } as const;

/**
 * The sample overlay, in a real overlay's layout: profiles/<name>.yaml (merged
 * into the imager profile), installers/<name> (run with get-options/install)
 * and artifacts/ (what the installer copies to the boot partition).
 */
export async function stageOverlay(dir: string): Promise<void> {
  const { name } = OVERLAY;
  await mkdir(join(dir, 'profiles'), { recursive: true });
  await writeFile(
    join(dir, 'profiles', `${name}.yaml`),
    ['arch: amd64', 'platform: metal', 'secureboot: false', 'output:', '  kind: image', '  outFormat: .xz', '  imageOptions:', '    diskSize: 1306525696', '    diskFormat: raw', ''].join('\n'),
  );
  await mkdir(join(dir, 'installers'));
  await copyFile(SCRIPTS.overlayInstaller, join(dir, 'installers', name));
  await chmod(join(dir, 'installers', name), 0o755);
  const artifacts = join(dir, 'artifacts', OVERLAY_ARCH, name);
  await mkdir(artifacts, { recursive: true });
  await writeFile(
    join(artifacts, 'board.conf'),
    '# Boot configuration of the imaginary "devboard" (development release sample overlay).\nboard=devboard\nconsole=ttyS0,115200\n',
  );
  await normalizeTree(dir);
}
