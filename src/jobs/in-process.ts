// The default queue: builds run in this process, at most `concurrency` at a
// time, one per key; a failed build is remembered for a while so the status
// endpoint can say why.

import { EventEmitter } from 'node:events';
import type { BuildSpec, ProgressReporter } from '../assets/build-spec.js';
import { BuildFailedError, type BuildQueue, type BuildState, type StateListener } from './queue.js';

export type Builder = (spec: BuildSpec, progress: ProgressReporter) => Promise<void>;

export interface InProcessQueueOptions {
  concurrency: number;
  /** A build running longer fails (its work is abandoned). */
  timeoutMs: number;
  /** How long a failure stays visible in state(). */
  failureTtlMs?: number;
}

export class InProcessQueue implements BuildQueue {
  readonly description: string;
  private readonly running = new Map<string, Promise<void>>();
  private readonly states = new Map<string, BuildState>();
  private readonly events = new EventEmitter();
  private readonly waiting: Array<() => void> = [];
  private active = 0;

  constructor(
    private readonly builder: Builder,
    private readonly options: InProcessQueueOptions,
  ) {
    this.description = `in-process (${options.concurrency} at a time)`;
    this.events.setMaxListeners(0);
  }

  run(spec: BuildSpec): Promise<void> {
    const existing = this.running.get(spec.key);
    if (existing) return existing;
    const build = this.execute(spec).finally(() => this.running.delete(spec.key));
    this.running.set(spec.key, build);
    // Nobody may be waiting any more (client gone): the failure is kept in state(), not thrown away unhandled.
    build.catch(() => undefined);
    return build;
  }

  private async execute(spec: BuildSpec): Promise<void> {
    this.setState(spec.key, { state: 'queued' });
    await this.slot();
    try {
      this.setState(spec.key, { state: 'building', progress: 0, stage: 'starting' });
      await withTimeout(
        this.builder(spec, (progress, stage) => this.setState(spec.key, { state: 'building', progress, stage })),
        this.options.timeoutMs,
      );
      this.setState(spec.key, { state: 'done' });
      this.states.delete(spec.key);
    } catch (error) {
      const message = (error as Error).message;
      this.setState(spec.key, { state: 'failed', error: message });
      setTimeout(() => {
        if (this.states.get(spec.key)?.state === 'failed') this.states.delete(spec.key);
      }, this.options.failureTtlMs ?? 10 * 60_000).unref();
      throw new BuildFailedError(message, { cause: error });
    } finally {
      this.release();
    }
  }

  private slot(): Promise<void> {
    if (this.active < this.options.concurrency) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(() => resolve()));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }

  private setState(key: string, state: BuildState): void {
    this.states.set(key, state);
    this.events.emit(key, state);
  }

  async state(key: string): Promise<BuildState> {
    return this.states.get(key) ?? { state: 'idle' };
  }

  watch(key: string, listener: StateListener): () => void {
    this.events.on(key, listener);
    return () => this.events.off(key, listener);
  }

  async counts(): Promise<{ waiting: number; active: number }> {
    return { waiting: this.waiting.length, active: this.active };
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.running.values());
  }
}

export function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`build timed out after ${Math.round(ms / 1000)} s`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
