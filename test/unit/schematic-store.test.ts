import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CachedSchematicStore, FsSchematicStore, parseSchematic, type SchematicStore } from '../../src/schematic/index.js';

const { id, canonical } = parseSchematic('customization: {extraKernelArgs: [store-test]}');

describe('FsSchematicStore', () => {
  it('stores under the ID, survives a new instance, and leaves no temporary files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'if-store-'));
    await new FsSchematicStore(dir).put(id, canonical);
    expect(await new FsSchematicStore(dir).get(id)).toBe(canonical);
    expect(readdirSync(join(dir, id.slice(0, 2)))).toEqual([`${id}.yaml`]);
    expect(await new FsSchematicStore(dir).get('0'.repeat(64))).toBeUndefined();
  });

  it('treats a file whose content does not hash to its name as absent, and a put repairs it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'if-store-'));
    const store = new FsSchematicStore(dir);
    await store.put(id, canonical);
    writeFileSync(join(dir, id.slice(0, 2), `${id}.yaml`), canonical.slice(0, 10));
    expect(await store.get(id)).toBeUndefined();
    await store.put(id, canonical);
    expect(await store.get(id)).toBe(canonical);
  });
});

describe('CachedSchematicStore', () => {
  class CountingStore implements SchematicStore {
    gets = 0;
    readonly data = new Map<string, string>();
    async get(key: string): Promise<string | undefined> {
      this.gets++;
      await new Promise((r) => setTimeout(r, 5));
      return this.data.get(key);
    }
    async put(key: string, value: string): Promise<void> {
      this.data.set(key, value);
    }
  }

  it('shares concurrent reads, caches hits, and forgets misses after the negative TTL', async () => {
    const backend = new CountingStore();
    const cached = new CachedSchematicStore(backend, { capacity: 10, negativeTtlMs: 50 });
    expect(await Promise.all([cached.get(id), cached.get(id), cached.get(id)])).toEqual([undefined, undefined, undefined]);
    expect(backend.gets).toBe(1);
    backend.data.set(id, canonical); // written by another instance
    expect(await cached.get(id)).toBeUndefined(); // still negatively cached
    await new Promise((r) => setTimeout(r, 80));
    expect(await cached.get(id)).toBe(canonical);
    expect(await cached.get(id)).toBe(canonical);
    expect(backend.gets).toBe(2);
  });

  it('a put is visible at once', async () => {
    const backend = new CountingStore();
    const cached = new CachedSchematicStore(backend, { capacity: 10, negativeTtlMs: 60_000 });
    expect(await cached.get(id)).toBeUndefined();
    await cached.put(id, canonical);
    expect(await cached.get(id)).toBe(canonical);
  });
});
