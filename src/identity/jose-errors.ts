/**
 * Turning what jose throws while verifying a token into a GatewayError a client can read: what
 * was wrong with the token, never the token itself. Anything not recognised here is not a verdict
 * about the token, so it becomes `internal` (and is still refused).
 */
import { errors } from 'jose';
import { GatewayError } from '../errors.ts';

export interface VerifyContext {
  /** Configured name of the issuer (or its URL). */
  issuerName: string;
  audience: string | readonly string[];
  /** Header and claims as decoded, unverified, from the token: only for wording the message. */
  header: { alg?: unknown; kid?: unknown };
  claims: Record<string, unknown>;
}

export function fromJoseError(err: unknown, ctx: VerifyContext): GatewayError {
  if (err instanceof GatewayError) return err;
  // The client learns which check failed; what the gateway expected goes to the log only.
  const invalid = (message: string, logDetail?: string) =>
    new GatewayError('auth.invalid_token', `pgwarden: ${message}`, { cause: err, ...(logDetail === undefined ? {} : { logDetail }) });

  if (err instanceof errors.JWTExpired) {
    const exp = err.payload.exp ?? ctx.claims.exp;
    return new GatewayError('auth.expired', `pgwarden: token expired at ${isoTime(exp)}`, { cause: err });
  }
  if (err instanceof errors.JWTClaimValidationFailed) {
    const { claim, reason } = err;
    if (reason === 'missing') {
      if (claim === 'aud') return invalid('token has no aud claim', `issuer ${ctx.issuerName} expects audience ${show(ctx.audience)}`);
      return invalid(`token has no ${safe(claim)} claim`);
    }
    if (reason === 'invalid') return invalid(`token claim ${safe(claim)} is malformed`);
    switch (claim) {
      case 'aud':
        return invalid(`token audience ${show(err.payload.aud)} is not accepted`, `issuer ${ctx.issuerName} expects audience ${show(ctx.audience)}`);
      case 'nbf':
        return invalid(`token is not valid yet (not before ${isoTime(err.payload.nbf)})`);
      case 'iss':
        return invalid(`token issuer ${show(err.payload.iss)} does not match`, `configured issuer ${ctx.issuerName}`);
      default:
        return invalid(`token claim ${safe(claim)} is not accepted`);
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return invalid(`token algorithm ${safe(ctx.header.alg)} is not allowed`);
  if (err instanceof errors.JWSSignatureVerificationFailed) return invalid('token signature is invalid');
  if (err instanceof errors.JWKSNoMatchingKey) {
    const kid = typeof ctx.header.kid === 'string' ? ` "${safe(ctx.header.kid)}"` : ' (none)';
    return invalid(`no signing key of the token's issuer matches its kid${kid}`, `issuer ${ctx.issuerName}`);
  }
  if (err instanceof errors.JWKSMultipleMatchingKeys) return invalid('token signature is invalid');
  if (err instanceof errors.JOSENotSupported) return invalid(`token algorithm ${safe(ctx.header.alg)} is not supported`);
  if (err instanceof errors.JWKSInvalid) {
    return new GatewayError('auth.idp_unavailable', `pgwarden: issuer ${ctx.issuerName} publishes a key set that cannot be used`, { cause: err });
  }
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return invalid('token is not a well-formed JWT');
  // A weak RSA key (under 2048 bits) is reported by jose as a TypeError from its key checks.
  if (err instanceof TypeError && /modulusLength/.test(err.message)) return invalid('token is signed with a key that is too weak');
  return new GatewayError('internal', 'pgwarden: internal error while verifying the token', { cause: err });
}

/** ISO 8601 of a NumericDate claim, or a placeholder when it is not a usable number. */
export function isoTime(seconds: unknown): string {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '(unknown time)';
  const d = new Date(seconds * 1000);
  return Number.isNaN(d.getTime()) ? '(unknown time)' : d.toISOString();
}

/**
 * Token fields are chosen by whoever made the token: quote them, drop control characters and cap
 * their length before they go into a message.
 */
export function safe(value: unknown, max = 120): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/** A claim value or a configured value, as a message shows it: "a" or ["a", "b"]. */
export function show(value: unknown): string {
  if (Array.isArray(value)) {
    const shown = value.slice(0, 5).map((v) => `"${safe(v)}"`);
    if (value.length > 5) shown.push(`… ${value.length - 5} more`);
    return `[${shown.join(', ')}]`;
  }
  if (value === undefined) return '(none)';
  return `"${safe(value)}"`;
}
