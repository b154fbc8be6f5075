// Several processes answering HTTP on one address (IF_HTTP_PROCESSES > 1), as
// nginx runs a worker per core. Every process listens with SO_REUSEPORT and
// the kernel spreads new connections over them. The process started by
// `serve` (the owner) does everything it does alone: it alone queues and runs
// builds, so a key is built once and admission control counts every build.
// The others (hit processes, forked by the owner and started again if one
// dies) answer cache hits from the shared cache directory, through the same
// lane and the same checks as the owner (a truncated or removed entry is
// noticed at once), and pass everything else to the owner over a Unix socket
// (http/forward.ts). A hit process exits when its owner goes. Each counts the
// hits it answers; the owner's /metrics asks every hit process for its
// metrics over the fork's IPC channel and adds them to its own.

import { type ChildProcess, fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type RequestListener, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import type { Logger } from 'pino';
import { AssetService } from './assets/service.js';
import { type Config, splitListen } from './config.js';
import { cacheHitsFirst } from './http/cache-hits.js';
import { CLIENT_HEADER, forwarder } from './http/forward.js';
import { clientAddress, trustProxy } from './http/routing.js';
import { InProcessQueue } from './jobs/in-process.js';
import { Metrics, type ProcessMetrics } from './metrics.js';
import { createAssetTable, fleetStores, schematicService } from './runtime.js';

/** Longer than the idle timeouts of common load balancers (60 s) and of clients that pause between
 * requests, so a reused keep-alive connection is never one the server is closing (Node's default is 5 s). */
const KEEP_ALIVE_MS = 65_000;
/** How long a hit process may take to start listening. */
const START_TIMEOUT_MS = 30_000;
/** Pause before a hit process that died is started again. */
const RESTART_DELAY_MS = 1000;
/** How long /metrics waits for a hit process's metrics before leaving them out. */
const METRICS_TIMEOUT_MS = 2000;

/** An HTTP server on `listen`, shared with the other HTTP processes of this factory when `shared`. */
export async function listenHttp(listener: RequestListener, listen: string, shared: boolean): Promise<Server> {
  const { host, port } = splitListen(listen);
  const server = createServer(listener);
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  server.headersTimeout = KEEP_ALIVE_MS + 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, reusePort: shared }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeAllConnections();
  });
}

/** What the owner sends a hit process it forked. */
interface HitProcessOrders {
  config: Config;
  ownerSocket: string;
}

/** What the owner and a hit process say to each other once it listens. */
type MetricsMessage = { metricsRequest: number } | { metricsReply: number; snapshot: ProcessMetrics };

export interface HitProcesses {
  /** The metrics of every hit process that answers in time. */
  metrics(): Promise<ProcessMetrics[]>;
  close(): Promise<void>;
}

/** Asks a hit process for its metrics; undefined when it does not answer in time. */
function askMetrics(child: ChildProcess, request: number): Promise<ProcessMetrics | undefined> {
  return new Promise((resolve) => {
    const done = (snapshot: ProcessMetrics | undefined): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(snapshot);
    };
    const onMessage = (message: MetricsMessage): void => {
      if ('metricsReply' in message && message.metricsReply === request) done(message.snapshot);
    };
    const timer = setTimeout(() => done(undefined), METRICS_TIMEOUT_MS);
    child.on('message', onMessage);
    // With a callback, a channel that closed meanwhile is reported here rather than as an 'error' event nobody listens to.
    if (child.connected) child.send({ metricsRequest: request } satisfies MetricsMessage, (error) => error && done(undefined));
    else done(undefined);
  });
}

/**
 * The owner's side: a Unix socket where the hit processes pass requests on
 * (answered by `listener`, with the client address they saw), and `count` hit
 * processes listening on `listen` (the address the owner bound), each started
 * as `node <execArgv> <entry> serve-hits`. Resolves once all of them listen.
 */
