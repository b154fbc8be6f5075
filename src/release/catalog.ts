// The extension and overlay catalogs a release publishes, parsed from the files
// of the `extensions` and `overlays` images (upstream's formats: `image-digests`
// with one `<image>:<tag>@<digest>` per line, `descriptions.yaml` keyed by that
// whole line, `overlays.yaml` with an `overlays` list).

import { parseReference } from '../oci/reference.js';
import { CATALOG_LIMITS, parseYamlWithin } from '../schematic/limits.js';
import { InvalidReleaseError } from './errors.js';

export interface ExtensionRef {
  /** Repository path, e.g. `siderolabs/gvisor` (the extension's identity). */
  repository: string;
  tag: string;
  digest: string;
  author: string;
  description: string;
}

export interface OverlayRef {
  name: string;
  /** Registry host of the image as the catalog names it. */
  registry: string;
  repository: string;
  tag: string;
  digest: string;
}

export function parseExtensionCatalog(imageDigests: string, descriptionsYaml: string | undefined): ExtensionRef[] {
  const descriptions = descriptionsYaml === undefined ? {} : parseDescriptions(descriptionsYaml);
  const extensions: ExtensionRef[] = [];
  for (const raw of imageDigests.split('\n')) {
    const line = raw.trim();
    const at = line.indexOf('@');
    if (at < 0) continue; // upstream skips lines that are not pinned by digest
    const tagged = line.slice(0, at);
    const digest = line.slice(at + 1);
    let ref;
    try {
      ref = parseReference(tagged);
    } catch (error) {
      throw new InvalidReleaseError(`image-digests: failed to parse tagged reference ${tagged}: ${(error as Error).message}`);
    }
    const info = descriptions[line];
    extensions.push({
      repository: ref.repository,
      tag: ref.tag ?? 'latest',
      digest,
      author: info?.author ?? '',
      description: info?.description ?? '',
    });
  }
  return extensions;
}

function parseDescriptions(text: string): Record<string, { author?: string; description?: string }> {
  let doc: unknown;
  try {
    doc = parseYamlWithin(text, CATALOG_LIMITS);
  } catch (error) {
    throw new InvalidReleaseError(`error reading descriptions.yaml file: ${(error as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new InvalidReleaseError('error reading descriptions.yaml file: not a map');
  const out: Record<string, { author?: string; description?: string }> = {};
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    if (typeof value !== 'object' || value === null) continue;
    const { author, description } = value as Record<string, unknown>;
    out[key] = {
      ...(typeof author === 'string' && { author }),
      ...(typeof description === 'string' && { description }),
    };
  }
  return out;
}

export function parseOverlayCatalog(overlaysYaml: string): OverlayRef[] {
  let doc: unknown;
  try {
    doc = parseYamlWithin(overlaysYaml, CATALOG_LIMITS);
  } catch (error) {
    throw new InvalidReleaseError(`error reading overlays.yaml file: ${(error as Error).message}`);
  }
  const list = (doc as { overlays?: unknown } | null)?.overlays;
  if (list !== undefined && list !== null && !Array.isArray(list)) {
    throw new InvalidReleaseError('error reading overlays.yaml file: overlays is not a list');
  }
  return (list ?? []).map((entry: unknown) => {
    const { name, image, digest } = (entry ?? {}) as Record<string, unknown>;
    let ref;
    try {
      ref = parseReference(String(image ?? ''));
    } catch (error) {
      throw new InvalidReleaseError(`overlays.yaml: failed to parse tagged reference ${String(image)}: ${(error as Error).message}`);
    }
    return {
      name: String(name ?? ''),
      registry: ref.registry,
      repository: ref.repository,
      tag: ref.tag ?? 'latest',
      digest: String(digest ?? ''),
    };
  });
}
