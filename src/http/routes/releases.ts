// GET /versions and the per-version catalogs, with upstream's JSON shapes. Bodies
// are Go-encoded JSON served as text/plain, as Go's content sniffing labels them.

import type { Express, RequestHandler } from 'express';
import type { ReleaseService } from '../../release/release.js';
import { parsePathVersion, versionString } from '../../talos/version.js';
import { goJson } from '../go-json.js';
import { route, sendText } from '../routing.js';

const SNIFFED_JSON = 'text/plain; charset=utf-8';

/** The registry host catalog refs are shown under (the configured one, as upstream). */
export interface ReleaseRouteOptions {
  registryName: string;
}

export function releaseRoutes(app: Express, releases: ReleaseService, options: ReleaseRouteOptions): void {
  const versions: RequestHandler = async (req, res, next) => {
    try {
      const list = req.query.broken === 'true' ? releases.brokenVersions() : await releases.versions();
      sendText(res, 200, SNIFFED_JSON, goJson(list.map((v) => `v${versionString(v)}`)));
    } catch (e) {
      next(e);
    }
  };
  route(app, '/versions', { GET: versions });

  const extensions: RequestHandler = async (req, res, next) => {
    try {
      const list = await releases.officialExtensions(parsePathVersion(String(req.params.version)));
      const body = list.map((e) => ({
        name: e.repository,
        ref: `${options.registryName}/${e.repository}:${e.tag}`,
        digest: e.digest,
        author: e.author,
        description: e.description,
      }));
      sendText(res, 200, SNIFFED_JSON, goJson(body));
    } catch (e) {
      next(e);
    }
  };
  route(app, '/version/:version/extensions/official', { GET: extensions });

  const overlays: RequestHandler = async (req, res, next) => {
    try {
      const list = await releases.officialOverlays(parsePathVersion(String(req.params.version)));
      const body = list.map((o) => ({
        name: o.name,
        image: o.repository,
        ref: `${o.registry}/${o.repository}:${o.tag}`,
        digest: o.digest,
      }));
      sendText(res, 200, SNIFFED_JSON, goJson(body));
    } catch (e) {
      next(e);
    }
  };
  route(app, '/version/:version/overlays/official', { GET: overlays });
}
