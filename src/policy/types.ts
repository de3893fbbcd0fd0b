/**
 * What the policy engine returns. Decisions are data: `decide()` never throws, and every refusal
 * carries the message the client will read (naming the identity, the statement kind and the first
 * thing not granted), a hint, and the rule that made the decision.
 */
import type { StatementAnalysis } from '../sql/types.ts';

export interface SessionLimits {
  /** Milliseconds; the session's statement_timeout may not be raised above it. */
  statementTimeoutMs?: number;
  /** Most rows a single statement may return to the client. */
  maxRows?: number;
  /** Run the upstream session with default_transaction_read_only = on and refuse writes. */
  readOnly: boolean;
  /** Upstream role the gateway switches to (SET ROLE) for this identity. */
  role?: string;
}

export type Decision =
  | { verdict: 'allow'; /** Names of the policies whose grants were used. */ policies: string[] }
  | {
      verdict: 'deny';
      /** Client-facing message, e.g. `pgwarden: analyst may not read column public.customers.ssn`. */
      message: string;
      hint: string;
      /** The rule behind it: a policy name, 'default-deny', 'builtin:dangerous-functions', 'unsupported', … */
      rule: string;
      /** Index of the refused statement within the analysed query string. */
      statement: number;
    };

export interface DecisionInput {
  analyses: StatementAnalysis[];
}

/**
 * Names an object had before a rename (the catalog's record): denials written for any of them
 * still apply to the object under its current name.
 */
export interface FormerNames {
  /** [schema, table, column] names of the column currently called schema.table.column. */
  column(schema: string, table: string, column: string): readonly (readonly string[])[];
  /** [schema, table] names of the relation currently called schema.table (and of its columns' relations). */
  relation(schema: string, table: string): readonly (readonly string[])[];
}
