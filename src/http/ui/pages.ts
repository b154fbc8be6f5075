// The web UI's pages, rendered on the server from the wizard state: every
// step is a plain form (GET, so its URL can be shared; the last one POSTs
// because it creates a schematic), the result page lists every link, and
// app.js only enhances what is already there.

import type { ExtensionRef } from '../../release/catalog.js';
import { Quirks } from '../../talos/quirks.js';
import { type TalosVersion, versionTag } from '../../talos/version.js';
import { VERSION } from '../../version.js';
import { type Html, html, type HtmlValue, query } from './html.js';
import type { AssetLink, ResultLinks } from './links.js';
import { STATIC_FILES } from './static-files.js';
import {
  BOOTLOADER_CHOICES,
  bootloaderChoice,
  type Choices,
  OVERLAYS_NOT_BUILT,
  SECURE_BOOT_UNAVAILABLE,
  type Step,
  type StepName,
  stateParams,
  type Target,
} from './wizard.js';

export function page(title: string, body: Html): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${title} · Talos Linux Image Factory</title>
<link rel="stylesheet" href="${STATIC_FILES.css.url}">
<script src="${STATIC_FILES.js.url}" defer></script>
</head>
<body>
<header class="top"><a class="brand" href="/">Talos Linux Image Factory</a>
<nav aria-label="Main"><a href="/">New image</a> <a href="/ui/paste">Paste a schematic</a> <a href="/api">API</a></nav></header>
<main id="main">
${body}
</main>
<footer>Image Factory ${VERSION}</footer>
</body>
</html>
`.text;
}

const TARGET_LABELS: Record<Target, { label: string; hint: string }> = {
  metal: { label: 'Bare metal', hint: 'A physical machine or a local VM: ISO, disk image, PXE boot.' },
  cloud: { label: 'Cloud server or virtual platform', hint: 'AWS, GCP, Azure, VMware, Hetzner, … : the platform’s disk image.' },
  sbc: { label: 'Single-board computer', hint: 'Raspberry Pi, Rock Pi, Jetson, … : a board image with its overlay.' },
};

const STEP_TITLES: Record<StepName, string> = {
  hardware: 'Hardware type',
  version: 'Talos version',
  platform: 'Cloud platform',
  board: 'Board',
  arch: 'Architecture',
  extensions: 'System extensions',
  customization: 'Customization',
};

function hidden(pairs: ReadonlyArray<readonly [string, string]>): Html[] {
  return pairs.map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`);
}

function problemBox(problem: string | undefined): HtmlValue {
  return problem && html`<p class="problem" role="alert">${problem}</p>`;
}

/** What was chosen so far, each with a link back to its step. */
function summary(choices: Choices, current: StepName | 'result'): Html {
  const rows: Array<[StepName, string]> = [];
  if (choices.target) rows.push(['hardware', TARGET_LABELS[choices.target].label]);
  if (choices.version) rows.push(['version', versionTag(choices.version)]);
  if (choices.target === 'cloud' && choices.platform) rows.push(['platform', choices.platform.listing?.label ?? choices.platform.name]);
  if (choices.board) rows.push(['board', choices.board.name]);
  if (choices.arch) rows.push(['arch', choices.arch]);
  if (choices.extensionsSet && current !== 'extensions') rows.push(['extensions', choices.extensions.length === 0 ? 'none' : choices.extensions.join(', ')]);
  const shown = rows.filter(([step]) => step !== current);
  if (shown.length === 0) return html``;
  return html`<dl class="summary">${shown.map(
    ([step, value]) => html`<div><dt>${STEP_TITLES[step]}</dt><dd>${value} <a href="/${query(stateParams(choices, step))}" aria-label="Change ${STEP_TITLES[step]}">change</a></dd></div>`,
  )}</dl>`;
}

function radios(name: string, legend: string, options: Array<{ value: string; label: string; hint?: string }>, selected: string | undefined): Html {
  return html`<fieldset><legend>${legend}</legend>${options.map(
    (o, i) => html`<label class="choice"><input type="radio" name="${name}" value="${o.value}"${(selected ? o.value === selected : i === 0) ? html` checked` : ''} required>
<span><strong>${o.label}</strong>${o.hint && html`<small>${o.hint}</small>`}</span></label>`,
  )}</fieldset>`;
}

