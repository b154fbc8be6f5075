/** Any problem with a SquashFS input tree, option or image. */
export class SquashfsError extends Error {
  override name = 'SquashfsError';
}
