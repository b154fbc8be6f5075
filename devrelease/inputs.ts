// The Debian packages a release is made of, fetched and unpacked: for each
// architecture the release has (amd64 and arm64, the two Talos ships) the
// kernel, busybox, systemd-boot and GRUB's EFI modules, from that
// architecture's packages (`apt-get download <pkg>:arm64` needs
// `dpkg --add-architecture arm64` and an `apt-get update`; nothing is
// installed); GRUB's BIOS modules once.

import { join } from 'node:path';
import { type Deb, type DebCache, type PackageRecord, metapackageTarget } from './debs.js';
import { run } from './exec.js';
import { type Kernel, kernelMetapackage, loadKernel } from './kernel.js';

/** The architectures of the release, in the order image indexes list them. */
export const ARCHES = ['amd64', 'arm64'] as const;
export type Arch = (typeof ARCHES)[number];

export interface Unpacked {
  deb: Deb;
  root: string;
}

/** What differs between architectures: packages, and the names of their files. */
export interface ArchInputs {
  arch: Arch;
  kernel: Kernel;
  busybox: Unpacked;
  systemdBoot: Unpacked;
  /** GRUB's EFI modules (`usr/lib/grub/<grubEfiPlatform>`). */
  grubEfi: Unpacked;
  grubEfiPlatform: 'x86_64-efi' | 'arm64-efi';
  /** systemd-boot and systemd-stub in systemd-boot-efi's `usr/lib/systemd/boot/efi`. */
  systemdBootEfi: string;
  systemdStubEfi: string;
}

export interface DebianInputs {
  arch: Record<Arch, ArchInputs>;
  /** GRUB's i386-pc modules (amd64 only: BIOS). */
  grubPc: Unpacked;
  /**
   * Busybox's applets, listed by running the host's busybox (the packages of
   * both architectures are built from one source with one configuration).
   */
  busyboxApplets: string[];
}

/** Package → why it is here, for the README and error messages (each fetched for every architecture). */
export const PACKAGES = {
  'busybox-static': 'init, report and installer shells (bin/busybox)',
  'systemd-boot-efi': 'systemd-boot<efi arch>.efi and linux<efi arch>.efi.stub',
  'grub-efi-<arch>-bin': 'GRUB x86_64-efi / arm64-efi modules',
  'grub-pc-bin': 'GRUB i386-pc modules (amd64 only)',
} as const;

const EFI_NAMES: Record<Arch, { grub: ArchInputs['grubEfiPlatform']; suffix: string }> = {
  amd64: { grub: 'x86_64-efi', suffix: 'x64' },
  arm64: { grub: 'arm64-efi', suffix: 'aa64' },
};

export const SYSTEMD_EFI_DIR = join('usr', 'lib', 'systemd', 'boot', 'efi');

function archPackages(arch: Arch): { kernel: string; busybox: string; systemdBoot: string; grubEfi: string } {
  return {
    kernel: `${kernelMetapackage(arch)}:${arch}`,
    busybox: `busybox-static:${arch}`,
    systemdBoot: `systemd-boot-efi:${arch}`,
    grubEfi: `grub-efi-${arch}-bin:${arch}`,
  };
}

async function unpacked(debs: DebCache, record: PackageRecord | undefined): Promise<Unpacked> {
  const deb = await debs.fetch(record!);
  return { deb, root: await debs.unpack(deb) };
}

export async function fetchDebianInputs(debs: DebCache): Promise<DebianInputs> {
  const names = ARCHES.flatMap((arch) => Object.values(archPackages(arch)));
  const records = await debs.candidates([...names, 'grub-pc-bin:amd64']);
  // The kernel package each metapackage points at today.
  const kernelNames = ARCHES.map((a) => `${metapackageTarget(records.get(archPackages(a).kernel)!, 'linux-image-')}:${a}`);
  const kernels = await debs.candidates(kernelNames);
  const arch = {} as Record<Arch, ArchInputs>;
  for (const a of ARCHES) {
    const p = archPackages(a);
    const systemdBoot = await unpacked(debs, records.get(p.systemdBoot));
    const { grub, suffix } = EFI_NAMES[a];
    arch[a] = {
      arch: a,
      kernel: await loadKernel(debs, kernels.get(kernelNames[ARCHES.indexOf(a)]!)!, a),
      busybox: await unpacked(debs, records.get(p.busybox)),
      systemdBoot,
      grubEfi: await unpacked(debs, records.get(p.grubEfi)),
      grubEfiPlatform: grub,
      systemdBootEfi: join(systemdBoot.root, SYSTEMD_EFI_DIR, `systemd-boot${suffix}.efi`),
      systemdStubEfi: join(systemdBoot.root, SYSTEMD_EFI_DIR, `linux${suffix}.efi.stub`),
    };
  }
  const native = arch.amd64.busybox;
  for (const a of ARCHES) {
    // Same upstream version and Debian revision; a binary rebuild (+bN) may differ.
    const source = (v: string): string => v.replace(/\+b\d+$/, '');
    if (source(arch[a].busybox.deb.version) !== source(native.deb.version)) {
      throw new Error(`busybox-static ${arch[a].busybox.deb.id} and ${native.deb.id} are different versions: their applets may differ`);
    }
  }
  const applets = (await run(join(native.root, 'bin', 'busybox'), ['--list'])).split('\n').filter((a) => a !== '' && !a.includes('/'));
  return { arch, grubPc: await unpacked(debs, records.get('grub-pc-bin:amd64')), busyboxApplets: applets };
}
