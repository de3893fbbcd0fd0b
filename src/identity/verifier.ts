/**
 * The token verifier: a compact JWT in, an `Identity` out, or a GatewayError saying what was
 * wrong. Shared by the wire password path and HTTP/MCP bearer authentication, once per connection
 * or request.
 *
 * Order of checks (each failure ends verification, fail closed):
 *   1. shape: a compact JWS whose header and payload decode        → auth.invalid_token
 *   2. the unverified `iss` picks a configured issuer, exactly      → auth.unknown_issuer
 *   3. `alg` is in that issuer's allowlist (asymmetric only)        → auth.invalid_token
 *   4. key by `kid` from the issuer's JWKS (cached, see issuer-keys) → auth.idp_unavailable
 *   5. signature, `iss`, `aud`, `exp` (required), `nbf` by jose     → auth.invalid_token / auth.expired
 *      (`aud` against the surface's audiences: the issuer's `audience` unless the caller's
 *      AudienceRule replaces it, less the audiences the surface excludes)
 *   6. a subject from the configured claims                         → auth.invalid_token
 *   7. the revocation list                                          → auth.revoked
 *
 * A token that verified is remembered by the SHA-256 of its text (`VerifiedCache`) until its `exp`,
 * for at most the JWKS max age, while the issuer's key set it verified against is current (a
 * refetch, e.g. after a rotation, makes it verify again), and until the issuers are reconfigured: a reconnecting client
 * with the same token skips steps 1–6 (the audience rule of the surface and 7, the revocation
 * list, are checked on every call). A token is only ever cached after a full verification.
 *
 * The unverified payload is read only to choose the issuer (2) and to word messages; every value
 * the identity carries comes from the verified claims. The token MUST NOT appear in a message or
 * a log line: messages name claims and configuration, never the token text.
 */
import { hash } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type CryptoKey, type JWTPayload, type JWTVerifyOptions } from 'jose';
import { GatewayError } from '../errors.ts';
import type { IdentityConfig, IssuerConfig } from './schema.ts';
import type { Logger } from '../log.ts';
import { pickGroups, pickSubject } from './claims.ts';
import { IssuerKeys } from './issuer-keys.ts';
import { fromJoseError, safe } from './jose-errors.ts';
import type { RevocationList } from './revocation.ts';
import type { AudienceRule, Identity, TokenVerifier } from './types.ts';

export type { IdentityConfig };

export interface TokenVerifierDeps {
  logger: Logger;
  revocations: RevocationList;
  /** Verified tokens remembered (by hash) so a reconnect skips the signature check; 0 turns it off. */
  cacheSize?: number;
  /** Told each verification's result and each JWKS fetch (for metrics). */
  observe?: VerifierObserver;
  /** Used for discovery and JWKS requests (default: the global fetch). */
  fetch?: typeof fetch;
  /** Age after which cached JWKS are refetched before use, in ms (default 10 minutes). */
  jwksMaxAge?: number;
  /** Time allowed for one discovery or JWKS request, in ms (default 5 seconds). */
  httpTimeout?: number;
}

/** What a verifier reports as it works: issuers by their configured name, results by code. */
export interface VerifierObserver {
  /** `issuer` is the configured name, or `untrusted` when the token names no configured issuer. */
  verified(issuer: string, result: 'ok' | string): void;
  keysFetched(issuer: string, ok: boolean): void;
}

export interface ReloadableTokenVerifier extends TokenVerifier {
  /** Replace the trusted issuers (configuration reload); unchanged issuers keep their cached keys. */
  update(config: IdentityConfig): void;
}

/**
 * Signature algorithms that can ever be allowed. The configuration schema already limits
 * `algorithms` to these; this set is the second line: `none` and the HMAC family MUST never be
 * accepted, because an HMAC "signature" made with an issuer's public key would otherwise verify.
 */
const ASYMMETRIC = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']);

/** PostgreSQL caps a password message at 64 KiB; nothing larger is worth decoding. */
const MAX_TOKEN_LENGTH = 64 * 1024;

const DEFAULT_JWKS_MAX_AGE = 10 * 60_000;
const DEFAULT_HTTP_TIMEOUT = 5_000;

interface IssuerState {
  config: IssuerConfig;
  name: string;
  keys: IssuerKeys;
  algorithms: ReadonlySet<string>;
  options: JWTVerifyOptions;
  /** The issuer's configured audiences. */
  audiences: readonly string[];
}

