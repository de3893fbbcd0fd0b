/**
 * Identity: who is on the other end, from an OIDC token.
 *
 * Data flow: a compact JWT (the Postgres password, or an HTTP bearer token) → `TokenVerifier`
 * (issuer chosen by `iss` among the configured ones → key from that issuer's JWKS, discovered and
 * cached, refetched on an unknown `kid` → signature and claims checked by jose → subject and groups
 * read from the configured claims → `RevocationList`) → `Identity`, or a GatewayError with an
 * `auth.*` code whose message says what was wrong and never contains the token.
 *
 * `DevIssuer` is the development issuer of `pgwarden demo` (key file, discovery document, JWKS,
 * token minting); it MUST NOT be enabled in production.
 */
export type { AudienceRule, Identity, TokenVerifier } from './types.ts';
export { RevocationList, type Revocation } from './revocation.ts';
export { createTokenVerifier, forSurface, type IdentityConfig, type ReloadableTokenVerifier, type TokenVerifierDeps } from './verifier.ts';
export { DevIssuer, type MintOptions } from './dev-issuer.ts';
