// FAT32 images: a writer from a tree description (long names, fixed serial
// and timestamps, mkfs.vfat's geometry), streamed or written into a byte
// range of a bigger file, and a small reader for checks.

export { FatError } from './errors.js';
export {
  FAT32_MIN_CLUSTERS,
  SECTOR,
  defaultSectorsPerCluster,
  espSectorsPerCluster,
  fat32Geometry,
  fat32SizeFor,
  type FatGeometry,
} from './geometry.js';
export { DEFAULT_OEM_NAME, DEFAULT_SLACK, INVARIANT_VOLUME_ID, planFat, type FatImage, type FatLayoutEntry, type FatWriteOptions } from './plan.js';
export { fatImageStream, writeFat, writeFatImage, writeFatImageAt, type WriteAtOptions } from './writer.js';
export { FatReader, type FatDirEntry, type FatVolumeInfo } from './reader.js';
export { ATTR_ARCHIVE, ATTR_DIRECTORY, ATTR_HIDDEN, ATTR_READ_ONLY, ATTR_SYSTEM, dosTime } from './directory.js';
export { exactShortName, shortNameChecksum, tailedShortName } from './names.js';
