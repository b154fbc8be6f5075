/** Any problem with an ISO 9660 input tree, option or image. */
export class Iso9660Error extends Error {
  override name = 'Iso9660Error';

  /** ENOENT / ENOTDIR for path lookups in an image, so callers can tell "absent" from "broken". */
  constructor(
    message: string,
    readonly code?: 'ENOENT' | 'ENOTDIR',
  ) {
    super(message);
  }
}
