// The "newc" cpio format (magic 070701), which Linux initramfs segments are
// made of: a streaming writer that produces what
// `find . | LC_ALL=C sort | cpio -o -H newc --reproducible -R 0:0` produces for
// the same entries, and a streaming reader.
//
// Layout: each entry is a 110-byte ASCII header (magic + 13 fields of 8 hex
// digits), the NUL-terminated name, padding to a multiple of 4 (counted from
// the start of the archive), the data, padding to a multiple of 4. The archive
// ends with an entry named TRAILER!!!, and GNU cpio pads the whole output with
// NULs to its 512-byte I/O block.
//
// What GNU cpio's --reproducible (= --ignore-devno --renumber-inodes) sets:
// dev and rdev numbers are 0; inode numbers are renumbered from 0 in the order
// files are read (hard links share one); nlink and mtime are kept from the
// file system (Talos touches the tree to SOURCE_DATE_EPOCH first, hence the
// mtime parameter here); `-R 0:0` makes uid and gid 0. The trailer has ino 0,
// mode 0, nlink 1, mtime 0.
//
// Not supported: hard links (GNU cpio defers the earlier names of a file to
// when its last link is seen, with size 0 on all but the last), device nodes,
// fifos and sockets. The initramfs builder needs none of them.

import { createReadStream, promises as fs } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';

export const NEWC_MAGIC = '070701';
/** The "crc" variant: same layout, with a byte-sum of the data in the check field. */
export const NEWC_CRC_MAGIC = '070702';
export const TRAILER_NAME = 'TRAILER!!!';

const HEADER_SIZE = 110;
const MAX_FIELD = 0xffffffff;

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

export interface CpioHeader {
  magic: string;
  ino: number;
  /** Type and permission bits. */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  fileSize: number;
  devMajor: number;
  devMinor: number;
  rdevMajor: number;
  rdevMinor: number;
  check: number;
  name: string;
}

export class CpioError extends Error {
  override name = 'CpioError';
}

function pad4(offset: number): number {
  return (4 - (offset % 4)) % 4;
}

function hexField(value: number, field: string, name: string): string {
  if (!Number.isInteger(value) || value < 0 || value > MAX_FIELD) {
    throw new CpioError(`cpio: ${name}: ${field} ${value} does not fit a newc header`);
  }
  return value.toString(16).toUpperCase().padStart(8, '0');
}

/** Bytes of an entry's header, name, NUL and the padding that follows them, for an entry starting at `offset`. */
function headerLength(name: string, offset: number): number {
  const length = HEADER_SIZE + Buffer.byteLength(name, 'utf8') + 1;
  return length + pad4(offset + length);
}

/** The header, name, NUL and the padding that follows them, for an entry starting at `offset`. */
export function encodeHeader(header: Omit<CpioHeader, 'magic'> & { magic?: string }, offset = 0): Buffer {
  const name = Buffer.from(header.name, 'utf8');
  const fields: Array<[string, number]> = [
    ['ino', header.ino],
    ['mode', header.mode],
    ['uid', header.uid],
    ['gid', header.gid],
    ['nlink', header.nlink],
    ['mtime', header.mtime],
    ['size', header.fileSize],
    ['devmajor', header.devMajor],
    ['devminor', header.devMinor],
    ['rdevmajor', header.rdevMajor],
    ['rdevminor', header.rdevMinor],
    ['namesize', name.length + 1],
    ['check', header.check],
  ];
  const text = (header.magic ?? NEWC_MAGIC) + fields.map(([field, v]) => hexField(v, field, header.name)).join('');
  const out = Buffer.alloc(headerLength(header.name, offset));
  out.write(text, 0, 'latin1');
  name.copy(out, HEADER_SIZE);
  return out;
}

// ---------------------------------------------------------------------------
// Writer

/** Where a regular file's bytes come from: a file path, bytes, or a stream of known size. */
export type CpioSource = string | Uint8Array | Readable | AsyncIterable<Uint8Array>;

interface EntryCommon {
  /** The archive name, as it will be unpacked (no leading `./`; `.` for the root). */
  name: string;
  /** Permission bits (type bits are ignored). Defaults: 0755 dirs, 0644 files, 0777 symlinks. */
  mode?: number;
  /** Seconds since the epoch; defaults to the writer's mtime. */
  mtime?: number;
  nlink?: number;
}

export type CpioEntry =
  | (EntryCommon & { type: 'directory' })
  | (EntryCommon & { type: 'file'; size: number; source: CpioSource })
  | (EntryCommon & { type: 'symlink'; target: string });

export interface CpioWriteOptions {
  /** mtime for entries without one (default 0). */
  mtime?: number;
  /** Pad the archive with NULs to a multiple of this (default 512, as GNU cpio; 0 for none). */
  blockSize?: number;
}

