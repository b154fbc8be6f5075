// Creating and reading schematics: parse strictly, store canonically, and
// count what happens (the metric names follow upstream's).

import { parseSchematic, type ParsedSchematic, SCHEMATIC_ID_PATTERN } from './schematic.js';
import type { SchematicStore } from './store/store.js';

export interface SchematicServiceOptions {
  /** Whether `owner` may be set (upstream: Enterprise with authentication only). */
  allowOwner?: boolean;
}

export class SchematicService {
  constructor(
    private readonly store: SchematicStore,
    private readonly options: SchematicServiceOptions = {},
  ) {}

  /** Parses and stores a schematic; throws InvalidSchematicError for bad input (nothing is stored then). */
  async create(body: Uint8Array | string): Promise<ParsedSchematic> {
    const parsed = parseSchematic(body, { allowOwner: this.options.allowOwner });
    if ((await this.store.get(parsed.id)) === undefined) await this.store.put(parsed.id, parsed.canonical);
    return parsed;
  }

  /** The canonical YAML of a stored schematic; undefined for unknown or malformed IDs. */
  async get(id: string): Promise<string | undefined> {
    if (!SCHEMATIC_ID_PATTERN.test(id)) return undefined;
    return this.store.get(id);
  }

  /** A stored schematic, parsed; undefined for unknown or malformed IDs. */
  async getParsed(id: string): Promise<ParsedSchematic | undefined> {
    const canonical = await this.get(id);
    // Stored schematics were accepted before (owner included, in editions that allow it).
    return canonical === undefined ? undefined : parseSchematic(canonical, { allowOwner: true });
  }
}
