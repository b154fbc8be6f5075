// Compression codecs as streams behind one interface. gzip, and zstd
// decompression, run in-process (node:zlib, on libuv's thread pool): starting
// a child process forks this one, which stalls the event loop for
// milliseconds when the service is large. zstd compression and xz run as the
// `zstd` / `xz` CLIs: node:zlib's zstd stream loses output in zstd's
// multi-threaded mode (Node 24.22: truncated frames, or "push after EOF", once
// the input spans several jobs), and one thread would halve the speed of a
// disk image's compression; the xz CLI gives exact control over its check type.
//
// Reproducibility: node:zlib writes a gzip header with mtime 0; zstd's output
// does not depend on its thread count; xz is always run in its multi-threaded
// mode (`-T+1` for one thread), whose output does not depend on the thread
// count either (its single-threaded mode writes different bytes).

import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { Duplex, PassThrough, Readable } from 'node:stream';
import { createGunzip, createGzip, createZstdDecompress } from 'node:zlib';
import { trackChild } from '../child-scope.js';

export type Codec = 'gzip' | 'zstd' | 'xz' | 'none';

export interface CompressOptions {
  /** gzip 0–9 (default 6), zstd 1–22 (default 3), xz 0–9 (default 6). */
  level?: number;
  /** zstd and xz worker threads; 0 (the default) = one per CPU. */
  threads?: number;
  /** xz integrity check (default crc32: the kernel rejects crc64 in initramfs segments). */
  xzCheck?: 'crc32' | 'crc64';
  /**
   * zstd: the exact number of bytes that will be written, when known. zstd then
   * sizes its tables for the input (at level 18 an 8 MiB window's tables take
   * ~70 ms to set up, pointless for a small input) and records the size in
   * the frame; a different length fails the stream.
   */
  inputSize?: number;
}

const MAGIC: ReadonlyArray<{ codec: Codec; bytes: Buffer }> = [
  { codec: 'gzip', bytes: Buffer.from([0x1f, 0x8b]) },
  { codec: 'zstd', bytes: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]) },
  { codec: 'xz', bytes: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) },
];

/** How many leading bytes detectCodec needs to tell every codec apart. */
export const MAGIC_LENGTH = 6;

/** The codec a stream starts with; 'none' when no known magic matches. */
export function detectCodec(firstBytes: Buffer): Codec {
  for (const { codec, bytes } of MAGIC) {
    if (firstBytes.length >= bytes.length && firstBytes.subarray(0, bytes.length).equals(bytes)) return codec;
  }
  return 'none';
}

/**
 * Reads the first bytes of `source` to detect its codec, and returns a stream
 * that replays everything from the start. Errors of `source` pass through.
 */
export async function peekCodec(source: Readable): Promise<{ codec: Codec; stream: Readable }> {
  const iterator = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let length = 0;
  let ended = false;
  while (length < MAGIC_LENGTH) {
    const next = await iterator.next();
    if (next.done) {
      ended = true;
      break;
    }
    const chunk = Buffer.from(next.value);
    head.push(chunk);
    length += chunk.length;
  }
  const first = Buffer.concat(head);
  async function* replay(): AsyncGenerator<Buffer> {
    try {
      if (first.length > 0) yield first;
      while (!ended) {
        const next = await iterator.next();
        if (next.done) return;
        yield next.value;
      }
    } finally {
      // Stopping early (the consumer went away) must release the source too.
      if (!source.destroyed && !source.readableEnded) source.destroy();
    }
  }
  return { codec: detectCodec(first), stream: Readable.from(replay(), { objectMode: false }) };
}

export function decompressStream(codec: Codec): Duplex {
  switch (codec) {
    case 'none':
      return new PassThrough();
    case 'gzip':
      return createGunzip(); // also reads concatenated gzip members
    case 'zstd':
      return named('zstd', createZstdDecompress({ chunkSize: ZSTD_CHUNK }));
    case 'xz':
      return new CliCodec('xz', ['-d', '-c', '-q', '-T0'], 'xz-utils');
  }
}

