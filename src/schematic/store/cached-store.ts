// An in-memory LRU in front of another store, as upstream has: found
// schematics stay cached (they never change), misses are remembered briefly,
// and concurrent reads of one ID share a single backend read.

import { LRUCache } from 'lru-cache';
import type { SchematicStore } from './store.js';

export interface CachedStoreOptions {
  /** How many schematics to keep in memory. */
  capacity: number;
  /** How long an unknown ID is remembered as unknown, in milliseconds. */
  negativeTtlMs: number;
}

const MISSING = Symbol('missing');

export class CachedSchematicStore implements SchematicStore {
  private readonly cache: LRUCache<string, string | typeof MISSING>;
  private readonly inflight = new Map<string, Promise<string | undefined>>();
  private readonly negativeTtlMs: number;

  constructor(
    private readonly backend: SchematicStore,
    options: CachedStoreOptions,
  ) {
    this.cache = new LRUCache({ max: options.capacity });
    this.negativeTtlMs = options.negativeTtlMs;
  }

  get size(): number {
    return this.cache.size;
  }

  async get(id: string): Promise<string | undefined> {
    const hit = this.cache.get(id);
    if (hit === MISSING) return undefined;
    if (hit !== undefined) return hit;
    let pending = this.inflight.get(id);
    if (!pending) {
      pending = this.backend.get(id).finally(() => this.inflight.delete(id));
      this.inflight.set(id, pending);
    }
    const value = await pending;
    if (value === undefined) this.cache.set(id, MISSING, { ttl: this.negativeTtlMs });
    else this.cache.set(id, value);
    return value;
  }

  async put(id: string, canonical: string): Promise<void> {
    await this.backend.put(id, canonical);
    this.cache.set(id, canonical);
  }
}
