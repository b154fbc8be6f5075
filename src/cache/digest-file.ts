// SHA-256 and SHA-512 of a file in one streaming pass.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export async function digestFile(path: string): Promise<{ sha256: string; sha512: string; size: number }> {
  const sha256 = createHash('sha256');
  const sha512 = createHash('sha512');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    sha256.update(chunk);
    sha512.update(chunk);
    size += chunk.length;
  }
  return { sha256: sha256.digest('hex'), sha512: sha512.digest('hex'), size };
}
