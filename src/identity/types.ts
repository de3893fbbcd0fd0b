/** Who is on the other end of a connection or an HTTP request, as a verified token says. */
export interface Identity {
  /** The issuer URL, exactly as the token's `iss`. */
  issuer: string;
  /** The configured short name of the issuer, or the URL when none is set. */
  issuerName: string;
  /** From the first of the issuer's `subject_claims` present in the token. */
  subject: string;
  groups: string[];
  /** Every claim of the verified token (never the token itself). */
  claims: Record<string, unknown>;
  /** Epoch milliseconds of `exp`. */
  expiresAt: number;
  /** The token's `jti`, when present. */
  tokenId?: string;
}

/**
 * Which audiences a surface accepts. A token is minted for one resource; the surfaces that take
 * bearer tokens (Postgres passwords, `/mcp`, the admin and reviews APIs) each say which `aud`
 * values they accept, so a token minted for one is not a key to the others.
 */
export interface AudienceRule {
  /** The audiences accepted, replacing the issuer's configured `audience` (default: that). */
  accept?: readonly string[];
  /**
   * Audiences that never count on this surface, even when listed in `accept` or the issuer's
   * audience: a token whose `aud` names only these is refused (the MCP resource on the wire).
   */
  exclude?: readonly string[];
}

export interface TokenVerifier {
  /**
   * Verify a compact JWT. Resolves with the identity, or rejects with a GatewayError whose code is
   * one of auth.invalid_token, auth.expired, auth.unknown_issuer, auth.idp_unavailable, auth.revoked,
   * and whose message says what was wrong without echoing the token. `audience` narrows or
   * replaces the audiences accepted (default: the issuer's configured audience).
   */
  verify(token: string, audience?: AudienceRule): Promise<Identity>;
}
