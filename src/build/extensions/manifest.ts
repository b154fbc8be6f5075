// A system extension's manifest.yaml (Talos' format) and its compatibility
// check against the Talos version being built.

import { satisfies, validRange } from 'semver';
import { CATALOG_LIMITS, parseYamlWithin } from '../../schematic/limits.js';
import type { TalosVersion } from '../../talos/version.js';

export interface ExtensionMetadata {
  name: string;
  version: string;
  author: string;
  description: string;
  compatibility: { talos: { version: string } };
  /** Omitted from extensions.yaml when empty. */
  extraInfo: string;
}

export class InvalidExtensionError extends Error {
  override name = 'InvalidExtensionError';
}

function text(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new InvalidExtensionError(`manifest field holds ${Array.isArray(value) ? 'a list' : 'a map'} where text is expected`);
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** Reads manifest.yaml as Talos does: unknown fields ignored, `version: v1alpha1` required. */
export function parseExtensionManifest(yamlText: string, where: string): ExtensionMetadata {
  let doc: unknown;
  try {
    // A Go string field takes a scalar's text as written (`version: 20231214.0` stays "20231214.0").
    doc = parseYamlWithin(yamlText, CATALOG_LIMITS, { schema: 'failsafe' });
  } catch (error) {
    throw new InvalidExtensionError(`${where}: manifest.yaml is not valid YAML: ${(error as Error).message}`);
  }
  const root = record(doc);
  const version = text(root.version);
  if (version !== 'v1alpha1') throw new InvalidExtensionError(`${where}: unsupported manifest version: ${JSON.stringify(version)}`);
  const metadata = record(root.metadata);
  return {
    name: text(metadata.name),
    version: text(metadata.version),
    author: text(metadata.author),
    description: text(metadata.description),
    compatibility: { talos: { version: text(record(record(metadata.compatibility).talos).version) } },
    extraInfo: text(metadata.extraInfo),
  };
}

/** Talos deletes a `v` that precedes a digit anywhere in the constraint (`>= v1.5.0`). */
function withoutV(constraint: string): string {
  return constraint.replace(/v(?=\d)/g, '');
}

/**
 * Checks `compatibility.talos.version` against the Talos version with its
 * pre-release and build dropped (1.14.0-beta.1 is checked as 1.14.0), as Talos does.
 */
export function checkCompatibility(metadata: ExtensionMetadata, talos: TalosVersion): void {
  const constraint = metadata.compatibility.talos.version;
  if (constraint === '') return;
  const range = validRange(withoutV(constraint));
  if (range === null) throw new InvalidExtensionError(`error parsing Talos version constraint: ${JSON.stringify(constraint)}`);
  const core = `${talos.major}.${talos.minor}.${talos.patch}`;
  if (!satisfies(core, range)) {
    throw new InvalidExtensionError(`version constraint ${constraint} can't be satisfied with Talos version ${talos.version}`);
  }
}
