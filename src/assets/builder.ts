// What every output kind's builder offers, in the spirit of upstream's
// two-method asset interface: which release inputs it reads (so the AssetKey
// is made from exactly what the build reads) and the build itself, writing
// into a sink, stoppable by a signal. SecureBoot or overlay variants are new
// builders in the table (builders/index.ts), not new switches.

import type { ProgressReporter } from '../jobs/spec.js';
import type { AssetSink } from './sink.js';
import type { AssetTarget } from './target.js';

export interface BuildContext {
  /** Aborted when the build must stop: every step, writer and child process stops with it. */
  signal: AbortSignal;
  progress: ProgressReporter;
  /** Scratch space of this build alone, removed when it ends, whatever the outcome. */
  dir: string;
}

/** What the steps of a build share with it: when to stop, where to report. */
export type BuildSteps = Pick<BuildContext, 'signal' | 'progress'>;

export interface AssetBuilder {
  /** Bumped whenever this builder's output changes, so older cache entries are not served as current. */
  readonly recipe: number;
  /** Refuses (InvalidAssetRequestError, AssetNotImplementedError) what it cannot build, before anything is queued. */
  check(target: AssetTarget): void;
  /** The digests of every release input the build reads, in a fixed order: part of the AssetKey. */
  inputs(target: AssetTarget): Promise<string[]>;
  /** Writes the asset into `sink`; rejects when it fails or `context.signal` aborts. */
  build(target: AssetTarget, sink: AssetSink, context: BuildContext): Promise<void>;
}
