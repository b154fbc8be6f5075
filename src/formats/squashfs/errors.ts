/** Any problem with a SquashFS input tree, option or image. */
export class SquashfsError extends Error {
  override name = 'SquashfsError';

  /** ENOENT / ENOTDIR for path lookups in an image, so callers can tell "absent" from "broken". */
  constructor(
    message: string,
    readonly code?: 'ENOENT' | 'ENOTDIR',
  ) {
    super(message);
  }
}
