// Turning what a registry (or the network) says into OciErrors, and telling the
// failures another attempt may cure from those it cannot.

import { OciError, type OciErrorKind } from '../errors.js';
import { parseRetryAfter } from './retry.js';

/** Where a failure happened, for the message. */
export interface ErrorContext {
  operation: string;
  image: string;
}

/** An OciError about `context`. */
export function ociError(
  context: ErrorContext,
  kind: OciErrorKind,
  detail: string,
  options: { status?: number; cause?: unknown } = {},
): OciError {
  const cause = options.cause === undefined ? undefined : { cause: options.cause };
  return new OciError(kind, context.operation, context.image, detail, options.status, cause);
}

/**
 * A failure that another attempt may cure: 5xx, 429, a refused or dropped
 * connection, a timeout. Retry loops look for this class; everything else is final.
 */
export class TransientError extends OciError {
  constructor(
    context: ErrorContext,
    detail: string,
    status?: number,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super('unavailable', context.operation, context.image, detail, status, options);
  }
}

interface RegistryErrorEntry {
  code?: unknown;
  message?: unknown;
}

/** The `{"errors":[{"code","message","detail"}]}` body of the distribution spec, or nothing. */
export function parseErrorBody(text: string): Array<{ code: string; message: string }> {
  try {
    const json = JSON.parse(text) as { errors?: unknown };
    if (!Array.isArray(json.errors)) return [];
    return (json.errors as RegistryErrorEntry[]).map((e) => ({
      code: typeof e.code === 'string' ? e.code : 'UNKNOWN',
      message: typeof e.message === 'string' ? e.message : '',
    }));
  } catch {
    return [];
  }
}

const NOT_FOUND_CODES = new Set(['MANIFEST_UNKNOWN', 'BLOB_UNKNOWN', 'NAME_UNKNOWN', 'BLOB_UPLOAD_UNKNOWN']);

function kindFor(status: number, codes: string[]): OciErrorKind | 'transient' {
  if (status === 404 || codes.some((c) => NOT_FOUND_CODES.has(c))) return 'not-found';
  // The registry hashed what we uploaded and it is not what we said it would be.
  if (codes.includes('DIGEST_INVALID') || codes.includes('SIZE_INVALID')) return 'digest-mismatch';
  if (status === 401) return 'unauthorized';
  if (status === 403 || codes.includes('DENIED')) return 'denied';
  if (status === 429 || status >= 500) return 'transient';
  if (status === 405 || codes.includes('UNSUPPORTED')) return 'unsupported';
  return 'invalid';
}

/** The error for a response with an unexpected status; `body` is its (possibly empty) text. */
export function statusError(
  context: ErrorContext,
  response: { status: number; statusText: string; headers: Headers },
  body: string,
): OciError {
  const errors = parseErrorBody(body);
  const status = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
  let said = '';
  if (errors.length > 0) said = `: ${errors.map((e) => (e.message ? `${e.code}: ${e.message}` : e.code)).join('; ')}`;
  else if (body.trim() !== '') said = `: ${truncate(body.trim(), 300)}`;
  const detail = status + said;
  const kind = kindFor(
    response.status,
    errors.map((e) => e.code),
  );
  if (kind === 'transient') {
    return new TransientError(context, detail, response.status, parseRetryAfter(response.headers.get('retry-after')));
  }
  return ociError(context, kind, detail, { status: response.status });
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

// Socket-level failures a fresh connection may get past. DNS misses and TLS
// verification failures are not here: trying again will not change them.
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** The innermost cause of a fetch failure (undici wraps the socket error in `TypeError: fetch failed`). */
export function rootCause(error: unknown): { message: string; code?: string } {
  let current: unknown = error;
  let code: string | undefined;
  let message = error instanceof Error ? error.message : String(error);
  for (let depth = 0; current instanceof Error && depth < 8; depth++) {
    const c = (current as { code?: unknown }).code;
    if (typeof c === 'string') code = c;
    message = current.message || message;
    current = (current as { cause?: unknown }).cause;
  }
  return code === undefined ? { message } : { message, code };
}

/** A failed connection or an interrupted transfer. */
export function networkError(context: ErrorContext, what: string, error: unknown): OciError {
  const cause = rootCause(error);
  const said = cause.code && !cause.message.includes(cause.code) ? `${cause.code}: ${cause.message}` : cause.message;
  const detail = `${what}: ${said}`;
  // undici reports a body cut short as "terminated" with no code of its own.
  const transient =
    cause.code === undefined ? /terminated|other side closed|socket/i.test(cause.message) : TRANSIENT_CODES.has(cause.code);
  return transient
    ? new TransientError(context, detail, undefined, undefined, { cause: error })
    : ociError(context, 'unavailable', detail, { cause: error });
}