const CHUNK = 1 << 20;

/** The header fields every entry we write shares: owned by root, no device numbers, no checksum. */
const ROOT_OWNED_NO_DEVICE = { uid: 0, gid: 0, devMajor: 0, devMinor: 0, rdevMajor: 0, rdevMinor: 0, check: 0 };

async function* sourceChunks(source: CpioSource): AsyncGenerator<Uint8Array> {
  if (typeof source === 'string') {
    yield* createReadStream(source, { highWaterMark: CHUNK }) as AsyncIterable<Buffer>;
  } else if (source instanceof Uint8Array) {
    yield source;
  } else {
    yield* source as AsyncIterable<Uint8Array>;
  }
}

function typeBits(entry: CpioEntry): number {
  if (entry.type === 'directory') return S_IFDIR;
  if (entry.type === 'symlink') return S_IFLNK;
  return S_IFREG;
}

function defaultPermissions(entry: CpioEntry): number {
  if (entry.type === 'directory') return 0o755;
  if (entry.type === 'symlink') return 0o777;
  return 0o644;
}

function dataSize(entry: CpioEntry): number {
  if (entry.type === 'file') return entry.size;
  return entry.type === 'symlink' ? Buffer.byteLength(entry.target, 'utf8') : 0;
}

/** The padding that ends an archive of `length` bytes. */
function closingPadding(length: number, options: CpioWriteOptions): number {
  const blockSize = options.blockSize ?? 512;
  return blockSize > 0 ? (blockSize - (length % blockSize)) % blockSize : 0;
}

/** The exact length of cpioArchive(entries, options), known before any data is read. */
export function cpioArchiveSize(entries: Iterable<CpioEntry>, options: CpioWriteOptions = {}): number {
  let offset = 0;
  for (const entry of entries) {
    offset += headerLength(entry.name, offset) + dataSize(entry);
    offset += pad4(offset);
  }
  offset += headerLength(TRAILER_NAME, offset);
  return offset + closingPadding(offset, options);
}

