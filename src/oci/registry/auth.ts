// Registry authentication: learns the scheme from the first 401 challenge, then
// authenticates requests up front. Bearer tokens are fetched from the realm the
// registry names (with the basic credentials, when configured) and kept per
// scope until they expire; Basic sends the configured credentials.

import { OciError } from '../errors.js';
import { parseChallenges } from './challenge.js';
import { type ErrorContext, ociError } from './errors.js';
import type { AuthProvider } from './transport.js';

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface TokenGrant {
  token: string;
  /** Lifetime in seconds, as the token server reported it. */
  expiresIn: number;
}

/** Asks a token server for a token: `url` already carries service and scope. */
export type TokenFetcher = (url: URL, authorization: string | undefined, context: ErrorContext) => Promise<TokenGrant>;

type BearerScheme = { kind: 'bearer'; realm: string; service: string | undefined };
type Scheme = { kind: 'basic'; realm: string } | BearerScheme;

const HOW_TO_CONFIGURE = 'pass credentials: { username, password } in the RegistryClient options';

export function basicAuthorization(credentials: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')}`;
}

export class Authenticator implements AuthProvider {
  private scheme: Scheme | undefined;
  private readonly tokens = new Map<string, { token: string; expiresAt: number }>();
  private readonly pending = new Map<string, Promise<string>>();

  constructor(
    private readonly credentials: RegistryCredentials | undefined,
    private readonly fetchToken: TokenFetcher,
  ) {}

  async authorization(scope: string | undefined, context: ErrorContext): Promise<string | undefined> {
    if (this.scheme === undefined) return undefined;
    if (this.scheme.kind === 'basic') return this.credentials ? basicAuthorization(this.credentials) : undefined;
    return `Bearer ${await this.token(this.scheme, scope, context)}`;
  }

  async challenged(challenge: {
    header: string | null;
    scope: string | undefined;
    sent: string | undefined;
    final: boolean;
    context: ErrorContext;
  }): Promise<void> {
    const { header, scope, sent, final, context } = challenge;
    const challenges = header === null ? [] : parseChallenges(header);
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    const basic = challenges.find((c) => c.scheme === 'basic');
    const refuse = (detail: string): never => {
      throw ociError(context, 'unauthorized', detail, { status: 401 });
    };

    if (bearer) {
      this.scheme = { kind: 'bearer', realm: bearer.params.realm!, service: bearer.params.service };
      if (sent?.startsWith('Bearer ')) {
        this.tokens.delete(scope ?? '');
        const why = bearer.params.error ? ` (${bearer.params.error})` : '';
        // insufficient_scope will not change with a fresh token: the server granted less than asked.
        if (final || bearer.params.error === 'insufficient_scope') {
          refuse(
            `the registry refused the token for ${scope ?? 'this request'}${why}: ` +
              (this.credentials
                ? `the token server did not grant user "${this.credentials.username}" that access`
                : `anonymous access does not allow it; ${HOW_TO_CONFIGURE}`),
          );
        }
      }
      return; // the next try asks for a (fresh) token
    }

    if (basic) {
      const realm = basic.params.realm ?? '';
      this.scheme = { kind: 'basic', realm };
      if (!this.credentials) {
        refuse(`the registry requires credentials (Basic realm "${realm}") and none are configured; ${HOW_TO_CONFIGURE}`);
      } else if (sent?.startsWith('Basic ') || final) {
        refuse(`the registry rejected the credentials of user "${this.credentials.username}" (HTTP 401)`);
      }
      return;
    }

    refuse(
      header === null
        ? 'HTTP 401 Unauthorized without a WWW-Authenticate challenge'
        : `HTTP 401 Unauthorized with an unsupported challenge: ${header}`,
    );
  }

  /** A token for `scope`, from the cache or the token server (one request however many callers wait). */
  private token(scheme: BearerScheme, scope: string | undefined, context: ErrorContext): Promise<string> {
    const key = scope ?? '';
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > Date.now()) return Promise.resolve(cached.token);
    let pending = this.pending.get(key);
    if (!pending) {
      pending = this.requestToken(scheme, scope, context).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    return pending;
  }

  private async requestToken(
    scheme: BearerScheme,
    scope: string | undefined,
    context: ErrorContext,
  ): Promise<string> {
    let url: URL;
    try {
      url = new URL(scheme.realm);
    } catch {
      throw ociError(context, 'invalid', `the registry named an invalid token realm: ${scheme.realm}`);
    }
    if (scheme.service !== undefined) url.searchParams.set('service', scheme.service);
    for (const part of (scope ?? '').split(' ').filter(Boolean)) url.searchParams.append('scope', part);

    let grant: TokenGrant;
    try {
      grant = await this.fetchToken(url, this.credentials && basicAuthorization(this.credentials), context);
    } catch (error) {
      if (error instanceof OciError && error.kind === 'unauthorized') {
        const user = this.credentials?.username;
        const detail =
          user !== undefined
            ? `the token server ${scheme.realm} rejected the credentials of user "${user}" (${error.detail})`
            : `the token server ${scheme.realm} requires credentials and none are configured; ${HOW_TO_CONFIGURE} (${error.detail})`;
        throw ociError(context, 'unauthorized', detail, { status: 401, cause: error });
      }
      throw error;
    }
    // Renew a little early so that a token does not run out while a request is on its way.
    const lifetimeMs = grant.expiresIn * 1000;
    const expiresAt = Date.now() + lifetimeMs - Math.min(10_000, lifetimeMs / 10);
    this.tokens.set(scope ?? '', { token: grant.token, expiresAt });
    return grant.token;
  }
}
