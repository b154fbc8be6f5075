// What goes into a Talos UKI, in the order Talos' imager appends the sections
// to systemd-stub (talos-imager.md §6.1): .osrel, .cmdline, .uname (when the
// kernel's version is known), .splash (when given), .linux, .initrd, then from
// 1.10 the profiles: `.profile` "ID=main" and one `.profile` per extra profile,
// each followed by its own `.cmdline`. `.sbat` is measured upstream but never
// appended (the stub already has it); .pcrpkey/.pcrsig belong to SecureBoot.

import { open } from 'node:fs/promises';
import type { PeSectionSource, UkiSection } from '../../formats/pe/index.js';
import type { OutputKind } from '../../talos/kernel-args.js';
import { parseVersionTolerant } from '../../talos/version.js';

/** The OS name Talos builds carry (upstream's version.Name). */
export const TALOS_NAME = 'Talos';
/** The kernel argument the reset profiles add (constants.KernelParamWipe). */
export const WIPE_ARG = 'talos.experimental.wipe';
/** The profile every multi-profile UKI starts with; extra profiles may not use this id. */
export const MAIN_PROFILE_ID = 'main';

export interface UkiProfile {
  id: string;
  title?: string;
  /** The profile's own command line; without one the base `.cmdline` applies. */
  cmdline?: string;
}

/** `.osrel`: /etc/os-release as Talos writes it for `name` and `version` (e.g. "v1.12.0"). */
export function osRelease(version: string, name = TALOS_NAME): string {
  const id = name.replaceAll(' ', '_').toLowerCase();
  return [
    `NAME="${name}"`,
    `ID=${id}`,
    `VERSION_ID=${version}`,
    `PRETTY_NAME="${name} (${version})"`,
    'HOME_URL="https://www.talos.dev/"',
    'BUG_REPORT_URL="https://github.com/siderolabs/talos/issues"',
    'VENDOR_NAME="Sidero Labs"',
    'VENDOR_URL="https://www.siderolabs.com/"',
    '',
  ].join('\n');
}

/** `.profile`: "ID=<id>", plus "\nTITLE=<title>" when there is a title; no trailing newline. */
export function profileText(profile: UkiProfile): string {
  return profile.title ? `ID=${profile.id}\nTITLE=${profile.title}` : `ID=${profile.id}`;
}

/**
 * UKI profiles exist from Talos 1.10. As in upstream's quirks a pre-release
 * counts as its release, and a version that does not parse counts as the newest.
 */
export function supportsUkiProfiles(version: string): boolean {
  let parsed;
  try {
    parsed = parseVersionTolerant(version);
  } catch {
    return true;
  }
  return parsed.major > 1 || (parsed.major === 1 && parsed.minor >= 10);
}

/**
 * The extra profile the imager adds for an output: ISOs get "reset" (wipe the
 * system disk), disk images and installers "reset-maintenance" (wipe STATE
 * and EPHEMERAL, back to maintenance mode); other outputs none.
 */
export function extraUkiProfiles(kind: OutputKind, cmdline: string): UkiProfile[] {
  switch (kind) {
    case 'iso':
      return [{ id: 'reset', title: 'Reset system disk', cmdline: `${cmdline} ${WIPE_ARG}=system` }];
    case 'image':
    case 'installer':
      return [{ id: 'reset-maintenance', title: 'Reset to maintenance mode', cmdline: `${cmdline} ${WIPE_ARG}=system:EPHEMERAL,STATE` }];
    default:
      return [];
  }
}

/**
 * The kernel release an x86 bzImage announces (the boot protocol's
 * kernel_version string, up to its first space), or undefined when the file
 * is not a bzImage (arm64's EFI zboot image has no such header). The offset
 * arithmetic wraps at 16 bits as upstream's does.
 */
export async function bzImageKernelVersion(kernel: string): Promise<string | undefined> {
  const handle = await open(kernel, 'r');
  try {
    const header = Buffer.alloc(1024);
    const { bytesRead } = await handle.read(header, 0, header.length, 0);
    if (bytesRead < 0x210 || header.toString('latin1', 0x202, 0x206) !== 'HdrS') return undefined;
    const setupSectors = header[0x1f1]!;
    const offset = header.readUInt16LE(0x20e);
    if (offset === 0 || offset > ((setupSectors * 0x200) & 0xffff)) return undefined;
    const text = Buffer.alloc(256);
    const read = await handle.read(text, 0, text.length, (offset + 0x200) & 0xffff);
    const end = text.subarray(0, read.bytesRead).indexOf(0);
    if (end === -1) return undefined;
    return text.toString('latin1', 0, end).split(' ')[0];
  } finally {
    await handle.close();
  }
}

export interface TalosUkiInput {
  /** The Talos version as given (e.g. "v1.12.0"): `.osrel` and whether profiles are added. */
  version: string;
  /** OS name for `.osrel` (default "Talos"). */
  name?: string;
  /** The kernel (bzImage on amd64, vmlinuz.efi on arm64). */
  kernel: string;
  /** The initramfs, with extensions already appended. */
  initrd: string;
  cmdline: string;
  /** `.uname`; read from the bzImage when omitted; null leaves the section out. */
  kernelVersion?: string | null;
  /** `.splash` (a BMP); left out when not given. */
  splash?: PeSectionSource;
  /** Profiles after "main" (from 1.10), e.g. extraUkiProfiles(kind, cmdline). */
  profiles?: readonly UkiProfile[];
}

function text(value: string): PeSectionSource {
  return { data: Buffer.from(value, 'utf8') };
}

/** The sections to append to systemd-stub for a Talos UKI, in upstream's order. */
export async function talosUkiSections(input: TalosUkiInput): Promise<UkiSection[]> {
  const profiles = input.profiles ?? [];
  if (profiles.some((p) => p.id === MAIN_PROFILE_ID)) throw new Error(`uki: profile id '${MAIN_PROFILE_ID}' is reserved`);
  const uname = input.kernelVersion === undefined ? await bzImageKernelVersion(input.kernel) : input.kernelVersion;

  const sections: UkiSection[] = [
    { name: '.osrel', source: text(osRelease(input.version, input.name)) },
    { name: '.cmdline', source: text(input.cmdline) },
  ];
  if (uname) sections.push({ name: '.uname', source: text(uname) });
  if (input.splash) sections.push({ name: '.splash', source: input.splash });
  sections.push({ name: '.linux', source: { path: input.kernel } }, { name: '.initrd', source: { path: input.initrd } });

  if (supportsUkiProfiles(input.version)) {
    for (const profile of [{ id: MAIN_PROFILE_ID }, ...profiles]) {
      sections.push({ name: '.profile', source: text(profileText(profile)) });
      if (profile.cmdline) sections.push({ name: '.cmdline', source: text(profile.cmdline) });
    }
  }
  return sections;
}
