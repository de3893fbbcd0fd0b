/**
 * Runs one corpus case through the real pipeline: a `PolicyGate` (the session's gate: search_path
 * changes refused, EXECUTE resolved to the prepared statement, analysis by libpg-query against the
 * fixture catalog, `decide` against the compiled scope) with a catalog service that always holds
 * `testCatalog()`. Each case gets a fresh gate, so PREPARE/DECLARE state never leaks between cases.
 *
 * Besides the gate's verdict, the statement is also decided directly (`analyse` + `decide`, no
 * gate) so that a failure can show the policy rule behind the refusal.
 */
import type { CatalogService } from '../../src/catalog/index.ts';
import type { CatalogSnapshot } from '../../src/catalog/types.ts';
import { formerNamesOf } from '../../src/catalog/index.ts';
import { PolicyGate, governedRenameRefusal, governedRules, type GateVerdict, type ReviewPort } from '../../src/engine/index.ts';
import { compileMasking } from '../../src/masking/index.ts';
import { decide, scopeFor, type Decision } from '../../src/policy/index.ts';
import { analyse, AnalysisCache, SqlSyntaxError } from '../../src/sql/index.ts';
import { testCatalog } from '../../src/sql/fixture.ts';
import { compiledPolicies, DATABASE, IDENTITIES, type Who } from './policies.ts';

export interface Case {
  /** The verdict the case protects, e.g. "DML in a CTE is a write". */
  name: string;
  who: Who;
  sql: string;
  /** Statements run first on the same session; each of them must be allowed. */
  before?: string[];
  /** Statements run first on the same session (after `before`); each of them must be refused. */
  refusedBefore?: string[];
  /**
   * Statements run first (after `refusedBefore`) that the gate allows and the server then fails
   * on (an error of its own in their cycle).
   */
  failsBefore?: string[];
  /** The session's search_path as given in the startup options (default `public`); null: the upstream default. */
  searchPath?: string | null;
  /** 'allow', or the refusal: a pattern the gateway's message must match. */
  expect: 'allow' | RegExp;
  /** For refusals: the policy rule the direct decision must name (when the gate did not refuse first). */
  rule?: string;
}

export interface Family {
  family: string;
  cases: Case[];
}

type Opts = Pick<Case, 'before' | 'refusedBefore' | 'failsBefore' | 'searchPath' | 'rule'>;

export function allow(who: Who, name: string, sql: string, opts: Omit<Opts, 'rule'> = {}): Case {
  return { name, who, sql, expect: 'allow', ...opts };
}

export function deny(who: Who, name: string, sql: string, reason: RegExp, opts: Opts = {}): Case {
  return { name, who, sql, expect: reason, ...opts };
}

const catalog: CatalogSnapshot = testCatalog();
const compiled = compiledPolicies();
/** The corpus has no masking rules: what governs renames here are the policies' rules. */
const NO_MASKING = compileMasking(undefined);

/** The parts of CatalogService the gate uses, over a fixed snapshot (the fixture's by default). */
export function fixedCatalog(snapshot: CatalogSnapshot = catalog): CatalogService {
  const service = {
    current: () => snapshot,
    reloading: false,
    fresh: () => Promise.resolve(snapshot),
    reload: () => Promise.resolve(snapshot),
    refreshAfterNow: () => Promise.resolve(snapshot),
  };
  return service as unknown as CatalogService;
}

export function gateFor(who: Who, searchPath: string | null | undefined, reviews?: ReviewPort, cache: AnalysisCache = new AnalysisCache(64)): PolicyGate {
  const path = searchPath === undefined ? 'public' : searchPath;
  return new PolicyGate({
    ...(reviews && { reviews }),
    identity: IDENTITIES[who],
    database: DATABASE,
    policies: () => ({ version: 1, compiled }),
    catalog: fixedCatalog(),
    cache,
    ...(path !== null && { startupSearchPath: path }),
    governedRename: (analyses) => governedRenameRefusal(analyses, IDENTITIES[who].subject, () => governedRules(NO_MASKING, compiled), catalog, formerNamesOf(() => catalog)),
  });
}

/**
 * The gate's verdict on `text`; a retry for an unknown relation is answered by asking again. An
 * allowed statement is then taken as sent and completed without error (as the server would
 * report), so what it prepares or deallocates is what the next statement sees.
 */
