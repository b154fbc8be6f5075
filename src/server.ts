// Wires the service together from a Config and starts listening.

import type { Server } from 'node:http';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { type Config, splitListen } from './config.js';
import { AssetProducer } from './assets/producer.js';
import { HOST_TOOLS, locate } from './build/tools/host-tool.js';
import { createApp } from './http/app.js';
import { RegistryClient } from './oci/registry/client.js';
import { LayoutReleaseBackend, type ReleaseBackend, RegistryReleaseBackend } from './release/backend.js';
import { ReleaseService } from './release/release.js';
import { CachedSchematicStore, FsSchematicStore, SchematicService } from './schematic/index.js';
import { parseVersionTolerant } from './talos/version.js';
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
  const releases = new ReleaseService({
    backend: releaseBackend(config),
    dataDir: config.dataDir,
    minimumVersion: parseVersionTolerant(config.minTalosVersion),
    brokenVersions: config.brokenTalosVersions.map((v) => parseVersionTolerant(v)),
    recheckIntervalMs: config.versionRecheckSeconds * 1000,
    logger,
  });
  const producer = new AssetProducer({
    releases,
    workDir: join(config.dataDir, 'tmp'),
    externalUrl: config.externalUrl,
    logger,
  });
  const app = createApp({
    logger,
    schematics: new SchematicService(store),
    allowedOrigins: config.allowedOrigins,
    releases,
    releaseRegistryName: config.releaseRegistry,
    producer,
    externalPxeUrl: config.externalPxeUrl ?? config.externalUrl,
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
  logger.info({ address, dataDir: config.dataDir, release: releases.description, version: VERSION }, 'image factory listening');
  // Builds that need a missing host tool fail with a message naming its package; say so up front too.
  for (const tool of HOST_TOOLS) {
    locate(tool).catch((error: Error) => logger.warn({ tool: tool.name, package: tool.debianPackage }, error.message));
  }
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

function releaseBackend(config: Config): ReleaseBackend {
  if (config.releaseLayoutDir !== undefined) return new LayoutReleaseBackend(config.releaseLayoutDir, config.releaseNamespace);
  const client = new RegistryClient({
    registry: config.releaseRegistry,
    insecure: config.releaseInsecure,
    userAgent: `image-factory/${VERSION}`,
    ...(config.releaseUsername !== undefined &&
      config.releasePassword !== undefined && {
        credentials: { username: config.releaseUsername, password: config.releasePassword },
      }),
  });
  return new RegistryReleaseBackend(client, config.releaseNamespace);
}