function stepForm(step: Step, controls: Html, next = 'Next'): Html {
  return html`<form method="get" action="/" class="step" data-step="${step.name}">
${hidden(stateParams(step.choices, step.name))}
${controls}
<p><button type="submit" class="primary">${next}</button></p>
</form>`;
}

function versionLabel(v: TalosVersion, stable: TalosVersion | undefined): string {
  if (stable && v.compare(stable) === 0) return `${versionTag(v)} (latest stable)`;
  return v.prerelease.length > 0 ? `${versionTag(v)} (pre-release)` : versionTag(v);
}

/** The versions as options grouped by minor release (`Talos 1.12`), in the order given. */
function versionOptions(versions: readonly TalosVersion[], isSelected: (v: TalosVersion) => boolean, stable: TalosVersion | undefined): Html[] {
  const groups = new Map<string, TalosVersion[]>();
  for (const v of versions) {
    const minor = `${v.major}.${v.minor}`;
    groups.set(minor, [...(groups.get(minor) ?? []), v]);
  }
  return [...groups].map(
    ([minor, members]) =>
      html`<optgroup label="Talos ${minor}">${members.map((v) => html`<option value="${versionTag(v)}"${isSelected(v) ? html` selected` : ''}>${versionLabel(v, stable)}</option>`)}</optgroup>`,
  );
}

function extensionItem(e: ExtensionRef, checked: boolean): Html {
  const search = `${e.repository} ${e.description} ${e.author}`.toLowerCase();
  return html`<li class="extension" data-search="${search}"><label class="choice"><input type="checkbox" name="extensions" value="${e.repository}"${checked ? html` checked` : ''}>
<span><strong>${e.repository}</strong>${e.description && html`<small>${e.description}</small>`}${e.author && html`<small class="author">by ${e.author}</small>`}</span></label></li>`;
}

function extensionsControls(step: Step, filter: string): Html {
  const catalog = step.extensions ?? [];
  const needle = filter.trim().toLowerCase();
  const matches = (e: ExtensionRef): boolean => needle === '' || `${e.repository} ${e.description} ${e.author}`.toLowerCase().includes(needle);
  const shown = catalog.filter(matches);
  const chosen = new Set(step.choices.extensions);
  // Chosen extensions the filter hides still travel with the form.
  const kept = step.choices.extensions.filter((name) => !shown.some((e) => e.repository === name));
  return html`<div class="search"><label for="extension-search">Search extensions</label>
<input type="search" id="extension-search" name="q" value="${filter}" placeholder="e.g. intel, nvidia, iscsi" autocomplete="off">
<button type="submit" name="filter" value="1" class="secondary">Filter</button></div>
${hidden(kept.map((name) => ['extensions', name] as const))}
<input type="hidden" name="extensions-set" value="1">
<p class="count" aria-live="polite">${shown.length} of ${catalog.length} extensions shown; choose none, one or many.</p>
<ul class="extensions">${shown.map((e) => extensionItem(e, chosen.has(e.repository)))}</ul>`;
}

/** Problems found when the schematic was created, by the field they belong to. */
export interface FieldErrors {
  cmdline?: string;
  embeddedConfig?: string;
  overlayOptions?: string;
  form?: string;
}

export interface CustomizationValues {
  embeddedConfig: string;
  overlayOptions: string;
}

function fieldError(id: string, message: string | undefined): HtmlValue {
  return message && html`<p class="problem field" id="${id}-error" role="alert">${message}</p>`;
}

function describedBy(id: string, hint: boolean, message: string | undefined): Html {
  const ids = [hint ? `${id}-hint` : '', message ? `${id}-error` : ''].filter(Boolean).join(' ');
  return ids === '' ? html`` : html` aria-describedby="${ids}"${message ? html` aria-invalid="true"` : ''}`;
}

