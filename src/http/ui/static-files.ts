// The UI's stylesheet and script, served by the factory itself (no CDN: an
// air-gapped site has everything). Read once at start-up; their URLs carry a
// digest of their content, so browsers may keep them forever.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface StaticFile {
  url: string;
  contentType: string;
  body: Buffer;
  etag: string;
}

function load(name: string, extension: string, contentType: string): StaticFile {
  const body = readFileSync(new URL(`./static/${name}.${extension}`, import.meta.url));
  const digest = createHash('sha256').update(body).digest('hex').slice(0, 16);
  return { url: `/ui/static/${name}-${digest}.${extension}`, contentType, body, etag: `"${digest}"` };
}

export const STATIC_FILES = {
  css: load('app', 'css', 'text/css; charset=utf-8'),
  js: load('app', 'js', 'text/javascript; charset=utf-8'),
};
