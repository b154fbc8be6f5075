// Schematics as OCI artifacts in a registry every instance shares, as upstream
// keeps them: one artifact per schematic, tagged by its ID, whose single layer
// is the canonical YAML. A layer that does not hash to its tag is treated as
// absent, as the file store treats a damaged file.

import { createHash } from 'node:crypto';
import { pullArtifact, pushArtifact } from '../../oci/artifact.js';
import type { WritableImageRepository } from '../../oci/repository.js';
import type { SchematicStore } from './store.js';

export const SCHEMATIC_ARTIFACT_TYPE = 'application/vnd.image-factory.schematic.v1';
/** Upstream's media type for the layer, whose digest is then `sha256:<id>`: either factory can read what the other stored. */
export const SCHEMATIC_LAYER_MEDIA_TYPE = 'application/vnd.sidero.dev-image.schematic';
/** Schematic bodies are limited to 1 MiB on create; a stored one cannot be larger. */
const MAX_SCHEMATIC_BYTES = 1024 * 1024;

export class OciSchematicStore implements SchematicStore {
  constructor(private readonly repo: WritableImageRepository) {}

  get location(): string {
    return this.repo.location;
  }

  async get(id: string): Promise<string | undefined> {
    const artifact = await pullArtifact(this.repo, id, MAX_SCHEMATIC_BYTES);
    const layer = artifact?.layers[0];
    if (layer === undefined || createHash('sha256').update(layer).digest('hex') !== id) return undefined;
    return layer.toString('utf8');
  }

  async put(id: string, canonical: string): Promise<void> {
    await pushArtifact(this.repo, id, {
      artifactType: SCHEMATIC_ARTIFACT_TYPE,
      layers: [{ mediaType: SCHEMATIC_LAYER_MEDIA_TYPE, bytes: Buffer.from(canonical, 'utf8') }],
    });
  }
}
