// Block compression on worker threads, one per core, shared by every image
// being written. A block is compressed where nothing else waits for it: not on
// the event loop, and not on libuv's thread pool, where a queue of 20 ms
// compressions would hold up the file reads and writes that feed them (and
// every other request's file I/O). The pipeline queues more blocks than there
// are workers, so a worker always has the next block at hand (as mksquashfs'
// compressor threads do).
// zstd runs through node:zlib (synchronous: it is the worker's whole job), xz's
// LZMA2 through @napi-rs/lzma (pure Rust, prebuilt N-API binaries), which
// compresses ~2x faster than the liblzma 5.2 bundled in lzma-native (measured:
// 44 against 83 ms of CPU per 128 KiB block at preset 6). Workers are made on
// first use and never keep the process alive while idle.

import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ZstdOptions } from 'node:zlib';
import { SquashfsError } from './errors.js';

/** What to do with a block: zstd with node:zlib's options, or raw LZMA2 (preset 6) with a dictionary size. */
export type CompressMethod = { codec: 'zstd'; options: ZstdOptions } | { codec: 'lzma2'; dictSize: number };

interface Job {
  data: Buffer;
  method: CompressMethod;
  resolve: (out: Buffer) => void;
  reject: (error: Error) => void;
}

// Plain JavaScript run as the worker's script (eval), so it loads the same way
// from the TypeScript sources and from the built files. @napi-rs/lzma is loaded
// by the first LZMA2 block only.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { zstdCompressSync } = require('node:zlib');
let lzma;
parentPort.on('message', async ({ data, method, lzmaPath }) => {
  try {
    let out;
    if (method.codec === 'zstd') {
      out = zstdCompressSync(data, method.options);
    } else {
      lzma ??= require(lzmaPath);
      const encoder = new lzma.Lzma2Compressor({ preset: 6, dictSize: method.dictSize });
      out = Buffer.concat([encoder.update(data), await encoder.finish()]);
    }
    // An array of its own (the output may be a slice of a larger or shared buffer), moved back.
    const own = new Uint8Array(out.length);
    own.set(out);
    parentPort.postMessage({ out: own }, [own.buffer]);
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message || error) });
  }
});
`;

let lzmaPath: string | undefined;

function resolveLzma(): string {
  try {
    lzmaPath ??= createRequire(import.meta.url).resolve('@napi-rs/lzma');
  } catch (error) {
    throw new SquashfsError(`squashfs: xz compression needs the npm package @napi-rs/lzma: ${(error as Error).message}`);
  }
  return lzmaPath;
}

class CompressWorker {
  private readonly worker: Worker;
  private current: Job | undefined;

  constructor(
    private readonly onIdle: (worker: CompressWorker) => void,
    private readonly onExit: (worker: CompressWorker, error: Error) => void,
  ) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    this.worker.unref();
    this.worker.on('message', (message: { out?: Uint8Array; error?: string }) => {
      const job = this.current!;
      this.current = undefined;
      this.worker.unref();
      if (message.out) job.resolve(Buffer.from(message.out.buffer, message.out.byteOffset, message.out.byteLength));
      else job.reject(new SquashfsError(`squashfs: ${job.method.codec} compression failed: ${message.error}`));
      this.onIdle(this);
    });
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => this.fail(new SquashfsError(`squashfs: compression worker exited with code ${code}`)));
  }

  run(job: Job): void {
    this.current = job;
    this.worker.ref(); // a block under way keeps the process alive until it is back
    // A copy in an array of its own is moved over: the caller keeps its block (stored as is when
    // compression does not pay), and a small Buffer may be a slice of the shared pool.
    const data = new Uint8Array(job.data);
    this.worker.postMessage({ data, method: job.method, lzmaPath }, [data.buffer]);
  }

  private fail(error: Error): void {
    const job = this.current;
    this.current = undefined;
    job?.reject(error);
    this.onExit(this, error);
  }
}

class CompressPool {
  private readonly idle: CompressWorker[] = [];
  private readonly all = new Set<CompressWorker>();
  private readonly queue: Job[] = [];

  constructor(private readonly size: number) {}

  compress(data: Buffer, method: CompressMethod): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.queue.push({ data, method, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let worker = this.idle.pop();
      if (!worker && this.all.size < this.size) {
        worker = new CompressWorker(
          (w) => this.release(w),
          (w) => this.forget(w),
        );
        this.all.add(worker);
      }
      if (!worker) return;
      worker.run(this.queue.shift()!);
    }
  }

  private release(worker: CompressWorker): void {
    this.idle.push(worker);
    this.dispatch();
  }

  private forget(worker: CompressWorker): void {
    this.all.delete(worker);
    const at = this.idle.indexOf(worker);
    if (at >= 0) this.idle.splice(at, 1);
    this.dispatch();
  }
}

let pool: CompressPool | undefined;

/** One block compressed on a worker thread (zstd: a frame; lzma2: raw LZMA2 data for an .xz container). */
export function compressOnWorker(data: Buffer, method: CompressMethod): Promise<Buffer> {
  if (method.codec === 'lzma2') resolveLzma();
  pool ??= new CompressPool(availableParallelism());
  return pool.compress(data, method);
}
