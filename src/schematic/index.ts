export { BOOTLOADERS, type Schematic } from './model.js';
export {
  emptySchematic,
  InvalidSchematicError,
  marshalSchematic,
  parseSchematic,
  type ParsedSchematic,
  SCHEMATIC_ID_PATTERN,
  schematicId,
} from './schematic.js';
export { SchematicService, type SchematicServiceOptions } from './service.js';
export { CachedSchematicStore } from './store/cached-store.js';
export { FsSchematicStore } from './store/fs-store.js';
export { OciSchematicStore } from './store/oci-store.js';
export { SchematicStoreUnavailableError, SharedSchematicStore } from './store/shared-store.js';
export type { SchematicStore } from './store/store.js';
