// Block work on worker threads, one per core, shared by every image being
// written: reading a block's bytes from the files it holds, and compressing
// them. Both happen where nothing else waits: not on the event loop, and not
// on libuv's thread pool, where a queue of 20 ms compressions would hold up
// every other request's file I/O. A worker reads with plain synchronous calls
// (it has nothing else to do meanwhile), so a block costs one message each
// way instead of a thread-pool round trip per open, stat, read and close
// (measured: the round trips were 3 % of a zstd-18 image's CPU, as much as
// separated us from mksquashfs). The pipeline queues more blocks than there
// are workers, so a worker always has the next block at hand (as mksquashfs'
// compressor threads do).
// zstd and deflate run through node:zlib, xz's LZMA2 through @napi-rs/lzma
// (pure Rust, prebuilt N-API binaries), which compresses ~2x faster than the
// liblzma 5.2 bundled in lzma-native (measured: 44 against 83 ms of CPU per
// 128 KiB block at preset 6). Workers are made on first use and never keep the
// process alive while idle.

import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { Worker, type Transferable } from 'node:worker_threads';
import { SquashfsError } from './errors.js';

/**
 * How a worker compresses a block. zstd frames declare their content size
 * (codec-zstd.ts says why); lzma2 is raw LZMA2 at preset 6 for an .xz
 * container that adds at most `frameOverhead` bytes; deflate is a zlib stream;
 * store leaves the bytes as read.
 */
export type CompressMethod =
  | { codec: 'zstd'; level: number }
  | { codec: 'lzma2'; dictSize: number; frameOverhead: number }
  | { codec: 'deflate'; level: number; windowBits: number; memLevel: number; strategy: number }
  | { codec: 'store' };

/** A run of a block's bytes: given bytes, or a range of a file that must still be `fileSize` bytes long. */
export type BlockPiece = { data: Uint8Array } | { path: string; label: string; position: number; length: number; fileSize: number };

/**
 * What became of a block: all zeros (only looked for when asked), or its
 * compressed bytes (with the CRC32 of the input for lzma2) and, when
 * compression may not pay once framed, the bytes as read.
 */
export type WorkedBlock = { hole: true } | { hole: false; size: number; packed?: Buffer; raw?: Buffer; crc32?: number };

/** Something a worker is asked for, and how its reply becomes the result. */
interface Job {
  message: object;
  transfer: Transferable[];
  settle: (reply: Reply) => void;
  reject: (error: Error) => void;
}

interface Reply {
  error?: string;
  hole?: boolean;
  size?: number;
  packed?: Uint8Array;
  raw?: Uint8Array;
  crc32?: number;
  sizes?: number[];
}

// Plain JavaScript run as the worker's script (eval), so it loads the same way
// from the TypeScript sources and from the built files. @napi-rs/lzma is loaded
// by the first LZMA2 block only.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const zlib = require('node:zlib');
let lzma;
const zeros = new Map();

function changed(label) {
  return new Error(label + ': file changed size while being written');
}

function readPieces(pieces) {
  let size = 0;
  for (const piece of pieces) size += piece.data ? piece.data.length : piece.length;
  // An array of its own, so it can be moved back as it is.
  const out = Buffer.allocUnsafeSlow(size);
  let at = 0;
  for (const piece of pieces) {
    if (piece.data) {
      out.set(piece.data, at);
      at += piece.data.length;
      continue;
    }
    // O_NONBLOCK: something swapped in for the file since it was sized (a FIFO) cannot stall the worker.
    const fd = fs.openSync(piece.path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile() || st.size !== piece.fileSize) throw changed(piece.label);
      for (let done = 0; done < piece.length; ) {
        const n = fs.readSync(fd, out, at + done, piece.length - done, piece.position + done);
        if (n === 0) throw changed(piece.label);
        done += n;
      }
    } finally {
      fs.closeSync(fd);
    }
    at += piece.length;
  }
  return out;
}

function allZero(data) {
  let zero = zeros.get(data.length);
  if (!zero) zeros.set(data.length, (zero = Buffer.alloc(data.length)));
  return data.equals(zero);
}

async function compress(method, data) {
  switch (method.codec) {
    case 'zstd':
      return zlib.zstdCompressSync(data, {
        pledgedSrcSize: data.length,
        // One output chunk for the whole frame: a block never grows past its size plus zstd's small bound.
        chunkSize: Math.max(data.length + 1024, 64 * 1024),
        params: {
          [zlib.constants.ZSTD_c_compressionLevel]: method.level,
          [zlib.constants.ZSTD_c_checksumFlag]: 0,
          [zlib.constants.ZSTD_c_contentSizeFlag]: 1,
        },
      });
    case 'deflate':
      return zlib.deflateSync(data, { level: method.level, windowBits: method.windowBits, memLevel: method.memLevel, strategy: method.strategy });
    case 'lzma2': {
      lzma ??= require(method.lzmaPath);
      const encoder = new lzma.Lzma2Compressor({ preset: 6, dictSize: method.dictSize });
      return Buffer.concat([encoder.update(data), await encoder.finish()]);
    }
  }
  throw new Error('unknown codec ' + method.codec);
}

