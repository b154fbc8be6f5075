// The local store in front of the shared registry store. A put is written to
// the registry first and only then to disk, so a schematic is acknowledged
// only once every instance can read it; a get asks the disk first, so known
// schematics keep being served while the registry is down, and remembers what
// the registry gave it.

import type { Logger } from 'pino';
import { OciError } from '../../oci/errors.js';
import type { SchematicStore } from './store.js';

/** The shared store could not be reached or refused the write: nothing was acknowledged. */
export class SchematicStoreUnavailableError extends Error {
  override name = 'SchematicStoreUnavailableError';
}

export class SharedSchematicStore implements SchematicStore {
  constructor(
    private readonly local: SchematicStore,
    private readonly shared: SchematicStore & { readonly location: string },
    private readonly log?: Logger,
  ) {}

  async get(id: string): Promise<string | undefined> {
    const known = await this.local.get(id);
    if (known !== undefined) return known;
    const fetched = await this.unavailableOnError('read', id, () => this.shared.get(id));
    if (fetched !== undefined) await this.local.put(id, fetched);
    return fetched;
  }

  async put(id: string, canonical: string): Promise<void> {
    await this.unavailableOnError('store', id, () => this.shared.put(id, canonical));
    await this.local.put(id, canonical);
  }

  private async unavailableOnError<T>(action: string, id: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (!(error instanceof OciError)) throw error;
      this.log?.error({ err: error, schematic: id }, `schematic registry failed to ${action} a schematic`);
      throw new SchematicStoreUnavailableError(`schematic registry ${this.shared.location} is unavailable: ${error.message}`, { cause: error });
    }
  }
}
