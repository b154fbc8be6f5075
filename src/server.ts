// Wires the service together from a Config and starts listening.

import type { Server } from 'node:http';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { type Config, splitListen } from './config.js';
import { createApp } from './http/app.js';
import { CachedSchematicStore, FsSchematicStore, SchematicService } from './schematic/index.js';
import { VERSION } from './version.js';

export interface RunningServer {
  server: Server;
  /** The address actually bound, e.g. 127.0.0.1:40123. */
  address: string;
  close(): Promise<void>;
}

export async function startServer(config: Config, logger: Logger = pino({ level: config.logLevel })): Promise<RunningServer> {
  const store = new CachedSchematicStore(new FsSchematicStore(join(config.dataDir, 'schematics'), logger), {
    capacity: config.schematicCacheCapacity,
    negativeTtlMs: config.schematicNegativeTtlSeconds * 1000,
  });
  const app = createApp({
    logger,
    schematics: new SchematicService(store),
    allowedOrigins: config.allowedOrigins,
  });
  const { host, port } = splitListen(config.listen);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(port, host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const bound = server.address();
  const address =
    typeof bound === 'object' && bound
      ? `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`
      : config.listen;
  logger.info({ address, dataDir: config.dataDir, version: VERSION }, 'image factory listening');
  return {
    server,
    address,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
