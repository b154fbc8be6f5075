// One HTTP exchange with a registry, done carefully: per-attempt timeouts (to the
// headers, and between chunks of either body), redirects followed by hand so
// credentials never travel to another host, the 401 → credentials → once-more
// dance, and retries with backoff for the failures that deserve them.

import { Readable, Transform, pipeline } from 'node:stream';
import { OciError } from '../errors.js';
import { BodyStream, readAtMost } from './body.js';
import { type ErrorContext, TransientError, networkError, ociError, rootCause, statusError } from './errors.js';
import { type RetryPolicy, retryDelay, sleep } from './retry.js';
import { Watchdog } from './watchdog.js';

/** A Buffer is sent as is; a function is called for every send because a stream can be read only once. */
export type RequestBody = Buffer | (() => Readable | Promise<Readable>);

export interface RegistryRequest extends ErrorContext {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: RequestBody;
  /** Token scope such as `repository:siderolabs/imager:pull`; absent for registry-wide calls (ping). */
  scope?: string;
  /** Statuses handed to the handler; by default every 2xx. */
  accept?: readonly number[];
  /** Follow 3xx answers (GET and HEAD only: a registry redirects blob reads to its storage). */
  followRedirects?: boolean;
  /** Overrides the retry policy's attempt count (1 where the caller runs its own loop). */
  attempts?: number;
  /**
   * Fixed credentials for a request outside the registry's auth flow (the token
   * request itself): sent only while the URL is on `origin`.
   */
  auth?: { origin: string; authorization?: string };
}

/** What the transport asks of whoever holds the credentials. */
export interface AuthProvider {
  /** The Authorization value to send up front for this scope, when the registry's scheme is known. */
  authorization(scope: string | undefined, context: ErrorContext): Promise<string | undefined>;
  /**
   * The registry answered 401. Returns when another try with fresh credentials
   * may work; throws an OciError saying why not otherwise. `final` is set when no
   * further try will be made, so the error explains the refusal.
   */
  challenged(challenge: {
    header: string | null;
    scope: string | undefined;
    sent: string | undefined;
    final: boolean;
    context: ErrorContext;
  }): Promise<void>;
}

export interface TransportOptions {
  /** `http://host:port` or `https://host`. */
  origin: string;
  timeoutMs: number;
  retry: RetryPolicy;
  userAgent: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;
const MAX_ERROR_BODY = 64 * 1024;

/** A response of one attempt, with body readers that keep honouring the attempt's idle timeout. */
export class RegistryResponse {
  private body: BodyStream | undefined;

  constructor(
    private readonly response: Response,
    /** The URL that answered (after redirects). */
    readonly url: string,
    private readonly abort: () => void,
    private readonly idleMs: number,
    private readonly context: ErrorContext,
  ) {}

  get status(): number {
    return this.response.status;
  }

  get statusText(): string {
    return this.response.statusText;
  }

  get headers(): Headers {
    return this.response.headers;
  }

  /** The body as a Node stream; stalls and resets surface as TransientErrors on it. */
  stream(): Readable {
    if (this.response.body === null) return Readable.from([]);
    this.body ??= new BodyStream(this.response.body, {
      idleMs: this.idleMs,
      abort: this.abort,
      stalled: () => new TransientError(this.context, `transfer from ${this.url} stalled: no data for ${this.idleMs} ms`),
      failed: (error) => networkError(this.context, `transfer from ${this.url} was interrupted`, error),
    });
    return this.body;
  }

  async bytes(limit: number, what: string): Promise<Buffer> {
    const declared = Number(this.headers.get('content-length') ?? NaN);
    const tooLarge = (size: number): OciError =>
      ociError(this.context, 'invalid', `${what} is ${size} bytes or more, over the ${limit} byte limit`);
    if (declared > limit) {
      this.discard();
      throw tooLarge(declared);
    }
    return readAtMost(this.stream(), limit, tooLarge);
  }

  async text(limit: number, what: string): Promise<string> {
    return (await this.bytes(limit, what)).toString('utf8');
  }

  /** Reads and ignores a small body so the connection can be reused. */
  async drain(): Promise<void> {
    await this.bytes(MAX_ERROR_BODY, 'response body').catch(() => this.discard());
  }

  /** Drops the response (and any upload still running); the attempt is over. */
  discard(): void {
    if (this.body) this.body.destroy();
    else this.response.body?.cancel().catch(() => undefined);
    this.abort();
  }
}

export class Transport {
  private auth: AuthProvider | undefined;

  constructor(readonly options: TransportOptions) {}

  useAuth(auth: AuthProvider): void {
    this.auth = auth;
  }

  /**
   * Sends a request and hands an accepted response to `handle`. Everything
   * `handle` does (reading the body included) belongs to the attempt: if it
   * fails with a TransientError, the whole exchange is tried again. A stream
   * returned by `handle` is the caller's; its later failures are not retried here.
   */
  send<T>(request: RegistryRequest, handle: (response: RegistryResponse) => Promise<T>): Promise<T> {
    return withRetries(this.options.retry, request.attempts, request, () => this.attempt(request, handle));
  }

