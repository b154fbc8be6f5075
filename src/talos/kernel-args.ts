// The whole kernel command line of a Talos boot asset, built in the order
// Talos' imager builds it (talos-imager.md §1.3): platform, platform args,
// ISO halt flag, overlay args, defaults, SecureBoot args, META, then the
// user's extra args. Plus the choice, made by the Image Factory, of which
// schematic customizations reach which output kind.

import { crc32, deflateRawSync, constants as zlibConstants } from 'node:zlib';
import { Cmdline } from './cmdline.js';
import { goQuote } from './go-quote.js';
import { getPlatform } from './platforms.js';
import { Quirks } from './quirks.js';
import { versionTag, type TalosVersion } from './version.js';

export type OutputKind = 'kernel' | 'initramfs' | 'cmdline' | 'iso' | 'uki' | 'installer' | 'image';

export interface MetaValue {
  /** A META key, 0–255. */
  key: number | bigint;
  value: string;
}

export interface KernelCmdlineInput {
  version: TalosVersion;
  /** Platform name or alias (`packet` prints as `equinixMetal`). */
  platform: string;
  arch: string;
  kind: OutputKind;
  secureBoot: boolean;
  /** The schematic's extraKernelArgs (as selected by `cmdlineCustomization`). */
  extraKernelArgs?: readonly string[];
  /** The schematic's META values (as selected by `cmdlineCustomization`). */
  meta?: readonly MetaValue[];
  /** Kernel args from the overlay installer's options (SBC overlays). */
  overlayKernelArgs?: readonly string[];
}

/** A request the imager refuses: a customization the output kind cannot carry, or a bad arch/platform/version. */
export class UnsupportedCustomizationError extends Error {
  override name = 'UnsupportedCustomizationError';
}

/** The environment variable (passed with `talos.environment=`) the installer reads META values from. */
export const META_ENV_VAR = 'INSTALLER_META_BASE64';

/** Longer META payloads are gzip'ed (when the version allows it). */
const META_GZIP_THRESHOLD = 256;

/** Talos' default kernel arguments for a version, in order. */
export function defaultKernelArgs(quirks: Quirks): string[] {
  const args: string[] = [];
  if (!quirks.dropsInitOnAlloc()) args.push('init_on_alloc=1');
  args.push('slab_nomerge', 'pti=on', 'consoleblank=0');
  if (!quirks.nvmeIoTimeoutAwsOnly()) args.push('nvme_core.io_timeout=4294967295');
  args.push('printk.devkmsg=on');
  if (quirks.supportsIma()) args.push('ima_template=ima-ng', 'ima_appraise=fix', 'ima_hash=sha512');
  if (quirks.supportsSelinux()) args.push('selinux=1');
  if (quirks.enforcesModuleSignatures()) args.push('module.sig_enforce=1');
  if (quirks.procMemOverrideNever()) args.push('proc_mem.force_override=never');
  return args;
}

/** Extra arguments for SecureBoot outputs. */
export function secureBootKernelArgs(quirks: Quirks): string[] {
  return quirks.forcesLockdownConfidentiality() ? ['lockdown=confidentiality'] : [];
}

/**
 * gzip with the header Go's compress/gzip writes for a zero-value Writer at
 * BestCompression: no name, mtime 0, XFL 2 (best), OS 255 (unknown). The
 * deflate stream is zlib's level 9, not Go's compressor, so the bytes (not the
 * content) can differ from upstream's.
 */
function goStyleGzip(data: Buffer): Buffer {
  const header = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x02, 0xff]);
  const body = deflateRawSync(data, { level: zlibConstants.Z_BEST_COMPRESSION });
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc32(data), 0);
  trailer.writeUInt32LE(data.length >>> 0, 4);
  return Buffer.concat([header, body, trailer]);
}

function metaKey(key: number | bigint): number {
  const n = typeof key === 'bigint' ? Number(key) : key;
  if (!Number.isInteger(n) || n < 0 || n > 255) throw new RangeError(`META key ${String(key)} is not a uint8`);
  return n;
}

/**
 * The META values as the installer's environment variable wants them:
 * `0x<key hex>=<value>` joined by `;`, gzip'ed first when longer than 256
 * bytes and `allowGzip`, then base64 (standard, padded).
 */
