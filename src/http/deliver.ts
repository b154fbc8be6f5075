// Sends a cached asset: upstream's headers, then the bytes streamed, with
// HEAD, single byte ranges (206/416) and conditional requests on an ETag made
// from the content digest. Behind nginx with IF_ACCEL_REDIRECT set, the bytes
// (ranges and HEAD included) are left to nginx through X-Accel-Redirect. An
// asset still being built is sent as it grows, chunked, without what only a
// complete entry has (length, ETag, ranges).

import type { Request, Response } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { CachedAsset } from '../cache/cache.js';
import { parseRange } from './range.js';

/** Upstream quotes the file name as given; strip what would break the header instead of escaping. */
export function dispositionName(name: string): string {
  return name.replace(/["\\\r\n]/g, '_');
}

function etagOf(asset: CachedAsset): string {
  return `"sha256:${asset.metadata.sha256}"`;
}

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim().replace(/^W\//, '');
    return t === '*' || t === etag;
  });
}

/** Answers with a complete cache entry; plain Node types, so the cache-hit fast lane (cache-hits.ts) and the express route share it. */
export async function deliverAsset(req: IncomingMessage, res: ServerResponse, asset: CachedAsset, fileName: string): Promise<void> {
  const { size, contentType } = asset.metadata;
  const etag = etagOf(asset);
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Disposition', `attachment; filename="${dispositionName(fileName)}"`);
  res.setHeader('ETag', etag);
  res.setHeader('Accept-Ranges', 'bytes');
  if (matchesEtag(req.headers['if-none-match'], etag)) {
    res.removeHeader('Content-Type');
    res.statusCode = 304;
    res.end();
    return;
  }
  if (asset.accelRedirect !== undefined) {
    // nginx keeps Content-Type and Content-Disposition, the ETag through the README's add_header,
    // and adds its own Accept-Ranges.
    res.removeHeader('Accept-Ranges');
    res.setHeader('X-Accel-Redirect', asset.accelRedirect);
    res.statusCode = 200;
    res.end();
    return;
  }
  const ifRange = req.headers['if-range'];
  const range = ifRange === undefined || ifRange === etag ? parseRange(req.headers.range, size) : undefined;
  if (range === 'invalid') {
    res.setHeader('Content-Range', `bytes */${size}`);
    res.statusCode = 416;
    res.end();
    return;
  }
  if (range) {
    res.statusCode = 206;
    res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
    res.setHeader('Content-Length', range.end - range.start + 1);
  } else {
    res.statusCode = 200;
    res.setHeader('Content-Length', size);
  }
  if (req.method === 'HEAD' || size === 0) {
    res.end();
    return;
  }
  await asset.writeTo(res, range);
  res.end();
}

/**
 * Sends an asset while it is built (its first bytes are there): bytes as the
 * builder writes them, chunked. A build that fails mid-way destroys the
 * response, so the client sees a cut connection (no terminating chunk), never
 * a short body that looks complete.
 */
export async function deliverBuilding(res: Response, body: Readable, contentType: string, fileName: string): Promise<void> {
  res.status(200);
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Disposition', `attachment; filename="${dispositionName(fileName)}"`);
  await pipeline(body, res);
}

/** The `.sha256`/`.sha512` companion of an asset, in sha256sum's format. */
export function deliverChecksum(req: Request, res: Response, asset: CachedAsset, fileName: string, algorithm: 'sha256' | 'sha512'): void {
  const line = `${asset.metadata[algorithm]}  ${fileName}\n`;
  res.status(200);
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.setHeader('Content-Disposition', `attachment; filename="${dispositionName(fileName)}.${algorithm}"`);
  res.setHeader('Content-Length', Buffer.byteLength(line));
  res.end(req.method === 'HEAD' ? undefined : line);
}
