// One error type for everything that can go wrong talking to an image store,
// carrying which image, which store and what happened.

export type OciErrorKind =
  | 'not-found'
  | 'unauthorized'
  | 'denied'
  | 'unavailable'
  | 'invalid'
  | 'digest-mismatch'
  | 'unsupported';

export class OciError extends Error {
  override name = 'OciError';

  constructor(
    readonly kind: OciErrorKind,
    /** What was being done, e.g. `pull manifest` or `push blob`. */
    readonly operation: string,
    /** The image, e.g. `127.0.0.1:5000/siderolabs/imager:v1.12.0`. */
    readonly image: string,
    /** What went wrong, in words (server error codes and messages included). */
    readonly detail: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(`${operation} ${image}: ${detail}`, options);
  }
}

export function isNotFound(error: unknown): boolean {
  return error instanceof OciError && error.kind === 'not-found';
}
