// Debian's Chromium, headless, driven by playwright-core (which never downloads
// a browser): a fresh profile per context, no network services of its own.
// Without chromium a local run skips with what to install; CI fails instead.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';
import { skipUnlessCi } from './tool-skip.js';

export const CHROMIUM = process.env.IF_CHROMIUM ?? '/usr/bin/chromium';

/** Why browser tests cannot run here (undefined when they can); in CI a missing browser is an error. */
export function browserSkipReason(): string | undefined {
  return skipUnlessCi(existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set IF_CHROMIUM)`);
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchBrowser(options: { javaScript: boolean; viewport: { width: number; height: number } }): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'if-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    javaScriptEnabled: options.javaScript,
    viewport: options.viewport,
    acceptDownloads: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