export async function startHitProcesses(config: Config, listen: string, listener: RequestListener, count: number, entry: string, logger: Logger): Promise<HitProcesses> {
  const dir = await mkdtemp(join(tmpdir(), 'image-factory-'));
  const ownerSocket = join(dir, 'owner.sock');
  const internal = createServer((req, res) => {
    const client = req.headers[CLIENT_HEADER];
    delete req.headers[CLIENT_HEADER];
    if (typeof client === 'string') req.forwardedClient = client;
    listener(req, res);
  });
  internal.keepAliveTimeout = KEEP_ALIVE_MS;
  await new Promise<void>((resolve) => internal.listen(ownerSocket, resolve));
  const orders: HitProcessOrders = { config: { ...config, listen }, ownerSocket };
  const children = new Set<ChildProcess>();
  let closing = false;
  let metricsRequests = 0;
  const start = (): Promise<void> => {
    const child = fork(entry, ['serve-hits'], { stdio: 'inherit' });
    children.add(child);
    child.once('exit', (code, signal) => {
      children.delete(child);
      if (closing) return;
      logger.warn({ pid: child.pid, code, signal }, 'a hit-serving HTTP process ended; starting another');
      setTimeout(() => void start().catch((error: Error) => logger.error({ err: error }, 'could not start a hit-serving HTTP process')), RESTART_DELAY_MS).unref();
    });
    child.send(orders);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`a hit-serving HTTP process did not listen within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      child.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      child.once('exit', () => {
        clearTimeout(timer);
        reject(new Error('a hit-serving HTTP process ended while starting'));
      });
    });
  };
  const stop = async (): Promise<void> => {
    closing = true;
    await Promise.all(
      [...children].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      ),
    );
    await closeServer(internal);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(Array.from({ length: count }, start));
  } catch (error) {
    await stop();
    throw error;
  }
  const metrics = async (): Promise<ProcessMetrics[]> => {
    const request = ++metricsRequests;
    const snapshots = await Promise.all([...children].map((child) => askMetrics(child, request)));
    return snapshots.filter((snapshot) => snapshot !== undefined);
  };
  return { metrics, close: stop };
}

/**
 * The hit process's side (`serve-hits`): waits for its orders from the owner,
 * then answers cache hits on the shared address and passes the rest on.
 */
export function runHitProcess(logger: (config: Config) => Logger): void {
  process.once('message', (orders: HitProcessOrders) => {
    const metrics = new Metrics();
    process.on('message', (message: MetricsMessage) => {
      if (!('metricsRequest' in message)) return;
      // The callback takes the error of an owner already gone (this process then exits on 'disconnect').
      void metrics.snapshot().then((snapshot) => process.send?.({ metricsReply: message.metricsRequest, snapshot } satisfies MetricsMessage, () => undefined));
    });
    void serveHits(orders, logger(orders.config), metrics).then((server) => {
      const stop = (): void => void closeServer(server).finally(() => process.exit(0));
      process.once('disconnect', stop); // the owner is gone
      process.once('SIGTERM', stop);
      process.send?.('listening');
    });
  });
}

async function serveHits({ config, ownerSocket }: HitProcessOrders, logger: Logger, metrics: Metrics): Promise<Server> {
  const table = createAssetTable(config, logger);
  // Builds nothing: only prepare() and fromCache() are used here; the owner builds.
  const refuse = (): Promise<void> => Promise.reject(new Error('a hit-serving HTTP process does not build'));
  const assets = new AssetService({
    ...table,
    cache: table.local,
    queue: new InProcessQueue(refuse, { concurrency: 1, timeoutMs: 1000 }),
    logger,
    onDelivered: (prepared, cached, ms) => metrics.delivered(prepared, cached, ms),
  });
  const forward = forwarder(ownerSocket);
  // express only for what goes to the owner, for req.ip under IF_TRUST_PROXY exactly as the owner would read it.
  const rest = express();
  rest.disable('x-powered-by');
  trustProxy(rest, config.trustProxy);
  rest.use((req, res) => forward(req, res, clientAddress(req)));
  const schematics = schematicService(config, fleetStores(config, logger).schematics);
  const server = await listenHttp(cacheHitsFirst({ logger, schematics, assets, allowedOrigins: config.allowedOrigins }, rest), config.listen, true);
  logger.info({ listening: config.listen, owner: ownerSocket }, 'answering cache hits');
  return server;
}
