// The wizard's state: what the query (or a posted form) says was chosen so
// far, checked against the release's versions and catalogs, and which step
// comes next. State lives in the parameters only (upstream's names: target,
// version, platform, board, arch, secureboot, extensions, cmdline,
// bootloader, schematic-id), so every step has a URL that renders it again.

import type { ExtensionRef, OverlayRef } from '../../release/catalog.js';
import type { ReleaseService } from '../../release/release.js';
import type { ParsedSchematic } from '../../schematic/index.js';
import { BOOTLOADERS } from '../../schematic/index.js';
import { allPlatforms, type Arch, findPlatform, type Platform } from '../../talos/platforms.js';
import { Quirks } from '../../talos/quirks.js';
import { compareVersions, parseVersion, parseVersionTolerant, type TalosVersion, versionTag } from '../../talos/version.js';

export const TARGETS = ['metal', 'cloud', 'sbc'] as const;
export type Target = (typeof TARGETS)[number];

export type StepName = 'hardware' | 'version' | 'platform' | 'board' | 'arch' | 'extensions' | 'customization';

/** Upstream's UI hides it: it is only for Omni's bare-metal provider. */
const HIDDEN_EXTENSIONS = new Set(['siderolabs/metal-agent']);

/** The choice "let the version decide" in the bootloader list; the schematic leaves the field unset. */
export const AUTO_BOOTLOADER = 'auto';
export const BOOTLOADER_CHOICES = [AUTO_BOOTLOADER, ...BOOTLOADERS.filter((b) => b !== 'none')];

export const SECURE_BOOT_UNAVAILABLE = 'SecureBoot is not available: this factory has no SecureBoot signing keys configured yet, so it cannot build signed images.';
export const OVERLAYS_NOT_BUILT =
  'Single-board computer images are not built by this factory yet: every asset an overlay changes answers 501 Not Implemented. You can still create the schematic and use its ID elsewhere.';

/** What the parameters chose, each value already checked. */
export interface Choices {
  target?: Target;
  version?: TalosVersion;
  /** The platform assets are named after: metal for bare metal and boards. */
  platform?: Platform;
  board?: OverlayRef;
  arch?: Arch;
  /** Sorted, as upstream's UI does. */
  extensions: string[];
  extensionsSet: boolean;
  cmdline: string;
  cmdlineSet: boolean;
  bootloader: string;
  schematicId?: string;
}

/** The next step to show, what it offers, and why the given value was not taken (if it was not). */
export interface Step {
  name: StepName;
  choices: Choices;
  problem?: string;
  /** Offered values for the step (catalogs and lists the renderer shows). */
  versions?: TalosVersion[];
  defaultVersion?: TalosVersion;
  platforms?: Platform[];
  boards?: OverlayRef[];
  architectures?: readonly Arch[];
  secureBootOffered?: boolean;
  extensions?: ExtensionRef[];
}

/** Every step answered: what the wizard builds the schematic and the links from. */
export interface DoneStep {
  name: 'done';
  choices: Choices & Required<Pick<Choices, 'target' | 'version' | 'platform' | 'arch'>>;
}

/** Read-only parameters: a query string or a posted form. */
export interface Params {
  get(name: string): string | null;
  getAll(name: string): string[];
  has(name: string): boolean;
}

/** The stored schematic behind `schematic-id`, whose values fill what the parameters leave out. */
export function prefill(params: URLSearchParams, existing: ParsedSchematic): URLSearchParams {
  const out = new URLSearchParams(params);
  const c = existing.schematic.customization;
  if (!out.has('extensions-set') && !out.has('extensions')) {
    for (const name of c.systemExtensions.officialExtensions ?? []) out.append('extensions', name);
  }
  if (!out.has('cmdline')) out.set('cmdline', (c.extraKernelArgs ?? []).join(' '));
  if (!out.has('bootloader') && c.bootloader !== 0) out.set('bootloader', BOOTLOADERS[c.bootloader] ?? AUTO_BOOTLOADER);
  if (existing.schematic.overlay.name !== '') {
    if (!out.has('target')) out.set('target', 'sbc');
    if (!out.has('board')) out.set('board', existing.schematic.overlay.name);
  }
  return out;
}

function readVersion(text: string): TalosVersion | undefined {
  try {
    return parseVersionTolerant(text);
  } catch {
    return undefined;
  }
}

function platformArchitectures(target: Target, platform: Platform | undefined): readonly Arch[] {
  if (target === 'sbc') return ['arm64'];
  return platform?.listing?.architectures ?? ['amd64', 'arm64'];
}

/** Cloud platforms offered for a version (those with a listing, metal aside, from their first version on). */
function cloudPlatforms(version: TalosVersion): Platform[] {
  return allPlatforms().filter((p) => p.listing && p.name !== 'metal' && (!p.listing.minVersion || compareVersions(version, parseVersion(p.listing.minVersion)) >= 0));
}