async function pack({ pieces, method, holeCheck }) {
  const data = readPieces(pieces);
  if (holeCheck && allZero(data)) return [{ hole: true }, []];
  if (method.codec === 'store') return [{ size: data.length, raw: data }, [data.buffer]];
  const out = await compress(method, data);
  // An array of its own (the output may be a slice of a larger or shared buffer), moved back.
  const packed = new Uint8Array(out.length);
  packed.set(out);
  const reply = { size: data.length, packed };
  const transfer = [packed.buffer];
  if (method.codec === 'lzma2') reply.crc32 = zlib.crc32(data);
  if (packed.length + (method.frameOverhead || 0) >= data.length) {
    reply.raw = data;
    transfer.push(data.buffer);
  }
  return [reply, transfer];
}

function sizes({ files }) {
  return [{ sizes: files.map(({ path, label }) => {
    const st = fs.statSync(path);
    if (!st.isFile()) throw new Error(label + ': ' + path + ' is not a regular file');
    return st.size;
  }) }, []];
}

parentPort.on('message', async (message) => {
  try {
    const [reply, transfer] = message.files ? sizes(message) : await pack(message);
    parentPort.postMessage(reply, transfer);
  } catch (error) {
    parentPort.postMessage({ error: String((error && error.message) || error) });
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

class BlockWorker {
  private readonly worker: Worker;
  private current: Job | undefined;

  constructor(
    private readonly onIdle: (worker: BlockWorker) => void,
    private readonly onExit: (worker: BlockWorker, error: Error) => void,
  ) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => {
      const job = this.current!;
      this.current = undefined;
      this.worker.unref();
      if (reply.error === undefined) job.settle(reply);
      else job.reject(new SquashfsError(`squashfs: ${reply.error}`));
      this.onIdle(this);
    });
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => this.fail(new SquashfsError(`squashfs: block worker exited with code ${code}`)));
  }

  run(job: Job): void {
    this.current = job;
    this.worker.ref(); // a job under way keeps the process alive until it is back
    this.worker.postMessage(job.message, job.transfer);
  }

  private fail(error: Error): void {
    const job = this.current;
    this.current = undefined;
    job?.reject(error);
    this.onExit(this, error);
  }
}

class WorkerPool {
  private readonly idle: BlockWorker[] = [];
  private readonly all = new Set<BlockWorker>();
  private readonly queue: Job[] = [];

  constructor(private readonly size: number) {}

  ask(message: object, transfer: Transferable[]): Promise<Reply> {
    return new Promise((settle, reject) => {
      this.queue.push({ message, transfer, settle, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let worker = this.idle.pop();
      if (!worker && this.all.size < this.size) {
        worker = new BlockWorker(
          (w) => this.release(w),
          (w) => this.forget(w),
        );
        this.all.add(worker);
      }
      if (!worker) return;
      worker.run(this.queue.shift()!);
    }
  }

  private release(worker: BlockWorker): void {
    this.idle.push(worker);
    this.dispatch();
  }

  private forget(worker: BlockWorker): void {
    this.all.delete(worker);
    const at = this.idle.indexOf(worker);
    if (at >= 0) this.idle.splice(at, 1);
    this.dispatch();
  }
}

let pool: WorkerPool | undefined;

function workers(): WorkerPool {
  pool ??= new WorkerPool(availableParallelism());
  return pool;
}

const buffer = (bytes: Uint8Array | undefined) => bytes && Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/**
 * One block read from its pieces (in order) and compressed on a worker
 * thread; with `holeCheck`, a block of zeros comes back as a hole instead.
 */
export async function workBlock(pieces: BlockPiece[], method: CompressMethod, holeCheck: boolean): Promise<WorkedBlock> {
  const lzma = method.codec === 'lzma2' ? { lzmaPath: resolveLzma() } : {};
  // Given bytes go over as copies in arrays of their own: the caller keeps its bytes, and a small
  // Buffer may be a slice of the shared pool.
  const transfer: Transferable[] = [];
  const sent = pieces.map((piece) => {
    if (!('data' in piece)) return piece;
    const data = new Uint8Array(piece.data);
    transfer.push(data.buffer);
    return { data };
  });
  const reply = await workers().ask({ pieces: sent, method: { ...method, ...lzma }, holeCheck }, transfer);
  if (reply.hole) return { hole: true };
  return { hole: false, size: reply.size!, packed: buffer(reply.packed), raw: buffer(reply.raw), crc32: reply.crc32 };
}

/** The sizes of regular files (in order), taken on a worker thread; `label` names a file in errors. */
export async function fileSizesOnWorker(files: { path: string; label: string }[]): Promise<number[]> {
  return (await workers().ask({ files }, [])).sizes!;
}
