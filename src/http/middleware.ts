// Headers every response carries (Server, X-Request-ID), CORS as upstream's
// rs/cors configuration answers it, request logging, and the error handler.

import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { ErrorRequestHandler, Express, RequestHandler } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { VERSION } from '../version.js';
import { errorAnswer, logFailure } from './errors.js';
import { sendError } from './routing.js';

const REQUEST_ID = 'x-request-id';
const SERVER = `Image Factory ${VERSION}`;

declare module 'node:http' {
  interface IncomingMessage {
    /** The request's ID: the client's X-Request-ID, else a random UUID. */
    id: string;
    /** A logger whose lines carry the request ID. */
    log: Logger;
    /** The client's address, when another HTTP process accepted the connection and passed the request on. */
    forwardedClient?: string;
  }
}

const CHILD = Symbol('request logger');

/**
 * What every request gets first: its ID (X-Request-ID), the Server header, and
 * one JSON line once its response is done (requestId, req, res, responseTime,
 * as pino-http wrote them), written by the process that accepted the
 * connection. Cache hits are the most frequent requests, so nothing here costs
 * more than that line.
 */
export function trackRequest(logger: Logger, req: IncomingMessage, res: ServerResponse): void {
  const given = req.headers[REQUEST_ID];
  const id = typeof given === 'string' && given.length > 0 && given.length <= 200 ? given : randomUUID();
  req.id = id;
  const { method, url } = req;
  res.setHeader('X-Request-ID', id);
  res.setHeader('Server', SERVER);
  // The HTTP process that accepted a request passed on to this one logs it, with what its client saw.
  if (req.forwardedClient !== undefined) return;
  const start = performance.now();
  res.once('close', () => {
    const line = { requestId: id, req: { method, url }, res: { statusCode: res.statusCode }, responseTime: Math.round(performance.now() - start) };
    if (res.writableFinished) logger.info(line, 'request completed');
    else logger.warn(line, 'request aborted');
  });
}

/**
 * trackRequest for requests that reach express without the cache-hit lane in
 * front (which tracks every request itself), and `req.log` for handlers: a
 * child logger made only when a handler logs.
 */
export function requestLogging(app: Express, logger: Logger): RequestHandler {
  Object.defineProperty(app.request, 'log', {
    get(this: { id: string; [CHILD]?: Logger }): Logger {
      return (this[CHILD] ??= logger.child({ requestId: this.id }));
    },
  });
  return (req, res, next) => {
    if (req.id === undefined) trackRequest(logger, req, res); // not yet tracked by the lane in front
    next();
  };
}

const CORS_METHODS = ['GET', 'HEAD', 'OPTIONS'];
const CORS_ALLOWED_HEADERS = ['cache-control'];
const CORS_EXPOSED = 'Content-Disposition, Content-Length, Content-Type';

/** The CORS headers of a response to a simple (not preflight) request; the cache-hit lane answers with them too. */
export function corsHeaders(allowedOrigins: readonly string[]): (req: IncomingMessage, res: ServerResponse) => void {
  const any = allowedOrigins.includes('*');
  return (req, res) => {
    res.setHeader('Vary', 'Origin'); // the first Vary of every response (nothing before sets one)
    const origin = req.headers.origin;
    if (origin && (any || allowedOrigins.includes(origin))) {
      res.setHeader('Access-Control-Allow-Origin', any ? '*' : origin);
      res.setHeader('Access-Control-Expose-Headers', CORS_EXPOSED);
    }
  };
}

/** CORS: any listed origin (default `*`) may GET/HEAD and read the download headers. */
export function cors(allowedOrigins: readonly string[]): RequestHandler {
  const any = allowedOrigins.includes('*');
  const originAllowed = (origin: string): boolean => any || allowedOrigins.includes(origin);
  const simple = corsHeaders(allowedOrigins);
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
    simple(req, res);
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
