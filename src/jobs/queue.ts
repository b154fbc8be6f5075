// The build queue: one build per AssetKey however many callers ask, detached
// from the requests that started it, with its state visible while it runs.

import type { BuildSpec } from './spec.js';

export type BuildState =
  | { state: 'idle' }
  | { state: 'queued' }
  | { state: 'building'; progress: number; stage: string }
  | { state: 'done' }
  | { state: 'failed'; error: string };

export type StateListener = (state: BuildState) => void;

/** The build ran and failed; the message says why (the same for every caller that joined it). */
export class BuildFailedError extends Error {
  override name = 'BuildFailedError';
}

export interface RunOptions {
  /**
   * Build again even when the queue remembers a finished build of this key
   * (its result is gone from the cache, e.g. evicted or found damaged).
   */
  rebuild?: boolean;
}

export interface BuildQueue {
  readonly description: string;
  /**
   * Starts the build of `spec.key` unless it is already queued or running, and
   * resolves when it has finished (the asset is then in the cache); rejects with
   * BuildFailedError when it failed. A caller that stops waiting does not stop the build.
   */
  run(spec: BuildSpec, options?: RunOptions): Promise<void>;
  /** What is happening to a key's build right now (idle = nothing known). */
  state(key: string): Promise<BuildState>;
  /** Calls `listener` on every state change of a key's build until unsubscribed. */
  watch(key: string, listener: StateListener): () => void;
  /** Builds waiting and running, for metrics. */
  counts(): Promise<{ waiting: number; active: number }>;
  close(): Promise<void>;
}