export function query(gate: PolicyGate, text: string, serverFails = false): Exclude<GateVerdict, { ok: 'retry' }> {
  for (let i = 0; i < 3; i++) {
    const v = gate.query(text);
    if (v.ok === 'retry') continue;
    const effects = v.ok === true && v.effect !== undefined ? [v.effect] : [];
    gate.batchEnd(effects, true);
    gate.cycleDone(effects, serverFails);
    return v;
  }
  throw new Error(`the gate asked to retry more than once for: ${text}`);
}

export interface Outcome {
  verdict: 'allow' | 'deny';
  /** The client-facing message and hint, for refusals. */
  message: string;
  hint: string;
  /** The direct decision (analyse + decide, without the gate), for diagnosis. */
  direct: Decision | { verdict: 'error'; message: string };
}

export function direct(who: Who, text: string, searchPath: string | null | undefined): Outcome['direct'] {
  const scope = scopeFor(compiled, IDENTITIES[who], DATABASE);
  if (scope === null) return { verdict: 'error', message: 'no scope' };
  const path = searchPath === undefined ? ['public'] : searchPath === null ? catalog.defaultSearchPath : searchPath.split(',').map((s) => s.trim());
  try {
    return decide(scope, analyse(text, { catalog, searchPath: path }));
  } catch (err) {
    return { verdict: 'error', message: err instanceof SqlSyntaxError ? `syntax error: ${err.message}` : String(err) };
  }
}

/** Runs a case on a fresh gate (`cache`: the analysis cache it shares, a new one by default). */
export function run(c: Case, cache?: AnalysisCache): Outcome & { results: string } {
  const gate = gateFor(c.who, c.searchPath, undefined, cache);
  for (const text of c.before ?? []) {
    const v = query(gate, text);
    if (v.ok !== true) throw new Error(`setup statement refused: ${text}\n  ${v.error.message}`);
  }
  for (const text of c.refusedBefore ?? []) {
    if (query(gate, text).ok === true) throw new Error(`setup statement allowed, expected refused: ${text}`);
  }
  for (const text of c.failsBefore ?? []) {
    const v = query(gate, text, true);
    if (v.ok !== true) throw new Error(`setup statement refused, expected allowed (and failed by the server): ${text}\n  ${v.error.message}`);
  }
  const v = query(gate, c.sql);
  const d = direct(c.who, c.sql, c.searchPath);
  if (v.ok === true) return { verdict: 'allow', message: '', hint: '', direct: d, results: JSON.stringify(v.results ?? []) };
  return { verdict: 'deny', message: v.error.message, hint: v.error.hint ?? '', direct: d, results: '' };
}

/** What a reader of a failure needs: the statement and what the engine decided, with its rule. */
export function describe(c: Case, o: Outcome): string {
  const d = o.direct;
  const rule = d.verdict === 'deny' ? `rule ${d.rule}: ${d.message}` : d.verdict === 'allow' ? `allowed (policies: ${d.policies.join(', ') || 'none'})` : d.message;
  return [
    `${c.who} ${c.expect === 'allow' ? 'should be allowed' : `should be refused (${String(c.expect)})`}:`,
    `  sql:      ${c.sql}`,
    ...(c.before ? [`  before:   ${c.before.join(' | ')}`] : []),
    ...(c.refusedBefore ? [`  refused:  ${c.refusedBefore.join(' | ')}`] : []),
    ...(c.failsBefore ? [`  failed:   ${c.failsBefore.join(' | ')}`] : []),
    ...(c.searchPath !== undefined ? [`  path:     ${String(c.searchPath)}`] : []),
    `  gate:     ${o.verdict === 'allow' ? 'allowed' : `refused: ${o.message}`}`,
    ...(o.hint ? [`  hint:     ${o.hint}`] : []),
    `  decision: ${rule}`,
  ].join('\n');
}

/** Reasons shared by many cases. */
export const SSN = /may not read column public\.customers\.ssn/;
export const READ_ONLY = /the access is read-only/;
export const PATH = /may not change search_path/;
export const DANGEROUS = /may not call function \S*(pg_read_file|lo_\w+|loread|dblink\w*|pg_terminate_backend|pg_cancel_backend|query_to_xml|table_to_xml|cursor_to_xml|ts_stat|pg_ls_dir|pg_stat_file|pg_reload_conf|setval|pg_stat_get_activity)\b/;
