// What a requested file name means: the `:path` of `/image/:schematic/:version/:path`
// (and the `:path` of `/pxe/...`) turned into an asset request, with the rules
// of the Image Factory's ParseFromPath tried in its order, its error texts,
// and the Content-Type it answers with for that file name.

import { goQuote } from './go-quote.js';
import {
  DEFAULT_RAW_DISK_SIZE,
  findPlatform,
  type Arch,
  type Compression,
  type DiskFormat,
} from './platforms.js';
import type { OutputKind } from './kernel-args.js';

export type AssetKind = OutputKind;

export interface AssetRequest {
  kind: AssetKind;
  /** Not validated against the platform list (an unknown one fails at build time). */
  platform: string;
  arch: Arch;
  secureBoot: boolean;
  /** Disk images only. */
  diskFormat?: DiskFormat;
  /** qemu-img options, disk images only ('' when none). */
  diskFormatOptions?: string;
  /** Disk images only; every other kind is written uncompressed. */
  compression?: Compression;
  /** Bytes, disk images only: the platform's default profile size, else 8192 MiB. */
  diskSize?: number;
  /** The requested file name, as given. */
  fileName: string;
}

/** A path the Factory does not know how to build (400 upstream; its handler prefixes "error parsing profile from path: "). */
export class InvalidAssetPathError extends Error {
  override name = 'InvalidAssetPathError';
}

function cutPrefix(text: string, prefix: string): string | undefined {
  return text.startsWith(prefix) ? text.slice(prefix.length) : undefined;
}

function cutSuffix(text: string, suffix: string): string | undefined {
  return text.endsWith(suffix) ? text.slice(0, text.length - suffix.length) : undefined;
}

/** amd64 | arm64, or the iPXE build-arch names x86_64 and i386 (both meaning amd64). */
function parseArch(text: string): Arch {
  switch (text) {
    case 'amd64':
    case 'arm64':
      return text;
    case 'x86_64':
    case 'i386':
      return 'amd64';
    default:
      throw new InvalidAssetPathError(`invalid architecture: ${goQuote(text)}`);
  }
}

/** `<platform>-<arch>[-secureboot]`; the platform may not contain a dash, except `digital-ocean`. */
function parsePlatformArch(text: string): { platform: string; arch: Arch; secureBoot: boolean } {
  const withoutSecureBoot = cutSuffix(text, '-secureboot');
  const secureBoot = withoutSecureBoot !== undefined;
  const rest = withoutSecureBoot ?? text;
  const dash = rest.indexOf('-');
  if (dash < 0) throw new InvalidAssetPathError(`invalid platform-arch: ${goQuote(rest)}`);
  let platform = rest.slice(0, dash);
  let archText = rest.slice(dash + 1);
  if (platform === 'digital' && archText.startsWith('ocean-')) {
    platform = 'digital-ocean';
    archText = archText.slice('ocean-'.length);
  }
  return { platform, arch: parseArch(archText), secureBoot };
}

// Tried in this order, like upstream: `.tar.gz` before `.gz`.
const COMPRESSION_SUFFIXES: ReadonlyArray<[string, Compression]> = [
  ['.tar.gz', 'tar.gz'],
  ['.gz', 'gz'],
  ['.xz', 'xz'],
  ['.zst', 'zst'],
];

const DISK_FORMATS: readonly DiskFormat[] = ['raw', 'qcow2', 'vhd', 'ova'];

function parseDiskImage(path: string): AssetRequest {
  let rest = path;
  let compression: Compression = 'none';
  for (const [suffix, kind] of COMPRESSION_SUFFIXES) {
    const cut = cutSuffix(rest, suffix);
    if (cut !== undefined) {
      rest = cut;
      compression = kind;
      break;
    }
  }

  let diskFormat: DiskFormat | undefined;
  for (const format of DISK_FORMATS) {
    const cut = cutSuffix(rest, `.${format}`);
    if (cut !== undefined) {
      rest = cut;
      diskFormat = format;
      break;
    }
  }
  // Upstream quotes what is left after the compression suffix was cut.
  if (diskFormat === undefined) throw new InvalidAssetPathError(`invalid profile path: ${goQuote(rest)}`);

  const target = parsePlatformArch(rest);
  let diskFormatOptions = diskFormat === 'qcow2' ? 'cluster_size=8k' : '';
  let diskSize = DEFAULT_RAW_DISK_SIZE;
  // Upstream looks the platform up among the imager's profile names; `iso` and
  // `installer` are profile names too but have no disk image options (upstream
  // crashes on them), so they count as platforms without a default profile here.
  // Aliases (`packet`) are not profile names either.
  const platform = findPlatform(target.platform);
  const profile = platform?.name === target.platform ? platform.diskImage : undefined;
  if (profile) {
    diskSize = profile.size;
    if (profile.formatOptions !== '') diskFormatOptions = profile.formatOptions;
  }

  return { kind: 'image', ...target, diskFormat, diskFormatOptions, compression, diskSize, fileName: path };
}

