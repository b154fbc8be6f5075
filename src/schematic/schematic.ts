// Parsing a schematic from what a user sends, and its canonical form and ID.

import { createHash } from 'node:crypto';
import { construct, ConstructError } from './goyaml/construct.js';
import { emitDocument } from './goyaml/emit.js';
import { loadFirstDocument, YamlSyntaxError } from './goyaml/load.js';
import { represent } from './goyaml/represent.js';
import { zeroValue } from './goyaml/types.js';
import { checkStructure, SCHEMATIC_LIMITS, StructureLimitError } from './limits.js';
import { type Schematic, SCHEMATIC_TYPE } from './model.js';

/** The request body is not a valid schematic; the message says why (HTTP 400). */
export class InvalidSchematicError extends Error {}

export interface ParsedSchematic {
  schematic: Schematic;
  /** The canonical YAML: what upstream's go-yaml Marshal writes for this schematic. */
  canonical: string;
  /** Lower-case hex SHA-256 of the canonical bytes. */
  id: string;
}

export interface ParseOptions {
  /** Upstream accepts `owner` only in its Enterprise edition (with authentication). */
  allowOwner?: boolean;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Strictly decodes a schematic (YAML or JSON); only the first document is read. */
export function parseSchematic(body: Uint8Array | string, options: ParseOptions = {}): ParsedSchematic {
  let text: string;
  try {
    text = typeof body === 'string' ? body : decoder.decode(body);
  } catch {
    throw new InvalidSchematicError('yaml: invalid UTF-8 in the request body');
  }
  let schematic: Schematic;
  try {
    checkStructure(text, SCHEMATIC_LIMITS);
    const root = loadFirstDocument(text);
    if (!root) throw new InvalidSchematicError('EOF');
    schematic = construct(root, SCHEMATIC_TYPE) as Schematic;
  } catch (e) {
    if (e instanceof YamlSyntaxError || e instanceof ConstructError || e instanceof StructureLimitError) throw new InvalidSchematicError(e.message);
    throw e;
  }
  if (schematic.owner !== '' && !options.allowOwner) {
    throw new InvalidSchematicError('owner field is only supported in Enterprise edition');
  }
  const canonical = marshalSchematic(schematic);
  return { schematic, canonical, id: schematicId(canonical) };
}

/** The canonical YAML of a schematic. */
export function marshalSchematic(schematic: Schematic): string {
  return emitDocument(represent(schematic, SCHEMATIC_TYPE));
}

export function schematicId(canonical: string): string {
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}

/** The schematic with nothing set: `customization: {}`. */
export function emptySchematic(): Schematic {
  return zeroValue(SCHEMATIC_TYPE) as Schematic;
}

export const SCHEMATIC_ID_PATTERN = /^[0-9a-f]{64}$/;
