// Schematics as files: <dir>/<id[0:2]>/<id>.yaml. A put writes a temporary
// file, fsyncs it, renames it into place and fsyncs the directory, so a crash
// (even kill -9 or power loss) leaves either no file or the whole file.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ensureDir, writeFileAtomic } from '../../durable-file.js';
import type { SchematicStore } from './store.js';

export class FsSchematicStore implements SchematicStore {
  constructor(
    private readonly dir: string,
    private readonly log?: Logger,
  ) {}

  private pathOf(id: string): { dir: string; file: string } {
    const dir = join(this.dir, id.slice(0, 2));
    return { dir, file: join(dir, `${id}.yaml`) };
  }

  async get(id: string): Promise<string | undefined> {
    let text: string;
    try {
      text = await readFile(this.pathOf(id).file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    // A file that does not hash to its name was damaged outside our control:
    // treat it as absent so that the next create rewrites it.
    if (createHash('sha256').update(text, 'utf8').digest('hex') !== id) {
      this.log?.warn({ schematic: id }, 'stored schematic does not match its ID; ignoring it');
      return undefined;
    }
    return text;
  }

  async put(id: string, canonical: string): Promise<void> {
    const { dir, file } = this.pathOf(id);
    await ensureDir(dir);
    await writeFileAtomic(file, canonical);
  }
}
