/**
 * The data of the review workflow: what the engine asks for (`ReviewRequest`), what is kept and
 * shown (`Review`), and the service's one error type.
 */

export type ReviewMode = 'wait' | 'defer';

/**
 * pending → approved (once `count` distinct approvers approved) → consumed (the statement ran);
 * pending → rejected; pending → expired (timeout); approved → expired (window over, never run);
 * pending → abandoned (wait mode: the client that was holding the statement went away, so it will
 * never run; an approval afterwards is refused).
 */
export type ReviewStatus = 'pending' | 'approved' | 'rejected' | 'expired' | 'consumed' | 'abandoned';

export interface ReviewIdentity {
  /** The issuer URL (`iss`). */
  issuer: string;
  subject: string;
  groups: string[];
}

/** A statement held for review, as the engine describes it. */
export interface ReviewRequest {
  /** The name of the rule that asked for it. */
  rule: string;
  mode: ReviewMode;
  identity: ReviewIdentity;
  /** The client-facing database name. */
  database: string;
  /** The statement text, as shown to approvers. */
  text: string;
  /** sha256 (hex) of the exact bytes that would be forwarded. */
  bytesSha256: string;
  /** sha256 (hex) of the bound parameters (of an empty list for a simple query). */
  paramsSha256: string;
  /**
   * sha256 (hex) of what the names resolved to: the search_path the gateway resolved them with
   * and the objects (schema-qualified, tables with their OIDs). The same text from a session
   * with another search_path, or after the table was replaced, needs its own review.
   */
  resolutionSha256: string;
  analysis: ReviewAnalysis;
  sessionId?: string;
}

/** What approvers see of the analysis. */
export interface ReviewAnalysis {
  command: string;
  class: string;
  /** schema.table names the statement touches (read, written or altered), as resolved. */
  tables: string[];
  /** The search_path the names were resolved with (absent in reviews made before it was kept). */
  searchPath?: string[];
  /** For a rule with `max_rows`: the rows the statement was estimated to affect (null: unknown). */
  estimatedRows?: number | null;
  /**
   * The statements it runs besides its own text: what an `EXECUTE name` runs (the prepared
   * statement's text as the gateway holds it). Absent when it runs only its own text.
   */
  runs?: string[];
}

/** Who may approve, as the rule said when the request was made (kept with the review). */
export interface ReviewApprovers {
  groups: string[];
  subjects: string[];
  issuers?: string[];
  count: number;
}

export interface ReviewDecision {
  /** The approver's subject. */
  by: string;
  /** The approver's issuer URL. */
  issuer: string;
  /** ISO 8601. */
  at: string;
  comment?: string;
}

export interface Review extends ReviewRequest {
  /** Short and typable, e.g. `r-7f3k2`. */
  id: string;
  status: ReviewStatus;
  approvers: ReviewApprovers;
  /** ISO 8601 timestamps. */
  createdAt: string;
  /** When a pending request expires. */
  expiresAt: string;
  approvals: ReviewDecision[];
  rejection?: ReviewDecision;
  /** When it became approved (the last needed approval). */
  approvedAt?: string;
  /** Until when the approval may be used (once). */
  approvedUntil?: string;
  consumedAt?: string;
  /** When it expired (pending past its timeout, or approved and unused past its window). */
  expiredAt?: string;
  /** When the client holding it (wait mode) disconnected before a decision. */
  abandonedAt?: string;
}

export type ReviewErrorCode = 'not_found' | 'not_approver' | 'self_approval' | 'already_decided' | 'already_approved' | 'expired' | 'closed';

/** A refusal of the service, with a message written for the person asking. */
export class ReviewError extends Error {
  constructor(
    readonly code: ReviewErrorCode,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'ReviewError';
  }
}
