// The shell scripts that go into the images, with their @NAME@ placeholders
// filled in for one Talos version.

import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TalosRelease } from './talos.js';

export const DEVRELEASE_DIR = dirname(fileURLToPath(import.meta.url));

export const SCRIPTS = {
  init: join(DEVRELEASE_DIR, 'init', 'init'),
  report: join(DEVRELEASE_DIR, 'init', 'report'),
  installer: join(DEVRELEASE_DIR, 'installer', 'installer'),
  overlayInstaller: join(DEVRELEASE_DIR, 'overlay', 'installer'),
} as const;

export async function renderScript(path: string, release: TalosRelease): Promise<string> {
  const values: Record<string, string> = {
    TALOS_VERSION: release.tag,
    MODULES_PATH: release.modulesPath,
    FIRMWARE_PATH: release.firmwarePath,
  };
  const text = await readFile(path, 'utf8');
  const rendered = text.replace(/@([A-Z_]+)@/g, (whole, name: string) => values[name] ?? whole);
  const left = /@[A-Z_]+@/.exec(rendered);
  if (left) throw new Error(`${path}: unknown placeholder ${left[0]}`);
  return rendered;
}
