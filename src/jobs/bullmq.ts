// The queue on Redis (BullMQ), for many processes and machines: the job ID is
// the AssetKey, so every web process asking for one asset joins the same job;
// workers anywhere take jobs, report progress, retry with backoff, and a job
// whose worker died is picked up again once its lock expires (stalled jobs).

import { Job, Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { buildDeadline, failureOf } from './deadline.js';
import { BuildFailedError, type BuildQueue, type BuildState, type RunOptions, type StateListener } from './queue.js';
import type { Builder, BuildSpec } from './spec.js';

export const QUEUE_NAME = 'image-factory-builds';

/** How often a waiting caller checks that its job still exists. */
const WAIT_CHECK_MS = 5000;

function isWaitTimeout(error: unknown): boolean {
  return error instanceof Error && /timed out before finishing/.test(error.message);
}

export interface BullOptions {
  redisUrl: string;
  /** A build running longer is stopped and fails (and is retried while attempts remain). */
  timeoutMs: number;
  /** How long a worker's lock on a job lasts without renewal; a dead worker's job returns to the queue after it. */
  lockMs: number;
  attempts: number;
  logger: Logger;
}

interface Progress {
  percent: number;
  stage: string;
}

/** BullMQ needs connections that retry forever instead of failing commands. */
export function redisConnection(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: false });
}

export class BullQueue implements BuildQueue {
  readonly description: string;
  private readonly connection: Redis;
  private readonly queue: Queue<BuildSpec>;
  private readonly events: QueueEvents;
  private readonly ready: Promise<unknown>;

  constructor(private readonly options: BullOptions) {
    this.description = `BullMQ on ${new URL(options.redisUrl).host}`;
    this.connection = redisConnection(options.redisUrl);
    this.queue = new Queue<BuildSpec>(QUEUE_NAME, { connection: this.connection });
    this.events = new QueueEvents(QUEUE_NAME, { connection: redisConnection(options.redisUrl) });
    this.events.setMaxListeners(0);
    this.ready = this.events.waitUntilReady();
  }

  async run(spec: BuildSpec, options: RunOptions = {}): Promise<void> {
    await this.ready;
    let existing = await Job.fromId<BuildSpec>(this.queue, spec.key);
    // A failure is reported to those who waited for it; a new request starts over.
    if (existing && ((await existing.isFailed()) || (options.rebuild && (await existing.isCompleted())))) {
      await existing.remove().catch(() => undefined);
      existing = undefined;
    }
    for (;;) {
      const job = existing ?? (await this.add(spec));
      existing = undefined;
      try {
        await job.waitUntilFinished(this.events, WAIT_CHECK_MS);
        return;
      } catch (error) {
        if (!isWaitTimeout(error)) throw new BuildFailedError((error as Error).message, { cause: error });
        // No news for a while: the job may be gone (Redis restarted without its data); then submit it again.
        existing = await Job.fromId<BuildSpec>(this.queue, spec.key);
        if (existing && (await existing.isFailed())) throw new BuildFailedError(existing.failedReason ?? 'build failed');
      }
    }
  }

  private add(spec: BuildSpec): Promise<Job<BuildSpec>> {
    return this.queue.add('build', spec, {
      jobId: spec.key,
      attempts: this.options.attempts,
      backoff: { type: 'exponential', delay: 2000 },
      removeOnComplete: { age: 300 },
      removeOnFail: { age: 600 },
    });
  }

  async state(key: string): Promise<BuildState> {
    const job = await Job.fromId<BuildSpec>(this.queue, key);
    if (!job) return { state: 'idle' };
    return jobState(await job.getState(), job.progress, job.failedReason);
  }

  watch(key: string, listener: StateListener): () => void {
    const handlers: Record<string, (event: { jobId: string; data?: unknown; failedReason?: string }) => void> = {
      waiting: (e) => e.jobId === key && listener({ state: 'queued' }),
      active: (e) => e.jobId === key && listener({ state: 'building', progress: 0, stage: 'starting' }),
      progress: (e) => e.jobId === key && listener(progressState(e.data)),
      completed: (e) => e.jobId === key && listener({ state: 'done' }),
      failed: (e) => e.jobId === key && listener({ state: 'failed', error: e.failedReason ?? 'build failed' }),
    };
    for (const [event, handler] of Object.entries(handlers)) this.events.on(event as 'waiting', handler as never);
    return () => {
      for (const [event, handler] of Object.entries(handlers)) this.events.off(event as 'waiting', handler as never);
    };
  }

  async counts(): Promise<{ waiting: number; active: number }> {
    const c = await this.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    return { waiting: (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0), active: c.active ?? 0 };
  }

  async close(): Promise<void> {
    await this.events.close();
    await this.queue.close();
    this.connection.disconnect();
  }
}

function progressState(data: unknown): BuildState {
  const p = (typeof data === 'object' && data !== null ? data : { percent: Number(data) || 0, stage: '' }) as Progress;
  return { state: 'building', progress: p.percent, stage: p.stage };
}

function jobState(state: string, progress: unknown, failedReason: string | undefined): BuildState {
  switch (state) {
    case 'active':
      return progressState(progress);
    case 'completed':
      return { state: 'done' };
    case 'failed':
      return { state: 'failed', error: failedReason ?? 'build failed' };
    case 'unknown':
      return { state: 'idle' };
    default:
      return { state: 'queued' };
  }
}

/**
 * Runs builds from the Redis queue in this process; close() lets running
 * builds finish. A build stops at its deadline, and when this worker loses
 * its lock on the job (another worker may take it up: two builds of one key
 * must not run side by side).
 */
export class BullWorkers {
  private readonly worker: Worker<BuildSpec>;

  constructor(builder: Builder, concurrency: number, private readonly options: BullOptions) {
    this.worker = new Worker<BuildSpec>(
      QUEUE_NAME,
      async (job, _token, lost) => {
        const deadline = buildDeadline(options.timeoutMs, lost);
        try {
          await builder(job.data, {
            signal: deadline.signal,
            progress: (percent, stage) => void job.updateProgress({ percent, stage } satisfies Progress).catch(() => undefined),
          });
        } catch (error) {
          throw failureOf(error, deadline.signal);
        } finally {
          deadline.clear();
        }
      },
      {
        connection: redisConnection(options.redisUrl),
        concurrency,
        lockDuration: options.lockMs,
        stalledInterval: Math.max(1000, Math.floor(options.lockMs / 2)),
        maxStalledCount: 2,
      },
    );
    this.worker.on('failed', (job, error) => options.logger.warn({ key: job?.id, attempt: job?.attemptsMade, err: error }, 'build failed'));
    this.worker.on('error', (error) => options.logger.error({ err: error }, 'worker error'));
    this.worker.on('lockRenewalFailed', (jobIds) => {
      for (const id of jobIds) this.worker.cancelJob(id, `lost the lock on job ${id}: another worker may build it`);
    });
  }

  waitUntilReady(): Promise<unknown> {
    return this.worker.waitUntilReady();
  }

  close(): Promise<void> {
    return this.worker.close();
  }
}
