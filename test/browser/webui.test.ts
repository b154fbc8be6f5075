// The web UI as a user meets it, in Debian's headless Chromium: the wizard for
// bare metal / v1.12.0 / amd64 / two extensions / one kernel argument reaches
// the ID POST /schematics gives for the same YAML, "prepare" takes the ISO from
// "not built" to "ready", the browser downloads it and its SHA-256 is its
// `.sha256`; the same walk without JavaScript reaches the same ID; every page
// fits a 390×844 phone without horizontal scrolling, has no serious or critical
// axe-core violation, asks nothing of other origins, and is well under 100 KB.
// Screenshots of each step go to .cache/webui-screenshots/.

import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, browserSkipReason, launchBrowser } from '../helpers/browser.js';
import { ensureDevRelease } from '../helpers/dev-release.js';
import { startService, type ServiceProcess } from '../helpers/server.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const SHOTS = join(ROOT, '.cache', 'webui-screenshots');
const AXE = readFileSync(join(ROOT, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
const PHONE = { width: 390, height: 844 };
const SKIP = browserSkipReason();

const EXTENSIONS = ['siderolabs/dev-ucode', 'siderolabs/dummy-module'];
const KERNEL_ARG = 'net.ifnames=0';
/** What the walk describes, written by hand (the wizard sorts extensions, as upstream's does). */
const EXPECTED_YAML = `customization:\n  extraKernelArgs: [${KERNEL_ARG}]\n  systemExtensions:\n    officialExtensions: [${EXTENSIONS.join(', ')}]\n`;

let svc: ServiceProcess;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === 'object' && address ? address.port : 0;
}

beforeAll(async () => {
  if (SKIP) return;
  mkdirSync(SHOTS, { recursive: true });
  const release = await ensureDevRelease();
  // Links are written with IF_EXTERNAL_URL, so the service must know the address the browser uses.
  const port = await freePort();
  svc = await startService(undefined, { IF_RELEASE_LAYOUT_DIR: release.layoutDir, IF_EXTERNAL_URL: `http://127.0.0.1:${port}/` }, `127.0.0.1:${port}`);
}, 600_000);
afterAll(async () => {
  await svc?.stop();
});

/** Checks every page the way the issue asks, and keeps a screenshot of it. */
async function inspect(page: Page, name: string, { axe }: { axe: boolean }): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
  expect(overflow, `${name}: horizontal scroll at ${PHONE.width}px`).toBeLessThanOrEqual(0);
  // The page's URL can be shared: fetched anew, the server renders the same page.
  const html = await (await fetch(page.url())).text();
  expect(Buffer.byteLength(html), `${name}: page size`).toBeLessThan(100_000);
  expect(html, `${name}: its URL renders it again`).toContain(`<h1>${await page.locator('h1').innerHTML()}</h1>`);
  if (!axe) return;
  // Evaluated through the DevTools protocol: the page's CSP (scripts from its own origin only) stays on.
  await page.evaluate(AXE);
  const violations = await page.evaluate<Array<{ id: string; impact: string; nodes: string[] }>>(
    'axe.run(document).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")) })))',
  );
  expect(
    violations.filter((v) => v.impact === 'serious' || v.impact === 'critical'),
    `${name}: accessibility`,
  ).toEqual([]);
}

/** Requests the pages make to anything but the factory (there must be none: air-gapped sites). */
function foreignRequests(browser: Browser): string[] {
  const foreign: string[] = [];
  browser.context.on('request', (request) => {
    if (!request.url().startsWith(svc.url) && !request.url().startsWith('data:')) foreign.push(request.url());
  });
  return foreign;
}

