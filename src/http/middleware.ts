// Headers every response carries (Server, X-Request-ID), CORS as upstream's
// rs/cors configuration answers it, request logging, and the error handler.

import { randomUUID } from 'node:crypto';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import { VERSION } from '../version.js';
import { errorAnswer, logFailure } from './errors.js';
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

/**
 * The request-level guard: every error a route throws becomes the answer the
 * one mapping gives (errors.ts), logged with the real cause; a response already
 * under way is cut, so the client sees a failed transfer rather than a short one.
 */
export const errorHandler: ErrorRequestHandler = (err: unknown, req, res, _next) => {
  const reply = errorAnswer(err, String(req.id));
  logFailure(req, err, reply);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (reply.retryAfter !== undefined) res.setHeader('Retry-After', reply.retryAfter);
  sendError(res, reply.status, reply.message);
};
