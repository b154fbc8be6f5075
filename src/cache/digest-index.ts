// Which cached asset holds a blob or manifest digest, for registry clients that
// ask by digest after resolving a tag. One small file per digest under the data
// directory, shared by the processes on one machine.

import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../durable-file.js';
import { digestHex } from '../oci/digest.js';

export class DigestIndex {
  constructor(private readonly dir: string) {}

  async record(digests: readonly string[], key: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    for (const digest of digests) {
      const path = join(this.dir, digestHex(digest));
      const current = await readFile(path, 'utf8').catch(() => undefined);
      if (current !== key) await writeFileAtomic(path, key);
    }
  }

  async lookup(digest: string): Promise<string | undefined> {
    return readFile(join(this.dir, digestHex(digest)), 'utf8').catch(() => undefined);
  }
}
