// Sends a produced asset: headers as upstream sets them, then the file streamed.

import { createReadStream } from 'node:fs';
import type { Request, Response } from 'express';
import { pipeline } from 'node:stream/promises';
import type { ProducedAsset } from '../assets/producer.js';

/** Upstream quotes the file name as given; strip what would break the header instead of escaping. */
function dispositionName(name: string): string {
  return name.replace(/["\\\r\n]/g, '_');
}

export async function deliverAsset(req: Request, res: Response, asset: ProducedAsset, contentType: string, fileName: string): Promise<void> {
  res.status(200);
  res.setHeader('Content-Length', asset.size);
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Disposition', `attachment; filename="${dispositionName(fileName)}"`);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await pipeline(createReadStream(asset.path), res);
}
