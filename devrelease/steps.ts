// Build steps whose output is a directory named after a digest of everything
// that goes into it. A step whose directory exists is done; one that fails
// leaves nothing behind; older outputs of the same step are removed.

import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Bump when the builder's output changes for the same inputs. */
export const RECIPE = 'devrelease-3';

export function keyOf(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify([RECIPE, parts])).digest('hex').slice(0, 16);
}

export class Steps {
  constructor(readonly root: string) {}

  /** Where a step's output is (or will be). */
  path(name: string, key: string): string {
    return join(this.root, `${name}@${key}`);
  }

  /**
   * Runs `build` into a fresh directory unless this step already has output
   * for `key`; returns the output directory either way.
   */
  async run(name: string, key: string, build: (dir: string) => Promise<void>): Promise<string> {
    const done = this.path(name, key);
    if (await exists(done)) return done;
    await mkdir(this.root, { recursive: true });
    const tmp = join(this.root, `.tmp-${name}-${randomUUID()}`);
    await mkdir(tmp);
    try {
      await build(tmp);
      await rename(tmp, done);
    } catch (error) {
      await rm(tmp, { recursive: true, force: true });
      throw error;
    }
    await this.prune(name, key);
    return done;
  }

  private async prune(name: string, keep: string): Promise<void> {
    for (const entry of await readdir(this.root)) {
      if (entry.startsWith(`${name}@`) && entry !== `${name}@${keep}`) {
        await rm(join(this.root, entry), { recursive: true, force: true });
      }
    }
  }
}

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
