/**
 * What the session needs of the audit log, bound to one session by the composition root:
 * a write-ahead record per statement (awaited before its bytes are forwarded), the outcome of
 * each, and a record of every refusal.
 */
export interface AuditedStatement {
  kind: 'query' | 'parse' | 'execute' | 'function_call';
  text: string;
  /** The exact bytes forwarded upstream (or, for a refusal, received from the client). */
  bytes: Buffer[];
  /** Bind parameters: text as text, binary as base64 (prefixed `base64:`), NULL as null. */
  params?: (string | null)[];
  /** `review`: held for review, not run (yet); see AuditFollower.held. */
  decision: { verdict: 'allow' | 'deny' | 'review'; rule?: string; message?: string; reviewId?: string };
  analysis?: { command: string; class: string; tables: string[] };
}

export interface AuditedOutcome {
  durationMs: number;
  commandTags: string[];
  rows?: number;
  error?: { sqlstate: string; message: string };
  /** True when the upstream never ran it (an earlier message of its batch failed). */
  skipped?: boolean;
  /** The first rows of the result, as the client received them (masked). */
  capture?: { columns: string[]; rows: (string | null)[][]; truncated: boolean };
}

export interface StatementAudit {
  /** Durably record a statement before it is forwarded; resolves with its record id. */
  begin(s: AuditedStatement): Promise<string>;
  /** Record a refusal, or a statement held for review (nothing was forwarded); not awaited. */
  refused(s: AuditedStatement): void;
  /** The outcome of a recorded statement; batched, never awaited. */
  end(id: string, o: AuditedOutcome): void;
}

/** Rows affected or returned, from a CommandComplete tag ("SELECT 5", "INSERT 0 5", "COPY 3"). */
export function rowsOfTag(tag: string): number | undefined {
  const m = /(\d+)$/.exec(tag);
  return m && /^(SELECT|INSERT|UPDATE|DELETE|MERGE|COPY|FETCH|MOVE)\b/.test(tag) ? Number(m[1]) : undefined;
}
