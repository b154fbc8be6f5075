// The lane in front of express for the most frequent request: GET or HEAD of
// an asset the cache has. express's request setup, router and middleware
// chain cost more than such an answer (measured: a HEAD spent more time
// there than in its own route), so a plain `/image/<schematic>/<version>/<file>`
// is answered here, with the headers the image route gives (deliver.ts),
// when the cache has it. Everything else, and any request this lane cannot
// answer from the cache (a miss, a build, a bad URL, a query string, a
// percent-encoded segment, a checksum file), goes to express untouched, which
// answers it as before. What a URL asks for (its AssetKey) is kept for up to a
// second: it changes only when the release's digests do, which are themselves
// trusted for IF_VERSION_RECHECK_SECONDS; the cache entry is still looked up
// (and stat'ed) for every request.

import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { AssetService, PreparedAsset } from '../assets/service.js';
import type { SchematicService } from '../schematic/index.js';
import { deliverAsset } from './deliver.js';
import { corsHeaders, trackRequest } from './middleware.js';
import { prepareImage } from './routes/image.js';

export interface CacheHitDeps {
  logger: Logger;
  schematics: SchematicService;
  assets: Pick<AssetService, 'prepare' | 'fromCache'>;
  allowedOrigins: readonly string[];
}

/** How long a URL's AssetKey is reused. */
const PREPARED_MS = 1000;

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
  // The URLs prepared since `since`, emptied every PREPARED_MS (so it holds that long a stretch of requests at most).
  let recent = new Map<string, PreparedAsset>();
  let since = Date.now();
  const prepare = async (url: ImageUrl, raw: string): Promise<PreparedAsset | undefined> => {
    if (Date.now() - since >= PREPARED_MS) {
      recent = new Map();
      since = Date.now();
    }
    const known = recent.get(raw);
    if (known) return known;
    const prepared = await prepareImage(deps, url, url.file).catch(() => undefined); // express gives the error its answer
    if (prepared) recent.set(raw, prepared);
    return prepared;
  };
  /** True once answered; false (nothing written) when express must answer. */
  const answer = async (req: IncomingMessage, res: ServerResponse, url: ImageUrl): Promise<boolean> => {
    const prepared = await prepare(url, req.url!);
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
