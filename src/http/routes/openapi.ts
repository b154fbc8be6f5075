// GET /openapi.json (the API as OpenAPI 3.1) and GET /api (the same, readable).

import type { Express } from 'express';
import { OPENAPI_DOCUMENT } from '../openapi.js';
import { route, sendText } from '../routing.js';
import { apiPage } from '../ui/api-page.js';
import { sendPage } from '../ui/respond.js';

export function openapiRoutes(app: Express): void {
  const body = `${JSON.stringify(OPENAPI_DOCUMENT, null, 2)}\n`;
  const page = apiPage(OPENAPI_DOCUMENT);
  route(app, '/openapi.json', { GET: (_req, res) => sendText(res, 200, 'application/json', body) });
  route(app, '/api', { GET: (_req, res) => sendPage(res, 200, page) });
}
