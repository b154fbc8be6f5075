// Headers every response carries (Server, X-Request-ID), CORS as upstream's
// rs/cors configuration answers it, request logging, and the error handler.

import { randomUUID } from 'node:crypto';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import { AssetNotImplementedError, InvalidAssetRequestError } from '../assets/target.js';
import { MissingToolError } from '../host-tool.js';
import { BuildFailedError } from '../jobs/queue.js';
import { OciError } from '../oci/errors.js';
import { InvalidReleaseError, UnknownExtensionError, VersionNotAvailableError } from '../release/errors.js';
import { InvalidVersionError } from '../talos/version.js';
import { VERSION } from '../version.js';
import { sendError } from './routing.js';

const REQUEST_ID = 'x-request-id';

export function requestLogging(logger: Logger): RequestHandler {
  return pinoHttp({
    logger,
    genReqId: (req, res) => {
      const given = req.headers[REQUEST_ID];
      const id = typeof given === 'string' && given.length > 0 && given.length <= 200 ? given : randomUUID();
      res.setHeader('X-Request-ID', id);
      return id;
    },
    customProps: (req) => ({ requestId: req.id }),
    serializers: {
      req: (req: { method: string; url: string }) => ({ method: req.method, url: req.url }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  });
}

export const serverHeader: RequestHandler = (_req, res, next) => {
  res.setHeader('Server', `Image Factory ${VERSION}`);
  next();
};

const CORS_METHODS = ['GET', 'HEAD', 'OPTIONS'];
const CORS_ALLOWED_HEADERS = ['cache-control'];
const CORS_EXPOSED = 'Content-Disposition, Content-Length, Content-Type';

/** CORS: any listed origin (default `*`) may GET/HEAD and read the download headers. */
export function cors(allowedOrigins: readonly string[]): RequestHandler {
  const any = allowedOrigins.includes('*');
  const originAllowed = (origin: string): boolean => any || allowedOrigins.includes(origin);
  return (req, res, next) => {
    const origin = req.headers.origin;
    const requestedMethod = req.headers['access-control-request-method'];
    if (req.method === 'OPTIONS' && typeof requestedMethod === 'string') {
      // A preflight is answered here and never reaches the routes.
      res.vary('Origin').vary('Access-Control-Request-Method').vary('Access-Control-Request-Headers');
      const method = requestedMethod.toUpperCase();
      const headers = (req.headers['access-control-request-headers'] ?? '')
        .split(',')
        .map((h) => h.trim().toLowerCase())
        .filter(Boolean);
      if (origin && originAllowed(origin) && CORS_METHODS.includes(method) && headers.every((h) => CORS_ALLOWED_HEADERS.includes(h))) {
        res.setHeader('Access-Control-Allow-Origin', any ? '*' : origin);
        res.setHeader('Access-Control-Allow-Methods', method);
        if (headers.length > 0) res.setHeader('Access-Control-Allow-Headers', headers.join(', '));
      }
      res.status(204).end();
      return;
    }
    res.vary('Origin');
    if (origin && originAllowed(origin)) {
      res.setHeader('Access-Control-Allow-Origin', any ? '*' : origin);
      res.setHeader('Access-Control-Expose-Headers', CORS_EXPOSED);
    }
    next();
  };
}

/** Body-parser failures become clear 4xx answers; anything else is a logged 500. */
export const errorHandler: ErrorRequestHandler = (err: unknown, req, res, _next) => {
  const e = err as { type?: string; status?: number; limit?: number };
  if (e.type === 'entity.too.large') {
    sendError(res, 413, `request body too large: a schematic may be at most ${e.limit ?? 0} bytes`);
    return;
  }
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    sendError(res, e.status, `invalid request: ${(err as Error).message}`);
    return;
  }
  if (err instanceof VersionNotAvailableError) return sendError(res, 404, err.message);
  if (err instanceof InvalidAssetRequestError || err instanceof UnknownExtensionError) {
    return sendError(res, 400, `error enhancing profile from schematic: ${err.message}`);
  }
  if (err instanceof AssetNotImplementedError) return sendError(res, 501, err.message);
  // A build that needed a host tool this machine lacks: the service is not fully installed (in-process builds keep the cause).
  const missingTool = err instanceof MissingToolError ? err : err instanceof BuildFailedError && err.cause instanceof MissingToolError ? err.cause : undefined;
  if (missingTool) {
    req.log.error({ err }, 'host tool missing');
    return sendError(res, 503, `service not fully installed: ${missingTool.message}`);
  }
  if (err instanceof BuildFailedError) {
    req.log.error({ err }, 'asset build failed');
    if (!res.headersSent) sendError(res, 500, `asset build failed: ${err.message}`);
    return;
  }
  if (err instanceof InvalidVersionError) return sendError(res, 400, `${err.message}: use a Talos version such as v1.12.0`);
  if (err instanceof OciError || err instanceof InvalidReleaseError) {
    // The release source failed us, not the client: say which and what, as a gateway would.
    req.log.error({ err }, 'release source failed');
    if (!res.headersSent) sendError(res, 502, `release source error: ${err.message}`);
    return;
  }
  req.log.error({ err }, 'request failed');
  if (!res.headersSent) sendError(res, 500, 'internal server error');
};
