import { ImageFormatError } from '../image-error.js';

/** Any problem with a SquashFS input tree, option or image. */
export class SquashfsError extends ImageFormatError {
  override name = 'SquashfsError';
}