/** Parses an asset file name (`metal-amd64.raw.zst`, `kernel-arm64`, `installer-amd64-secureboot.tar`, …). */
export function parseAssetPath(path: string): AssetRequest {
  const kernelArch = cutPrefix(path, 'kernel-');
  if (kernelArch !== undefined) {
    return { kind: 'kernel', platform: 'metal', arch: parseArch(kernelArch), secureBoot: false, fileName: path };
  }

  const cmdlineTarget = cutPrefix(path, 'cmdline-');
  if (cmdlineTarget !== undefined) return { kind: 'cmdline', ...parsePlatformArch(cmdlineTarget), fileName: path };

  // Without the `.xz`, an `initramfs-` name falls through to the later rules.
  const initramfsArch = cutSuffix(cutPrefix(path, 'initramfs-') ?? '', '.xz');
  if (path.startsWith('initramfs-') && initramfsArch !== undefined) {
    return { kind: 'initramfs', platform: 'metal', arch: parseArch(initramfsArch), secureBoot: false, fileName: path };
  }

  const isoTarget = cutSuffix(path, '.iso');
  if (isoTarget !== undefined) return { kind: 'iso', ...parsePlatformArch(isoTarget), fileName: path };

  const ukiTarget = cutSuffix(path, '-uki.efi');
  if (ukiTarget !== undefined) return { kind: 'uki', ...parsePlatformArch(ukiTarget), fileName: path };

  const installerRest = cutSuffix(cutPrefix(path, 'installer-') ?? '', '.tar');
  if (path.startsWith('installer-') && installerRest !== undefined) {
    const archText = cutSuffix(installerRest, '-secureboot');
    return {
      kind: 'installer',
      platform: 'metal',
      arch: parseArch(archText ?? installerRest),
      secureBoot: archText !== undefined,
      fileName: path,
    };
  }

  const marker = path.indexOf('-installer-');
  if (marker >= 0) {
    const archPart = cutSuffix(path.slice(marker + '-installer-'.length), '.tar');
    if (archPart !== undefined) {
      return { kind: 'installer', ...parsePlatformArch(`${path.slice(0, marker)}-${archPart}`), fileName: path };
    }
  }

  return parseDiskImage(path);
}

/**
 * Parses the `:path` of `/pxe/:schematic/:version/:path`: `<platform>-<arch>[-secureboot]`.
 * Upstream parses it as `cmdline-<path>`, so the result is the cmdline asset the script embeds.
 */
export function parsePxeTarget(target: string): AssetRequest {
  return parseAssetPath(`cmdline-${target}`);
}

/** The extension of the last path element, as Go's filepath.Ext. */
function goExt(fileName: string): string {
  for (let i = fileName.length - 1; i >= 0 && fileName[i] !== '/'; i--) {
    if (fileName[i] === '.') return fileName.slice(i);
  }
  return '';
}

const CONTENT_TYPES: Record<string, string> = {
  '.efi': 'application/efi',
  '.iso': 'application/x-iso9660-image',
  '.xz': 'application/x-xz',
  '.gz': 'application/gzip',
  '.qcow2': 'application/x-qemu-disk',
};

/**
 * The Content-Type for an asset file name. Upstream maps five extensions
 * itself and asks Go's mime.TypeByExtension for the rest. Its container image
 * is built FROM scratch with Sidero's own packages and carries neither
 * /etc/mime.types nor /usr/share/mime/globs2, so only Go's built-in table
 * applies, and that table has none of the other extensions an asset name can
 * end in (.tar, .zst, .raw, .vhd, .ova, or none): they are all
 * application/octet-stream. (On a Debian host Go would say application/x-tar
 * for .tar, application/zstd for .zst, and, from globs2, text/x-vhdl for .vhd
 * and application/ovf for .ova.)
 */
export function contentTypeFor(fileName: string): string {
  return CONTENT_TYPES[goExt(fileName)] ?? 'application/octet-stream';
}
