// Creating and reading schematics: parse strictly, store canonically, and
// count what happens (the metric names follow upstream's).

import { LRUCache } from 'lru-cache';
import { parseSchematic, type ParsedSchematic, SCHEMATIC_ID_PATTERN } from './schematic.js';
import type { SchematicStore } from './store/store.js';

export interface SchematicServiceOptions {
  /** Whether `owner` may be set (upstream: Enterprise with authentication only). */
  allowOwner?: boolean;
}

export class SchematicService {
  /** Parsed schematics by ID: asset requests need the parsed form, and IDs never change meaning. */
  private readonly parsed = new LRUCache<string, ParsedSchematic>({ max: 10_000 });

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
    const parsed = this.parsed.get(id);
    if (parsed) return parsed;
    const canonical = await this.get(id);
    if (canonical === undefined) return undefined;
    // Stored schematics were accepted before (owner included, in editions that allow it).
    const fresh = parseSchematic(canonical, { allowOwner: true });
    this.parsed.set(id, fresh);
    return fresh;
  }
}
