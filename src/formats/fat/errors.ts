/** A FAT tree, option or image that cannot be written or read. */
export class FatError extends Error {
  override name = 'FatError';

  /** ENOENT / ENOTDIR for path lookups in an image, so callers can tell "absent" from "broken". */
  constructor(
    message: string,
    readonly code?: 'ENOENT' | 'ENOTDIR',
  ) {
    super(message);
  }
}
