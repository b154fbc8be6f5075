// The Talos platforms: the kernel arguments each one boots with, the default
// disk image profile of the imager (what `<platform>-<arch>.<disk>` gets when
// only the URL says what to build), and what the platform list shown to users
// says about it. One table; facts from Talos' platform packages
// (`KernelArgs`), `pkg/imager/profile/default.go` and
// `pkg/machinery/platforms/platforms.go`.

import { goQuote } from './go-quote.js';
import type { Quirks } from './quirks.js';

export type Arch = 'amd64' | 'arm64';
export type DiskFormat = 'raw' | 'qcow2' | 'vhd' | 'ova';
export type Compression = 'none' | 'zst' | 'xz' | 'gz' | 'tar.gz';
export type BootMethod = 'disk-image' | 'iso' | 'pxe';

const MIB = 1024 * 1024;
/** The smallest disk image the imager makes (metal and the small clouds). */
export const MIN_RAW_DISK_SIZE = 1246 * MIB;
/** The size for disk images whose platform has no default profile, and for most clouds. */
export const DEFAULT_RAW_DISK_SIZE = 8192 * MIB;

/** A platform's built-in disk image profile (before the boot partition growth of newer versions). */
export interface DiskImageProfile {
  format: DiskFormat;
  /** qemu-img options for the conversion, '' when none. */
  formatOptions: string;
  /** Bytes. */
  size: number;
  /** What the imager compresses the image with by default (the Factory takes it from the URL instead). */
  compression: Compression;
}

export interface Platform {
  name: string;
  /** Other names the runtime accepts for it. */
  aliases: readonly string[];
  /** Kernel arguments for the platform, in order, as `key=value` or bare `key`. */
  kernelArgs(arch: string, quirks: Quirks): string[];
  /** The imager's default disk image profile, if the platform has one. */
  diskImage?: DiskImageProfile;
  /** The imager has a `secureboot-<name>` disk image profile for it. */
  secureBootDiskImage: boolean;
  /** Shown in the platform list: label, supported architectures, boot methods, the suggested disk image suffix. */
  listing?: {
    label: string;
    architectures: readonly Arch[];
    bootMethods: readonly BootMethod[];
    diskImageSuffix?: string;
    secureBootSupported: boolean;
    /** The first Talos version that supports the platform. */
    minVersion?: string;
  };
}

const ttyConsoles = ['console=tty1', 'console=ttyS0', 'net.ifnames=0'];

function image(format: DiskFormat, size: number, compression: Compression, formatOptions = ''): DiskImageProfile {
  return { format, formatOptions, size, compression };
}

const fixed =
  (...args: string[]) =>
  (): string[] => [...args];