/** Versions a target can be built for, newest first (boards need overlays: 1.7 on). */
function versionsFor(all: TalosVersion[], target: Target): TalosVersion[] {
  return all.filter((v) => target !== 'sbc' || new Quirks(v).supportsOverlay()).reverse();
}

/**
 * Walks the steps in order and stops at the first one the parameters do not
 * answer (or answer with a value that is not on offer: that step again, with
 * the reason). `until` stops after the architecture for pages that need no more.
 */
export async function resolveStep(params: Params, releases: ReleaseService, until: StepName = 'customization'): Promise<Step | DoneStep> {
  const choices: Choices = {
    extensions: [...new Set(params.getAll('extensions').filter((e) => e !== '' && e !== '-'))].sort(),
    extensionsSet: params.has('extensions-set'),
    cmdline: params.get('cmdline') ?? '',
    cmdlineSet: params.has('cmdline-set'),
    bootloader: params.get('bootloader') || AUTO_BOOTLOADER,
    ...(params.get('schematic-id') ? { schematicId: params.get('schematic-id')! } : {}),
  };

  const targetText = params.get('target');
  if (!targetText) return { name: 'hardware', choices };
  if (!(TARGETS as readonly string[]).includes(targetText)) {
    return { name: 'hardware', choices, problem: `Unknown hardware type "${targetText}": choose one of the types below.` };
  }
  const target = targetText as Target;
  choices.target = target;

  const all = await releases.versions();
  const offered = versionsFor(all, target);
  const stable = offered.find((v) => v.prerelease.length === 0) ?? offered[0];
  const versionStep = (problem?: string): Step => ({ name: 'version', choices, versions: offered, ...(stable && { defaultVersion: stable }), ...(problem && { problem }) });
  const versionText = params.get('version');
  if (!versionText) return versionStep();
  const version = readVersion(versionText);
  const known = version && offered.find((v) => v.compare(version) === 0 && v.build.join('.') === version.build.join('.'));
  if (!known) {
    const why = target === 'sbc' ? ' (single-board computers need Talos 1.7 or newer)' : '';
    return versionStep(`Talos version "${versionText}" is not available here${why}: choose one of the versions below.`);
  }
  choices.version = known;

  if (target === 'cloud') {
    const platforms = cloudPlatforms(known);
    const name = params.get('platform');
    if (!name) return { name: 'platform', choices, platforms };
    const platform = platforms.find((p) => p.name === name);
    if (!platform) return { name: 'platform', choices, platforms, problem: `Unknown platform "${name}" for Talos ${versionTag(known)}: choose one of the platforms below.` };
    choices.platform = platform;
  } else {
    choices.platform = findPlatform('metal')!;
  }

  if (target === 'sbc') {
    const boards = await releases.officialOverlays(known);
    const name = params.get('board');
    if (!name) return { name: 'board', choices, boards };
    const board = boards.find((b) => b.name === name);
    if (!board) return { name: 'board', choices, boards, problem: `Unknown board "${name}" for Talos ${versionTag(known)}: choose one of the boards below.` };
    choices.board = board;
  }

  const architectures = platformArchitectures(target, choices.platform);
  // Where SecureBoot images exist at all (UKIs from 1.5; metal and some clouds), even while this factory cannot sign them.
  const secureBootOffered = target !== 'sbc' && (choices.platform.listing?.secureBootSupported ?? false) && new Quirks(known).supportsUki();
  const archStep = (problem?: string): Step => ({ name: 'arch', choices, architectures, secureBootOffered, ...(problem && { problem }) });
  const arch = params.get('arch');
  if (!arch) return archStep();
  if (!(architectures as readonly string[]).includes(arch)) return archStep(`Architecture "${arch}" is not available for ${choices.platform.listing?.label ?? choices.platform.name}: choose one below.`);
  if (params.get('secureboot') === 'true') return archStep(SECURE_BOOT_UNAVAILABLE);
  choices.arch = arch as Arch;

  const done = (): DoneStep => ({
    name: 'done',
    choices: { ...choices, target, version: known, platform: choices.platform!, arch: arch as Arch },
  });
  if (until === 'arch') return done();

  const catalog = (await releases.officialExtensions(known)).filter((e) => !HIDDEN_EXTENSIONS.has(e.repository));
  const unknown = choices.extensions.filter((name) => !catalog.some((e) => e.repository === name));
  if (unknown.length > 0) {
    choices.extensions = choices.extensions.filter((name) => !unknown.includes(name));
    return { name: 'extensions', choices, extensions: catalog, problem: `Not in the extension catalog of Talos ${versionTag(known)}: ${unknown.join(', ')}. Choose from the list below.` };
  }
  if (!choices.extensionsSet || params.has('filter')) return { name: 'extensions', choices, extensions: catalog };

  if (!BOOTLOADER_CHOICES.includes(choices.bootloader) || (choices.bootloader !== AUTO_BOOTLOADER && !bootloaderChoice(known))) {
    const problem = `Bootloader "${choices.bootloader}" cannot be chosen for Talos ${versionTag(known)}: choose one below.`;
    choices.bootloader = AUTO_BOOTLOADER;
    return { name: 'customization', choices, problem };
  }
  if (!choices.cmdlineSet) return { name: 'customization', choices };
  return done();
}

