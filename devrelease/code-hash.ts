// A digest of the code that decides what the release's bytes are: the
// builder's modules, the scripts that go into the images, and the image
// writer. Every cache key includes it, so changing the builder rebuilds.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEVRELEASE_DIR } from './scripts.js';
import { listTree } from './tree.js';

const REPO_DIR = join(DEVRELEASE_DIR, '..');
const EXTRA_FILES = [join(REPO_DIR, 'src', 'oci', 'image-writer.ts')];
/** Modules that never change a byte of the output (CLI, push, report parsing, locking). */
const IGNORED = new Set(['main.ts', 'push.ts', 'report.ts', 'lock.ts', 'code-hash.ts']);

export async function codeHash(): Promise<string> {
  const hash = createHash('sha256');
  const own = (await listTree(DEVRELEASE_DIR))
    .filter((rel) => !rel.endsWith('.md') && !rel.startsWith('.') && !IGNORED.has(rel))
    .map((rel) => join(DEVRELEASE_DIR, rel));
  for (const file of [...own, ...EXTRA_FILES]) {
    const content = await readFile(file).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EISDIR') return undefined;
      throw error;
    });
    if (content === undefined) continue;
    hash.update(`${file.slice(REPO_DIR.length)}\n${content.length}\n`);
    hash.update(content);
  }
  return hash.digest('hex').slice(0, 16);
}
