// The lane in front of express for the most frequent request: GET or HEAD of
// an asset the cache has. express's request setup, router and middleware
// chain cost more than such an answer (measured: a HEAD spent more time
// there than in its own route), so a plain `/image/<schematic>/<version>/<file>`
// is answered here, with the headers the image route gives (deliver.ts),
// when the cache has it. Everything else, and any request this lane cannot
// answer from the cache (a miss, a build, a bad URL, a query string, a
// percent-encoded segment, a checksum file), goes to express untouched, which
// answers it as before.

import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AssetService } from '../assets/service.js';
import type { SchematicService } from '../schematic/index.js';
import { deliverAsset } from './deliver.js';
import { corsHeaders, trackRequest } from './middleware.js';
import { prepareImage } from './routes/image.js';

export interface CacheHitDeps {
  logger: Logger;
  schematics: SchematicService;
  assets: AssetService;
  allowedOrigins: readonly string[];
}

interface ImageUrl {
  schematic: string;
  version: string;
  file: string;
}

/** `/image/<schematic>/<version>/<file>` with nothing to decode, no query and no checksum suffix; else undefined. */
function plainImageUrl(req: IncomingMessage): ImageUrl | undefined {
  if (req.method !== 'GET' && req.method !== 'HEAD') return undefined;
  const url = req.url ?? '';
  if (!url.startsWith('/image/') || url.includes('?') || url.includes('%')) return undefined;
  const [schematic, version, file, ...rest] = url.slice('/image/'.length).split('/');
  if (!schematic || !version || !file || rest.length > 0 || file.endsWith('.sha256') || file.endsWith('.sha512')) return undefined;
  return { schematic, version, file };
}

/** The server's request listener: cache hits answered here, the rest by `app`. */
export function cacheHitsFirst(deps: CacheHitDeps, app: RequestListener): RequestListener {
  const cors = corsHeaders(deps.allowedOrigins);
  /** True once answered; false (nothing written) when express must answer. */
  const answer = async (req: IncomingMessage, res: ServerResponse, url: ImageUrl): Promise<boolean> => {
    const prepared = await prepareImage(deps, url, url.file).catch(() => undefined); // express gives the error its answer
    const hit = prepared && (await deps.assets.fromCache(prepared));
    if (!hit) return false;
    cors(req, res);
    await deliverAsset(req, res, hit, url.file);
    return true;
  };
  return (req, res) => {
    trackRequest(deps.logger, req, res);
    const url = plainImageUrl(req);
    if (!url) return app(req, res);
    const tracked = res.getHeaderNames();
    answer(req, res, url).then(
      (answered) => answered || app(req, res),
      (error: Error) => {
        // Only sending can fail here. Once the body is under way, the connection is cut so the client
        // sees a failed download, never a short one; before that (the file went between its stat and its
        // opening), express answers afresh, without the headers set here.
        if (res.headersSent) return void res.destroy(error);
        for (const name of res.getHeaderNames()) if (!tracked.includes(name)) res.removeHeader(name);
        res.statusCode = 200;
        app(req, res);
      },
    );
  };
}
