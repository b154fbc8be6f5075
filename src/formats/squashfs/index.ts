// SquashFS 4.0: our own writer and reader (see writer.ts and reader.ts).

export { SquashfsError } from './errors.js';
export { writeSquashfs, writeSquashfsToStream, type SquashfsWriteOptions, type SquashfsWriteResult } from './writer.js';
export type { WriteCompression } from './codec.js';
export { FileSink, type SeekableSink } from './sink.js';
export { SquashfsReader, type EntryType, type SquashfsEntry } from './reader.js';
export { extractSquashfs, type ExtractOptions } from './extract.js';
export type { Superblock } from './superblock.js';
export { ZSTD_DEFAULT_LEVEL } from './codec-zstd.js';
export { GZIP_DEFAULT_LEVEL } from './codec-gzip.js';
