// The express application: middleware, then one module per route group.

import express, { type Express } from 'express';
import type { Logger } from 'pino';
import type { SchematicService } from '../schematic/index.js';
import { cors, errorHandler, requestLogging } from './middleware.js';
import type { AssetService } from '../assets/service.js';
import type { AssetCache } from '../cache/cache.js';
import type { DigestIndex } from '../cache/digest-index.js';
import type { CosignSigner } from '../oci/cosign/signer.js';
import type { ReleaseService } from '../release/release.js';
import { healthRoutes } from './routes/health.js';
import { imageRoutes } from './routes/image.js';
import { registryRoutes } from './routes/registry.js';
import { releaseRoutes } from './routes/releases.js';
import { signingRoutes } from './routes/signing.js';
import { type SchematicCreated, schematicRoutes } from './routes/schematics.js';
import { openapiRoutes } from './routes/openapi.js';
import { uiRoutes } from './routes/ui.js';
import { notFound, trustProxy } from './routing.js';

export interface AppDeps {
  logger: Logger;
  schematics: SchematicService;
  allowedOrigins: readonly string[];
  releases: ReleaseService;
  /** Registry host shown in catalog refs (the configured release registry). */
  releaseRegistryName: string;
  assets: AssetService;
  cache: AssetCache;
  digests: DigestIndex;
  /** Signs the installers served at /v2 and publishes its public key. */
  signer?: CosignSigner;
  onSchematicCreated?: SchematicCreated;
  /** Base URL of the links in PXE scripts. */
  externalPxeUrl: string;
  /** express's `trust proxy` ('' = trust no proxy: the client is the peer address). */
  trustProxy?: string;
  /** The URL users reach the factory at (the web UI's download links and registry host). */
  externalUrl: string;
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('strict routing', true);
  app.set('case sensitive routing', true);
  trustProxy(app, deps.trustProxy);
  app.use(requestLogging(app, deps.logger));
  app.use(cors(deps.allowedOrigins));
  healthRoutes(app);
  schematicRoutes(app, deps.schematics, deps.onSchematicCreated);
  releaseRoutes(app, deps.releases, { registryName: deps.releaseRegistryName });
  imageRoutes(app, { schematics: deps.schematics, assets: deps.assets, externalPxeUrl: deps.externalPxeUrl });
  registryRoutes(app, { schematics: deps.schematics, assets: deps.assets, cache: deps.cache, releases: deps.releases, digests: deps.digests, ...(deps.signer && { signer: deps.signer }) });
  if (deps.signer) signingRoutes(app, deps.signer);
  uiRoutes(app, {
    schematics: deps.schematics,
    releases: deps.releases,
    assets: deps.assets,
    externalUrl: deps.externalUrl,
    externalPxeUrl: deps.externalPxeUrl,
    ...(deps.onSchematicCreated && { onCreated: deps.onSchematicCreated }),
  });
  openapiRoutes(app);
  app.use(notFound);
  app.use(errorHandler);
  return app;
}