/** The bootloader of ISOs and disk images can be chosen from Talos 1.12. */
export function bootloaderChoice(version: TalosVersion): boolean {
  return new Quirks(version).isoHonoursBootloader();
}

/** Kernel arguments as typed: split on whitespace, empty pieces dropped. */
export function splitCmdline(cmdline: string): string[] {
  return cmdline.split(/\s+/).filter((a) => a !== '');
}

/** What the customization form adds to the choices. */
export interface Customization {
  embeddedConfig: string;
  overlayOptions: string;
}

/**
 * The schematic the choices describe, as YAML for the same parser `POST
 * /schematics` uses: values are JSON-quoted scalars (valid YAML), overlay
 * options are the user's YAML indented into place. Returns the text and the
 * lines the overlay options occupy (to place a parse error next to that field).
 */
export function schematicYaml(choices: Choices, custom: Customization): { text: string; optionLines?: [number, number] } {
  const lines: string[] = [];
  let optionLines: [number, number] | undefined;
  if (choices.board) {
    lines.push('overlay:', `  image: ${JSON.stringify(choices.board.repository)}`, `  name: ${JSON.stringify(choices.board.name)}`);
    const options = custom.overlayOptions.replace(/\r\n?/g, '\n').replace(/\s+$/, '');
    if (options.trim() !== '') {
      lines.push('  options:');
      const first = lines.length + 1;
      lines.push(...options.split('\n').map((l) => `    ${l}`));
      optionLines = [first, lines.length];
    }
  }
  lines.push('customization:');
  const args = splitCmdline(choices.cmdline);
  if (args.length > 0) lines.push('  extraKernelArgs:', ...args.map((a) => `    - ${JSON.stringify(a)}`));
  if (choices.extensions.length > 0) {
    lines.push('  systemExtensions:', '    officialExtensions:', ...choices.extensions.map((e) => `      - ${JSON.stringify(e)}`));
  }
  if (choices.bootloader !== AUTO_BOOTLOADER) lines.push(`  bootloader: ${JSON.stringify(choices.bootloader)}`);
  const config = custom.embeddedConfig.replace(/\r\n?/g, '\n');
  if (config.trim() !== '') lines.push(`  embeddedMachineConfiguration: ${JSON.stringify(config)}`);
  if (lines.at(-1) === 'customization:') lines[lines.length - 1] = 'customization: {}';
  return { text: `${lines.join('\n')}\n`, ...(optionLines && { optionLines }) };
}

/** The parameters that reproduce the choices up to (not including) a step, for links and hidden fields. */
export function stateParams(choices: Choices, before: StepName | 'result'): Array<[string, string]> {
  const order: Array<StepName | 'result'> = ['hardware', 'version', 'platform', 'board', 'arch', 'extensions', 'customization', 'result'];
  const reached = (step: StepName): boolean => order.indexOf(step) < order.indexOf(before);
  const out: Array<[string, string]> = [];
  if (choices.schematicId) out.push(['schematic-id', choices.schematicId]);
  if (choices.target && reached('hardware')) out.push(['target', choices.target]);
  if (choices.version && reached('version')) out.push(['version', versionTag(choices.version)]);
  if (choices.target === 'cloud' && choices.platform && reached('platform')) out.push(['platform', choices.platform.name]);
  if (choices.board && reached('board')) out.push(['board', choices.board.name]);
  if (choices.arch && reached('arch')) out.push(['arch', choices.arch]);
  // Chosen extensions and kernel arguments (a reopened schematic's too) travel with every step before their own.
  if (before !== 'extensions') for (const e of choices.extensions) out.push(['extensions', e]);
  if (reached('extensions')) out.push(['extensions-set', '1']);
  if (order.indexOf(before) < order.indexOf('customization')) {
    if (choices.cmdline !== '') out.push(['cmdline', choices.cmdline]);
    if (choices.bootloader !== AUTO_BOOTLOADER) out.push(['bootloader', choices.bootloader]);
  }
  return out;
}

/** The overlay options of a canonical schematic as YAML text (the lines under `options:`, unindented). */
export function overlayOptionsText(canonical: string): string {
  const lines = canonical.split('\n');
  const start = lines.indexOf('    options:');
  if (start < 0 || lines[0] !== 'overlay:') return '';
  const block: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (!line.startsWith('        ')) break;
    block.push(line.slice(8));
  }
  return block.length > 0 ? `${block.join('\n')}\n` : '';
}
