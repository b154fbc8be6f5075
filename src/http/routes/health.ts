import type { Express, RequestHandler } from 'express';
import { route } from '../routing.js';

const ok: RequestHandler = (_req, res) => void res.status(200).end();

/** Liveness and readiness: the process serves requests as soon as it listens. */
export function healthRoutes(app: Express): void {
  route(app, '/healthz', { GET: ok, HEAD: ok });
  route(app, '/readyz', { GET: ok, HEAD: ok });
}
