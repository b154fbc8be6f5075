// The base of the filesystem image formats' errors (squashfs, ISO 9660, FAT):
// each format throws its own subclass, so a caller can tell which image was
// bad, and path lookups in an image carry ENOENT / ENOTDIR, so a caller can
// tell "absent" from "broken".

export class ImageFormatError extends Error {
  constructor(
    message: string,
    readonly code?: 'ENOENT' | 'ENOTDIR',
  ) {
    super(message);
  }
}