function customizationForm(step: Step, values: CustomizationValues, errors: FieldErrors): Html {
  const c = step.choices;
  const version = c.version!;
  const quirks = new Quirks(version);
  return html`<form method="post" action="/ui/schematics" class="step" data-step="customization">
${hidden(stateParams(c, 'customization'))}
<input type="hidden" name="cmdline-set" value="1">
${fieldError('form', errors.form)}
<div class="field"><label for="cmdline">Extra kernel arguments</label>
<input type="text" id="cmdline" name="cmdline" value="${c.cmdline}" autocomplete="off" spellcheck="false"${describedBy('cmdline', true, errors.cmdline)}>
<p class="hint" id="cmdline-hint">Separated by spaces, e.g. <code>net.ifnames=0 console=ttyS1</code>. Leave empty for none.</p>
${fieldError('cmdline', errors.cmdline)}</div>
${
  bootloaderChoice(version)
    ? html`<div class="field"><label for="bootloader">Bootloader</label>
<select id="bootloader" name="bootloader">${BOOTLOADER_CHOICES.map(
        (b) => html`<option value="${b}"${b === c.bootloader ? html` selected` : ''}>${b === 'auto' ? 'auto (the version’s default)' : b}</option>`,
      )}</select></div>`
    : html`<p class="hint">The bootloader is chosen by Talos ${versionTag(version)} itself (it can be chosen from Talos 1.12).</p>`
}
${
  quirks.supportsEmbeddedConfig()
    ? html`<div class="field"><label for="embedded-config">Embedded machine configuration (optional)</label>
<textarea id="embedded-config" name="embedded-config" rows="6" spellcheck="false"${describedBy('embedded-config', true, errors.embeddedConfig)}>${values.embeddedConfig}</textarea>
<p class="hint" id="embedded-config-hint">YAML documents the machine applies at first boot. They become part of the schematic: anyone with its ID can read them.</p>
${fieldError('embedded-config', errors.embeddedConfig)}</div>`
    : ''
}
${
  c.board
    ? html`<div class="field"><label for="overlay-options">Overlay options (YAML, optional)</label>
<textarea id="overlay-options" name="overlay-options" rows="4" spellcheck="false"${describedBy('overlay-options', false, errors.overlayOptions)}>${values.overlayOptions}</textarea>
${fieldError('overlay-options', errors.overlayOptions)}</div>`
    : ''
}
<p><button type="submit" class="primary">Create schematic</button></p>
</form>`;
}

/** One wizard step as a whole page. */
export function stepPage(step: Step, extras: { filter: string; values?: CustomizationValues; errors?: FieldErrors }): string {
  const c = step.choices;
  let controls: Html;
  switch (step.name) {
    case 'hardware':
      controls = stepForm(
        step,
        radios(
          'target',
          'What will run Talos?',
          (Object.keys(TARGET_LABELS) as Target[]).map((t) => ({ value: t, ...TARGET_LABELS[t] })),
          c.target,
        ),
      );
      break;
    case 'version': {
      const versions = step.versions ?? [];
      controls =
        versions.length === 0
          ? html`<p class="problem" role="alert">This factory offers no Talos version${c.target === 'sbc' ? ' that supports single-board computers (1.7 or newer)' : ''}.</p>`
          : stepForm(
              step,
              html`<div class="field"><label for="version">Talos version</label>
<select id="version" name="version">${versionOptions(versions, (v) => step.defaultVersion !== undefined && v.compare(step.defaultVersion) === 0, step.defaultVersion)}</select></div>`,
            );
      break;
    }
    case 'platform':
      controls = stepForm(
        step,
        radios(
          'platform',
          'Which platform?',
          (step.platforms ?? []).map((p) => ({ value: p.name, label: p.listing?.label ?? p.name, hint: p.name })),
          step.platforms?.some((p) => p.name === 'aws') ? 'aws' : undefined,
        ),
      );
      break;
    case 'board': {
      const boards = step.boards ?? [];
      controls = html`<p class="notice">${OVERLAYS_NOT_BUILT}</p>
${
  boards.length === 0
    ? html`<p class="problem" role="alert">The overlay catalog of Talos ${versionTag(c.version!)} lists no boards.</p>`
    : stepForm(
        step,
        radios(
          'board',
          'Which board?',
          boards.map((b) => ({ value: b.name, label: b.name, hint: b.repository })),
          boards.some((b) => b.name === 'rpi_generic') ? 'rpi_generic' : undefined,
        ),
      )
}`;
      break;
    }
    case 'arch':
      controls = stepForm(
        step,
        html`${radios(
          'arch',
          'Which CPU architecture?',
          (step.architectures ?? []).map((a) => ({ value: a, label: a, hint: a === 'amd64' ? 'x86-64 (Intel, AMD)' : 'ARM 64-bit (aarch64)' })),
          undefined,
        )}
${
  step.secureBootOffered
    ? html`<div class="field"><label class="choice disabled"><input type="checkbox" name="secureboot" value="true" disabled aria-describedby="secureboot-reason">
<span><strong>SecureBoot</strong><small id="secureboot-reason">${SECURE_BOOT_UNAVAILABLE}</small></span></label></div>`
    : ''
}`,
      );
      break;
    case 'extensions':
      controls = stepForm(step, extensionsControls(step, extras.filter));
      break;
    case 'customization':
      controls = customizationForm(step, extras.values ?? { embeddedConfig: '', overlayOptions: '' }, extras.errors ?? {});
      break;
  }
  return page(
    STEP_TITLES[step.name],
    html`<h1>${STEP_TITLES[step.name]}</h1>
${summary(c, step.name)}
${problemBox(step.problem)}
${controls}`,
  );
}

