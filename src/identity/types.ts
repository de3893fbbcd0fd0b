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

export interface TokenVerifier {
  /**
   * Verify a compact JWT. Resolves with the identity, or rejects with a GatewayError whose code is
   * one of auth.invalid_token, auth.expired, auth.unknown_issuer, auth.idp_unavailable, auth.revoked,
   * and whose message says what was wrong without echoing the token.
   */
  verify(token: string): Promise<Identity>;
}
