// Where schematics live. The canonical YAML is stored under its ID, so a
// stored entry can always be checked against its name.

export interface SchematicStore {
  /** The canonical YAML of schematic `id`, or undefined if it was never stored. */
  get(id: string): Promise<string | undefined>;
  /** Stores `canonical` under `id` (its SHA-256); storing it again is harmless. */
  put(id: string, canonical: string): Promise<void>;
}
