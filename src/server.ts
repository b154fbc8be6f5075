// Wires the web service together from a Config and starts listening.

import type { KeyObject } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Admission } from './assets/admission.js';
import { AssetService } from './assets/service.js';
import { HOST_TOOLS, locate } from './host-tool.js';
import { type Config, splitListen } from './config.js';
import { writeFileAtomic } from './durable-file.js';
import { createApp } from './http/app.js';
import { cacheHitsFirst } from './http/cache-hits.js';
import { closeServer, listenHttp, startHitProcesses } from './http-processes.js';
import { createLogger } from './logging.js';
import { Metrics } from './metrics.js';
import { generatePrivateKeyPem, parsePrivateKey, readKeyFile } from './oci/cosign/keys.js';
import { CosignSigner } from './oci/cosign/signer.js';
import { createQueueing, createRuntime, fleetStores, schematicService } from './runtime.js';
import { VERSION } from './version.js';

/** What Retry-After says when a build is not admitted: about what a small build takes. */
const ADMISSION_RETRY_SECONDS = 30;

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

/** The key installers are signed with: the configured one, else one made once for this data directory. */
async function installerSigningKey(config: Config, logger: Logger): Promise<KeyObject> {
  if (config.installerSigningKey !== undefined) return parsePrivateKey(readKeyFile(config.installerSigningKey), config.installerSigningKey);
  const path = join(config.dataDir, 'installer-signing.key');
  const existing = await readFile(path, 'utf8').catch(() => undefined);
  if (existing !== undefined) return parsePrivateKey(existing, path);
  await mkdir(config.dataDir, { recursive: true });
  // Never replaces a key: processes sharing the data directory that start together all end up with the first one.
  if (await writeFileAtomic(path, generatePrivateKeyPem(), 0o600, false)) {
    logger.warn({ path }, 'installers are signed with a key generated for this data directory: set IF_INSTALLER_SIGNING_KEY to one key for every instance');
  }
  return parsePrivateKey(await readFile(path, 'utf8'), path);
}

export async function startServer(config: Config, logger: Logger = createLogger(config.logLevel)): Promise<RunningServer> {
  const fleet = fleetStores(config, logger);
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
    admission: new Admission({ maxQueued: config.maxQueuedBuilds, maxQueuedPerClient: config.maxQueuedBuildsPerClient, retryAfterSeconds: ADMISSION_RETRY_SECONDS }),
    logger,
    onDelivered: (prepared, cached, ms) => metrics.delivered(prepared, cached, ms),
    onFailed: () => metrics.buildFailures.inc(),
  });
  const schematics = schematicService(config, fleet.schematics);
  const app = createApp({
    logger,
    schematics,
    allowedOrigins: config.allowedOrigins,
    releases: runtime.releases,
    releaseRegistryName: config.releaseRegistry,
    assets,
    cache: runtime.cache,
    digests: fleet.digests,
    signer: new CosignSigner(await installerSigningKey(config, logger)),
    ...(config.prebuildInstallers && {
      onSchematicCreated: (schematic, client) =>
        void assets.prebuildInstaller(schematic, client).catch((error: Error) => logger.debug({ err: error, schematic: schematic.id }, 'installer not prebuilt')),
    }),
    externalPxeUrl: config.externalPxeUrl ?? config.externalUrl,
    trustProxy: config.trustProxy,
    externalUrl: config.externalUrl,
  });
  const listener = cacheHitsFirst({ logger, schematics, assets, allowedOrigins: config.allowedOrigins }, app);
  const shared = config.httpProcesses > 1;
  const server = await listenHttp(listener, config.listen, shared);
  const address = boundAddress(server, config.listen);
  // The other HTTP processes run this same command line (the CLI), as `serve-hits`; they bind the port this one got.
  const hitProcesses = shared ? await startHitProcesses(config, address, listener, config.httpProcesses - 1, process.argv[1]!, logger) : undefined;
  let metricsServer: Server | undefined;
  if (config.metricsListen !== '') {
    const m = splitListen(config.metricsListen);
    metricsServer = await metrics.listen(m.host, m.port, hitProcesses && (() => hitProcesses.metrics()));
  }
  const metricsAddress = metricsServer ? boundAddress(metricsServer, config.metricsListen) : undefined;
  logger.info(
    { address, metricsAddress, httpProcesses: config.httpProcesses, dataDir: config.dataDir, release: runtime.releases.description, queue: queueing.queue.description, cache: runtime.cache.description, version: VERSION },
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
      await hitProcesses?.close();
      await closeServer(server);
      if (metricsServer) await closeServer(metricsServer);
      await queueing.close();
    },
  };
}
