// The `?filename=` a download may be renamed to. It goes into the
// Content-Disposition header and into the body of `.sha256`/`.sha512` files,
// so only a safe subset is accepted, checked before anything is built: a
// control character would break the header (after the build), a line break
// would let a checksum file carry lines for other paths.

import { HttpError } from './errors.js';

const SAFE_NAME = /^[A-Za-z0-9_+~-][A-Za-z0-9._+~-]{0,254}$/;

/** The name to send the asset as: `?filename=` when given (and safe), else the asset's own. */
export function downloadName(query: unknown, assetName: string): string {
  if (query === undefined || query === '') return assetName;
  if (typeof query !== 'string') throw new HttpError(400, 'invalid filename: give ?filename= once');
  if (!SAFE_NAME.test(query)) {
    throw new HttpError(400, `invalid filename ${JSON.stringify(query)}: use up to 255 letters, digits and . _ - + ~, not starting with a dot`);
  }
  return query;
}
