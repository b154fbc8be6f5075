// LZMA2 compression of squashfs blocks on worker threads. @napi-rs/lzma's
// encoder (pure Rust, prebuilt N-API binaries) compresses ~2x faster than the
// liblzma 5.2 bundled in lzma-native (measured: 44 against 83 ms of CPU per
// 128 KiB block at preset 6), but it runs on the calling thread, so the blocks
// go to one worker per core: they compress in parallel and the event loop
// stays free. Workers are made on first use and never keep the process alive.

import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { SquashfsError } from './errors.js';

interface Job {
  data: Buffer;
  dictSize: number;
  resolve: (out: Buffer) => void;
  reject: (error: Error) => void;
}

// Plain JavaScript run as the worker's script (eval), so it loads the same way
// from the TypeScript sources and from the built files.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { Lzma2Compressor } = require(workerData.lzma);
parentPort.on('message', async ({ data, dictSize }) => {
  try {
    const encoder = new Lzma2Compressor({ preset: 6, dictSize });
    const head = encoder.update(data);
    const tail = await encoder.finish();
    // An array of its own (Buffer.concat may hand out a slice of the shared pool), moved back.
    const out = new Uint8Array(head.length + tail.length);
    out.set(head);
    out.set(tail, head.length);
    parentPort.postMessage({ out }, [out.buffer]);
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message || error) });
  }
});
`;

class Lzma2Worker {
  private readonly worker: Worker;
  private current: Job | undefined;

  constructor(
    lzmaPath: string,
    private readonly onIdle: (worker: Lzma2Worker) => void,
    private readonly onExit: (worker: Lzma2Worker, error: Error) => void,
  ) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { lzma: lzmaPath } });
    this.worker.unref();
    this.worker.on('message', (message: { out?: Uint8Array; error?: string }) => {
      const job = this.current!;
      this.current = undefined;
      this.worker.unref();
      if (message.out) job.resolve(Buffer.from(message.out.buffer, message.out.byteOffset, message.out.byteLength));
      else job.reject(new SquashfsError(`squashfs: xz compression failed: ${message.error}`));
      this.onIdle(this);
    });
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => this.fail(new SquashfsError(`squashfs: xz worker exited with code ${code}`)));
  }

  run(job: Job): void {
    this.current = job;
    this.worker.ref(); // a block under way keeps the process alive until it is back
    // A copy in an array of its own is moved over: the caller keeps its block (stored as is when
    // compression does not pay), and a small Buffer may be a slice of the shared pool.
    const data = new Uint8Array(job.data);
    this.worker.postMessage({ data, dictSize: job.dictSize }, [data.buffer]);
  }

  private fail(error: Error): void {
    const job = this.current;
    this.current = undefined;
    job?.reject(error);
    this.onExit(this, error);
  }
}

class Lzma2Pool {
  private readonly idle: Lzma2Worker[] = [];
  private readonly all = new Set<Lzma2Worker>();
  private readonly queue: Job[] = [];
  private readonly lzmaPath: string;

  constructor(private readonly size: number) {
    try {
      this.lzmaPath = createRequire(import.meta.url).resolve('@napi-rs/lzma');
    } catch (error) {
      throw new SquashfsError(`squashfs: xz compression needs the npm package @napi-rs/lzma: ${(error as Error).message}`);
    }
  }

  compress(data: Buffer, dictSize: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.queue.push({ data, dictSize, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let worker = this.idle.pop();
      if (!worker && this.all.size < this.size) {
        worker = new Lzma2Worker(this.lzmaPath, (w) => this.release(w), (w) => this.forget(w));
        this.all.add(worker);
      }
      if (!worker) return;
      worker.run(this.queue.shift()!);
    }
  }

  private release(worker: Lzma2Worker): void {
    this.idle.push(worker);
    this.dispatch();
  }

  private forget(worker: Lzma2Worker): void {
    this.all.delete(worker);
    const at = this.idle.indexOf(worker);
    if (at >= 0) this.idle.splice(at, 1);
    this.dispatch();
  }
}

let pool: Lzma2Pool | undefined;

/** Raw LZMA2 (preset 6, the given dictionary size) of one block, on a worker thread. */
export function compressLzma2(data: Buffer, dictSize: number): Promise<Buffer> {
  pool ??= new Lzma2Pool(availableParallelism());
  return pool.compress(data, dictSize);
}
