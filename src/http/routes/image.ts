// GET|HEAD /image/:schematic/:version/:path and GET /pxe/:schematic/:version/:path.

import type { Express, Request, RequestHandler } from 'express';
import type { AssetProducer } from '../../assets/producer.js';
import type { AssetTarget } from '../../assets/target.js';
import type { SchematicService } from '../../schematic/index.js';
import { contentTypeFor, InvalidAssetPathError, parseAssetPath, parsePxeTarget } from '../../talos/asset-path.js';
import { pxeScript } from '../../talos/pxe.js';
import { parsePathVersion } from '../../talos/version.js';
import { deliverAsset } from '../deliver.js';
import { route, sendError, sendText } from '../routing.js';

export interface ImageRouteDeps {
  schematics: SchematicService;
  producer: AssetProducer;
  externalPxeUrl: string;
}

class RouteError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The URL's schematic, version and file name, checked in upstream's order. */
async function resolveTarget(deps: ImageRouteDeps, req: Request, parse: (path: string) => AssetTarget['request']): Promise<AssetTarget> {
  const id = String(req.params.schematic);
  const schematic = await deps.schematics.getParsed(id);
  if (!schematic) throw new RouteError(404, `schematic ID ${JSON.stringify(id)} not found`);
  const version = parsePathVersion(String(req.params.version));
  try {
    return { schematic, version, request: parse(String(req.params.path)) };
  } catch (error) {
    if (error instanceof InvalidAssetPathError) throw new RouteError(400, `error parsing profile from path: ${error.message}`);
    throw error;
  }
}

export function imageRoutes(app: Express, deps: ImageRouteDeps): void {
  const image: RequestHandler = async (req, res, next) => {
    try {
      const target = await resolveTarget(deps, req, parseAssetPath);
      const asset = await deps.producer.produce(target);
      try {
        const fileName = typeof req.query.filename === 'string' && req.query.filename !== '' ? req.query.filename : target.request.fileName;
        await deliverAsset(req, res, asset, contentTypeFor(target.request.fileName), fileName);
      } finally {
        await asset.release();
      }
    } catch (error) {
      if (error instanceof RouteError) return sendError(res, error.status, error.message);
      next(error);
    }
  };
  route(app, '/image/:schematic/:version/:path', { GET: image, HEAD: image });

  const pxe: RequestHandler = async (req, res, next) => {
    try {
      const target = await resolveTarget(deps, req, parsePxeTarget);
      deps.producer.validate(target);
      await deps.producer.requireVersion(target.version);
      const versionSegment = String(req.params.version);
      const script = pxeScript({
        pxeBaseUrl: deps.externalPxeUrl,
        schematicId: target.schematic.id,
        versionTag: versionSegment.startsWith('v') ? versionSegment : `v${versionSegment}`,
        platform: target.request.platform,
        arch: target.request.arch,
        secureBoot: target.request.secureBoot,
        cmdline: deps.producer.cmdline(target),
      });
      sendText(res, 200, 'text/plain; charset=utf-8', script);
    } catch (error) {
      if (error instanceof RouteError) return sendError(res, error.status, error.message);
      next(error);
    }
  };
  route(app, '/pxe/:schematic/:version/:path', { GET: pxe });
}
