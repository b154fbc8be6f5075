// writeFileAtomic's no-replace mode, which the generated installer signing key
// relies on: of many writers racing for one path exactly one wins, the others
// are told so, and the file holds the winner's whole content.

import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/durable-file.js';

const dir = mkdtempSync(join(tmpdir(), 'durable-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('writeFileAtomic without replacing', () => {
  it('lets exactly one of many racing writers win and leaves no temporary files', async () => {
    const path = join(dir, 'key.pem');
    const contents = Array.from({ length: 16 }, (_, i) => `writer ${i}\n`.repeat(1000));
    const won = await Promise.all(contents.map((c) => writeFileAtomic(path, c, 0o600, false)));
    expect(won.filter(Boolean)).toHaveLength(1);
    expect(readFileSync(path, 'utf8')).toBe(contents[won.indexOf(true)]);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(['key.pem']);
    // A later writer keeps it too.
    expect(await writeFileAtomic(path, 'late', 0o600, false)).toBe(false);
    expect(readFileSync(path, 'utf8')).toBe(contents[won.indexOf(true)]);
  });

  it('replaces by default', async () => {
    const path = join(dir, 'plain');
    expect(await writeFileAtomic(path, 'one')).toBe(true);
    expect(await writeFileAtomic(path, 'two')).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe('two');
  });
});