async function* archiveChunks(
  entries: Iterable<CpioEntry> | AsyncIterable<CpioEntry>,
  options: CpioWriteOptions,
): AsyncGenerator<Buffer> {
  const mtime = options.mtime ?? 0;
  let offset = 0;
  let ino = 0;
  const emit = (chunk: Buffer): Buffer => {
    offset += chunk.length;
    return chunk;
  };

  for await (const entry of entries) {
    if (entry.name === '' || entry.name === TRAILER_NAME) throw new CpioError(`cpio: invalid entry name ${JSON.stringify(entry.name)}`);
    const target = entry.type === 'symlink' ? Buffer.from(entry.target, 'utf8') : undefined;
    const size = dataSize(entry);
    yield emit(
      encodeHeader(
        {
          ...ROOT_OWNED_NO_DEVICE,
          name: entry.name,
          ino: ino++,
          mode: typeBits(entry) | ((entry.mode ?? defaultPermissions(entry)) & 0o7777),
          nlink: entry.nlink ?? (entry.type === 'directory' ? 2 : 1),
          mtime: entry.mtime ?? mtime,
          fileSize: size,
        },
        offset,
      ),
    );

    if (target) {
      yield emit(target);
    } else if (entry.type === 'file') {
      let written = 0;
      for await (const chunk of sourceChunks(entry.source)) {
        written += chunk.length;
        // A file that grows while it is archived would corrupt every later header.
        if (written > size) throw new CpioError(`cpio: ${entry.name}: more than the declared ${size} bytes`);
        yield emit(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      }
      if (written !== size) throw new CpioError(`cpio: ${entry.name}: got ${written} bytes, declared ${size}`);
    }
    const padding = pad4(offset);
    if (padding > 0) yield emit(Buffer.alloc(padding));
  }

  yield emit(
    encodeHeader(
      { ...ROOT_OWNED_NO_DEVICE, name: TRAILER_NAME, ino: 0, mode: 0, nlink: 1, mtime: 0, fileSize: 0 },
      offset,
    ),
  );
  const padding = closingPadding(offset, options);
  if (padding > 0) yield emit(Buffer.alloc(padding));
}

/**
 * A newc archive of the entries, in the given order, as a byte stream.
 * Inode numbers are assigned 0, 1, 2… in entry order. Data is pulled from each
 * source only as the stream is read.
 */
export function cpioArchive(entries: Iterable<CpioEntry> | AsyncIterable<CpioEntry>, options: CpioWriteOptions = {}): Readable {
  return Readable.from(archiveChunks(entries, options), { objectMode: false });
}

export interface DirectoryEntriesOptions {
  /** A fixed mtime for every entry (default 0), or 'source' to keep the files' own. */
  mtime?: number | 'source';
  /** Include `.` for the root itself, as `find .` does (default true). */
  includeRoot?: boolean;
}

/** C-locale order: plain byte order of the UTF-8 names. */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

async function listTree(root: string, relative: string, out: string[]): Promise<void> {
  for (const dirent of await fs.readdir(join(root, relative), { withFileTypes: true })) {
    const path = relative === '' ? dirent.name : `${relative}/${dirent.name}`;
    out.push(path);
    if (dirent.isDirectory()) await listTree(root, path, out);
  }
}

/**
 * The entries of a directory tree in the order of `find . | LC_ALL=C sort`
 * (sorted as whole `./path` strings, so `a-b` sorts before `a/c`), named as
 * GNU cpio names them (`.`, `a`, `a/c`), with modes and nlink from lstat.
 * Hard-linked files are archived as independent files with nlink 1.
 */
export async function* directoryEntries(root: string, options: DirectoryEntriesOptions = {}): AsyncGenerator<CpioEntry> {
  const paths: string[] = [];
  await listTree(root, '', paths);
  paths.sort((a, b) => compareBytes(`./${a}`, `./${b}`));
  if (options.includeRoot ?? true) paths.unshift('.');

  for (const name of paths) {
    const full = name === '.' ? root : join(root, name);
    // The root is what `find .` starts from, even when reached through a symlink.
    const stat = name === '.' ? await fs.stat(full) : await fs.lstat(full);
    const mtime = options.mtime === 'source' ? Math.floor(stat.mtimeMs / 1000) : (options.mtime ?? 0);
    const common = { name, mode: stat.mode & 0o7777, mtime };
    if (stat.isDirectory()) yield { ...common, type: 'directory', nlink: stat.nlink };
    else if (stat.isSymbolicLink()) yield { ...common, type: 'symlink', target: await fs.readlink(full), nlink: 1 };
    else if (stat.isFile()) yield { ...common, type: 'file', size: stat.size, source: full, nlink: 1 };
    else throw new CpioError(`cpio: ${name}: only directories, regular files and symlinks are supported`);
  }
}

// ---------------------------------------------------------------------------
// Reader

/** Pulls exact byte counts from a chunk stream; one operation at a time. */
class ByteReader {
  #iterator: AsyncIterator<Uint8Array>;
  #buffer: Buffer = Buffer.alloc(0);
  #ended = false;
  #lock: Promise<unknown> = Promise.resolve();
  position = 0;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#iterator = source[Symbol.asyncIterator]();
  }

  /** Runs operations one after the other, so an entry body and the archive iterator never interleave reads. */
  exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#lock.then(operation);
    this.#lock = result.catch(() => undefined);
    return result;
  }

  /** At least `count` bytes buffered, or fewer at the end of input; returns whether there are `count`. */
  async fill(count: number): Promise<boolean> {
    while (this.#buffer.length < count && !this.#ended) {
      const next = await this.#iterator.next();
      if (next.done) this.#ended = true;
      else if (next.value.length > 0) {
        const chunk = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.length);
        this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
      }
    }
    return this.#buffer.length >= count;
  }

  async read(count: number, what: string): Promise<Buffer> {
    if (!(await this.fill(count))) throw new CpioError(`cpio: truncated archive: ${what} at offset ${this.position}`);
    return this.take(count);
  }

  /** Up to `max` bytes, whatever is buffered (reading more only when nothing is). */
  async readSome(max: number, what: string): Promise<Buffer> {
    if (!(await this.fill(1))) throw new CpioError(`cpio: truncated archive: ${what} at offset ${this.position}`);
    return this.take(Math.min(max, this.#buffer.length));
  }

  async skip(count: number, what: string): Promise<void> {
    let left = count;
    while (left > 0) left -= (await this.readSome(left, what)).length;
  }

  async atEnd(): Promise<boolean> {
    return !(await this.fill(1));
  }

  peekByte(): number | undefined {
    return this.#buffer[0];
  }

  private take(count: number): Buffer {
    const out = this.#buffer.subarray(0, count);
    this.#buffer = this.#buffer.subarray(count);
    this.position += count;
    return out;
  }
}

export type CpioEntryType = 'file' | 'directory' | 'symlink' | 'other';

export interface CpioReadEntry {
  header: CpioHeader;
  name: string;
  type: CpioEntryType;
  size: number;
  /** The symlink's target (read eagerly), for symlinks only. */
  linkTarget?: string;
  /**
   * The entry's data, once. Read it before asking for the next entry; whatever
   * is left unread is skipped when the archive moves on, and the body then ends.
   */
  body(): AsyncIterable<Buffer>;
  /** The body as a Readable stream. */
  stream(): Readable;
  /** The whole body in memory (for small entries). */
  buffer(): Promise<Buffer>;
}

export interface CpioReadOptions {
  /**
   * Keep reading after a trailer: NUL padding is skipped and another archive
   * may follow (as in a concatenated initramfs). Default: stop at the first trailer.
   */
  concatenated?: boolean;
}

function parseHex(text: string, field: string, offset: number): number {
  if (!/^[0-9A-Fa-f]{8}$/.test(text)) throw new CpioError(`cpio: bad ${field} field ${JSON.stringify(text)} in header at offset ${offset}`);
  return Number.parseInt(text, 16);
}

function entryType(mode: number): CpioEntryType {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return 'file';
    case S_IFDIR:
      return 'directory';
    case S_IFLNK:
      return 'symlink';
    default:
      return 'other';
  }
}