export function compressStream(codec: Codec, options: CompressOptions = {}): Duplex {
  const threads = options.threads ?? 0;
  if (!Number.isInteger(threads) || threads < 0) throw new RangeError(`threads must be a non-negative integer, got ${threads}`);
  switch (codec) {
    case 'none':
      return new PassThrough();
    case 'gzip':
      return createGzip({ level: checkLevel(codec, options.level ?? 6, 0, 9) });
    case 'zstd': {
      const level = checkLevel(codec, options.level ?? 3, 1, 22);
      const size = options.inputSize;
      if (size !== undefined && (!Number.isSafeInteger(size) || size < 0)) throw new RangeError(`inputSize must be a non-negative integer, got ${size}`);
      const args = ['-c', '-q', ...(level > 19 ? ['--ultra'] : []), `-${level}`, `-T${threads}`, ...(size !== undefined ? [`--stream-size=${size}`] : [])];
      return new CliCodec('zstd', args, 'zstd');
    }
    case 'xz': {
      const level = checkLevel(codec, options.level ?? 6, 0, 9);
      const check = options.xzCheck ?? 'crc32';
      return new CliCodec('xz', ['-c', '-q', `-${level}`, `-T${threads === 1 ? '+1' : threads}`, `--check=${check}`], 'xz-utils');
    }
  }
}

/** Output chunk of the in-process zstd decompression: fewer thread-pool round trips than zlib's 16 KiB. */
const ZSTD_CHUNK = 256 * 1024;

/** node:zlib's errors do not say which codec failed ("unexpected end of file"); this prefixes the name. */
function named(codec: Codec, stream: Duplex): Duplex {
  // Listeners run in the order they were added: this one runs before any consumer sees the error.
  stream.on('error', (error: Error) => {
    if (!error.message.startsWith(`${codec}: `)) error.message = `${codec}: ${error.message}`;
  });
  return stream;
}

function checkLevel(codec: Codec, level: number, min: number, max: number): number {
  if (!Number.isInteger(level) || level < min || level > max) {
    throw new RangeError(`${codec} level must be an integer from ${min} to ${max}, got ${level}`);
  }
  return level;
}

const STDERR_LIMIT = 4096;

/**
 * A CLI filter (stdin → stdout) as a Duplex with backpressure both ways. The
 * readable side ends only once the process has exited with status 0; any
 * other outcome destroys the stream with an error carrying the tool's stderr.
 */
class CliCodec extends Duplex {
  private readonly child: ChildProcessWithoutNullStreams;
  private stderr = '';
  private stdinError: Error | undefined;

  constructor(
    private readonly command: string,
    private readonly args: string[],
    private readonly debianPackage: string,
  ) {
    super();
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    trackChild(this.child);
    const { stdin, stdout, stderr } = this.child;
    this.child.on('error', (error: NodeJS.ErrnoException) => this.destroy(this.spawnError(error)));
    stdout.pause();
    stdout.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) stdout.pause();
    });
    stderr.on('data', (chunk: Buffer) => {
      if (this.stderr.length < STDERR_LIMIT) this.stderr += chunk.toString('utf8').slice(0, STDERR_LIMIT - this.stderr.length);
    });
    // EPIPE means the tool stopped reading; its exit status says why.
    stdin.on('error', (error) => (this.stdinError = error));
    this.child.on('close', (code, signal) => this.onClose(code, signal));
  }

  override _read(): void {
    this.child.stdout.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.child.stdin.write(chunk)) callback();
    else this.child.stdin.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.child.stdin.end(() => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill();
    this.child.stdin.destroy();
    this.child.stdout.destroy();
    callback(error);
  }

  private onClose(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.destroyed) return;
    const command = `${this.command} ${this.args.join(' ')}`;
    const why = this.stderr.trim() || (this.stdinError ? this.stdinError.message : '');
    if (code !== 0) {
      this.destroy(new Error(`${command} failed (${signal ? `signal ${signal}` : `exit status ${code}`})${why ? `: ${why}` : ''}`));
    } else if (this.stdinError && !this.writableFinished) {
      this.destroy(new Error(`${command} exited before reading all its input${why ? `: ${why}` : ''}`));
    } else {
      this.push(null);
    }
  }

  private spawnError(error: NodeJS.ErrnoException): Error {
    if (error.code === 'ENOENT') {
      return new Error(`the ${this.command} command is not installed (install the Debian package ${this.debianPackage})`, { cause: error });
    }
    return error;
  }
}