const PLATFORMS: readonly Platform[] = [
  {
    name: 'metal',
    aliases: [],
    kernelArgs: (arch, q) => {
      if (arch === 'amd64') return q.metalConsoleTtyS0() ? ['console=ttyS0', 'console=tty0'] : ['console=tty0'];
      if (arch === 'arm64') return ['console=ttyAMA0', 'console=tty0'];
      return [];
    },
    diskImage: image('raw', MIN_RAW_DISK_SIZE, 'zst'),
    secureBootDiskImage: true,
    listing: {
      label: 'Bare Metal',
      architectures: ['amd64', 'arm64'],
      bootMethods: ['iso', 'disk-image', 'pxe'],
      diskImageSuffix: 'raw.zst',
      secureBootSupported: true,
    },
  },
  {
    name: 'aws',
    aliases: [],
    // AWS keeps the NVMe timeout for itself once it leaves the defaults (1.14).
    kernelArgs: (_arch, q) => [...ttyConsoles, ...(q.nvmeIoTimeoutAwsOnly() ? ['nvme_core.io_timeout=4294967295'] : [])],
    diskImage: image('raw', DEFAULT_RAW_DISK_SIZE, 'zst'),
    secureBootDiskImage: false,
    listing: {
      label: 'Amazon Web Services (AWS)',
      architectures: ['amd64', 'arm64'],
      bootMethods: ['disk-image'],
      diskImageSuffix: 'raw.xz',
      secureBootSupported: false,
    },
  },
  {
    name: 'gcp',
    aliases: [],
    kernelArgs: fixed('console=ttyS0', 'net.ifnames=0', 'talos.dashboard.disabled=1', 'sysctl.kernel.kexec_load_disabled=1'),
    diskImage: image('raw', DEFAULT_RAW_DISK_SIZE, 'tar.gz'),
    secureBootDiskImage: false,
    listing: {
      label: 'Google Cloud (GCP)',
      architectures: ['amd64', 'arm64'],
      bootMethods: ['disk-image'],
      diskImageSuffix: 'raw.tar.gz',
      secureBootSupported: false,
    },
  },
  {
    name: 'equinixMetal',
    aliases: ['packet'],
    kernelArgs: (arch) => {
      if (arch === 'amd64') return ['console=ttyS1,115200n8'];
      if (arch === 'arm64') return ['console=ttyAMA0,115200'];
      return [];
    },
    secureBootDiskImage: false,
    listing: {
      label: 'Equinix Metal',
      architectures: ['amd64', 'arm64'],
      bootMethods: ['pxe'],
      secureBootSupported: false,
    },
  },
  {
    name: 'azure',
    aliases: [],
    kernelArgs: fixed(
      'console=ttyS0,115200n8',
      'earlyprintk=ttyS0,115200',
      'rootdelay=300',
      'net.ifnames=0',
      'talos.dashboard.disabled=1',
      'sysctl.kernel.kexec_load_disabled=1',
    ),
    diskImage: image('vhd', DEFAULT_RAW_DISK_SIZE, 'zst', 'subformat=fixed,force_size'),
    secureBootDiskImage: true,
    listing: {
      label: 'Microsoft Azure',
      architectures: ['amd64', 'arm64'],
      bootMethods: ['disk-image'],
      diskImageSuffix: 'vhd.xz',
      secureBootSupported: true,
    },
  },
  {
    name: 'digital-ocean',
    aliases: [],
    kernelArgs: fixed('console=ttyS0', 'console=tty0', 'console=tty1', 'net.ifnames=0'),
    diskImage: image('raw', DEFAULT_RAW_DISK_SIZE, 'gz'),
    secureBootDiskImage: false,
    listing: {
      label: 'Digital Ocean',
      architectures: ['amd64'],
      bootMethods: ['disk-image'],
      diskImageSuffix: 'raw.gz',
      secureBootSupported: false,
    },
  },
  {
    name: 'nocloud',
    aliases: [],
    kernelArgs: fixed(...ttyConsoles),
    diskImage: image('raw', MIN_RAW_DISK_SIZE, 'zst'),
    secureBootDiskImage: true,
    listing: {
      label: 'Nocloud',
      architectures: ['amd64', 'arm64'],
      bootMethods: ['disk-image', 'iso', 'pxe'],
      diskImageSuffix: 'raw.xz',
      secureBootSupported: true,
    },
  },
  {
    name: 'openstack',
    aliases: [],
    kernelArgs: fixed(...ttyConsoles),
    diskImage: image('raw', MIN_RAW_DISK_SIZE, 'zst'),
    secureBootDiskImage: true,
    listing: {
      label: 'OpenStack',
      architectures: ['amd64', 'arm64'],
      bootMethods: ['disk-image', 'iso', 'pxe'],
      diskImageSuffix: 'raw.xz',
      secureBootSupported: false,
    },
  },
  {
    name: 'vmware',
    aliases: [],
    kernelArgs: (arch) => {
      if (arch === 'amd64') {
        return ['talos.config=guestinfo', 'console=tty0', 'console=ttyS0', 'earlyprintk=ttyS0,115200', 'net.ifnames=0'];
      }
      if (arch === 'arm64') return ['talos.config=guestinfo', 'console=tty0', 'console=ttyAMA0', 'net.ifnames=0'];
      return [];
    },
    diskImage: image('ova', DEFAULT_RAW_DISK_SIZE, 'none'),
    secureBootDiskImage: true,
    listing: {
      label: 'VMWare',
      architectures: ['amd64', 'arm64'],
      bootMethods: ['disk-image', 'iso'],
      diskImageSuffix: 'ova',
      secureBootSupported: false,
    },
  },
  {
    name: 'akamai',
    aliases: [],
    kernelArgs: fixed('console=ttyS0', 'console=tty0', 'console=tty1', 'net.ifnames=0'),
    diskImage: image('raw', MIN_RAW_DISK_SIZE, 'gz'),
    secureBootDiskImage: false,
    listing: {
      label: 'Akamai',
      architectures: ['amd64'],
      bootMethods: ['disk-image'],
      diskImageSuffix: 'raw.gz',
      secureBootSupported: false,
      minVersion: '1.7.0',
    },
  },
  {
    name: 'cloudstack',
    aliases: [],
    kernelArgs: fixed(...ttyConsoles),
    diskImage: image('raw', DEFAULT_RAW_DISK_SIZE, 'zst'),
    secureBootDiskImage: true,
    listing: {
      label: 'Apache CloudStack',
      architectures: ['amd64', 'arm64'],
      bootMethods: ['disk-image'],
      diskImageSuffix: 'raw.gz',
      secureBootSupported: true,
      minVersion: '1.8.0-alpha.2',
    },
  },
  {
    name: 'hcloud',
    aliases: [],
    kernelArgs: fixed(...ttyConsoles),
    diskImage: image('raw', MIN_RAW_DISK_SIZE, 'zst'),
    secureBootDiskImage: false,
    listing: {
      label: 'Hetzner',
      architectures: ['amd64'],
      bootMethods: ['disk-image'],
      diskImageSuffix: 'raw.xz',
      secureBootSupported: false,
    },
  },
  {
    name: 'oracle',
    aliases: [],
    kernelArgs: fixed(...ttyConsoles, 'talos.dashboard.disabled=1'),
    diskImage: image('qcow2', DEFAULT_RAW_DISK_SIZE, 'zst', 'cluster_size=8k'),
    secureBootDiskImage: false,
    listing: {
      label: 'Oracle Cloud',
      architectures: ['amd64', 'arm64'],
      bootMethods: ['disk-image'],
      diskImageSuffix: 'qcow2',
      secureBootSupported: false,
    },
  },
  {
    name: 'upcloud',
    aliases: [],
    kernelArgs: fixed('net.ifnames=0'),
    diskImage: image('raw', DEFAULT_RAW_DISK_SIZE, 'zst'),
    secureBootDiskImage: false,
    listing: {
      label: 'UpCloud',
      architectures: ['amd64'],
      bootMethods: ['disk-image'],
      diskImageSuffix: 'raw.xz',
      secureBootSupported: false,
    },
  },
  {
    name: 'vultr',
    aliases: [],
    kernelArgs: fixed('net.ifnames=0'),
    diskImage: image('raw', DEFAULT_RAW_DISK_SIZE, 'zst'),
    secureBootDiskImage: false,
    listing: {
      label: 'Vultr',
      architectures: ['amd64'],
      bootMethods: ['iso', 'pxe'],
      secureBootSupported: false,
    },
  },
  {
    name: 'exoscale',
    aliases: [],
    kernelArgs: fixed(...ttyConsoles),
    diskImage: image('qcow2', 10240 * MIB, 'zst', 'cluster_size=8k'),
    secureBootDiskImage: false,
    listing: {
      label: 'Exoscale',
      architectures: ['amd64', 'arm64'],
      bootMethods: ['disk-image'],
      diskImageSuffix: 'qcow2',
      secureBootSupported: false,
      minVersion: '1.3.0',
    },
  },
  {
    name: 'opennebula',
    aliases: [],
    kernelArgs: fixed(...ttyConsoles),
    diskImage: image('raw', MIN_RAW_DISK_SIZE, 'zst'),
    secureBootDiskImage: true,
    listing: {
      label: 'OpenNebula',
      architectures: ['amd64', 'arm64'],
      bootMethods: ['disk-image', 'iso'],
      diskImageSuffix: 'raw.zst',
      secureBootSupported: false,
      minVersion: '1.7.0',
    },
  },
  {
    name: 'scaleway',
    aliases: [],
    kernelArgs: fixed(...ttyConsoles, 'talos.dashboard.disabled=1'),
    diskImage: image('raw', MIN_RAW_DISK_SIZE, 'zst'),
    secureBootDiskImage: false,
    listing: {
      label: 'Scaleway',
      architectures: ['amd64', 'arm64'],
      bootMethods: ['disk-image', 'iso'],
      diskImageSuffix: 'raw.zst',
      secureBootSupported: false,
    },
  },
  {
    name: 'alibabacloud',
    aliases: [],
    kernelArgs: fixed(...ttyConsoles),
    diskImage: image('qcow2', MIN_RAW_DISK_SIZE, 'none', 'cluster_size=8k'),
    secureBootDiskImage: false,
    listing: {
      label: 'AlibabaCloud',
      architectures: ['amd64', 'arm64'],
      bootMethods: ['disk-image'],
      diskImageSuffix: 'qcow2',
      secureBootSupported: false,
      minVersion: '1.14.0-beta.2',
    },
  },
  {
    // Talos running in a container: no kernel of its own to configure.
    name: 'container',
    aliases: [],
    kernelArgs: () => [],
    secureBootDiskImage: false,
  },
];

const BY_NAME = new Map<string, Platform>(PLATFORMS.flatMap((p) => [p.name, ...p.aliases].map((n) => [n, p] as const)));

/** Every platform, in the order of the platform list (metal first). */
export function allPlatforms(): readonly Platform[] {
  return PLATFORMS;
}

/** A platform by name or alias; names are case-sensitive (`equinixMetal`). */
export function findPlatform(name: string): Platform | undefined {
  return BY_NAME.get(name);
}

export class UnknownPlatformError extends Error {
  override name = 'UnknownPlatformError';
}

/** A platform by name, or the runtime's error text for an unknown one. */
export function getPlatform(name: string): Platform {
  const platform = findPlatform(name);
  if (!platform) throw new UnknownPlatformError(`unknown platform: ${goQuote(name)}`);
  return platform;
}