export function createTokenVerifier(config: IdentityConfig, deps: TokenVerifierDeps): ReloadableTokenVerifier {
  const { logger, revocations } = deps;
  const fetchImpl = deps.fetch ?? globalThis.fetch;
  const maxAge = deps.jwksMaxAge ?? DEFAULT_JWKS_MAX_AGE;
  const timeout = deps.httpTimeout ?? DEFAULT_HTTP_TIMEOUT;

  function build(next: IdentityConfig, previous: ReadonlyMap<string, IssuerState>): Map<string, IssuerState> {
    const states = new Map<string, IssuerState>();
    for (const c of next.issuers) {
      if (states.has(c.issuer)) throw new Error(`identity.issuers: issuer ${c.issuer} is listed more than once`);
      const name = c.name ?? c.issuer;
      const source = { issuer: c.issuer, jwksUri: c.jwks_uri, cooldown: next.jwks_cooldown, maxAge, timeout, fetch: fetchImpl };
      const kept = previous.get(c.issuer)?.keys;
      const keys = kept?.sameSource(source) ? kept : new IssuerKeys({ ...source, name, logger, observe: deps.observe });
      if (keys === kept) keys.rename(name);
      const algorithms = c.algorithms.filter((a) => ASYMMETRIC.has(a));
      if (algorithms.length === 0) throw new Error(`identity.issuers: issuer ${name} allows no asymmetric signature algorithm`);
      states.set(c.issuer, {
        config: c,
        name,
        keys,
        algorithms: new Set(algorithms),
        audiences: typeof c.audience === 'string' ? [c.audience] : c.audience,
        options: {
          issuer: c.issuer,
          algorithms,
          requiredClaims: ['exp'],
          clockTolerance: c.clock_tolerance / 1000,
        },
      });
    }
    return states;
  }

  let issuers = build(config, new Map());
  const cache = new VerifiedCache(deps.cacheSize ?? DEFAULT_CACHE_SIZE);

  async function verify(token: string, rule: AudienceRule = {}): Promise<Identity> {
    // One snapshot per call: a reload during verification does not mix two configurations.
    const current = issuers;
    let issuerName: string | undefined;
    const cacheKey = typeof token === 'string' && token.length <= MAX_TOKEN_LENGTH ? hash('sha256', token, 'base64') : undefined;
    const hit = cacheKey === undefined ? undefined : cache.get(cacheKey, current, Date.now());
    if (hit) {
      // The same bytes verified before against these issuers: only what may differ per call or
      // change over time is checked again.
      const excluded = new Set(rule.exclude ?? []);
      const audience = (rule.accept ?? hit.state.audiences).filter((a) => !excluded.has(a));
      if (hit.audiences.some((a) => audience.includes(a)) && !revocations.isRevoked(hit.identity)) {
        deps.observe?.verified(hit.state.name, 'ok');
        return hit.identity;
      }
      // Anything else: verify in full, so the refusal is worded as it would be the first time.
    }
    try {
      const { header, claims } = decode(token);
      const iss = claims.iss;
      if (typeof iss !== 'string' || iss === '') throw invalid('token has no iss claim');
      const state = current.get(iss);
      if (!state) throw new GatewayError('auth.unknown_issuer', `pgwarden: token issuer "${safe(iss)}" is not trusted`);
      issuerName = state.name;
      if (typeof header.alg !== 'string' || !state.algorithms.has(header.alg)) throw invalid(`token algorithm ${safe(header.alg)} is not allowed`);

      // Fail closed: a surface left with no audience accepts no token (jose would skip the check).
      const excluded = new Set(rule.exclude ?? []);
      const audience = (rule.accept ?? state.audiences).filter((a) => !excluded.has(a));
      if (audience.length === 0) {
        throw new GatewayError('auth.invalid_token', 'pgwarden: token audience is not accepted here', {
          logDetail: `no audience is accepted on this surface for issuer ${state.name}`,
        });
      }

      // Read before verifying: a refetch during the verification leaves the entry stale.
      const keySet = state.keys.keySet();
      let payload: JWTPayload;
      try {
        payload = await verifySignedToken(token, state, { ...state.options, audience });
      } catch (err) {
        const e = fromJoseError(err, { issuerName: state.name, audience: audience.length === 1 ? audience[0] : audience, header, claims });
        if (e.code === 'internal') logger.error({ issuer: state.name, err: err instanceof Error ? err.message : String(err) }, 'token verification failed unexpectedly');
        throw e;
      }

      const identity = toIdentity(iss, state, payload);
      if (cacheKey !== undefined) {
        const aud = payload.aud;
        const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
        cache.set(cacheKey, { identity, state, issuers: current, audiences, until: Math.min(identity.expiresAt, Date.now() + maxAge), keySet });
      }
      if (revocations.isRevoked(identity)) throw new GatewayError('auth.revoked', `pgwarden: access for ${safe(identity.subject)} has been revoked`);
      logger.debug({ issuer: state.name, subject: identity.subject }, 'token verified');
      deps.observe?.verified(state.name, 'ok');
      return identity;
    } catch (err) {
      const e = err instanceof GatewayError ? err : new GatewayError('internal', 'pgwarden: internal error while verifying the token', { cause: err });
      // The message is safe to log: it never contains the token.
      logger.info({ code: e.code, issuer: issuerName, reason: e.message, ...(e.logDetail === undefined ? {} : { detail: e.logDetail }) }, 'token refused');
      deps.observe?.verified(issuerName ?? 'untrusted', e.code);
      throw e;
    }
  }

  return {
    verify,
    update(next: IdentityConfig): void {
      issuers = build(next, issuers);
      cache.clear();
      logger.info({ issuers: [...issuers.values()].map((s) => s.name) }, 'trusted issuers updated');
    },
  };
}

