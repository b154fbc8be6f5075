// The default asset cache: files under `<dir>/<key[0:2]>/<key>` with a JSON
// metadata file beside each. Data is written under a temporary name, fsynced
// and renamed, and the metadata (with digests) is renamed in last, so an entry
// exists only when complete. Sizes are checked on every read and digests once
// per process, so a truncated or damaged file is dropped and rebuilt, never
// served. A size budget evicts the least recently used entries.
// Cache hits are the hot path of every download: a verified entry is kept in
// memory, so a hit costs one stat of its file (which another process sharing
// the directory may have truncated, replaced or removed: that changes the
// answer), and files are sent through reused buffers (write-file-to.ts).

import { createReadStream, type Stats, statSync } from 'node:fs';
import { copyFile, readdir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { ensureDir, sweepTemporaries, syncPath, writeFileAtomic } from '../durable-file.js';
import { OWNER_TAG } from '../ownership.js';
import type { AssetCache, AssetMetadata, CachedAsset } from './cache.js';
import { digestFile } from './digest-file.js';
import { writeFileTo } from './write-file-to.js';

const KEY = /^[0-9a-f]{64}$/;
/** Read size of `open()` (registry blobs, publishing): fewer, larger reads than the 64 KiB default. */
const READ_CHUNK = 1024 * 1024;
/** A data file being written (`<key>.data.tmp-…`) or a metadata file being replaced (`.<key>.json.….tmp`). */
const TEMPORARY = /^[0-9a-f]{64}\.data\.tmp-|^\.[0-9a-f]{64}\.json\..*\.tmp$/;

export interface FsCacheOptions {
  dir: string;
  /** Evict least recently used entries above this many bytes (0 = unlimited). */
  maxBytes: number;
  /** Internal location prefix a front proxy serves this directory under (see CachedAsset.accelRedirect). */
  accelRedirect?: string | undefined;
  logger: Logger;
}

interface VerifiedEntry {
  entry: CachedAsset;
  /** The data file's mtime when its content was hashed. */
  mtimeMs: number;
  touchedAt: number;
}

export class FsAssetCache implements AssetCache {
  readonly description: string;
  /** Entries whose content this process hashed and found right. */
  private readonly verified = new Map<string, VerifiedEntry>();
  private evicting: Promise<void> | undefined;
  /** Hashes under way, by key, mtime and size. */
  private readonly verifying = new Map<string, Promise<CachedAsset | undefined>>();

  constructor(private readonly options: FsCacheOptions) {
    this.description = `filesystem ${options.dir}`;
  }

  private paths(key: string): { data: string; meta: string } {
    if (!KEY.test(key)) throw new Error(`not an asset key: ${key}`);
    const base = join(this.options.dir, key.slice(0, 2), key);
    return { data: `${base}.data`, meta: `${base}.json` };
  }

  async get(key: string): Promise<CachedAsset | undefined> {
    const { data } = this.paths(key);
    // Synchronous on purpose: the stat of a local file takes microseconds, while the thread
    // pool's round trip cost 40-60 µs of CPU per cache hit (measured), more than the rest of a HEAD.
    const st = statSync(data, { throwIfNoEntry: false });
    if (!st) {
      this.verified.delete(key);
      return undefined;
    }
    // This process already hashed this very file: only its size and mtime are checked again.
    const known = this.verified.get(key);
    if (known && known.mtimeMs === st.mtimeMs && known.entry.metadata.size === st.size) {
      this.touch(key, known, Date.now());
      return known.entry;
    }
    // One hash per file however many requests arrive before it is done (a burst of downloads of an
    // entry this process has not seen yet hashed it once per request).
    const stamp = `${key} ${st.mtimeMs} ${st.size}`;
    let verifying = this.verifying.get(stamp);
    if (!verifying) {
      verifying = this.verify(key, st).finally(() => this.verifying.delete(stamp));
      this.verifying.set(stamp, verifying);
    }
    return verifying;
  }

  /** Reads the metadata of the file `st` describes and hashes it: the entry when they agree, else dropped. */
  private async verify(key: string, st: Stats): Promise<CachedAsset | undefined> {
    const { data, meta } = this.paths(key);
    let metadata: AssetMetadata;
    try {
      metadata = JSON.parse(await readFile(meta, 'utf8')) as AssetMetadata;
    } catch {
      return undefined;
    }
    if (st.size !== metadata.size || metadata.key !== key) return this.drop(key, `size ${st.size} != ${metadata.size}`);
    const actual = await digestFile(data);
    if (actual.sha256 !== metadata.sha256) return this.drop(key, 'content does not match its SHA-256');
    return this.remember(key, metadata, st.mtimeMs, 0).entry;
  }

  private remember(key: string, metadata: AssetMetadata, mtimeMs: number, touchedAt: number): VerifiedEntry {
    const verified = { entry: this.entry(key, metadata), mtimeMs, touchedAt };
    this.verified.set(key, verified);
    this.touch(key, verified, Date.now());
    return verified;
  }

  /** Marks an entry as used (the metadata file's mtime), at most once a minute. */
  private touch(key: string, known: VerifiedEntry, now: number): void {
    if (now - known.touchedAt < 60_000) return;
    known.touchedAt = now;
    const when = new Date(now);
    utimes(this.paths(key).meta, when, when).catch(() => undefined);
  }

  async put(key: string, file: string, contentType: string): Promise<CachedAsset> {
    const { data, meta } = this.paths(key);
    await ensureDir(dirname(data));
    const digests = await digestFile(file);
    const tmpData = `${data}.tmp-${OWNER_TAG}-${Date.now()}`;
    await rename(file, tmpData).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EXDEV') throw error; // another file system: copy instead
      await copyFile(file, tmpData);
      await rm(file, { force: true });
    });
    await syncPath(tmpData);
    await rename(tmpData, data);
    const metadata: AssetMetadata = { key, size: digests.size, sha256: digests.sha256, sha512: digests.sha512, contentType, createdAt: Date.now() };
    await writeFileAtomic(meta, JSON.stringify(metadata));
    await syncPath(dirname(data));
    const { entry } = this.remember(key, metadata, (await stat(data)).mtimeMs, Date.now());
    void this.evict();
    return entry;
  }

  private entry(key: string, metadata: AssetMetadata): CachedAsset {
    const { data } = this.paths(key);
    const { accelRedirect } = this.options;
    return {
      metadata,
      open: (range) => createReadStream(data, { highWaterMark: READ_CHUNK, ...(range && { start: range.start, end: range.end }) }),
      writeTo: (out, range) => writeFileTo(data, out, range?.start ?? 0, range?.end ?? metadata.size - 1),
      ...(accelRedirect !== undefined && { accelRedirect: `${accelRedirect}${key.slice(0, 2)}/${key}.data` }),
    };
  }

  private async drop(key: string, why: string): Promise<undefined> {
    const { data, meta } = this.paths(key);
    this.options.logger.warn({ key, why }, 'dropping damaged cache entry');
    this.verified.delete(key);
    await rm(meta, { force: true });
    await rm(data, { force: true });
    return undefined;
  }

  /**
   * Removes the temporaries of puts that never finished (a process killed while
   * copying an asset in leaves a `.data.tmp-…` as big as the asset, which
   * eviction, counting entries, would never see): those whose owner is gone,
   * and unmarked or foreign ones older than `unownedAfterMs`.
   */
  async sweepTemporaries(unownedAfterMs: number): Promise<void> {
    for (const path of await sweepTemporaries(this.options.dir, TEMPORARY, unownedAfterMs)) {
      this.options.logger.info({ path }, 'removed the temporary of an interrupted cache write');
    }
  }

  /** Removes least recently used entries until the cache fits its budget (one pass at a time). */
  private evict(): Promise<void> {
    if (this.options.maxBytes <= 0) return Promise.resolve();
    this.evicting ??= this.evictOnce().finally(() => (this.evicting = undefined));
    return this.evicting;
  }

  private async evictOnce(): Promise<void> {
    const entries: Array<{ key: string; size: number; used: number }> = [];
    for (const shard of await readdir(this.options.dir).catch(() => [] as string[])) {
      for (const name of await readdir(join(this.options.dir, shard)).catch(() => [] as string[])) {
        if (!name.endsWith('.json')) continue;
        const key = name.slice(0, -'.json'.length);
        if (!KEY.test(key)) continue;
        const { data, meta } = this.paths(key);
        const [m, d] = await Promise.all([stat(meta).catch(() => undefined), stat(data).catch(() => undefined)]);
        if (m && d) entries.push({ key, size: d.size, used: m.mtimeMs });
      }
    }
    let total = entries.reduce((sum, e) => sum + e.size, 0);
    entries.sort((a, b) => a.used - b.used);
    for (const e of entries) {
      if (total <= this.options.maxBytes) break;
      const { data, meta } = this.paths(e.key);
      await rm(meta, { force: true });
      await rm(data, { force: true });
      this.verified.delete(e.key);
      total -= e.size;
      this.options.logger.info({ key: e.key, size: e.size }, 'evicted cache entry');
    }
  }
}
