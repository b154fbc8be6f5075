// Every link the result page offers for one schematic, version, platform and
// architecture, as a user must type them: downloads under IF_EXTERNAL_URL,
// the iPXE script under IF_EXTERNAL_PXE_URL, the installer under the
// factory's host as a registry (upstream's wizard-final links, plus the
// `.sha256` of each download).

import { joinUrl } from '../../talos/pxe.js';
import type { Arch, Platform } from '../../talos/platforms.js';
import { Quirks } from '../../talos/quirks.js';
import { type TalosVersion, versionTag } from '../../talos/version.js';
import type { Target } from './wizard.js';

export interface LinkBases {
  externalUrl: string;
  externalPxeUrl: string;
}

export interface ResultTarget {
  schematicId: string;
  version: TalosVersion;
  target: Target;
  platform: Platform;
  arch: Arch;
}

export interface AssetLink {
  label: string;
  /** The file name under /image/<id>/<version>/. */
  file: string;
  url: string;
  sha256Url: string;
}

export interface ResultLinks {
  assets: AssetLink[];
  /** The iPXE script URL, where the platform boots from the network. */
  pxeUrl?: string;
  /** The reference for `machine.install.image`. */
  installer: string;
  upgradeCommand: string;
  /** The factory is plain HTTP: registries must be told so. */
  insecureRegistry: boolean;
  registryHost: string;
}

export function resultLinks(bases: LinkBases, t: ResultTarget): ResultLinks {
  const tag = versionTag(t.version);
  const p = t.platform.name;
  const download = (label: string, file: string): AssetLink => {
    const url = joinUrl(bases.externalUrl, 'image', t.schematicId, tag, file);
    return { label, file, url, sha256Url: `${url}.sha256` };
  };
  const bootMethods = t.platform.listing?.bootMethods ?? [];
  const quirks = new Quirks(t.version);
  const assets: AssetLink[] = [];
  if (t.target === 'sbc') {
    assets.push(download('Disk image (board)', `metal-${t.arch}.raw.xz`));
  } else {
    if (bootMethods.includes('iso')) assets.push(download('ISO', `${p}-${t.arch}.iso`));
    if (bootMethods.includes('disk-image')) {
      assets.push(download('Disk image', `${p}-${t.arch}.${t.platform.listing?.diskImageSuffix ?? 'raw.zst'}`));
      if (t.target === 'metal') assets.push(download('Disk image (QEMU/KVM)', `${p}-${t.arch}.qcow2`));
    }
    if (quirks.supportsUki()) assets.push(download('UKI (unified kernel image)', `${p}-${t.arch}-uki.efi`));
  }
  assets.push(download('Kernel', `kernel-${t.arch}`), download('Initramfs', `initramfs-${t.arch}.xz`), download('Kernel command line', `cmdline-${p}-${t.arch}`));

  const external = new URL(bases.externalUrl);
  const registryHost = external.host;
  const image = quirks.platformInstallers() ? `${p}-installer` : 'installer';
  const installer = `${registryHost}/${image}/${t.schematicId}:${tag}`;
  return {
    assets,
    ...(t.target !== 'sbc' && bootMethods.includes('pxe') && { pxeUrl: joinUrl(bases.externalPxeUrl, 'pxe', t.schematicId, tag, `${p}-${t.arch}`) }),
    installer,
    upgradeCommand: `talosctl upgrade --image ${installer}`,
    insecureRegistry: external.protocol === 'http:',
    registryHost,
  };
}
