/**
 * Blast radius: how many rows a write would affect, estimated before it runs, for review rules
 * with `max_rows`.
 *
 * The estimate is the planner's: `EXPLAIN (FORMAT JSON)` of the statement, on a separate upstream
 * connection opened with the session's own settings (role, search_path, timeouts), summing the
 * estimated rows of the input of every ModifyTable node (the rows each DELETE / UPDATE / MERGE /
 * INSERT would touch, data-modifying CTEs included). Chosen over counting by running the statement
 * in a rolled-back transaction because:
 * - nothing of the statement runs before approval: EXPLAIN without ANALYZE only plans, the
 *   estimate session is read-only (`default_transaction_read_only`), and the text sent is checked
 *   to be exactly one planning EXPLAIN before it leaves;
 * - the client's session is not touched: its transaction block, locks and state stay as they were,
 *   and the statement itself runs once, after approval (or at once when under the limit);
 * - a count would run the statement twice, with its triggers, locks and side effects (sequences,
 *   functions that do not roll back), for as long as it takes.
 * The price: the planner's estimate comes from table statistics and can be off (stale statistics,
 * correlated predicates); the estimate session does not see the client's uncommitted changes or
 * temporary tables. Fail closed: whatever cannot be estimated — a plan without a write, an error
 * (an unknown table, a lock held by the client's own transaction beyond `lock_timeout`), binary
 * parameters, statements the EXPLAIN check refuses (SQL PREPARE/EXECUTE, EXPLAIN ANALYZE) — is
 * reported as null, which every limit treats as over.
 */
import type { StatementAnalysis } from '../sql/index.ts';
import { isSingleStatement } from '../sql/index.ts';
import type { SqlSession } from '../upstream/index.ts';

export interface RowEstimatorOptions {
  /** Opens a connection to the upstream as the session would (same role and settings). */
  connect: () => Promise<SqlSession>;
  /** How long one EXPLAIN may take (and wait for locks), in ms. */
  timeoutMs?: number;
}

/** Estimates the rows each analysis would affect (null: could not be estimated). */
export type EstimateRows = (analyses: readonly StatementAnalysis[], params: readonly (string | null)[]) => Promise<Map<StatementAnalysis, number | null>>;

/** Statements whose plan carries their writes (a utility statement's does not). */
const PLANNED = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt', 'SelectStmt']);

const STATEMENT_NAME = 'pgwarden_estimate';

export function rowEstimator(o: RowEstimatorOptions): EstimateRows {
  const timeout = Math.max(100, Math.round(o.timeoutMs ?? 5000));
  return async (analyses, params) => {
    const out = new Map<StatementAnalysis, number | null>();
    const jobs: { a: StatementAnalysis; sql: string[] }[] = [];
    for (const a of analyses) {
      const sql = explainText(a, params);
      if (sql) jobs.push({ a, sql });
      else out.set(a, null);
    }
    if (jobs.length === 0) return out;
    let s: SqlSession | undefined;
    try {
      s = await o.connect();
      // Planning only, in a session that cannot write even if something here were wrong.
      await s.query(
        `SET default_transaction_read_only = on; SET statement_timeout = ${timeout}; SET lock_timeout = ${timeout}; SET standard_conforming_strings = on`,
      );
      for (const job of jobs) out.set(job.a, await estimateOne(s, job.sql));
    } catch {
      for (const job of jobs) if (!out.has(job.a)) out.set(job.a, null);
    } finally {
      await s?.close().catch(() => {});
    }
    return out;
  };
}

/**
 * The statements that get the plan of `a`: a plain EXPLAIN, or with parameters a PREPARE and an
 * EXPLAIN EXECUTE with the values as literals. Undefined when it cannot be done safely.
 */
export function explainText(a: StatementAnalysis, params: readonly (string | null)[]): string[] | undefined {
  if (!PLANNED.has(a.node) || a.inner !== undefined || a.unsupported !== undefined) return undefined;
  if (params.length === 0) {
    const explain = `EXPLAIN (FORMAT JSON) ${a.text}`;
    return isSingleStatement(explain, 'ExplainStmt') ? [explain] : undefined;
  }
  // Binary parameters arrive base64-encoded: their type is not known here.
  if (params.some((p) => p !== null && p.startsWith('base64:'))) return undefined;
  const prepare = `PREPARE ${STATEMENT_NAME} AS ${a.text}`;
  if (!isSingleStatement(prepare, 'PrepareStmt')) return undefined;
  const values = params.map((p) => (p === null ? 'NULL' : `'${p.replace(/'/g, "''")}'`)).join(', ');
  const explain = `EXPLAIN (FORMAT JSON) EXECUTE ${STATEMENT_NAME}(${values})`;
  if (!isSingleStatement(explain, 'ExplainStmt')) return undefined;
  return [`DEALLOCATE ALL`, prepare, explain];
}

async function estimateOne(s: SqlSession, sql: string[]): Promise<number | null> {
  let rows: (string | null)[][] = [];
  try {
    for (const q of sql) rows = await s.query(q);
  } catch {
    return null;
  }
  const text = rows[0]?.[0];
  if (typeof text !== 'string') return null;
  try {
    return writtenRows(JSON.parse(text));
  } catch {
    return null;
  }
}

/**
 * The rows the writes of a JSON plan would touch: the sum over ModifyTable nodes of their input's
 * estimated rows. Null when the plan holds no write (nothing to measure: fail closed).
 */
export function writtenRows(plan: unknown): number | null {
  let total = 0;
  let found = false;
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(visit);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const n = node as Record<string, unknown>;
    if (n['Node Type'] === 'ModifyTable') {
      found = true;
      const input = (n.Plans as Record<string, unknown>[] | undefined)?.find((p) => p['Parent Relationship'] === 'Outer') ?? (n.Plans as Record<string, unknown>[] | undefined)?.[0];
      const rows = Number(input?.['Plan Rows'] ?? n['Plan Rows']);
      total += Number.isFinite(rows) ? rows : Number.POSITIVE_INFINITY;
    }
    for (const k of Object.keys(n)) if (k === 'Plan' || k === 'Plans') visit(n[k]);
  };
  visit(plan);
  return found ? total : null;
}