/**
 * A verifier bound to one surface's audiences (read on every call, so a reload applies at once).
 * The Postgres listener, `/mcp` and the HTTP APIs each get one.
 */
const DEFAULT_CACHE_SIZE = 10_000;

interface CachedToken {
  identity: Identity;
  state: IssuerState;
  /** The issuer map it verified against: a reload makes a new one, and the entry stale. */
  issuers: ReadonlyMap<string, IssuerState>;
  /** The token's `aud` values, matched against each surface's accepted audiences. */
  audiences: string[];
  /** Epoch ms: the token's `exp`, or sooner (the JWKS max age). */
  until: number;
  /** The issuer's key set it verified against: once the keys are refetched, it is verified again. */
  keySet: number;
}

/** Tokens that verified, by the SHA-256 of their text; least recently used out first. */
class VerifiedCache {
  readonly #entries = new Map<string, CachedToken>();
  constructor(readonly max: number) {}

  get(key: string, issuers: ReadonlyMap<string, IssuerState>, now: number): CachedToken | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (e.issuers !== issuers || now >= e.until || e.state.keys.keySet() !== e.keySet) {
      this.#entries.delete(key);
      return undefined;
    }
    this.#entries.delete(key);
    this.#entries.set(key, e);
    return e;
  }

  set(key: string, e: CachedToken): void {
    if (this.max <= 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, e);
    while (this.#entries.size > this.max) this.#entries.delete(this.#entries.keys().next().value as string);
  }

  clear(): void {
    this.#entries.clear();
  }
}

export function forSurface(verifier: TokenVerifier, rule: () => AudienceRule): TokenVerifier {
  return { verify: (token) => verifier.verify(token, rule()) };
}

function invalid(message: string): GatewayError {
  return new GatewayError('auth.invalid_token', `pgwarden: ${message}`);
}

function decode(token: string): { header: { alg?: unknown; kid?: unknown }; claims: Record<string, unknown> } {
  if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw invalid('token is not a well-formed JWT');
  try {
    return { header: decodeProtectedHeader(token), claims: decodeJwt(token) };
  } catch {
    // The decoder's own message may quote parts of the input: it is not passed on.
    throw invalid('token is not a well-formed JWT');
  }
}

async function verifySignedToken(token: string, state: IssuerState, options: JWTVerifyOptions): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, state.keys.getKey, options)).payload;
  } catch (err) {
    // A token without `kid` against a set with several usable keys: try each; one must verify.
    if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
    for await (const key of err as AsyncIterable<CryptoKey>) {
      try {
        return (await jwtVerify(token, key, options)).payload;
      } catch (inner) {
        if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner;
      }
    }
    throw new errors.JWSSignatureVerificationFailed();
  }
}

function toIdentity(iss: string, state: IssuerState, payload: JWTPayload): Identity {
  const claims = payload as Record<string, unknown>;
  const subject = pickSubject(claims, state.config.subject_claims);
  if (!subject) {
    throw new GatewayError('auth.invalid_token', 'pgwarden: token has no subject claim the gateway accepts', {
      logDetail: `issuer ${state.name} takes the subject from ${state.config.subject_claims.join(', ')}`,
    });
  }
  const identity: Identity = {
    issuer: iss,
    issuerName: state.name,
    // Subjects from different claims must not collide: a token without `sub` whose client_id is
    // "analyst" is not the human whose sub is "analyst". A subject from any claim but the first
    // listed is written `<claim>:<value>`.
    subject: subject.claim === state.config.subject_claims[0] ? subject.value : `${subject.claim}:${subject.value}`,
    groups: pickGroups(claims, state.config.groups_claim),
    claims,
    // jose has checked `exp` is present and a number (requiredClaims).
    expiresAt: (payload.exp as number) * 1000,
  };
  if (typeof payload.jti === 'string') identity.tokenId = payload.jti;
  return identity;
}
