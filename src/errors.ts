/**
 * The one error type of the gateway.
 *
 * Every failure that can reach a client is a `GatewayError` with a stable `code`. Each code maps
 * to a SQLSTATE, a severity and a default hint; the edges convert it: the wire protocol into an
 * ErrorResponse, MCP into a tool error, HTTP into a problem document. Internal error text and
 * stack traces MUST NOT reach a client: only `message`, `detail` and `hint` do, and callers MUST
 * write those for the client (name what was refused and why, never echo a token or a password).
 */

export interface ErrorSpec {
  sqlstate: string;
  /** FATAL ends the session after the error is sent; ERROR leaves it usable. */
  severity: 'ERROR' | 'FATAL';
  hint?: string;
}

export const ERROR_CODES = {
  // Authentication and connection (class 28, 08, 53).
  'auth.missing_token': { sqlstate: '28P01', severity: 'FATAL', hint: 'Send an OIDC access token (a JWT) as the password.' },
  'auth.invalid_token': { sqlstate: '28P01', severity: 'FATAL', hint: 'Request a fresh token from your identity provider.' },
  'auth.expired': { sqlstate: '28P01', severity: 'FATAL', hint: 'The token has expired: request a fresh one and reconnect.' },
  'auth.unknown_issuer': { sqlstate: '28000', severity: 'FATAL', hint: 'The token must come from an issuer named in the gateway configuration.' },
  'auth.idp_unavailable': { sqlstate: '08006', severity: 'FATAL', hint: 'The identity provider could not be reached to verify the token; try again shortly.' },
  'auth.revoked': { sqlstate: '28000', severity: 'FATAL', hint: 'Access for this identity was revoked by an administrator.' },
  'auth.no_scope': { sqlstate: '28000', severity: 'FATAL', hint: 'No policy grants this identity access to this database.' },
  'auth.wrong_user': { sqlstate: '28000', severity: 'FATAL', hint: 'Connect with the token\'s subject as the user name.' },
  'conn.unknown_database': { sqlstate: '3D000', severity: 'FATAL', hint: 'Connect to one of the databases the gateway is configured for.' },
  'conn.too_many': { sqlstate: '53300', severity: 'FATAL', hint: 'Close idle connections or ask for a higher limit.' },
  'pool.session_state': { sqlstate: '0A000', severity: 'ERROR' },
  'pool.pinned_limit': { sqlstate: '53400', severity: 'ERROR', hint: 'End a session that holds a temporary table, LISTEN, a session advisory lock, a WITH HOLD cursor or an SQL-level prepared statement, or keep such state inside a transaction.' },
  'pool.wait_timeout': { sqlstate: '53300', severity: 'FATAL', hint: 'Every connection of the pool stayed in use: retry, or ask for a larger upstreams.<name>.pool.size or max_client_wait.' },
  'conn.tls_required': { sqlstate: '28000', severity: 'FATAL', hint: 'Connect with sslmode=require.' },
  'conn.shutting_down': { sqlstate: '57P01', severity: 'FATAL', hint: 'The gateway is shutting down; reconnect shortly.' },
  'conn.handshake_timeout': { sqlstate: '08006', severity: 'FATAL' },
  'upstream.unavailable': { sqlstate: '08006', severity: 'FATAL', hint: 'The database behind the gateway could not be reached; try again shortly.' },
  'upstream.auth_failed': { sqlstate: '08006', severity: 'FATAL', hint: 'The gateway could not sign in to the database; an operator must check its held credentials.' },
  'upstream.lost': { sqlstate: '08006', severity: 'FATAL', hint: 'The connection to the database was lost; reconnect.' },
  // Protocol (class 08P01).
  'protocol.violation': { sqlstate: '08P01', severity: 'FATAL' },
  'protocol.malformed': { sqlstate: '08P01', severity: 'ERROR' },
  'protocol.message_too_large': { sqlstate: '08P01', severity: 'FATAL', hint: 'Send smaller messages or raise limits.max_message_size.' },
  'protocol.unsupported': { sqlstate: '0A000', severity: 'ERROR' },
  'protocol.buffer_limit': { sqlstate: '53400', severity: 'FATAL', hint: 'Send complete messages promptly; the gateway holds only limits.max_buffered_per_identity bytes per identity and limits.max_buffered_total in all.' },
  // Session lifetime.
  'session.token_expired': { sqlstate: '28P01', severity: 'FATAL', hint: 'The token for this session has expired: request a fresh one and reconnect.' },
  'session.terminated': { sqlstate: '57P01', severity: 'FATAL' },
  // Statement decisions.
  'sql.syntax': { sqlstate: '42601', severity: 'ERROR' },
  'sql.too_large': { sqlstate: '54000', severity: 'ERROR', hint: 'Send a shorter statement (pass large values as bind parameters or with COPY), or raise limits.max_statement_size.' },
  'sql.too_complex': { sqlstate: '54001', severity: 'ERROR', hint: 'Split the statement into smaller ones.' },
  'sql.too_many_nodes': { sqlstate: '54000', severity: 'ERROR', hint: 'Split it into smaller statements (for a bulk load: fewer rows per INSERT, or COPY), or raise limits.max_statement_nodes.' },
  'sql.unsupported': { sqlstate: '42501', severity: 'ERROR', hint: 'The gateway refuses statements it cannot analyse; rewrite the statement in a simpler form.' },
  'policy.denied': { sqlstate: '42501', severity: 'ERROR' },
  'policy.in_failed_transaction': { sqlstate: '25P02', severity: 'ERROR' },
  'review.required': { sqlstate: '42501', severity: 'ERROR' },
  'review.rejected': { sqlstate: '42501', severity: 'ERROR' },
  'review.expired': { sqlstate: '42501', severity: 'ERROR' },
  'review.cancelled': { sqlstate: '57014', severity: 'ERROR' },
  'statement.cancelled': { sqlstate: '57014', severity: 'ERROR' },
  'audit.unavailable': { sqlstate: '58000', severity: 'ERROR', hint: 'The audit log could not record the statement, so it was not run.' },
  'internal': { sqlstate: 'XX000', severity: 'ERROR', hint: 'An internal error occurred in the gateway; see its log.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface GatewayErrorOptions {
  detail?: string;
  hint?: string;
  cause?: unknown;
  /** Override the SQLSTATE of the code (e.g. a 42501 denial inside an aborted transaction). */
  sqlstate?: string;
  /** Said in the log only (see GatewayError.logDetail). */
  logDetail?: string;
  /** 1-based character position in the statement text (ErrorResponse field P), as PostgreSQL gives for syntax errors. */
  position?: number;
}

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly sqlstate: string;
  readonly severity: 'ERROR' | 'FATAL';
  readonly detail?: string;
  readonly hint?: string;
  /**
   * What only the log may say (configured audiences, issuer names, claim lists): a client that
   * has not authenticated learns which check failed, not how the gateway is configured.
   */
  readonly logDetail?: string;
  readonly position?: number;

  constructor(code: ErrorCode, message: string, options: GatewayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    const spec: ErrorSpec = ERROR_CODES[code];
    this.name = 'GatewayError';
    this.code = code;
    this.sqlstate = options.sqlstate ?? spec.sqlstate;
    this.severity = spec.severity;
    this.detail = options.detail;
    this.hint = options.hint ?? spec.hint;
    if (options.logDetail !== undefined) this.logDetail = options.logDetail;
    if (options.position !== undefined) this.position = options.position;
  }
}

/** Anything thrown that is not a GatewayError becomes `internal`, with the original as its cause. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  return new GatewayError('internal', 'pgwarden: internal error', { cause: err });
}

export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(value)}`);
}