async function readHeader(reader: ByteReader): Promise<CpioHeader> {
  const start = reader.position;
  const raw = (await reader.read(HEADER_SIZE, 'header')).toString('latin1');
  const magic = raw.slice(0, 6);
  if (magic !== NEWC_MAGIC && magic !== NEWC_CRC_MAGIC) {
    throw new CpioError(`cpio: bad magic ${JSON.stringify(magic)} at offset ${start} (not a newc archive)`);
  }
  const field = (index: number, name: string) => parseHex(raw.slice(6 + index * 8, 14 + index * 8), name, start);
  const nameSize = field(11, 'namesize');
  if (nameSize < 1) throw new CpioError(`cpio: empty name in header at offset ${start}`);
  const nameBytes = await reader.read(nameSize, 'name');
  if (nameBytes[nameSize - 1] !== 0) throw new CpioError(`cpio: name not NUL-terminated in header at offset ${start}`);
  await reader.skip(pad4(reader.position), 'name padding');
  return {
    magic,
    ino: field(0, 'ino'),
    mode: field(1, 'mode'),
    uid: field(2, 'uid'),
    gid: field(3, 'gid'),
    nlink: field(4, 'nlink'),
    mtime: field(5, 'mtime'),
    fileSize: field(6, 'filesize'),
    devMajor: field(7, 'devmajor'),
    devMinor: field(8, 'devminor'),
    rdevMajor: field(9, 'rdevmajor'),
    rdevMinor: field(10, 'rdevminor'),
    check: field(12, 'check'),
    name: nameBytes.subarray(0, nameSize - 1).toString('utf8'),
  };
}

/** Skips the NUL padding after a trailer; true when another archive follows. */
async function nextArchiveFollows(reader: ByteReader): Promise<boolean> {
  for (;;) {
    if (await reader.atEnd()) return false;
    if (reader.peekByte() !== 0) return true;
    await reader.skip(1, 'padding');
  }
}

/** Reads a newc archive from a byte stream, entry by entry. The trailer is not yielded. */
export async function* readCpio(source: AsyncIterable<Uint8Array>, options: CpioReadOptions = {}): AsyncGenerator<CpioReadEntry> {
  const reader = new ByteReader(source);
  for (;;) {
    const header = await reader.exclusive(() => readHeader(reader));
    if (header.name === TRAILER_NAME) {
      if (options.concatenated && (await reader.exclusive(() => nextArchiveFollows(reader)))) continue;
      return;
    }

    const state = { remaining: header.fileSize, open: true, taken: false };
    const type = entryType(header.mode);
    let linkTarget: string | undefined;
    let eager: Buffer | undefined;
    if (type === 'symlink') {
      eager = Buffer.from(await reader.exclusive(() => reader.read(header.fileSize, 'symlink target')));
      state.remaining = 0;
      linkTarget = eager.toString('utf8');
    }

    async function* body(): AsyncGenerator<Buffer> {
      if (state.taken) throw new CpioError(`cpio: the body of ${header.name} was already read`);
      state.taken = true;
      if (eager && eager.length > 0) yield eager;
      while (state.open && state.remaining > 0) {
        // The count is updated inside the exclusive section, so the skip that follows sees it.
        const chunk = await reader.exclusive(async () => {
          if (!state.open || state.remaining === 0) return undefined;
          const got = await reader.readSome(Math.min(state.remaining, CHUNK), `data of ${header.name}`);
          state.remaining -= got.length;
          return got;
        });
        if (!chunk) return;
        yield chunk;
      }
    }

    yield {
      header,
      name: header.name,
      type,
      size: header.fileSize,
      ...(linkTarget !== undefined ? { linkTarget } : {}),
      body,
      stream: () => Readable.from(body(), { objectMode: false }),
      buffer: async () => {
        const parts: Buffer[] = [];
        for await (const part of body()) parts.push(part);
        return Buffer.concat(parts);
      },
    };

    await reader.exclusive(async () => {
      state.open = false;
      await reader.skip(state.remaining, `data of ${header.name}`);
      state.remaining = 0;
      await reader.skip(pad4(reader.position), 'data padding');
    });
  }
}
