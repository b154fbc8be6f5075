// Streams a planned image front to back: metadata from memory, file contents
// and the ESP read from disk as they are written, zeros for the gaps. Memory
// stays at the metadata plus one read buffer whatever the image size; the
// output needs no seeking (a pipe or an HTTP response will do).

import { createReadStream, createWriteStream } from 'node:fs';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { zeroChunks } from '../disk/sparse.js';
import type { FileSource, FileTree } from '../file-tree.js';
import { BLOCK } from './constants.js';
import { Iso9660Error } from './errors.js';
import type { IsoWriteOptions } from './options.js';
import { planIso, type IsoPlan, type Region } from './plan.js';

/** A source's bytes, checked against the size the plan was made with. */
async function* contents(source: FileSource, size: number, what: string): AsyncGenerator<Buffer> {
  if ('data' in source) {
    if (source.data.length !== size) throw new Iso9660Error(`iso9660: ${what} changed size while the image was written`);
    yield Buffer.from(source.data.buffer, source.data.byteOffset, source.data.length);
    return;
  }
  let seen = 0;
  for await (const chunk of createReadStream(source.path)) {
    const buf = chunk as Buffer;
    seen += buf.length;
    if (seen > size) break;
    yield buf;
  }
  if (seen !== size) throw new Iso9660Error(`iso9660: ${what} (${source.path}) changed size while the image was written`);
}

async function* regionBytes(region: Region): AsyncGenerator<Buffer> {
  if (region.kind === 'bytes') {
    yield region.data;
  } else if (region.kind === 'file') {
    const { file } = region;
    if (file.data) yield file.data;
    else yield* contents(file.source, file.size, file.path);
    yield* zeroChunks((BLOCK - (file.size % BLOCK)) % BLOCK);
  } else {
    yield* contents(region.source, region.size, 'the ESP image');
    yield* zeroChunks((BLOCK - (region.size % BLOCK)) % BLOCK);
  }
}

/** The whole image as a sequence of buffers. */
async function* isoChunks(plan: IsoPlan): AsyncGenerator<Buffer> {
  let position = 0;
  for (const region of plan.regions) {
    if (region.at < position) throw new Iso9660Error(`iso9660: internal layout error: region at ${region.at} overlaps ${position}`);
    yield* zeroChunks(region.at - position);
    position = region.at;
    for await (const chunk of regionBytes(region)) {
      position += chunk.length;
      yield chunk;
    }
  }
  if (position > plan.size) throw new Iso9660Error(`iso9660: internal layout error: wrote ${position} of ${plan.size} bytes`);
  yield* zeroChunks(plan.size - position);
}

export interface IsoWriteResult {
  /** Bytes written. */
  size: number;
  plan: IsoPlan;
}

/** Writes an ISO image to a file (created or truncated) or into a stream (which is ended). */
export async function writeIso(tree: FileTree, out: string | Writable, options: IsoWriteOptions = {}): Promise<IsoWriteResult> {
  const plan = await planIso(tree, options);
  await writePlannedIso(plan, out);
  return { size: plan.size, plan };
}

/** Writes an image planned with planIso (when the size is needed before writing, e.g. for Content-Length); stops when `signal` aborts. */
export async function writePlannedIso(plan: IsoPlan, out: string | Writable, signal?: AbortSignal): Promise<void> {
  const sink = typeof out === 'string' ? createWriteStream(out) : out;
  await pipeline(Readable.from(isoChunks(plan), { objectMode: false }), sink, signal ? { signal } : {});
}
