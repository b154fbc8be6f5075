import { ImageFormatError } from '../image-error.js';

/** A FAT tree, option or image that cannot be written or read. */
export class FatError extends ImageFormatError {
  override name = 'FatError';
}
