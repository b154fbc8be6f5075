// Route registration with the router semantics upstream's httprouter has:
// a known path with the wrong method gets 405 and an Allow header, a plain
// OPTIONS request gets 200 and Allow, anything else unknown gets Go's 404.

import type { Express, RequestHandler } from 'express';
import type { ServerResponse } from 'node:http';

export type Method = 'GET' | 'HEAD' | 'POST';

export function route(app: Express, path: string, handlers: Partial<Record<Method, RequestHandler | RequestHandler[]>>): void {
  const allow = [...Object.keys(handlers), 'OPTIONS'].sort().join(', ');
  app.all(path, (req, res, next) => {
    if (req.method in handlers) return next();
    res.setHeader('Allow', allow);
    if (req.method === 'OPTIONS') return void res.status(200).end();
    sendError(res, 405, 'Method Not Allowed');
  });
  for (const [method, handler] of Object.entries(handlers) as Array<[Method, RequestHandler | RequestHandler[]]>) {
    const chain = [handler].flat();
    if (method === 'GET') app.get(path, ...chain);
    else if (method === 'HEAD') app.head(path, ...chain);
    else app.post(path, ...chain);
  }
}

/**
 * The address a client's requests count against: as the process that accepted
 * the connection saw it when another one passed the request on (forward.ts),
 * else express's req.ip (which honours IF_TRUST_PROXY).
 */
export function clientAddress(req: Parameters<RequestHandler>[0]): string {
  return req.forwardedClient ?? req.ip ?? req.socket.remoteAddress ?? 'unknown';
}

/** express's `trust proxy` from IF_TRUST_PROXY: a hop count, or addresses and names ('' = trust no proxy). */
export function trustProxy(app: Express, setting: string | undefined): void {
  if (setting) app.set('trust proxy', /^\d+$/.test(setting) ? Number(setting) : setting);
}

export const notFound: RequestHandler = (_req, res) => sendError(res, 404, '404 page not found');

/** Sends a plain-text error the way Go's http.Error does (http.NotFound and httprouter's 405 use it too). */
export function sendError(res: ServerResponse, status: number, message: string): void {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  sendText(res, status, 'text/plain; charset=utf-8', `${message}\n`);
}

/** Sends `text` with exactly this Content-Type (express's send would append a charset). */
export function sendText(res: ServerResponse, status: number, contentType: string, text: string): void {
  const body = Buffer.from(text, 'utf8');
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', body.length);
  res.end(body);
}
