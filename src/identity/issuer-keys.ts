/**
 * The signing keys of one trusted issuer: where they are (configured `jwks_uri`, or the issuer's
 * discovery document, fetched once), and a cached JWKS that jose refetches when a token names an
 * unknown `kid` (at most once per cooldown) or when the cache is older than its maximum age.
 *
 * Availability rule: when the JWKS endpoint cannot be reached but keys were fetched before, those
 * keys keep verifying tokens (an IdP outage MUST NOT lock out every agent whose key is known).
 * Nothing is trusted that was not once served by the issuer's own endpoint, so this never widens
 * what verifies; a token whose `kid` is not among the cached keys is refused while the endpoint is
 * down. With nothing cached, verification fails with `auth.idp_unavailable`.
 *
 * Cooldown rule: after a failed discovery or a failed JWKS fetch with no keys cached, tokens are
 * refused with `auth.idp_unavailable` without another request until the cooldown has passed, so a
 * down IdP costs one request per cooldown, not one per connection (a flood of connections MUST
 * NOT become a flood of requests to the issuer, nor wait each on its timeout).
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors,
  type CryptoKey,
  type FlattenedJWSInput,
  type JSONWebKeySet,
  type JWSHeaderParameters,
  type RemoteJWKSet,
} from 'jose';
import { GatewayError } from '../errors.ts';
import type { Logger } from '../log.ts';

export interface IssuerKeysOptions {
  /** The issuer URL, exactly as tokens carry it in `iss`. */
  issuer: string;
  /** Short name for messages and logs. */
  name: string;
  jwksUri?: string;
  /** Least time between two refetches caused by an unknown `kid`, and between retries after a failed fetch (ms). */
  cooldown: number;
  /** Age after which cached keys are refetched before use (ms). */
  maxAge: number;
  /** Time allowed for one HTTP request to the issuer (ms). */
  timeout: number;
  fetch: typeof fetch;
  /** Told of each JWKS fetch and whether it succeeded. */
  observe?: { keysFetched(issuer: string, ok: boolean): void };
  logger: Logger;
}

type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

export class IssuerKeys {
  /** A copy of the options: `name` may change on reload. */
  readonly #o: IssuerKeysOptions;
  #remote?: RemoteJWKSet;
  #pendingRemote?: Promise<RemoteJWKSet>;
  /** When the last JWKS fetch failed (epoch ms), 0 after a success. */
  #failedAt = 0;
  #stale?: { json: string; resolve: KeyResolver };
  /** The last failed discovery: when (epoch ms), and the refusal it gave. */
  #discoveryFailure?: { at: number; error: GatewayError };

  constructor(options: IssuerKeysOptions) {
    this.#o = { ...options };
  }

  /** The issuer's short name changed in a reload: messages and logs use the new one. */
  rename(name: string): void {
    this.#o.name = name;
  }

  #generation = 0;

  /**
   * Which key set is current: a number that changes with every JWKS response. A token remembered
   * as verified counts only while the set it verified against is current.
   */
  keySet(): number {
    return this.#generation;
  }

  /** Whether `other` would fetch the same keys the same way, so this cache can be kept across a reload. */
  sameSource(other: Pick<IssuerKeysOptions, 'issuer' | 'jwksUri' | 'cooldown' | 'maxAge' | 'timeout' | 'fetch'>): boolean {
    const o = this.#o;
    return o.issuer === other.issuer && o.jwksUri === other.jwksUri && o.cooldown === other.cooldown && o.maxAge === other.maxAge && o.timeout === other.timeout && o.fetch === other.fetch;
  }

