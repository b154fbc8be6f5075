// Writes a planned image front to back (planIso describes it as a sparse
// disk: metadata from memory, file contents and the ESP read from disk as they
// are written, zeros for the gaps). Memory stays at the metadata plus one read
// buffer whatever the image size; the output needs no seeking (a pipe or an
// HTTP response will do).

import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { rawDiskStream } from '../disk/sparse.js';
import type { FileTree } from '../file-tree.js';
import type { IsoWriteOptions } from './options.js';
import { planIso, type IsoPlan } from './plan.js';

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
  await pipeline(rawDiskStream(plan.image), sink, signal ? { signal } : {});
}