  private async attempt<T>(request: RegistryRequest, handle: (response: RegistryResponse) => Promise<T>): Promise<T> {
    for (let authRound = 0; ; authRound++) {
      const authorization = request.auth
        ? request.auth.authorization
        : await this.auth?.authorization(request.scope, request);
      const authOrigin = request.auth?.origin ?? this.options.origin;
      const response = await this.exchange(request, authorization, authOrigin);
      try {
        if (response.status === 401 && !request.auth && this.auth && new URL(response.url).origin === this.options.origin) {
          response.discard();
          const final = authRound > 0;
          await this.auth.challenged({
            header: response.headers.get('www-authenticate'),
            scope: request.scope,
            sent: authorization,
            final,
            context: request,
          });
          if (final) throw ociError(request, 'unauthorized', 'HTTP 401 Unauthorized', { status: 401 });
          continue;
        }
        if (!accepted(response.status, request.accept)) {
          const body =
            request.method === 'HEAD' ? '' : await response.text(MAX_ERROR_BODY, 'error body').catch(() => '');
          throw statusError(request, response, body);
        }
        return await handle(response);
      } catch (error) {
        response.discard();
        throw error;
      }
    }
  }

  /** One request, following redirects; Authorization goes only to `authOrigin`. */
  private async exchange(
    request: RegistryRequest,
    authorization: string | undefined,
    authOrigin: string,
  ): Promise<RegistryResponse> {
    let url = new URL(request.url);
    let method: string = request.method;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { 'user-agent': this.options.userAgent, ...request.headers };
      if (authorization !== undefined && url.origin === authOrigin) headers.authorization = authorization;
      const body = request.body === undefined || hop > 0 ? undefined : request.body;
      const { response, abort } = await this.fetchOnce(url, method, headers, body, request);
      const location = response.headers.get('location');
      if (request.followRedirects && REDIRECTS.has(response.status) && location !== null) {
        response.body?.cancel().catch(() => undefined);
        if (hop >= MAX_REDIRECTS) {
          throw ociError(request, 'invalid', `more than ${MAX_REDIRECTS} redirects, the last to ${location}`);
        }
        url = new URL(location, url);
        if (response.status === 303 && method !== 'HEAD') method = 'GET';
        continue;
      }
      return new RegistryResponse(response, url.href, abort, this.options.timeoutMs, request);
    }
  }

  /**
   * One fetch with a watchdog: it fires when the headers have not arrived
   * `timeoutMs` after the request body was last read from (or after sending,
   * with no body), so a long upload that keeps moving is never cut off.
   */
  private async fetchOnce(
    url: URL,
    method: string,
    headers: Record<string, string>,
    body: RequestBody | undefined,
    context: ErrorContext,
  ): Promise<{ response: Response; abort: () => void }> {
    const controller = new AbortController();
    let source: Readable | undefined;
    // Ends the exchange in both directions: the response and whatever is still being uploaded.
    const abort = (): void => {
      controller.abort();
      source?.destroy();
    };
    const watchdog = new Watchdog(this.options.timeoutMs, abort);
    let sourceError: unknown;
    let upload: Buffer | Readable | undefined;
    if (Buffer.isBuffer(body)) upload = body;
    else if (body !== undefined) {
      try {
        source = await body();
      } catch (error) {
        throw sourceFailure(context, error);
      }
      const progress = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          watchdog.kick();
          callback(null, chunk);
        },
      });
      pipeline(source, progress, (error) => {
        if (error && sourceError === undefined) sourceError = error;
      });
      upload = progress;
    }
    watchdog.kick();
    try {
      const response = await fetch(url, {
        method,
        headers,
        redirect: 'manual',
        signal: controller.signal,
        ...(upload !== undefined && { body: upload, duplex: 'half' as const }),
      });
      return { response, abort };
    } catch (error) {
      source?.destroy();
      if (sourceError !== undefined && !watchdog.fired) throw sourceFailure(context, sourceError);
      if (rootCause(error).code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') {
        const detail = `the content to upload is not ${headers['content-length']} bytes long`;
        throw ociError(context, 'digest-mismatch', detail, { cause: error });
      }
      if (watchdog.fired) {
        const detail = `no response from ${url.href} within ${this.options.timeoutMs} ms`;
        throw new TransientError(context, detail, undefined, undefined, { cause: error });
      }
      throw networkError(context, `could not reach ${url.href}`, error);
    } finally {
      watchdog.stop();
    }
  }
}

/** The stream being uploaded failed: its own OciErrors pass through (a blob copied from another registry). */
function sourceFailure(context: ErrorContext, error: unknown): OciError {
  if (error instanceof OciError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return ociError(context, 'invalid', `reading the content to upload failed: ${message}`, { cause: error });
}

function accepted(status: number, accept: readonly number[] | undefined): boolean {
  return accept ? accept.includes(status) : status >= 200 && status < 300;
}

/**
 * Runs `attempt` until it succeeds, fails with something other than a
 * TransientError, or the attempts run out; then says how many were made and
 * what the last one ran into.
 */
export async function withRetries<T>(
  policy: RetryPolicy,
  attempts: number | undefined,
  context: ErrorContext,
  attempt: () => Promise<T>,
): Promise<T> {
  const total = Math.max(1, attempts ?? policy.attempts);
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof TransientError)) throw error;
      if (n >= total) {
        if (total === 1) throw error;
        const detail = `gave up after ${total} attempts; the last failed with: ${error.detail}`;
        throw ociError(context, 'unavailable', detail, { status: error.status, cause: error });
      }
      await sleep(retryDelay(policy, n, error.retryAfterMs));
    }
  }
}
