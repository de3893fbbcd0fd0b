/**
 * The console as an OIDC relying party: authorization code with PKCE (S256), `state` against
 * forged callbacks, `nonce` against replayed ID tokens. The ID token is verified by the gateway's
 * own `TokenVerifier` (discovery, JWKS cache and rotation, algorithm allowlist, `iss`, `aud` =
 * the console's client id, `exp`, the revocation list); the nonce is checked here.
 *
 * The authorization code, tokens and client secret MUST NOT be logged or shown.
 */
import { createHash, randomBytes } from 'node:crypto';
import { GatewayError } from '../errors.ts';
import { createTokenVerifier, type RevocationList } from '../identity/index.ts';
import type { Identity, TokenVerifier } from '../identity/types.ts';
import type { Logger } from '../log.ts';
import type { ConsoleConfig } from './schema.ts';

interface Discovery {
  authorization_endpoint?: string;
  token_endpoint?: string;
}

export interface SignInStart {
  /** Where to send the browser. */
  url: string;
  state: string;
  nonce: string;
  verifier: string;
}

/** A failure to show the human: the message names what went wrong, never a token or secret. */
export class SignInError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 401 | 502 | 503,
  ) {
    super(message);
    this.name = 'SignInError';
  }
}

export interface OidcClientDeps {
  logger: Logger;
  revocations: RevocationList;
  fetch?: typeof fetch;
}

const DISCOVERY_MAX_AGE = 10 * 60_000;
const HTTP_TIMEOUT = 10_000;

export function random(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

export class OidcClient {
  readonly #config: ConsoleConfig;
  readonly #fetch: typeof fetch;
  readonly #verifier: TokenVerifier;
  #discovery: { doc: Discovery; at: number } | undefined;

  constructor(config: ConsoleConfig, deps: OidcClientDeps) {
    this.#config = config;
    this.#fetch = deps.fetch ?? globalThis.fetch;
    this.#verifier = createTokenVerifier(
      {
        issuers: [
          {
            issuer: config.issuer,
            audience: config.client_id,
            algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'],
            subject_claims: ['sub'],
            groups_claim: config.groups_claim,
            clock_tolerance: 30_000,
          },
        ],
        expiry_grace: 0,
        jwks_cooldown: 30_000,
      },
      { logger: deps.logger, revocations: deps.revocations, fetch: this.#fetch },
    );
  }

  /** The same settings this client was made for (a reload that changes them needs a new client). */
  sameAs(config: ConsoleConfig): boolean {
    const c = this.#config;
    return c.issuer === config.issuer && c.client_id === config.client_id && c.client_secret === config.client_secret && c.groups_claim === config.groups_claim;
  }

  async start(redirectUri: string): Promise<SignInStart> {
    const doc = await this.#discover();
    if (!doc.authorization_endpoint) throw new SignInError(`the identity provider ${this.#config.issuer} has no authorization endpoint`, 502);
    const state = random();
    const nonce = random();
    const verifier = random();
    const url = new URL(doc.authorization_endpoint);
    url.searchParams.set('response_type', 'code');
    url.searchParams.set('client_id', this.#config.client_id);
    url.searchParams.set('redirect_uri', redirectUri);
    url.searchParams.set('scope', this.#config.scopes.join(' '));
    url.searchParams.set('state', state);
    url.searchParams.set('nonce', nonce);
    url.searchParams.set('code_challenge', pkceChallenge(verifier));
    url.searchParams.set('code_challenge_method', 'S256');
    return { url: url.toString(), state, nonce, verifier };
  }

  /** Exchange the code, verify the ID token and its nonce: the human who signed in. */
  async finish(o: { code: string; redirectUri: string; verifier: string; nonce: string }): Promise<Identity> {
    const doc = await this.#discover();
    if (!doc.token_endpoint) throw new SignInError(`the identity provider ${this.#config.issuer} has no token endpoint`, 502);
    const body = new URLSearchParams({ grant_type: 'authorization_code', code: o.code, redirect_uri: o.redirectUri, code_verifier: o.verifier });
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    if (this.#config.client_secret !== undefined) {
      const basic = `${encodeURIComponent(this.#config.client_id)}:${encodeURIComponent(this.#config.client_secret)}`;
      headers.authorization = `Basic ${Buffer.from(basic).toString('base64')}`;
    } else body.set('client_id', this.#config.client_id);
    let res: Response;
    try {
      res = await this.#fetch(doc.token_endpoint, { method: 'POST', headers, body, signal: AbortSignal.timeout(HTTP_TIMEOUT) });
    } catch {
      throw new SignInError(`the identity provider's token endpoint could not be reached`, 503);
    }
    const json = (await res.json().catch(() => ({}))) as { id_token?: unknown; error?: unknown; error_description?: unknown };
    if (!res.ok || typeof json.id_token !== 'string') {
      // The provider's error code is safe to show; its description may be long or odd: kept short.
      const why = typeof json.error === 'string' ? `: ${json.error.slice(0, 80)}` : ` (HTTP ${res.status})`;
      throw new SignInError(`the identity provider refused the sign-in${why}`, 401);
    }
    let identity: Identity;
    try {
      identity = await this.#verifier.verify(json.id_token);
    } catch (err) {
      if (err instanceof GatewayError && err.code !== 'internal') throw new SignInError(`the ID token was not accepted: ${err.message.replace(/^pgwarden: /, '')}`, err.code === 'auth.idp_unavailable' ? 503 : 401);
      throw err;
    }
    if (identity.claims.nonce !== o.nonce) throw new SignInError('the ID token does not answer this sign-in (nonce mismatch)', 401);
    return identity;
  }

  async #discover(): Promise<Discovery> {
    const cached = this.#discovery;
    if (cached && Date.now() - cached.at < DISCOVERY_MAX_AGE) return cached.doc;
    const url = `${this.#config.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    let doc: Discovery;
    try {
      const res = await this.#fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(HTTP_TIMEOUT) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      doc = (await res.json()) as Discovery;
    } catch {
      if (cached) return cached.doc;
      throw new SignInError(`the identity provider ${this.#config.issuer} is unreachable (discovery failed)`, 503);
    }
    this.#discovery = { doc, at: Date.now() };
    return doc;
  }
}
