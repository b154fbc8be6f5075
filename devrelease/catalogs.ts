// The catalog files of the `extensions` and `overlays` images, in upstream's
// formats (image-factory.md §5): image-digests has one
// `ghcr.io/<repo>:<tag>@<digest>` line per extension image; descriptions.yaml
// maps each such line to {author, description}; overlays.yaml lists
// {name, image, digest}.

import { stringify } from 'yaml';

/** The registry the official catalogs name (the factory rewrites it to wherever it pulls from). */
export const CATALOG_REGISTRY = 'ghcr.io';

export interface CatalogEntry {
  repository: string;
  tag: string;
  digest: string;
  author: string;
  description: string;
}

export function catalogLine(entry: Pick<CatalogEntry, 'repository' | 'tag' | 'digest'>): string {
  return `${CATALOG_REGISTRY}/${entry.repository}:${entry.tag}@${entry.digest}`;
}

export function imageDigests(entries: readonly CatalogEntry[]): string {
  return entries.map((e) => `${catalogLine(e)}\n`).join('');
}

export function descriptionsYaml(entries: readonly CatalogEntry[]): string {
  const map: Record<string, { author: string; description: string }> = {};
  for (const e of entries) map[catalogLine(e)] = { author: e.author, description: e.description };
  return stringify(map, { lineWidth: 0 });
}

export interface OverlayEntry {
  name: string;
  repository: string;
  tag: string;
  digest: string;
}

export function overlaysYaml(entries: readonly OverlayEntry[]): string {
  return stringify(
    { overlays: entries.map((e) => ({ name: e.name, image: `${CATALOG_REGISTRY}/${e.repository}:${e.tag}`, digest: e.digest })) },
    { lineWidth: 0 },
  );
}
