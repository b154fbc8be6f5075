// Wires the web service together from a Config and starts listening.

import type { Server } from 'node:http';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { AssetService } from './assets/service.js';
import { DigestIndex } from './cache/digest-index.js';
import { HOST_TOOLS, locate } from './host-tool.js';
import { type Config, splitListen } from './config.js';
import { createApp } from './http/app.js';
import { Metrics } from './metrics.js';
import { createQueueing, createRuntime } from './runtime.js';
import { CachedSchematicStore, FsSchematicStore, SchematicService } from './schematic/index.js';
import { VERSION } from './version.js';

export interface RunningServer {
  server: Server;
  /** The address actually bound, e.g. 127.0.0.1:40123. */
  address: string;
  /** The metrics address actually bound, when metrics are on. */
  metricsAddress?: string;
  close(): Promise<void>;
}

function boundAddress(server: Server, fallback: string): string {
  const bound = server.address();
  return typeof bound === 'object' && bound ? `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}` : fallback;
}

function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeAllConnections();
  });
}

export async function startServer(config: Config, logger: Logger = pino({ level: config.logLevel })): Promise<RunningServer> {
  const store = new CachedSchematicStore(new FsSchematicStore(join(config.dataDir, 'schematics'), logger), {
    capacity: config.schematicCacheCapacity,
    negativeTtlMs: config.schematicNegativeTtlSeconds * 1000,
  });
  const runtime = createRuntime(config, logger);
  const queueing = createQueueing(config, runtime, logger);
  const metrics = new Metrics(queueing.queue);
  const assets = new AssetService({
    releases: runtime.releases,
    builders: runtime.builders,
    bootFiles: runtime.bootFiles,
    cache: runtime.cache,
    queue: queueing.queue,
    live: runtime.live,
    logger,
    onDelivered: (prepared, cached, ms) => metrics.delivered(prepared, cached, ms),
    onFailed: () => metrics.buildFailures.inc(),
  });
  const app = createApp({
    logger,
    schematics: new SchematicService(store),
    allowedOrigins: config.allowedOrigins,
    releases: runtime.releases,
    releaseRegistryName: config.releaseRegistry,
    assets,
    cache: runtime.cache,
    digests: new DigestIndex(join(config.dataDir, 'registry-digests')),
    ...(config.prebuildInstallers && {
      onSchematicCreated: (schematic) =>
        void assets.prebuildInstaller(schematic).catch((error: Error) => logger.debug({ err: error, schematic: schematic.id }, 'installer not prebuilt')),
    }),
    externalPxeUrl: config.externalPxeUrl ?? config.externalUrl,
  });
  const { host, port } = splitListen(config.listen);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(port, host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  // Longer than the idle timeouts of common load balancers (60 s) and of clients that pause between
  // requests, so a reused keep-alive connection is never one the server is closing (Node's default is 5 s).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  const address = boundAddress(server, config.listen);
  let metricsServer: Server | undefined;
  if (config.metricsListen !== '') {
    const m = splitListen(config.metricsListen);
    metricsServer = await metrics.listen(m.host, m.port);
  }
  const metricsAddress = metricsServer ? boundAddress(metricsServer, config.metricsListen) : undefined;
  logger.info(
    { address, metricsAddress, dataDir: config.dataDir, release: runtime.releases.description, queue: queueing.queue.description, cache: runtime.cache.description, version: VERSION },
    'image factory listening',
  );
  // Builds that need a missing host tool fail with a message naming its package; say so up front too.
  for (const tool of HOST_TOOLS) {
    locate(tool).catch((error: Error) => logger.warn({ tool: tool.name, package: tool.debianPackage }, error.message));
  }
  return {
    server,
    address,
    ...(metricsAddress !== undefined && { metricsAddress }),
    close: async () => {
      await closeServer(server);
      if (metricsServer) await closeServer(metricsServer);
      await queueing.close();
    },
  };
}
