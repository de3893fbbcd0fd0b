/**
 * What the gateway tells the audit log, and what the log keeps.
 *
 * Events are the engine's vocabulary (a session started, a statement is about to be forwarded, it
 * finished, …). Each becomes one `AuditRecord`: a sequence number in this gateway instance's hash
 * chain, a time, a type, the session it belongs to, and a JSON `data` object. Buffers become
 * base64 text, times epoch milliseconds, so that a record's JSON is its whole content.
 */

export interface AuditIdentity {
  issuer: string;
  issuerName: string;
  subject: string;
  groups: string[];
  /** The token's `jti`. */
  tokenId?: string;
}

export interface SessionStartEvent {
  sessionId: string;
  /** Epoch milliseconds. */
  at: number;
  identity: AuditIdentity;
  /** The client-facing database name. */
  database: string;
  /** The configured upstream the session is routed to. */
  upstream: string;
  /** `ip:port` of the client (or `mcp` / `http` for in-process channels). */
  clientAddress: string;
  applicationName?: string;
  tls: boolean;
  /** The policy scope the session runs under. */
  policy?: string;
  /** `wire` (a Postgres client) or `mcp`. */
  transport?: 'wire' | 'mcp';
}

export type StatementKind = 'query' | 'parse' | 'execute' | 'function_call' | 'copy';
import type { RecordHeader, RecordType, Verdict } from '../store/record.ts';

export type { RecordType, Verdict };

export interface StatementDecision {
  verdict: Verdict;
  /** The policy or review rule behind the verdict. */
  rule?: string;
  /** What the client was told (for a refusal) or why it was allowed. */
  message?: string;
  /** The review request, when the statement was held or approved through one. */
  reviewId?: string;
}

export interface StatementAnalysisSummary {
  /** e.g. `select`, `delete`, `create table`. */
  command: string;
  /** e.g. `read`, `write`, `ddl`, `session`. */
  class: string;
  /** Qualified relation names the statement touches (`public.orders`). */
  tables: string[];
}

export interface StatementEvent {
  sessionId: string;
  /** The statement's number in its session (1, 2, …). */
  seq: number;
  at: number;
  kind: StatementKind;
  /** The SQL text (for Execute: the prepared statement's text). */
  text: string;
  /**
   * The exact bytes forwarded upstream (whole protocol messages). For a refused statement: what
   * the client sent, since nothing is forwarded.
   */
  bytes: Buffer;
  /** Bind parameters as text, binary ones as `base64:…`. */
  params?: (string | null)[];
  /** The prepared statement or portal name (extended protocol). */
  name?: string;
  decision: StatementDecision;
  analysis?: StatementAnalysisSummary;
}

export interface ResultCapture {
  columns: string[];
  /** Rows as the client received them, masked; text format (binary cells as `base64:…`). */
  rows: (string | null)[][];
  /** More rows were sent than captured. */
  truncated: boolean;
}

export interface StatementEndEvent {
  /** The id `statement()` resolved with. */
  id: string;
  sessionId: string;
  at: number;
  durationMs: number;
  rows?: number;
  commandTag?: string;
  error?: { sqlstate: string; message: string };
  capture?: ResultCapture;
}

export interface SessionEndEvent {
  sessionId: string;
  at: number;
  /** e.g. `client closed`, `token expired`, `revoked`, `shutdown`, `upstream lost`. */
  reason: string;
  statements?: number;
  durationMs?: number;
}

export type OtherEventKind =
  | 'config_reload'
  | 'config_reload_failed'
  | 'revocation'
  | 'revocation_lifted'
  | 'review_requested'
  | 'review_approved'
  | 'review_rejected'
  | 'review_expired'
  | 'review_abandoned'
  | 'gateway_start'
  | 'gateway_stop'
  | 'previous_run_unclean'
  | 'audit_store_unavailable'
  | 'journal_started'
  | 'session_pinned'
  | 'retention';

export interface OtherEvent {
  kind: OtherEventKind | (string & {});
  at: number;
  /** Who caused it (an admin's subject, `sighup`, …). */
  actor?: string;
  sessionId?: string;
  details: Record<string, unknown>;
}


/** One entry of the log, as stored and as verified. */
export interface AuditRecord extends RecordHeader {
  data: Record<string, unknown>;
  /** Hash of the previous record in the chain (or of the retention anchor, or 64 zeros). */
  prevHash: string;
  /** sha256(prevHash || body), hex. */
  hash: string;
}

/** The data of a `statement` record. */
export interface StatementData {
  seq: number;
  kind: StatementKind;
  text: string;
  /** base64 of the exact bytes. */
  bytes: string;
  /** sha256 of the exact bytes, hex: what a review approval is bound to. */
  bytesSha256: string;
  params?: (string | null)[];
  name?: string;
  decision: StatementDecision;
  analysis?: StatementAnalysisSummary;
  /** Copied from the session start, so a statement can be searched and read on its own. */
  identity?: { issuer: string; subject: string; groups: string[] };
  database?: string;
}