export interface AssetState {
  state: 'cached' | 'idle' | 'queued' | 'building' | 'done' | 'failed' | 'unavailable';
  progress?: number;
  stage?: string;
  error?: string;
  size?: number;
}

function formatSize(bytes: number): string {
  if (bytes >= 1024 * 1024 * 1024) return `${(bytes / 1024 / 1024 / 1024).toFixed(1)} GiB`;
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

/** The state text and controls of one asset; app.js renders the same markup from the status stream. */
function statusBlock(status: AssetState, prepareAction: string, back: string): Html {
  const prepare = html`<form method="post" action="${prepareAction}" class="prepare"><input type="hidden" name="back" value="${back}"><button type="submit" class="secondary">Prepare</button></form>`;
  switch (status.state) {
    case 'cached':
    case 'done':
      return html`<span class="state ready">Ready${status.size !== undefined && ` (${formatSize(status.size)})`}</span>`;
    case 'queued':
      return html`<span class="state building">Queued</span>`;
    case 'building':
      return html`<span class="state building">Building: ${status.stage ?? ''}</span><progress max="100" value="${Math.round(status.progress ?? 0)}" aria-label="Build progress">${Math.round(status.progress ?? 0)}%</progress>`;
    case 'failed':
      return html`<span class="state failed">Build failed: ${status.error ?? ''}</span>${prepare}`;
    case 'unavailable':
      return html`<span class="state failed">Not available: ${status.error ?? ''}</span>`;
    case 'idle':
      return html`<span class="state idle">Not built yet</span>${prepare}`;
  }
}

function copyable(id: string, label: string, text: string, block = false): Html {
  return html`<div class="copyable"><span class="label" id="${id}-label">${label}</span>
${block ? html`<pre id="${id}">${text}</pre>` : html`<code id="${id}">${text}</code>`}
<button type="button" class="copy secondary" data-copy="${id}" aria-label="Copy ${label}" hidden>Copy</button></div>`;
}

export interface ResultPage {
  choices: Choices;
  schematicId: string;
  yaml: string;
  links: ResultLinks;
  statuses: AssetState[];
  /** This page's own URL (prepare forms come back to it). */
  self: string;
  /** The address the browser used differs from IF_EXTERNAL_URL's. */
  hostMismatch?: { requested: string; external: string };
}

function assetItem(r: ResultPage, link: AssetLink, status: AssetState): Html {
  const tag = versionTag(r.choices.version!);
  const path = `${r.schematicId}/${tag}/${link.file}`;
  return html`<li class="asset" data-file="${link.file}">
<div class="asset-head"><strong>${link.label}</strong> <a href="${link.url}" download>${link.file}</a> <a class="sha" href="${link.sha256Url}">${link.file}.sha256</a></div>
<div class="status" data-state="${status.state}" data-events="/status/${path}/events" aria-live="polite">${statusBlock(status, `/ui/prepare/${path}`, r.self)}</div>
</li>`;
}

export function resultPage(r: ResultPage): string {
  const c = r.choices;
  // Back into the wizard at the extensions step, the schematic's choices filled in.
  const reopen = `/${query([['schematic-id', r.schematicId], ...stateParams({ ...c, schematicId: undefined }, 'extensions')])}`;
  return page(
    'Your image',
    html`<h1>Your Talos ${versionTag(c.version!)} image</h1>
${summary(c, 'result')}
${c.target === 'sbc' && html`<p class="notice">${OVERLAYS_NOT_BUILT}</p>`}
${
  r.hostMismatch &&
  html`<p class="notice">The links below use this factory’s external URL (IF_EXTERNAL_URL, host <code>${r.hostMismatch.external}</code>), but you reached it at <code>${r.hostMismatch.requested}</code>. If they do not work for you, set IF_EXTERNAL_URL to the address users type.</p>`
}
<section aria-labelledby="schematic-heading"><h2 id="schematic-heading">Schematic</h2>
${copyable('schematic-id', 'Schematic ID', r.schematicId)}
${copyable('schematic-yaml', 'Schematic YAML', r.yaml, true)}
<p><a href="${reopen}">Change this schematic</a></p></section>
<section aria-labelledby="downloads-heading"><h2 id="downloads-heading">Downloads</h2>
<p class="hint">An asset is built the first time it is asked for; “Prepare” builds it now so the download starts at once.</p>
<ul class="assets">${r.links.assets.map((link, i) => assetItem(r, link, r.statuses[i] ?? { state: 'idle' }))}</ul></section>
<section aria-labelledby="boot-heading"><h2 id="boot-heading">Network boot and upgrades</h2>
${r.links.pxeUrl && copyable('pxe-url', 'iPXE script URL', r.links.pxeUrl)}
${copyable('installer', 'Installer image (machine.install.image)', r.links.installer)}
${copyable('upgrade', 'Upgrade an existing node', r.links.upgradeCommand)}
${
  r.links.insecureRegistry &&
  html`<p class="hint">This factory is served over plain HTTP: machines that pull the installer need a registry mirror for <code>${r.links.registryHost}</code> with the endpoint <code>http://${r.links.registryHost}</code> in their machine configuration.</p>`
}</section>`,
  );
}

export interface PastePage {
  yaml: string;
  versions: TalosVersion[];
  defaultVersion?: TalosVersion;
  version?: string;
  platforms: Array<{ name: string; label: string }>;
  platform?: string;
  arch?: string;
  errors: { yaml?: string; form?: string };
}

export function pastePage(p: PastePage): string {
  return page(
    'Paste a schematic',
    html`<h1>Paste a schematic</h1>
<p>Already have a schematic? Paste it (YAML or JSON, as for <code>POST /schematics</code>) and choose what to boot it on.</p>
<form method="post" action="/ui/paste" class="step">
${fieldError('form', p.errors.form)}
<div class="field"><label for="yaml">Schematic</label>
<textarea id="yaml" name="yaml" rows="12" spellcheck="false" required${describedBy('yaml', false, p.errors.yaml)}>${p.yaml}</textarea>
${fieldError('yaml', p.errors.yaml)}</div>
<div class="field"><label for="paste-version">Talos version</label>
<select id="paste-version" name="version">${versionOptions(
      p.versions,
      (v) => (p.version ? versionTag(v) === p.version : p.defaultVersion !== undefined && v.compare(p.defaultVersion) === 0),
      p.defaultVersion,
    )}</select></div>
<div class="field"><label for="paste-platform">Platform</label>
<select id="paste-platform" name="platform">${p.platforms.map(
      (pl) => html`<option value="${pl.name}"${pl.name === (p.platform ?? 'metal') ? html` selected` : ''}>${pl.label}</option>`,
    )}</select></div>
${radios('arch', 'Architecture', [{ value: 'amd64', label: 'amd64' }, { value: 'arm64', label: 'arm64' }], p.arch)}
<p><button type="submit" class="primary">Create schematic</button></p>
</form>`,
  );
}

/** A page for a request the UI cannot answer (unknown schematic, bad link). */
export function messagePage(title: string, message: string): string {
  return page(title, html`<h1>${title}</h1><p class="problem" role="alert">${message}</p><p><a href="/">Start again</a></p>`);
}
