// Where a builder writes its asset: a scratch file that grows from byte 0,
// written either as a stream or, for sparse disk images, at increasing offsets
// with holes left between. It counts how many bytes from the start are final,
// so readers can follow the file while it is written (the cold asset streamed
// to its requesters), and it ends either complete or failed, never silently
// short.

import { EventEmitter } from 'node:events';
import { type FileHandle, open } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';
import type { SparseOutput } from '../formats/disk/sparse.js';

/** How long a reader following the build waits to gather a full read rather than send what little is new. */
const BATCH_MS = 50;

export type SinkState = { state: 'writing' } | { state: 'complete' } | { state: 'failed'; error: Error };

export class AssetSink implements SparseOutput {
  /** Bytes from offset 0 that are written and final. */
  private length = 0;
  private status: SinkState = { state: 'writing' };
  private readonly events = new EventEmitter();
  private streamed = false;
  /** Readers still reading through the handle, and whether the build has let go of it. */
  private readers = 0;
  private isReleased = false;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
  ) {
    this.events.setMaxListeners(0);
  }

  static async create(path: string): Promise<AssetSink> {
    return new AssetSink(path, await open(path, 'wx+'));
  }

  /** How many bytes from the start readers may read now. */
  get written(): number {
    return this.length;
  }

  get state(): SinkState {
    return this.status;
  }

  /** The build is over; only readers that started before still read the file. */
  get released(): boolean {
    return this.isReleased;
  }

  /** Calls `listener` whenever more bytes are final or the sink completes or fails; returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  /** The sink as a stream written in order from byte 0 (once per sink). */
  stream(): Writable {
    if (this.streamed || this.length > 0) throw new Error('asset sink: the stream is opened once, before anything is written');
    this.streamed = true;
    return new Writable({
      highWaterMark: 1 << 20,
      write: (chunk: Buffer, _encoding, callback) => this.writeAt(this.length, chunk).then(() => callback(), callback),
    });
  }

  async writeAt(offset: number, data: Buffer): Promise<void> {
    if (this.status.state !== 'writing') throw new Error(`asset sink: write after the asset is ${this.status.state}`);
    if (offset < this.length) throw new Error(`asset sink: write at ${offset} is behind the end (${this.length})`);
    for (let done = 0; done < data.length; ) {
      done += (await this.handle.write(data, done, data.length - done, offset + done)).bytesWritten;
    }
    this.grow(offset + data.length);
  }

  async finish(size: number): Promise<void> {
    if (size < this.length) throw new Error(`asset sink: size ${size} is less than what was written (${this.length})`);
    await this.handle.truncate(size);
    this.grow(size);
  }

  /** The builder is done: every byte is written (the file may now move into the cache; readers keep the handle). */
  complete(): void {
    this.settle({ state: 'complete' });
  }

  /** The build failed or was stopped: readers get `error`, never a short body. */
  fail(error: Error): void {
    this.settle({ state: 'failed', error });
  }

  /** The build is over: the handle closes once the last reader is done with it. */
  async release(): Promise<void> {
    this.settle({ state: 'failed', error: new Error('asset sink: released before it completed') });
    this.isReleased = true;
    if (this.readers === 0) await this.handle.close();
  }

  /**
   * The asset from byte 0, following the file as it grows: ends once the
   * sink is complete and `published` resolves (the entry is in the cache);
   * fails (once `published` has settled) when the sink fails or `published` rejects.
   */
  reader(published: Promise<unknown>): Readable {
    if (this.isReleased) throw new Error('asset sink: the build is over, read the cache');
    this.readers++;
    let position = 0;
    let waiting: (() => void) | undefined;
    const stop = this.onChange(() => waiting?.());
    /** Resolves on the sink's next change, or after `ms`. */
    const changed = async (ms?: number): Promise<void> => {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        waiting = resolve;
        if (ms !== undefined) timer = setTimeout(resolve, ms);
      });
      clearTimeout(timer);
      waiting = undefined;
    };
    const next = async (size: number): Promise<Buffer | null> => {
      let gatherUntil: number | undefined;
      for (;;) {
        if (this.status.state === 'failed') {
          // Cut only once the queue has settled the build, so a retry right after starts a new one.
          await published;
          throw this.status.error;
        }
        if (position < this.length) {
          // Following a fast writer piece by piece costs a read, a push and an HTTP chunk per piece:
          // gather up to `size` bytes for a moment (the first bytes go at once, the last when the sink completes).
          gatherUntil ??= Date.now() + BATCH_MS;
          if (position > 0 && this.status.state === 'writing' && this.length - position < size && Date.now() < gatherUntil) {
            await changed(gatherUntil - Date.now());
            continue;
          }
          const buffer = Buffer.allocUnsafe(Math.min(size, this.length - position));
          const { bytesRead } = await this.handle.read(buffer, 0, buffer.length, position);
          if (bytesRead === 0) throw new Error(`asset sink: ${this.path} ends at ${position}, before the ${this.length} bytes written`);
          position += bytesRead;
          return buffer.subarray(0, bytesRead);
        }
        if (this.status.state === 'complete') {
          await published;
          return null;
        }
        await changed();
      }
    };
    const stream = new Readable({
      highWaterMark: 1 << 20,
      read: (size) => {
        next(Math.max(size, 64 * 1024)).then(
          (chunk) => stream.push(chunk),
          (error: Error) => stream.destroy(error),
        );
      },
      destroy: (error, callback) => {
        stop();
        this.readers--;
        if (this.isReleased && this.readers === 0) this.handle.close().then(() => callback(error), () => callback(error));
        else callback(error);
      },
    });
    return stream;
  }

  private grow(length: number): void {
    this.length = length;
    this.events.emit('change');
  }

  private settle(state: SinkState): void {
    if (this.status.state !== 'writing') return;
    this.status = state;
    this.events.emit('change');
  }
}
