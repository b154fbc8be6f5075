// Response bodies as Node streams that give up when the server stops sending,
// and bounded reads for the small documents (manifests, tag lists, errors).

import { Readable } from 'node:stream';
import { Watchdog } from './watchdog.js';

export interface BodyStreamOptions {
  /** Longest wait for the next chunk while one is wanted. */
  idleMs: number;
  /** Cancels the underlying request (aborting the fetch). */
  abort: () => void;
  /** The error for a stall. */
  stalled: () => Error;
  /** The error for a failed read (connection reset mid-body, …). */
  failed: (error: unknown) => Error;
}

/**
 * Reads a fetch body chunk by chunk. The idle clock runs only while a chunk is
 * being waited for, so a consumer that applies backpressure is never taken for
 * a stalled server.
 */
export class BodyStream extends Readable {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly watchdog: Watchdog;

  constructor(
    body: ReadableStream<Uint8Array>,
    private readonly options: BodyStreamOptions,
  ) {
    super();
    // Handed to callers (stream()) that may start reading later: an error before then waits in the
    // stream for that reader (as in repository.ts verified()) instead of being thrown out of the process.
    this.on('error', () => undefined);
    this.reader = body.getReader();
    this.watchdog = new Watchdog(options.idleMs, () => {
      options.abort();
      this.destroy(options.stalled());
    });
  }

  override _read(): void {
    this.watchdog.kick();
    this.reader.read().then(
      ({ done, value }) => {
        this.watchdog.stop();
        if (this.destroyed) return;
        if (done) this.push(null);
        else this.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
      },
      (error: unknown) => {
        this.watchdog.stop();
        if (!this.destroyed) this.destroy(this.options.failed(error));
      },
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.watchdog.stop();
    // Cancelling frees the connection when the consumer walks away early.
    this.reader.cancel().catch(() => undefined);
    callback(error);
  }
}

/** Collects a stream up to `limit` bytes; more is an error (a registry must never make us buffer a blob). */
export async function readAtMost(stream: Readable, limit: number, tooLarge: (bytes: number) => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      stream.destroy();
      throw tooLarge(size);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
