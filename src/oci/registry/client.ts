// A client for one OCI distribution (registry v2) endpoint, on Node's fetch.
// It owns the connection settings and the credentials; repositories share them.

import { VERSION } from '../../version.js';
import { OciError } from '../errors.js';
import { isValidRepository } from '../reference.js';
import { Authenticator, type RegistryCredentials, type TokenFetcher, type TokenGrant } from './auth.js';
import { type ErrorContext, ociError } from './errors.js';
import { RegistryRepository } from './repository.js';
import { DEFAULT_RETRY, type RetryPolicy } from './retry.js';
import { Transport } from './transport.js';

export type { RegistryCredentials } from './auth.js';
export { RegistryRepository } from './repository.js';

export interface RegistryClientOptions {
  /** host[:port], e.g. `ghcr.io` or `127.0.0.1:5000`. */
  registry: string;
  /** Plain http instead of https. */
  insecure?: boolean;
  /** Basic credentials: sent to a Basic registry, or to the token server of a Bearer one. */
  credentials?: RegistryCredentials;
  /** Per attempt: the longest wait for response headers, and the longest gap between body chunks (default 30 s). */
  requestTimeoutMs?: number;
  /** Default 4 attempts, 200 ms base delay doubling per retry with jitter, at most 10 s. */
  retry?: { attempts: number; baseDelayMs: number; maxDelayMs?: number };
  userAgent?: string;
  /** Page size asked for (`?n=`) when listing tags; by default the registry's own. */
  tagsPageSize?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const MAX_TOKEN_RESPONSE = 1024 * 1024;

export class RegistryClient {
  readonly registry: string;
  private readonly transport: Transport;
  private readonly tagsPageSize: number | undefined;

  constructor(options: RegistryClientOptions) {
    if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(options.registry) && !/^\[[0-9a-fA-F:.]+\](:\d{1,5})?$/.test(options.registry)) {
      const detail = 'a registry is host[:port], without scheme or path';
      throw new OciError('invalid', 'configure registry', options.registry, detail);
    }
    this.registry = options.registry;
    this.tagsPageSize = options.tagsPageSize;
    const retry: RetryPolicy = {
      attempts: options.retry?.attempts ?? DEFAULT_RETRY.attempts,
      baseDelayMs: options.retry?.baseDelayMs ?? DEFAULT_RETRY.baseDelayMs,
      maxDelayMs: options.retry?.maxDelayMs ?? DEFAULT_RETRY.maxDelayMs,
    };
    this.transport = new Transport({
      origin: `${options.insecure ? 'http' : 'https'}://${apiHost(options.registry)}`,
      timeoutMs: options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS,
      retry,
      userAgent: options.userAgent ?? `talos-image-factory/${VERSION}`,
    });
    this.transport.useAuth(new Authenticator(options.credentials, tokenFetcher(this.transport)));
  }

  /** Checks that the registry answers the v2 API and accepts our credentials (`GET /v2/`). */
  async ping(): Promise<void> {
    await this.transport.send(
      { operation: 'ping', image: this.registry, method: 'GET', url: `${this.transport.options.origin}/v2/` },
      (response) => response.drain(),
    );
  }

  /** A repository by path, e.g. `siderolabs/imager`. No request is made until it is used. */
  repository(path: string): RegistryRepository {
    if (!isValidRepository(path)) {
      throw new OciError('invalid', 'open repository', `${this.registry}/${path}`, 'not a valid repository name');
    }
    return new RegistryRepository(this.transport, this.registry, path, this.tagsPageSize);
  }
}

/** Docker Hub serves the API from another host than its image names say. */
function apiHost(registry: string): string {
  return registry === 'docker.io' || registry === 'index.docker.io' ? 'registry-1.docker.io' : registry;
}

/** Token requests go through the same transport (timeouts, retries), with their own credentials and no auth flow. */
function tokenFetcher(transport: Transport): TokenFetcher {
  return async (url, authorization, context) => {
    try {
      return await transport.send(
        {
          ...context,
          method: 'GET',
          url: url.href,
          auth: { origin: url.origin, ...(authorization !== undefined && { authorization }) },
          followRedirects: true,
        },
        async (response) => parseTokenResponse(await response.text(MAX_TOKEN_RESPONSE, 'the token response'), context),
      );
    } catch (error) {
      // Say that it was the token server; 401s are explained by the authenticator, which knows the credentials.
      if (!(error instanceof OciError) || error.kind === 'unauthorized') throw error;
      const realm = `${url.origin}${url.pathname}`;
      throw ociError(error, error.kind, `token server ${realm}: ${error.detail}`, { status: error.status, cause: error });
    }
  };
}

function parseTokenResponse(text: string, context: ErrorContext): TokenGrant {
  let json: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    json = JSON.parse(text) as typeof json;
  } catch {
    throw ociError(context, 'invalid', 'the token server answered with something other than JSON');
  }
  // Docker's token spec says `token`; OAuth2-style servers say `access_token`.
  const token = typeof json.token === 'string' && json.token !== '' ? json.token : json.access_token;
  if (typeof token !== 'string' || token === '') {
    throw ociError(context, 'invalid', 'the token server answered without a token');
  }
  const expiresIn = typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : 60;
  return { token, expiresIn };
}
