// The Debian packages a release is made of, fetched and unpacked.

import { join } from 'node:path';
import { type Deb, type DebCache, type PackageRecord, candidates } from './debs.js';
import { KERNEL_METAPACKAGE, type Kernel, loadKernel } from './kernel.js';

export interface Unpacked {
  deb: Deb;
  root: string;
}

export interface DebianInputs {
  kernel: Kernel;
  busybox: Unpacked;
  systemdBoot: Unpacked;
  grubPc: Unpacked;
  grubEfi: Unpacked;
}

/** Package → why it is here, for the README and error messages. */
export const PACKAGES = {
  'busybox-static': 'init, report and installer shells (bin/busybox)',
  'systemd-boot-efi': 'systemd-bootx64.efi and linuxx64.efi.stub',
  'grub-pc-bin': 'GRUB i386-pc modules',
  'grub-efi-amd64-bin': 'GRUB x86_64-efi modules',
} as const;

async function unpacked(debs: DebCache, record: PackageRecord | undefined): Promise<Unpacked> {
  const deb = await debs.fetch(record!);
  return { deb, root: await debs.unpack(deb) };
}

export async function fetchDebianInputs(debs: DebCache): Promise<DebianInputs> {
  const records = await candidates([KERNEL_METAPACKAGE, ...Object.keys(PACKAGES)]);
  return {
    kernel: await loadKernel(debs, records.get(KERNEL_METAPACKAGE)!),
    busybox: await unpacked(debs, records.get('busybox-static')),
    systemdBoot: await unpacked(debs, records.get('systemd-boot-efi')),
    grubPc: await unpacked(debs, records.get('grub-pc-bin')),
    grubEfi: await unpacked(debs, records.get('grub-efi-amd64-bin')),
  };
}

export const SYSTEMD_EFI_DIR = join('usr', 'lib', 'systemd', 'boot', 'efi');
