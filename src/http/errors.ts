// The one mapping from an error to an HTTP answer, for every route: client
// mistakes become 4xx with a message saying what to fix (upstream's texts where
// upstream has them), failures of the release source 502, conditions of this
// machine (disk full, read-only) and a build past the time limit their own
// status with a fixed summary, and anything unexpected a 500 that names the
// request ID and nothing internal.
// The plain-text routes and the registry's JSON envelope render the same answer.

import type { Request } from 'express';
import { AdmissionError } from '../assets/admission.js';
import { AssetNotImplementedError, InvalidAssetRequestError } from '../assets/target.js';
import { MissingToolError } from '../host-tool.js';
import { machineCondition, scrubPaths, statusOfSummary } from '../error-summary.js';
import { timeLimitExceeded } from '../jobs/deadline.js';
import { BuildFailedError } from '../jobs/queue.js';
import { OciError } from '../oci/errors.js';
import { InvalidReleaseError, UnknownExtensionError, VersionNotAvailableError } from '../release/errors.js';
import { InvalidSchematicError, SchematicStoreUnavailableError } from '../schematic/index.js';
import { InvalidAssetPathError } from '../talos/asset-path.js';
import { UnknownPlatformError } from '../talos/platforms.js';
import { InvalidVersionError } from '../talos/version.js';

/** An answer a route decides itself; `code` is the distribution-spec code the registry endpoint sends. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
    readonly code = 'UNKNOWN',
  ) {
    super(message);
  }
}

export interface ErrorAnswer {
  status: number;
  message: string;
  /** For the registry endpoint's `{"errors":[{"code"}]}`. */
  code: string;
  /** Seconds, sent as Retry-After. */
  retryAfter?: number;
  /** How the failure is logged: a client's mistake is not the server's error. */
  log: 'none' | 'warn' | 'error';
}

const REGISTRY_CODES: Record<number, string> = { 400: 'UNSUPPORTED', 404: 'NAME_UNKNOWN', 429: 'TOOMANYREQUESTS', 501: 'UNSUPPORTED' };

function answer(status: number, message: string, log: ErrorAnswer['log'] = 'none', code = REGISTRY_CODES[status] ?? 'UNKNOWN'): ErrorAnswer {
  return { status, message, code, log };
}

/** What to answer for `err` on request `requestId`. */
export function errorAnswer(err: unknown, requestId: string): ErrorAnswer {
  if (err instanceof HttpError) return answer(err.status, err.message, err.status >= 500 ? 'error' : 'none', err.code);
  if (err instanceof AdmissionError) return { ...answer(err.status, err.message, 'warn', 'TOOMANYREQUESTS'), retryAfter: err.retryAfterSeconds };
  // express's body parser (http-errors, `expose`d) and router (a URIError: a malformed %-escape in a path parameter).
  const parser = err as { type?: string; status?: number; limit?: number; expose?: boolean };
  if (parser.type === 'entity.too.large') return answer(413, `request body too large: a schematic may be at most ${parser.limit ?? 0} bytes`);
  if ((parser.expose === true || err instanceof URIError) && typeof parser.status === 'number' && parser.status >= 400 && parser.status < 500) {
    return answer(parser.status, `invalid request: ${(err as Error).message}`);
  }
  // Structural limits reach here wrapped: as InvalidSchematicError from a body, InvalidReleaseError from a catalog.
  if (err instanceof InvalidSchematicError) return answer(400, err.message);
  if (err instanceof InvalidVersionError) return answer(400, `${err.message}: use a Talos version such as v1.12.0`, 'none', 'MANIFEST_UNKNOWN');
  if (err instanceof VersionNotAvailableError) return answer(404, err.message, 'none', 'MANIFEST_UNKNOWN');
  if (err instanceof InvalidAssetPathError || err instanceof UnknownPlatformError) {
    return answer(400, `error parsing profile from path: ${err.message}`, 'none', 'NAME_INVALID');
  }
  if (err instanceof InvalidAssetRequestError || err instanceof UnknownExtensionError) return answer(400, `error enhancing profile from schematic: ${err.message}`);
  if (err instanceof AssetNotImplementedError) return answer(501, err.message);
  // The fleet's schematic registry is down: nothing was stored, try again later.
  if (err instanceof SchematicStoreUnavailableError) return answer(503, err.message, 'error');
  if (err instanceof MissingToolError) return answer(503, `service not fully installed: ${err.message}`, 'error');
  if (err instanceof BuildFailedError) {
    const limit = timeLimitExceeded(err.message);
    if (limit !== undefined) {
      return answer(
        503,
        `asset build timed out: it ran longer than this factory's build time limit of ${limit} s (IF_BUILD_TIMEOUT_SECONDS) and was stopped; ` +
          "try again later, when the factory is less busy, or have the factory's operator raise IF_BUILD_TIMEOUT_SECONDS",
        'warn',
        'UNAVAILABLE',
      );
    }
    // The message was summarised where the build ran (see error-summary.ts).
    const status = statusOfSummary(err.message);
    const prefix = status === 503 && err.message.includes('not installed') ? 'service not fully installed' : 'asset build failed';
    return answer(status, `${prefix}: ${err.message}`, 'error');
  }
  const condition = machineCondition(err);
  if (condition) return answer(condition.status, condition.message, 'error');
  if (err instanceof OciError || err instanceof InvalidReleaseError) {
    // The release source failed us, not the client: say which and what, as a gateway would.
    return answer(502, `release source error: ${scrubPaths(err.message)}`, 'error');
  }
  return answer(500, `internal server error (request ID ${requestId}): the server log has the details`, 'error');
}

/** Logs a failure by its answer's level, with the real cause. */
export function logFailure(req: Request, err: unknown, reply: ErrorAnswer): void {
  if (reply.log === 'none') return;
  req.log[reply.log]({ err, status: reply.status }, reply.status >= 500 ? 'request failed' : 'request refused');
}
