// The `Link: <url>; rel="next"` header registries use to page through tag lists.

/** The target of the rel="next" link, resolved against the URL of the page that carried it. */
export function nextPageUrl(header: string | null, pageUrl: string): string | undefined {
  if (header === null) return undefined;
  for (const match of header.matchAll(/<([^>]*)>([^,]*)/g)) {
    const rels = /;\s*rel\s*=\s*"?([^";]+)"?/i.exec(match[2] ?? '')?.[1] ?? '';
    if (rels.toLowerCase().split(/\s+/).includes('next')) return new URL(match[1]!, pageUrl).href;
  }
  return undefined;
}
