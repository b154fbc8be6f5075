import { ImageFormatError } from '../image-error.js';

/** Any problem with an ISO 9660 input tree, option or image. */
export class Iso9660Error extends ImageFormatError {
  override name = 'Iso9660Error';
}