export function encodeMetaValues(values: readonly MetaValue[], allowGzip: boolean): string {
  const raw = Buffer.from(values.map((v) => `0x${metaKey(v.key).toString(16)}=${v.value}`).join(';'), 'utf8');
  const payload = allowGzip && raw.length > META_GZIP_THRESHOLD ? goStyleGzip(raw) : raw;
  return payload.toString('base64');
}

/** The imager's profile checks that concern a command line, in its order and with its texts. */
function rejectUnsupported(input: KernelCmdlineInput, quirks: Quirks): void {
  if (input.arch !== 'amd64' && input.arch !== 'arm64') throw new UnsupportedCustomizationError(`invalid arch ${goQuote(input.arch)}`);
  if (input.platform === '') throw new UnsupportedCustomizationError('platform is required');
  if (input.secureBoot && !quirks.supportsUki()) {
    throw new UnsupportedCustomizationError(`secureboot is not supported for Talos version ${goQuote(versionTag(input.version))}`);
  }
  const hasArgs = (input.extraKernelArgs?.length ?? 0) > 0;
  const hasMeta = (input.meta?.length ?? 0) > 0;
  if (input.kind === 'kernel' || input.kind === 'initramfs') {
    if (input.secureBoot) throw new UnsupportedCustomizationError(`secureboot is not supported for ${input.kind} output`);
    if (hasArgs) throw new UnsupportedCustomizationError(`customization of kernel args is not supported for ${input.kind} output`);
  }
  if (hasMeta && (input.kind === 'installer' || input.kind === 'kernel' || input.kind === 'initramfs')) {
    throw new UnsupportedCustomizationError(`customization of meta partition is not supported for ${input.kind} output`);
  }
}

/** Builds the kernel command line for an asset. */
export function buildKernelCmdline(input: KernelCmdlineInput): string {
  const quirks = new Quirks(input.version);
  rejectUnsupported(input, quirks);
  const platform = getPlatform(input.platform);
  const cmdline = Cmdline.empty();

  cmdline.append('talos.platform', platform.name);
  cmdline.setAll(platform.kernelArgs(input.arch, quirks));
  if (input.kind === 'iso' && quirks.supportsHaltIfInstalled()) cmdline.append('talos.halt_if_installed', '1');
  if (input.overlayKernelArgs) cmdline.setAll(input.overlayKernelArgs);
  // Defaults go before the user's args so that the user's args can remove or override them.
  cmdline.appendAll(defaultKernelArgs(quirks));
  if (input.secureBoot) cmdline.appendAll(secureBootKernelArgs(quirks));
  // A disk image gets its META values written into its META partition instead.
  if (input.meta && input.meta.length > 0 && input.kind !== 'image') {
    cmdline.append('talos.environment', `${META_ENV_VAR}=${encodeMetaValues(input.meta, quirks.supportsCompressedMeta())}`);
  }
  if (input.extraKernelArgs) cmdline.applyUserArgs(input.extraKernelArgs);
  return cmdline.toString();
}

/** The parts of a schematic that can reach a command line. */
export interface SchematicCmdlineParts {
  customization: {
    extraKernelArgs: readonly string[] | null;
    meta: ReadonlyArray<{ key: bigint | number; value: string }> | null;
  };
}

/**
 * Which schematic customizations the Image Factory passes on for an output
 * kind: none for kernel and initramfs; kernel args only (no META) for the
 * installer and UKIs, and only with SecureBoot or from 1.10 (the unified
 * installer); kernel args and META for everything else.
 */
export function cmdlineCustomization(
  schematic: SchematicCmdlineParts,
  kind: OutputKind,
  version: TalosVersion,
  secureBoot: boolean,
): { extraKernelArgs: string[]; meta: MetaValue[] } {
  const args = [...(schematic.customization.extraKernelArgs ?? [])];
  const meta = (schematic.customization.meta ?? []).map((m) => ({ key: m.key, value: m.value }));
  switch (kind) {
    case 'kernel':
    case 'initramfs':
      return { extraKernelArgs: [], meta: [] };
    case 'installer':
    case 'uki':
      return { extraKernelArgs: secureBoot || new Quirks(version).usesInstallerBase() ? args : [], meta: [] };
    default:
      return { extraKernelArgs: args, meta };
  }
}