async function postSchematic(yaml: string): Promise<string> {
  const res = await fetch(`${svc.url}/schematics`, { method: 'POST', body: yaml });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

let walkedId: string;

describe.skipIf(SKIP !== undefined)('web UI in Chromium', () => {
  it('walks the wizard with JavaScript: same ID as POST /schematics, ISO prepared to ready, download matches its .sha256', async () => {
    const browser = await launchBrowser({ javaScript: true, viewport: PHONE });
    const foreign = foreignRequests(browser);
    const errors: string[] = [];
    try {
      const page = await browser.context.newPage();
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      await page.goto(`${svc.url}/`);
      await expect.poll(() => page.locator('h1').textContent()).toBe('Hardware type');
      await inspect(page, '1-hardware', { axe: true });
      await page.getByLabel('Bare metal').check();
      await page.getByRole('button', { name: 'Next' }).click();

      await expect.poll(() => page.locator('h1').textContent()).toBe('Talos version');
      // Partial update: the step came without a page load, and its URL can be shared.
      expect(new URL(page.url()).search).toBe('?target=metal');
      expect(await page.locator('#version').inputValue()).toBe('v1.12.0');
      // Grouped by minor release, newest first.
      expect(await page.locator('#version optgroup').evaluateAll((groups) => groups.map((g) => `${g.getAttribute('label')}: ${[...g.querySelectorAll('option')].map((o) => o.value).join(',')}`))).toEqual([
        'Talos 1.12: v1.12.0',
        'Talos 1.7: v1.7.6',
      ]);
      await inspect(page, '2-version', { axe: true });
      await page.getByRole('button', { name: 'Next' }).click();

      await expect.poll(() => page.locator('h1').textContent()).toBe('Architecture');
      expect(await page.locator('input[name=secureboot]').isDisabled()).toBe(true);
      expect(await page.locator('#secureboot-reason').textContent()).toMatch(/SecureBoot is not available/);
      await inspect(page, '3-arch', { axe: true });
      await page.getByLabel('amd64').check();
      await page.getByRole('button', { name: 'Next' }).click();

      await expect.poll(() => page.locator('h1').textContent()).toBe('System extensions');
      await inspect(page, '4-extensions', { axe: true });
      // Live search: typing filters the list without a request.
      // A catalog's text is shown as text.
      expect(await page.getByText('/usr/lib/modules/<kernel>/extras', { exact: false }).count()).toBe(1);
      await page.locator('#extension-search').fill('ucode');
      await expect.poll(() => page.locator('li.extension:visible').count()).toBe(1);
      await page.getByLabel('siderolabs/dev-ucode').check();
      await page.locator('#extension-search').fill('');
      await expect.poll(() => page.locator('li.extension:visible').count()).toBe(4);
      await page.getByLabel('siderolabs/dummy-module').check();
      await page.getByRole('button', { name: 'Next' }).click();

      await expect.poll(() => page.locator('h1').textContent()).toBe('Customization');
      await page.getByLabel('Extra kernel arguments').fill(KERNEL_ARG);
      await inspect(page, '5-customization', { axe: true });
      await page.getByRole('button', { name: 'Create schematic' }).click();

      await expect.poll(() => page.locator('h1').textContent()).toBe('Your Talos v1.12.0 image');
      walkedId = (await page.locator('#schematic-id').textContent())!;
      const shownYaml = (await page.locator('#schematic-yaml').textContent())!;
      expect(await postSchematic(shownYaml)).toBe(walkedId);
      expect(await postSchematic(EXPECTED_YAML)).toBe(walkedId);
      await inspect(page, '6-result', { axe: true });
      // Copy buttons put the text on the clipboard.
      await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: svc.url });
      await page.getByRole('button', { name: 'Copy Schematic ID' }).click();
      expect(await page.evaluate('navigator.clipboard.readText()')).toBe(walkedId);

      const iso = page.locator('li.asset[data-file="metal-amd64.iso"]');
      await expect.poll(() => iso.locator('.state').textContent()).toBe('Not built yet');
      // Every state the ISO's block shows, as the status stream updates it.
      await page.evaluate(`(() => {
        const block = document.querySelector('li.asset[data-file="metal-amd64.iso"] .status');
        const state = () => block.dataset.state + (block.querySelector('progress') ? '+progress' : '');
        window.seenStates = [state()];
        new MutationObserver(() => window.seenStates.at(-1) !== state() && window.seenStates.push(state())).observe(block, { attributes: true, childList: true, subtree: true });
      })()`);
      await iso.getByRole('button', { name: 'Prepare' }).click();
      await expect.poll(() => iso.locator('.state').textContent(), { timeout: 600_000, interval: 1000 }).toMatch(/^Ready \(\d/);
      const seen = await page.evaluate<string[]>('window.seenStates');
      expect(seen[0]).toBe('idle');
      expect(seen).toContain('building+progress');
      expect(seen.at(-1)).toBe('cached');
      await page.screenshot({ path: join(SHOTS, '7-result-iso-ready.png'), fullPage: true });
      // The README's picture (docs/web-ui.png) is this one, at a desktop size.
      await page.setViewportSize({ width: 1100, height: 1000 });
      await page.evaluate('window.scrollTo(0, 0)');
      await page.screenshot({ path: join(SHOTS, 'readme-result.png') });
      await page.setViewportSize(PHONE);

      // The browser downloads the ISO from its link; its SHA-256 is the one its .sha256 link gives.
      const link = iso.getByRole('link', { name: 'metal-amd64.iso', exact: true });
      const href = (await link.getAttribute('href'))!;
      expect(href).toBe(`${svc.url}/image/${walkedId}/v1.12.0/metal-amd64.iso`);
      const [download] = await Promise.all([page.waitForEvent('download', { timeout: 300_000 }), link.click()]);
      const file = await download.path();
      const published = await (await fetch(`${href}.sha256`)).text();
      expect(published).toBe(`${await sha256File(file)}  metal-amd64.iso\n`);

      // Every link the result names, as a user must type it.
      expect(await page.locator('#installer').textContent()).toBe(`${new URL(svc.url).host}/metal-installer/${walkedId}:v1.12.0`);
      expect(await page.locator('#upgrade').textContent()).toBe(`talosctl upgrade --image ${new URL(svc.url).host}/metal-installer/${walkedId}:v1.12.0`);
      expect(await page.locator('#pxe-url').textContent()).toBe(`${svc.url}/pxe/${walkedId}/v1.12.0/metal-amd64`);
      const files = await page.locator('li.asset').evaluateAll((items) => items.map((i) => i.getAttribute('data-file')));
      expect(files).toEqual(['metal-amd64.iso', 'metal-amd64.raw.zst', 'metal-amd64.qcow2', 'metal-amd64-uki.efi', 'kernel-amd64', 'initramfs-amd64.xz', 'cmdline-metal-amd64']);
      expect(foreign).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 900_000);

  it('walks the same wizard without JavaScript to the same ID, with server-side search and prepare', async () => {
    const browser = await launchBrowser({ javaScript: false, viewport: PHONE });
    const foreign = foreignRequests(browser);
    try {
      const page = await browser.context.newPage();
      await page.goto(`${svc.url}/`);
      await page.getByLabel('Bare metal').check();
      await page.getByRole('button', { name: 'Next' }).click();
      await expect.poll(() => page.locator('h1').textContent()).toBe('Talos version');
      await page.getByRole('button', { name: 'Next' }).click();
      await page.getByLabel('amd64').check();
      await page.getByRole('button', { name: 'Next' }).click();
      await expect.poll(() => page.locator('h1').textContent()).toBe('System extensions');
      // The filter is a form submission here; a chosen extension the filter hides is kept.
      await page.locator('#extension-search').fill('ucode');
      await page.getByRole('button', { name: 'Filter' }).click();
      expect(await page.locator('li.extension').count()).toBe(1);
      await page.getByLabel('siderolabs/dev-ucode').check();
      await page.locator('#extension-search').fill('dummy');
      await page.getByRole('button', { name: 'Filter' }).click();
      expect(await page.locator('li.extension').count()).toBe(1);
      await page.getByLabel('siderolabs/dummy-module').check();
      await inspect(page, 'nojs-4-extensions', { axe: false });
      await page.getByRole('button', { name: 'Next' }).click();
      await expect.poll(() => page.locator('h1').textContent()).toBe('Customization');
      await page.getByLabel('Extra kernel arguments').fill(KERNEL_ARG);
      await page.getByRole('button', { name: 'Create schematic' }).click();
      await expect.poll(() => page.locator('h1').textContent()).toBe('Your Talos v1.12.0 image');
      expect(await page.locator('#schematic-id').textContent()).toBe(await postSchematic(EXPECTED_YAML));
      await inspect(page, 'nojs-6-result', { axe: false });

      // "Prepare" is a form: the server starts the build and shows the page again with its state.
      const kernel = page.locator('li.asset[data-file="kernel-amd64"]');
      expect(await kernel.locator('.state').textContent()).toBe('Not built yet');
      await kernel.getByRole('button', { name: 'Prepare' }).click();
      await expect.poll(() => page.locator('h1').textContent()).toBe('Your Talos v1.12.0 image');
      expect(await page.locator('li.asset[data-file="kernel-amd64"] .status').getAttribute('data-state')).toMatch(/queued|building|cached/);
      expect(foreign).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 300_000);

  it('shows what users and catalogs supply as text, and answers unknown choices with the step and a message', async () => {
    const browser = await launchBrowser({ javaScript: true, viewport: PHONE });
    try {
      const page = await browser.context.newPage();
      const attack = '<script>window.pwned=1</script>';
      await page.goto(`${svc.url}/?target=metal&version=v1.12.0&arch=amd64&extensions-set=1&cmdline=${encodeURIComponent(attack)}`);
      expect(await page.getByLabel('Extra kernel arguments').inputValue()).toBe(attack);
      await page.getByRole('button', { name: 'Create schematic' }).click();
      await expect.poll(() => page.locator('#schematic-yaml').textContent()).toContain(`- ${attack}`);
      expect(await page.evaluate('typeof window.pwned')).toBe('undefined');

      for (const [query, step, message] of [
        ['target=toaster', 'Hardware type', 'Unknown hardware type "toaster"'],
        ['target=metal&version=v9.9.9', 'Talos version', 'Talos version "v9.9.9" is not available'],
        ['target=cloud&version=v1.12.0&platform=<b>x', 'Cloud platform', 'Unknown platform "<b>x"'],
        ['target=sbc&version=v1.12.0&board=nope', 'Board', 'Unknown board "nope"'],
        ['target=metal&version=v1.12.0&arch=s390x', 'Architecture', 'Architecture "s390x" is not available'],
        ['target=metal&version=v1.12.0&arch=amd64&secureboot=true', 'Architecture', 'SecureBoot is not available'],
        ['target=metal&version=v1.12.0&arch=amd64&extensions=siderolabs/nope&extensions-set=1', 'System extensions', 'siderolabs/nope'],
      ] as const) {
        const response = await page.goto(`${svc.url}/?${query}`);
        expect(response!.status(), query).toBe(400);
        expect(await page.locator('h1').textContent(), query).toBe(step);
        expect(await page.locator('.problem').first().textContent(), query).toContain(message);
      }

      // Boards: overlays are not built yet, and the step says so.
      await page.goto(`${svc.url}/?target=sbc&version=v1.12.0`);
      expect(await page.locator('.notice').textContent()).toMatch(/not built by this factory yet.*501/);
      await inspect(page, 'sbc-board', { axe: true });

      // Overlay options: a mistake is shown next to that field, counted in its own lines.
      await page.goto(`${svc.url}/?target=sbc&version=v1.12.0&board=devboard&arch=arm64&extensions-set=1`);
      await page.getByLabel('Overlay options (YAML, optional)').fill('dtoverlay: [');
      await page.getByRole('button', { name: 'Create schematic' }).click();
      await expect.poll(() => page.locator('#overlay-options-error').textContent()).toMatch(/^yaml: line [12]: /);

      // Pasted YAML: an error is shown next to the field, and nothing is created.
      await page.goto(`${svc.url}/ui/paste`);
      await page.getByLabel('Schematic', { exact: true }).fill('customization:\n  extraKernelArg: [nolapic]\n');
      await page.getByRole('button', { name: 'Create schematic' }).click();
      await expect.poll(() => page.locator('#yaml-error').textContent()).toBe('yaml: construct errors: line 2: field extraKernelArg not found in type schematic.Customization');
      await inspect(page, 'paste-error', { axe: true });
      await page.getByLabel('Schematic', { exact: true }).fill(EXPECTED_YAML);
      await page.getByRole('button', { name: 'Create schematic' }).click();
      await expect.poll(() => page.locator('#schematic-id').textContent()).toBe(await postSchematic(EXPECTED_YAML));

      // Reopening a schematic fills the wizard with its choices.
      await page.goto(`${svc.url}/?schematic-id=${walkedId ?? (await postSchematic(EXPECTED_YAML))}&target=metal&version=v1.12.0&arch=amd64`);
      await expect.poll(() => page.locator('h1').textContent()).toBe('System extensions');
      for (const name of EXTENSIONS) expect(await page.getByLabel(name).isChecked()).toBe(true);
      await page.getByRole('button', { name: 'Next' }).click();
      await expect.poll(() => page.getByLabel('Extra kernel arguments').inputValue()).toBe(KERNEL_ARG);

      await page.goto(`${svc.url}/api`);
      await inspect(page, 'api', { axe: true });
    } finally {
      await browser.close();
    }
  }, 300_000);
});