  /**
   * The key for a token, as jose's `jwtVerify` asks for it. Throws jose's JWKSNoMatchingKey or
   * JWKSMultipleMatchingKeys (the caller decides what those mean) or `auth.idp_unavailable`.
   */
  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> => {
    const remote = this.#remote ?? (await this.#resolveRemote());
    // After a failed fetch, cached keys answer until the cooldown ends instead of every connection
    // waiting on an endpoint that is known to be down; with none cached, the token is refused.
    if (this.#failedAt !== 0 && !remote.fresh && Date.now() - this.#failedAt < this.#o.cooldown) {
      if (remote.jwks() === undefined) {
        throw new GatewayError('auth.idp_unavailable', `pgwarden: the keys of issuer ${this.#o.name} could not be fetched; retrying after a cooldown`);
      }
      return this.#fromStale(remote, header, token, undefined);
    }
    try {
      const key = await remote(header, token);
      this.#failedAt = 0;
      return key;
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys || err instanceof errors.JOSENotSupported) {
        throw err;
      }
      // Anything else is a failed fetch: network error, timeout, non-200, a body that is not a key set.
      if (this.#failedAt === 0) {
        this.#o.logger.warn({ issuer: this.#o.name, err: describe(err) }, 'could not fetch the JWKS of the issuer');
      }
      this.#failedAt = Date.now();
      return this.#fromStale(remote, header, token, err);
    }
  };

  async #fromStale(remote: RemoteJWKSet, header: JWSHeaderParameters, token: FlattenedJWSInput, cause: unknown): Promise<CryptoKey> {
    const jwks = remote.jwks();
    if (!jwks) {
      throw new GatewayError('auth.idp_unavailable', `pgwarden: the keys of issuer ${this.#o.name} could not be fetched`, { cause });
    }
    const resolve = this.#staleResolver(jwks);
    try {
      return await resolve(header, token);
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey) {
        throw new GatewayError('auth.idp_unavailable', `pgwarden: issuer ${this.#o.name} is unreachable and none of its cached keys matches the token's kid`, { cause: cause ?? err });
      }
      throw err;
    }
  }

  // jose keeps the last key set it fetched; a local set over the same keys verifies with them. It
  // is rebuilt only when that set changed, so imported keys are reused across calls.
  #staleResolver(jwks: JSONWebKeySet): KeyResolver {
    const json = JSON.stringify(jwks);
    if (this.#stale?.json !== json) this.#stale = { json, resolve: createLocalJWKSet(jwks) };
    return this.#stale.resolve;
  }

  // jose fetches the key set through this: each response starts a new generation of keys, and
  // each fetch is reported with its result.
  readonly #countedFetch = (async (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const observe = this.#o.observe;
    try {
      const res = await this.#o.fetch(url, init);
      this.#generation++;
      observe?.keysFetched(this.#o.name, res.ok);
      return res;
    } catch (err) {
      observe?.keysFetched(this.#o.name, false);
      throw err;
    }
  }) as typeof fetch;

  #resolveRemote(): Promise<RemoteJWKSet> {
    const failed = this.#discoveryFailure;
    if (failed !== undefined && this.#pendingRemote === undefined && Date.now() - failed.at < this.#o.cooldown) return Promise.reject(failed.error);
    this.#pendingRemote ??= this.#jwksUri()
      .then((uri) => {
        this.#remote = createRemoteJWKSet(new URL(uri), {
          cooldownDuration: this.#o.cooldown,
          cacheMaxAge: this.#o.maxAge,
          timeoutDuration: this.#o.timeout,
          [customFetch]: this.#countedFetch,
        });
        this.#discoveryFailure = undefined;
        return this.#remote;
      })
      .catch((err: unknown) => {
        // A failed discovery is retried by the first token after the cooldown; a successful one
        // is never repeated.
        const error = err instanceof GatewayError ? err : new GatewayError('auth.idp_unavailable', `pgwarden: the discovery document of issuer ${this.#o.name} could not be fetched`, { cause: err });
        this.#discoveryFailure = { at: Date.now(), error };
        throw error;
      })
      .finally(() => {
        this.#pendingRemote = undefined;
      });
    return this.#pendingRemote;
  }

  async #jwksUri(): Promise<string> {
    if (this.#o.jwksUri) return this.#o.jwksUri;
    const { issuer, name } = this.#o;
    // OpenID Connect Discovery 1.0, section 4: the issuer with any trailing slash removed.
    const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    let doc: unknown;
    try {
      const res = await this.#o.fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(this.#o.timeout) });
      if (res.status !== 200) {
        await res.body?.cancel();
        throw new Error(`HTTP ${res.status} from ${url}`);
      }
      doc = await res.json();
    } catch (err) {
      this.#o.logger.warn({ issuer: name, url, err: describe(err) }, 'could not fetch the discovery document of the issuer');
      throw new GatewayError('auth.idp_unavailable', `pgwarden: the discovery document of issuer ${name} could not be fetched`, { cause: err });
    }
    const d = (doc ?? {}) as Record<string, unknown>;
    // Section 4.3: the issuer in the document MUST be identical to the one it was fetched for;
    // otherwise the keys could belong to someone else.
    if (d.issuer !== issuer) {
      this.#o.logger.error({ issuer: name, url, found: String(d.issuer) }, 'the discovery document names a different issuer');
      throw new GatewayError('auth.idp_unavailable', `pgwarden: the discovery document of issuer ${name} names a different issuer`);
    }
    if (typeof d.jwks_uri !== 'string' || !isUrl(d.jwks_uri)) {
      throw new GatewayError('auth.idp_unavailable', `pgwarden: the discovery document of issuer ${name} has no valid jwks_uri`);
    }
    this.#o.logger.info({ issuer: name, jwks_uri: d.jwks_uri }, 'discovered the JWKS of the issuer');
    return d.jwks_uri;
  }
}

function isUrl(text: string): boolean {
  try {
    new URL(text);
    return true;
  } catch {
    return false;
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return `${err.message}${cause}`;
  }
  return String(err);
}
