// ISO 9660 (level 3 names, Rock Ridge) with El Torito BIOS/UEFI boot entries
// and a hybrid MBR + GPT system area with an appended ESP: our own writer
// (plan.ts lays the image out, writer.ts streams it) and a reader for checks.

export { Iso9660Error } from './errors.js';
export { DEFAULT_VOLUME_ID, type IsoBiosBoot, type IsoEfiBoot, type IsoHybrid, type IsoWriteOptions } from './options.js';
export { planIso, type IsoPlan } from './plan.js';
export { writeIso, writePlannedIso, type IsoWriteResult } from './writer.js';
export { IsoReader, type BootCatalog, type BootCatalogEntry, type IsoEntry, type VolumeInfo } from './reader.js';
/** The hybrid GPT's GUIDs from `hybrid.guidSeed` (roles 'disk', 'partition-1', 'partition-2'). */
export { seededGuid } from '../gpt.js';
