// The worker process (`image-factory worker`): takes asset builds from the
// Redis queue and puts the results into the asset cache. Run as many as the
// machines allow; each runs `workers` builds at once.

import { createLogger } from '../src/logging.js';
import { ConfigError, type Config } from '../src/config.js';
import { BullWorkers } from '../src/jobs/bullmq.js';
import { createRuntime } from '../src/runtime.js';
import { VERSION } from '../src/version.js';

export interface RunningWorker {
  close(): Promise<void>;
}

export async function startWorker(config: Config): Promise<RunningWorker> {
  if (config.redisUrl === undefined) throw new ConfigError('invalid configuration: a worker needs REDIS_URL (the queue it takes builds from)');
  const logger = createLogger(config.logLevel);
  const runtime = createRuntime(config, logger);
  const workers = new BullWorkers(runtime.builder, Math.max(1, config.workers), {
    redisUrl: config.redisUrl,
    timeoutMs: config.buildTimeoutSeconds * 1000,
    lockMs: config.jobLockSeconds * 1000,
    attempts: config.buildAttempts,
    logger,
  });
  await workers.waitUntilReady();
  logger.info({ concurrency: Math.max(1, config.workers), release: runtime.releases.description, cache: runtime.cache.description, version: VERSION, pid: process.pid }, 'worker ready');
  return { close: () => workers.close() };
}
