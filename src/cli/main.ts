#!/usr/bin/env node
// The image-factory command: `serve` runs the service, `schematic id` prints
// a schematic's ID offline.

import { readFile } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import { ConfigError, DEFAULTS, loadConfig } from '../config.js';
import { CosignKeyError } from '../oci/cosign/keys.js';
import { InvalidSchematicError, parseSchematic } from '../schematic/index.js';
import { runHitProcess } from '../http-processes.js';
import { createLogger } from '../logging.js';
import { startServer } from '../server.js';
import { startWorker } from '../../workers/main.js';
import { VERSION } from '../version.js';

async function readInput(file: string | undefined): Promise<Buffer> {
  if (file === undefined || file === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }
  return readFile(file);
}

const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
};

interface ServeOptions {
  listen?: string;
  dataDir?: string;
  logLevel?: string;
  allowedOrigins?: string[];
  schematicCacheCapacity?: number;
  releaseRegistry?: string;
  releaseNamespace?: string;
  releaseInsecure?: boolean;
  releaseLayoutDir?: string;
  minTalosVersion?: string;
  brokenTalosVersions?: string[];
  externalUrl?: string;
  externalPxeUrl?: string;
  httpProcesses?: number;
}

const program = new Command('image-factory').version(VERSION).description('Image Factory for Talos Linux');

program
  .command('serve')
  .description('run the HTTP service')
  .option('--listen <host:port>', `address to listen on (env IF_LISTEN, default ${DEFAULTS.listen})`)
  .option('--data-dir <dir>', `where schematics and assets are kept (env IF_DATA_DIR, default ${DEFAULTS.dataDir})`)
  .option('--log-level <level>', `fatal|error|warn|info|debug|trace|silent (env IF_LOG_LEVEL, default ${DEFAULTS.logLevel})`)
  .option('--allowed-origins <list>', 'comma-separated CORS origins (env IF_ALLOWED_ORIGINS, default *)', (v) =>
    v.split(',').map((s) => s.trim()),
  )
  .option('--schematic-cache-capacity <n>', 'schematics kept in memory (env IF_SCHEMATIC_CACHE_CAPACITY, default 100000)', positiveInt)
  .option('--release-registry <host>', `registry of the Talos release images (env IF_RELEASE_REGISTRY, default ${DEFAULTS.releaseRegistry})`)
  .option('--release-namespace <path>', 'repository prefix in that registry (env IF_RELEASE_NAMESPACE)')
  .option('--release-insecure', 'talk plain HTTP to the release registry (env IF_RELEASE_INSECURE)')
  .option('--release-layout-dir <dir>', 'read the release from OCI layout directories instead of a registry (env IF_RELEASE_LAYOUT_DIR)')
  .option('--min-talos-version <version>', `oldest Talos version offered (env IF_MIN_TALOS_VERSION, default ${DEFAULTS.minTalosVersion})`)
  .option('--broken-talos-versions <list>', 'comma-separated Talos versions never offered (env IF_BROKEN_TALOS_VERSIONS)', (v) =>
    v.split(',').map((s) => s.trim()),
  )
  .option('--external-url <url>', `URL users reach the factory at (env IF_EXTERNAL_URL, default ${DEFAULTS.externalUrl})`)
  .option('--external-pxe-url <url>', 'base URL of PXE scripts (env IF_EXTERNAL_PXE_URL, default the external URL)')
  .option('--http-processes <n>', 'processes accepting connections; all but one answer cache hits only (env IF_HTTP_PROCESSES, default 1)', positiveInt)
  .action(async (opts: ServeOptions) => {
    const config = loadConfig({
      listen: opts.listen,
      dataDir: opts.dataDir,
      logLevel: opts.logLevel as never,
      allowedOrigins: opts.allowedOrigins,
      schematicCacheCapacity: opts.schematicCacheCapacity,
      releaseRegistry: opts.releaseRegistry,
      releaseNamespace: opts.releaseNamespace,
      releaseInsecure: opts.releaseInsecure,
      releaseLayoutDir: opts.releaseLayoutDir,
      minTalosVersion: opts.minTalosVersion,
      brokenTalosVersions: opts.brokenTalosVersions,
      externalUrl: opts.externalUrl,
      externalPxeUrl: opts.externalPxeUrl,
      httpProcesses: opts.httpProcesses,
    });
    const running = await startServer(config);
    const stop = (): void => {
      void running.close().then(() => process.exit(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

// Started by `serve` itself when --http-processes is above 1, with its configuration over IPC.
program.command('serve-hits', { hidden: true }).action(() => runHitProcess((config) => createLogger(config.logLevel)));

program
  .command('worker')
  .description('take asset builds from the Redis queue (REDIS_URL) and store them in the cache')
  .option('--data-dir <dir>', `where release inputs and the asset cache are kept (env IF_DATA_DIR, default ${DEFAULTS.dataDir})`)
  .option('--concurrency <n>', 'builds run at once (env IF_WORKERS, default 2)', positiveInt)
  .action(async (opts: { dataDir?: string; concurrency?: number }) => {
    const running = await startWorker(loadConfig({ dataDir: opts.dataDir, workers: opts.concurrency }));
    const stop = (): void => {
      void running.close().then(() => process.exit(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

const schematic = program.command('schematic').description('work with schematics offline');
schematic
  .command('id')
  .argument('[file]', 'schematic YAML or JSON; - or nothing reads standard input')
  .description('print the ID the factory gives this schematic')
  .action(async (file: string | undefined) => {
    const parsed = parseSchematic(await readInput(file));
    process.stdout.write(`${parsed.id}\n`);
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  if (e instanceof InvalidSchematicError || e instanceof ConfigError || e instanceof CosignKeyError) {
    process.stderr.write(`image-factory: ${e.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`image-factory: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
