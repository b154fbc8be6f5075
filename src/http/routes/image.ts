// GET|HEAD /image/:schematic/:version/:path (plus its .sha256/.sha512
// companions), GET /pxe/:schematic/:version/:path, and the build status of an
// asset: GET /status/... (JSON) and GET /status/.../events (server-sent events).

import type { Express, Request, RequestHandler, Response } from 'express';
import type { AssetService, PreparedAsset } from '../../assets/service.js';
import type { AssetTarget } from '../../assets/target.js';
import type { SchematicService } from '../../schematic/index.js';
import { InvalidAssetPathError, parseAssetPath, parsePxeTarget } from '../../talos/asset-path.js';
import { pxeScript } from '../../talos/pxe.js';
import { parsePathVersion } from '../../talos/version.js';
import { deliverAsset, deliverBuilding, deliverChecksum } from '../deliver.js';
import { HttpError } from '../errors.js';
import { downloadName } from '../filename.js';
import { goJson } from '../go-json.js';
import { clientAddress, route, sendText } from '../routing.js';

export interface ImageRouteDeps {
  schematics: SchematicService;
  assets: AssetService;
  externalPxeUrl: string;
}

const CHECKSUMS = { '.sha256': 'sha256', '.sha512': 'sha512' } as const;

/** The URL's schematic, version and file name, checked in upstream's order. */
async function resolveTarget(
  schematics: SchematicService,
  params: { schematic: string; version: string },
  path: string,
  parse: (path: string) => AssetTarget['request'],
): Promise<AssetTarget> {
  const schematic = await schematics.getParsed(params.schematic);
  if (!schematic) throw new HttpError(404, `schematic ID ${JSON.stringify(params.schematic)} not found`);
  const version = parsePathVersion(params.version);
  try {
    return { schematic, version, request: parse(path) };
  } catch (error) {
    if (error instanceof InvalidAssetPathError) throw new HttpError(400, `error parsing profile from path: ${error.message}`);
    throw error;
  }
}

/** What `/image/<schematic>/<version>/<path>` asks for, with its AssetKey (4xx errors before anything is queued). */
export async function prepareImage(deps: { schematics: SchematicService; assets: Pick<AssetService, 'prepare'> }, params: { schematic: string; version: string }, path: string): Promise<PreparedAsset> {
  const target = await resolveTarget(deps.schematics, params, path, parseAssetPath);
  return deps.assets.prepare(target.schematic, target.version, target.request);
}

const routeParams = (req: Request): { schematic: string; version: string } => ({ schematic: String(req.params.schematic), version: String(req.params.version) });

async function prepare(deps: ImageRouteDeps, req: Request, path: string): Promise<PreparedAsset> {
  return prepareImage(deps, routeParams(req), path);
}

function handle(handler: (req: Request, res: Response) => Promise<void>): RequestHandler {
  return async (req, res, next) => {
    try {
      await handler(req, res);
    } catch (error) {
      if (res.headersSent) {
        res.destroy(error as Error); // the body was under way: cut it so the client sees a failed download
        return;
      }
      next(error);
    }
  };
}

export function imageRoutes(app: Express, deps: ImageRouteDeps): void {
  const image = handle(async (req, res) => {
    let path = String(req.params.path);
    const suffix = Object.keys(CHECKSUMS).find((s) => path.endsWith(s)) as keyof typeof CHECKSUMS | undefined;
    if (suffix) path = path.slice(0, -suffix.length);
    const fileName = downloadName(req.query.filename, path);
    const prepared = await prepare(deps, req, path);
    // Checksums, HEAD, ranges and conditional requests need the complete entry; a plain GET can follow the build.
    const needsEntry = suffix !== undefined || req.method !== 'GET' || ['range', 'if-range', 'if-none-match'].some((h) => req.headers[h] !== undefined);
    const client = clientAddress(req);
    const opened = needsEntry ? { cached: await deps.assets.fetch(prepared, client) } : await deps.assets.open(prepared, client);
    if (!('cached' in opened)) await deliverBuilding(res, opened.building, prepared.contentType, fileName);
    else if (suffix) deliverChecksum(req, res, opened.cached, fileName, CHECKSUMS[suffix]);
    else await deliverAsset(req, res, opened.cached, fileName);
  });
  route(app, '/image/:schematic/:version/:path', { GET: image, HEAD: image });

  const status = handle(async (req, res) => {
    const prepared = await prepare(deps, req, String(req.params.path));
    if (req.query.build === 'true') await deps.assets.start(prepared, clientAddress(req));
    sendText(res, 200, 'application/json', goJson({ key: prepared.spec.key, ...(await deps.assets.status(prepared)) }));
  });
  route(app, '/status/:schematic/:version/:path', { GET: status });

  const events = handle(async (req, res) => {
    const prepared = await prepare(deps, req, String(req.params.path));
    if (req.query.build === 'true') await deps.assets.start(prepared, clientAddress(req));
    res.status(200);
    res.setHeader('Content-Type', 'text/event-stream');
    res.setHeader('Cache-Control', 'no-cache');
    res.flushHeaders();
    let finished = false;
    const send = (state: object): void => {
      if (!finished) res.write(`data: ${JSON.stringify({ key: prepared.spec.key, ...state })}\n\n`);
    };
    const finish = (): void => {
      finished = true;
      stop();
      clearInterval(heartbeat);
      res.end();
    };
    const stop = deps.assets.watch(prepared, (state) => {
      if (state.state === 'done') {
        void deps.assets.status(prepared).then((s) => {
          send(s);
          finish();
        });
        return;
      }
      send(state);
      if (state.state === 'failed') finish();
    });
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    req.on('close', () => {
      finished = true;
      stop();
      clearInterval(heartbeat);
    });
    const now = await deps.assets.status(prepared);
    send(now);
    if (now.state === 'cached' || now.state === 'failed') finish();
  });
  route(app, '/status/:schematic/:version/:path/events', { GET: events });

  const pxe = handle(async (req, res) => {
    const target = await resolveTarget(deps.schematics, routeParams(req), String(req.params.path), parsePxeTarget);
    const cmdline = await deps.assets.pxeCmdline(target);
    const versionSegment = String(req.params.version);
    const script = pxeScript({
      pxeBaseUrl: deps.externalPxeUrl,
      schematicId: target.schematic.id,
      versionTag: versionSegment.startsWith('v') ? versionSegment : `v${versionSegment}`,
      platform: target.request.platform,
      arch: target.request.arch,
      secureBoot: target.request.secureBoot,
      cmdline,
    });
    sendText(res, 200, 'text/plain; charset=utf-8', script);
  });
  route(app, '/pxe/:schematic/:version/:path', { GET: pxe });
}
