// The default queue: builds run in this process, at most `concurrency` at a
// time, one per key; a failed build is remembered for a while so the status
// endpoint can say why. A build past its deadline is told to stop and keeps
// its slot (and its key) until it has stopped, so neither the concurrency
// limit nor one-build-per-key is ever exceeded.

import { EventEmitter } from 'node:events';
import { buildDeadline, failureOf } from './deadline.js';
import { BuildFailedError, type BuildQueue, type BuildState, type StateListener } from './queue.js';
import type { Builder, BuildSpec } from './spec.js';

export interface InProcessQueueOptions {
  concurrency: number;
  /** A build running longer is stopped and fails. */
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
    const deadline = buildDeadline(this.options.timeoutMs);
    try {
      this.setState(spec.key, { state: 'building', progress: 0, stage: 'starting' });
      await this.builder(spec, {
        signal: deadline.signal,
        progress: (progress, stage) => this.setState(spec.key, { state: 'building', progress, stage }),
      }).catch((error: unknown) => {
        throw failureOf(error, deadline.signal);
      });
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
      deadline.clear();
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
