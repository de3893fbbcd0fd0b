/**
 * The policy gate of one session: every statement is analysed with the real PostgreSQL parser
 * against the upstream's catalog and the session's search_path, then decided against the
 * identity's scope. The order is fixed here:
 *
 *   catalog fresh? → analyse (42601 on a syntax error) → resolve EXECUTE / prepared statements →
 *   policy.decide (42501 with the first thing not granted) → renames of governed objects (42501)
 *   → masking's refusals (42501) → forward
 *
 * Decided once. A statement's analysis comes from the shared cache (by exact text, or by the
 * text's literal key where no literal value can matter: sql/literal-key.ts), and an allowed
 * decision on it is kept per policy version and catalog (`judgeOnce`). Extended protocol:
 * analysed and decided at Parse, remembered with the policy version; Bind is a lookup unless
 * search_path changed since Parse (then analysed again), and Execute is a lookup unless the
 * policy changed since (then decided again) or the statement names other prepared statements or
 * cursors (`dynamic`: resolved and decided again when it runs). Prepared statements and portals live in one ledger
 * (ledger.ts) whatever made them — Parse, Bind, SQL PREPARE, DECLARE — since EXECUTE, Bind and
 * Execute use either kind; every name is read there, as the server holds it. DDL and DCL that
 * complete trigger a catalog reload, and the next statement waits for it.
 */
import { GatewayError } from '../errors.ts';
import type { Identity } from '../identity/types.ts';
import { formerNamesOf, type CatalogService } from '../catalog/index.ts';
import type { CatalogFunction, CatalogSnapshot } from '../catalog/types.ts';
import { CODE_DYNAMIC_SQL, CODE_MAY_SET_PATH, DO_DYNAMIC_SQL, DO_MAY_SET_PATH, callMayChangeNames, callMayChangePath, relationMayChangeNames, relationMayChangePath } from '../catalog/path-code.ts';
import { createdCodeOf, withCreatedCode, type CreatedCode } from './created-code.ts';
import { analyseCached, AnalysisCache, listedSchemas, snapshotId, followTempRelations, parseAhead, settingOnlyParams, SqlParserFailure, SqlSyntaxError, SqlTooManyNodes, type StatementAnalysis, type ValueFlow } from '../sql/index.ts';
import { decide, isReadableSetting, parseSearchPath, scopeFor, type CompiledPolicies, type Decision, type FormerNames, type Scope } from '../policy/index.ts';
import type { GateVerdict, StatementGate, VerdictInfo } from './session.ts';
import type { Outputs } from './results.ts';
import { Ledger, type LedgerOp } from './ledger.ts';
import { newPortalFacts, newStatementFacts, type PortalFacts, type StatementFacts } from './wire-facts.ts';
import type { StageClock } from './pipeline.ts';
import { poolEffectOf } from './pool-effects.ts';
import { afterCycle, currentStates, initialState, mayChange, statusOf, valueKey, type CycleOutcome, type PathOp, type PathState, type PathValue } from './search-path.ts';

/** The policies in force; `version` changes on every config reload. */
export interface PolicyState {
  version: number;
  compiled: CompiledPolicies;
}

export interface PolicyGateOptions {
  identity: Identity;
  /** The client-facing database name (policies match on it). */
  database: string;
  policies: () => PolicyState;
  catalog: CatalogService;
  cache: AnalysisCache;
  /** `search_path` from the client's startup parameters or options, if any. */
  startupSearchPath?: string;
  /**
   * Masking's verdict on an allowed statement: a refusal when it would read a masked column in
   * a form that cannot be masked (whole rows, JSON, aggregation) or filter on one in a way its
   * rule forbids. Absent when the identity has nothing masked.
   */
  maskingRefusal?: (analyses: StatementAnalysis[]) => { message: string; hint?: string } | null;
  /**
   * Refusal of a rename or SET SCHEMA of an object a name-keyed rule governs (masking rules,
   * denials, column lists: see governed-renames.ts), for every identity. Absent: none refused.
   */
  governedRename?: (analyses: StatementAnalysis[]) => { message: string; hint: string } | null;
  /** Human review of privileged statements; absent when no review rule is configured. */
  reviews?: ReviewPort;
  /** Measures the time of the analyse stage when set (see pipeline.ts). */
  clock?: StageClock | null;
  /** Most parse-tree nodes a statement text may have (`limits.max_statement_nodes`); default: no limit. */
  maxStatementNodes?: number;
  /**
   * The session's server connection is lent per transaction: each allowed Query and Parse says
   * what it leaves on the connection (`pool` in the verdict); with `refuseSessionState`, a
   * statement that would pin the session to one connection is refused instead.
   */
  pooling?: {
    upstream: string;
    refuseSessionState: boolean;
    /**
     * Called before a statement that pins the session is allowed: null when the session may be
     * pinned (it keeps that slot until it ends), else why not (the identity's share is taken).
     */
    takePin?: () => string | null;
  };
  /**
   * Allowed decisions to share with other sessions (default: this session's own). The caller
   * MUST share one only between sessions whose decisions cannot differ: the same identity
   * object, database and masking configuration (the policy version and the catalog are checked
   * per entry).
   */
  decisions?: Decisions;
}

/**
 * Allowed decisions on statements' analyses from the shared cache (frozen: the same object is the
 * same statement under the same catalog and search_path), with the policy version and catalog
 * they were made under.
 */
/** Decisions of cached analyses: the policy version and the catalog snapshot (its `snapshotId`, never the snapshot itself) they were made with. */
export type Decisions = WeakMap<StatementAnalysis, { version: number; snapshot: number; info: VerdictInfo | undefined }>;

/** What the gate needs of the review workflow (built by the composition root). */
export interface ReviewPort {
  /** The rule a statement falls under for this identity, if any (pure). */
  ruleFor(analyses: StatementAnalysis[]): { name: string; mode: 'wait' | 'defer' } | null;
  /**
   * Settle the review of one statement: resolves 'approved' (run it), or with the refusal to
   * give. `notice` is called at once in wait mode, with the review's id and the text telling the client where to
   * approve. `signal` aborts a wait: the client cancelled, or disconnected (reason `ABANDONED`).
   */
  settle(q: ReviewQuery, notice: (text: string, reviewId: string) => void, signal: AbortSignal): Promise<{ approved: true; reviewId: string } | { approved: false; error: GatewayError; reviewId?: string }>;
}

/**
 * The abort reason of `settle`'s signal when the client disconnected while its statement was
 * held: the review is then marked abandoned.
 */
export const ABANDONED = 'pgwarden: the client disconnected';

export interface ReviewQuery {
  rule: string;
  mode: 'wait' | 'defer';
  text: string;
  params: (string | null)[];
  analyses: StatementAnalysis[];
  /** The search_path the analyses' names were resolved with (an approval is bound to it). */
  searchPath: string[];
}

/**
 * A prepared statement or a portal as the server holds it (the ledger's values). A portal made
 * by Bind refers to the statement it was bound to; a cursor (DECLARE) is its own record.
 */
interface Prepared {
  text: string;
  /** The statement's own analyses, as parsed. */
  raw: StatementAnalysis[];
  /** Decided on: `raw` with EXECUTE expanded to what it runs. */
  analyses: StatementAnalysis[];
  /** The rows running it returns (masking's provenance). */
  outputs: Outputs;
  /** Names a prepared statement / cursor (EXECUTE, FETCH, PREPARE, …): resolved again when it runs. */
  dynamic: boolean;
  version: number;
  allowed: boolean;
  /** A portal: the statement it was bound to. */
  statement?: Prepared;
  /**
   * The search_path values it was analysed under (keys). The server analyses a prepared
   * statement again when search_path changed since (plancache.c), so the gate does too.
   */
  paths: string[];
  /**
   * The catalog snapshot (`snapshotId`) its names were last resolved in. When the catalog changed
   * since, the server may resolve them again (any invalidation of its plan, an ANALYZE
   * or autovacuum of a table it reads, makes it analyse the statement's text anew), so the
   * gate resolves them again too; see `underStates`.
   */
  snapshot: number;
  /** The search_path changes running it makes. */
  pathOps: PathOp[];
  /** The audit's summary of the decision at `version` (made once, read at every Execute). */
  info?: VerdictInfo;
  /** Whether a review rule names it, at policy version `heldAt`. */
  held?: boolean;
  heldAt?: number;
  /** A prepared statement: what the wire told of it (its described fields; wire-facts.ts). */
  statementFacts?: StatementFacts;
  /** A portal or cursor: its Bind (result formats, bytes, parameters) and described fields. */
  portalFacts?: PortalFacts;
}

/** Specials that name or change prepared statements and cursors (the ledger's names). */
const NAMING = new Set(['prepare', 'execute', 'deallocate', 'declare_cursor', 'fetch', 'do_block']);

function isDynamic(analyses: StatementAnalysis[]): boolean {
  return analyses.some((a) => a.specials.some((x) => NAMING.has(x)) || a.command === 'discard all' || a.command === 'call');
}

/** text, varchar, name, bpchar: converted to text by the server's own code, value for value (bpchar without trailing blanks). */
const TEXT_PARAMETER_TYPES: ReadonlySet<number> = new Set([25, 1043, 19, 1042]);

/** `settingParams` per list of analyses (a prepared statement's, asked at each Bind). */
const settingParamsOf = new WeakMap<readonly StatementAnalysis[], number[]>();

/** The parameters that name the setting of a `current_setting($n)` call, in order, once each. */
function settingParams(analyses: readonly StatementAnalysis[]): number[] {
  let known = settingParamsOf.get(analyses);
  if (known === undefined) settingParamsOf.set(analyses, (known = findSettingParams(analyses)));
  return known;
}

function findSettingParams(analyses: readonly StatementAnalysis[]): number[] {
  const out = new Set<number>();
  const visit = (a: StatementAnalysis): void => {
    for (const f of a.functions) {
      if (f.schema !== 'pg_catalog' || f.name !== 'current_setting' || f.userCode === true) continue;
      const n = f.paramArgs?.[0];
      if (typeof f.constArgs?.[0] !== 'string' && typeof n === 'number') out.add(n);
    }
    if (a.inner) visit(a.inner);
  };
  for (const a of analyses) visit(a);
  return [...out];
}

/** A setting name as a refusal quotes it: at most 64 characters, controls shown as escapes. */
function quoteSetting(name: string): string {
  const shown = name.length > 64 ? `${name.slice(0, 64)}…` : name;
  return JSON.stringify(shown);
}

/** How many of the statements are COPY … FROM STDIN (the server reads COPY data for each). */
function copiesFromStdin(analyses: readonly StatementAnalysis[] | null): number {
  let n = 0;
  for (const a of analyses ?? []) if (a.specials.includes('copy_from_stdin')) n++;
  return n;
}

/** What resolving the names of a statement found (see `resolveNames`). */
interface Resolved {
  expanded: StatementAnalysis[];
  /** The ledger changes running it makes, in order. */
  ops: LedgerOp<Prepared>[];
  /** Per statement, the rows it returns. */
  results: Outputs[];
  /** A name it uses is changed by a cycle still in flight. */
  pending: boolean;
  /**
   * The first prepared statement it EXECUTEs that this connection does not have (never
   * prepared, or deallocated): answered as PostgreSQL does, with 26000, instead of as a refusal.
   */
  absent?: string;
}

/** The audit's summary of an analysis. */
function summary(text: string, analyses: StatementAnalysis[], rule?: string): VerdictInfo {
  const tables = new Set<string>();
  for (const a of analyses) for (const t of a.tables) tables.add(`${t.relation.schema}.${t.relation.name}`);
  return {
    text,
    rule,
    analysis: {
      command: analyses.map((a) => a.command).join('; '),
      class: [...new Set(analyses.map((a) => a.class))].join(', '),
      tables: [...tables],
    },
  };
}

interface Effect {
  /** The catalog is reloaded after the cycle; `full`: all of it, on a new connection. */
  reload?: boolean | 'full';
  /**
   * The cycle is this simple Query alone, and it commits nothing when it fails outside a
   * transaction block: no transaction control, nothing `CONCURRENTLY` (which commits in stages).
   * A failed DDL statement of such a cycle needs no reload.
   */
  atomic?: true;
  /** Changes of prepared statements and portals, applied by the ledger when the cycle completes. */
  ops?: LedgerOp<Prepared>[];
  /** Changes of search_path, applied when the cycle completes (see search-path.ts). */
  path?: PathOp[];
}

/** Parse a search_path value the way PostgreSQL reads it (quoted names keep their case). */
export function splitPath(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => (s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1).replace(/""/g, '"') : s.toLowerCase()));
}

const noop = (): void => {};

/** What masking needs of a statement's result: provenance, the relations read, COPY options. */
function shapeOf(a: StatementAnalysis, outputs: StatementAnalysis['outputs']): Outputs {
  const relations = a.tables.map((t) => ({ schema: t.relation.schema, name: t.relation.name }));
  // A write without RETURNING returns rows only through its relations' rules.
  const writes = outputs === undefined && a.tables.some((t) => t.op === 'insert' || t.op === 'update' || t.op === 'delete');
  return writes ? { outputs, relations, copy: a.copy, writes } : { outputs, relations, copy: a.copy };
}

/**
 * CREATE TABLE … AS EXECUTE (also under EXPLAIN ANALYZE) stores what the prepared statement
 * returns: its outputs flow into the new table as a CREATE TABLE … AS SELECT's do, which the
 * statement's own analysis cannot see.
 */
function storedExecute(a: StatementAnalysis, prepared: Prepared): StatementAnalysis {
  const ctas = a.command === 'create table as' ? a : a.inner?.command === 'create table as' ? a.inner : undefined;
  if (!ctas) return a;
  const outputs = prepared.outputs?.outputs;
  if (outputs === undefined) return { ...a, unsupported: 'the gateway cannot see which values CREATE TABLE AS EXECUTE stores' };
  const target = ctas.ddl.find((d) => d.action === 'create');
  const where = `${target?.schema ?? ''}.${target?.name ?? '?'}`;
  const flows: ValueFlow[] = [...(a.flows ?? [])];
  for (const o of outputs) {
    if (o.derivation === 'aggregate') continue;
    for (const source of o.sources) flows.push({ source, sink: 'write', detail: `${where}.${o.name}` });
  }
  return { ...a, flows };
}

function uncertainText(what: string, name: string): string {
  return `${what} "${name}" may have been changed by a statement the gateway could not follow (one that failed, a DO block, a CALL, or a function that may prepare or close statements), so it cannot tell what the name means now`;
}

function assertNever(x: never): never {
  throw new Error(`unexpected: ${JSON.stringify(x)}`);
}

/** System columns every table has; the catalog lists only user columns. */
const SYSTEM_COLUMNS = new Set(['ctid', 'xmin', 'xmax', 'cmin', 'cmax', 'tableoid', 'oid']);

/**
 * A relation the catalog does not know, or a column it does not know in a relation it does: the
 * catalog may predate a CREATE or a RENAME made directly on the database. After a rename, masking
 * and denials must see the new name as the renamed object, which only a reload can tell them.
 */
function unknownNames(a: StatementAnalysis, snapshot: CatalogSnapshot, out: string[] = []): string[] {
  for (const t of a.tables) {
    if (!t.relation.resolved) {
      // The session's temporary tables are never in the catalog (it is loaded by a session of its own).
      if (t.relation.schema !== 'pg_temp') out.push(`${t.relation.schema}.${t.relation.name}`);
      continue;
    }
    const rel = t.relation.oid === undefined ? undefined : snapshot.relationsByOid.get(t.relation.oid);
    if (rel) for (const c of t.columns) if (!SYSTEM_COLUMNS.has(c) && !rel.columns.some((x) => x.name === c)) out.push(`${t.relation.oid}.${c}`);
  }
  if (a.inner) unknownNames(a.inner, snapshot, out);
  return out;
}

/**
 * Statements that end the transaction block even when they fail: PostgreSQL rolls the block back
 * when a COMMIT or PREPARE TRANSACTION fails (xact.c, TBLOCK_END / TBLOCK_PREPARE abort to
 * TBLOCK_DEFAULT) and reports Idle. (COMMIT PREPARED and ROLLBACK PREPARED are not among them:
 * inside a block PostgreSQL refuses them with an error that leaves the block aborted.)
 */
const BLOCK_ENDING = new Set(['commit', 'commit and chain', 'prepare transaction']);

/**
 * A refusal of statement `i` that PostgreSQL would have rolled back with the block: that
 * statement ends the block, and no statement before it in the same string committed (a refused
 * string runs none of its statements, so a COMMIT before the refused one did not commit either;
 * rolling back would then lose work the client believes committed).
 */
function endsBlock(analyses: readonly StatementAnalysis[], i: number): boolean {
  const a = analyses[i];
  if (!a || a.node !== 'TransactionStmt' || !BLOCK_ENDING.has(a.command)) return false;
  return !analyses.slice(0, i).some((b) => b.node === 'TransactionStmt' && BLOCK_ENDING.has(b.command));
}

/** The search_path change of the ROLLBACK the session sends after such a refusal. */
const ROLLBACK_EFFECT: Effect = { path: [{ k: 'rollback', chain: false }] };

/** Statements whose meaning does not depend on search_path: allowed while it is unknown. */
const PATH_FREE = new Set(['TransactionStmt', 'VariableSetStmt', 'DiscardStmt', 'VariableShowStmt']);

/**
 * A statement that names no relation, function or object (`select 1`): its meaning does not
 * depend on search_path. (An operator could still resolve to one planted in a schema put first
 * on the path, but only code that may already run DO blocks or procedures makes the path unknown.)
 */
function namesNothing(a: StatementAnalysis): boolean {
  return a.tables.length === 0 && a.functions.length === 0 && a.ddl.length === 0 && a.inner === undefined && a.specials.length === 0;
}

/** Statements that commit in stages (CREATE INDEX CONCURRENTLY, DETACH PARTITION … CONCURRENTLY): a failure may leave part done. */
const CONCURRENTLY = /\bconcurrently\b/i;
/** `SELECT set_config('search_path', '…', true|false)`: runs set_config exactly once. */
const BARE_SET_CONFIG = /^\s*select\s+(?:pg_catalog\s*\.\s*)?set_config\s*\(\s*'search_path'\s*,\s*'(?:[^']|'')*'\s*,\s*(?:true|false)\s*\)\s*(?:as\s+"?\w+"?\s*)?;?\s*$/i;

/** Schema names as the analyser takes them (quoted: exact). */
function quotedPath(schemas: readonly string[]): string[] {
  return schemas.map((n) => `"${n.replace(/"/g, '""')}"`);
}

/**
 * The search_path changes a statement makes, in order (see search-path.ts); a string says why
 * the gateway cannot follow them. set_config inside a larger query may run once, many times or
 * never: its change is a `maybe`. A DO block or a procedure may change anything.
 */
export function pathOpsOf(a: StatementAnalysis, catalog?: CatalogSnapshot | null): PathOp[] | string {
  if (a.node === 'TransactionStmt') {
    switch (a.command) {
      case 'begin':
      case 'start transaction':
        return [{ k: 'begin' }];
      case 'commit':
      case 'prepare transaction':
        return [{ k: 'commit', chain: false }];
      case 'commit and chain':
        return [{ k: 'commit', chain: true }];
      case 'rollback':
        return [{ k: 'rollback', chain: false }];
      case 'rollback and chain':
        return [{ k: 'rollback', chain: true }];
      case 'savepoint':
      case 'release savepoint':
      case 'rollback to savepoint': {
        if (a.objectName === undefined) return 'a savepoint without a name';
        const k = a.command === 'savepoint' ? 'savepoint' : a.command === 'release savepoint' ? 'release' : 'rollback_to';
        return [{ k, name: a.objectName }];
      }
      default:
        return [];
    }
  }
  if (a.command === 'discard all') return [{ k: 'discard_all' }];
  const ops: PathOp[] = [];
  const viaFunction = a.node !== 'VariableSetStmt';
  for (const f of a.functions) {
    const args = f.constArgs;
    if (f.name !== 'set_config' || f.schema !== 'pg_catalog' || args?.[0]?.trim().toLowerCase() !== 'search_path') continue;
    if (typeof args[1] !== 'string' || (args[2] !== 'true' && args[2] !== 'false')) return 'it calls set_config on search_path with a value or is_local that is not a constant';
  }
  for (const st of a.settings) {
    if (st.action === 'reset_all') {
      ops.push({ k: 'set', value: 'default', local: false });
      continue;
    }
    if (st.name !== 'search_path' || (st.action !== 'set' && st.action !== 'set_local' && st.action !== 'reset')) continue;
    const local = st.action === 'set_local';
    if (st.fromCurrent) {
      ops.push({ k: 'current', local });
      continue;
    }
    let value: PathValue = 'default';
    if (st.value !== null) {
      const parsed = parseSearchPath(st.value);
      if (parsed === undefined) return `it sets search_path to ${st.value}, which the gateway cannot read`;
      value = parsed;
    }
    ops.push(viaFunction && !BARE_SET_CONFIG.test(a.text) ? { k: 'maybe', value, local } : { k: 'set', value, local });
  }
  // A DO block changes search_path only through code in its body (SET search_path, set_config,
  // or dynamic SQL); one that mentions none of them is taken like any statement calling functions
  // (whose own changes of search_path are not followed). A procedure the same, by its source in
  // the catalog, and only when every procedure the CALL may name is known there.
  if (a.specials.includes('do_block') && DO_MAY_SET_PATH.test(a.text)) ops.push({ k: 'unknown' });
  else if (a.command === 'call' && callMay(a, catalog, CODE_MAY_SET_PATH)) ops.push({ k: 'unknown' });
  // A user function whose body may set it (catalog/path-code.ts), called by name or reached
  // through an operator or a cast: what follows in the cycle cannot know the path; the gateway
  // reads it from the server once the cycle is over (see `pathReadback`). A function the catalog
  // does not have may be such a function too: created on the database since it was read (what
  // this session created is in the snapshot the gate analyses on, see created-code.ts); a
  // statement that only names a function without running it (CREATE TRIGGER, CREATE VIEW, …)
  // does not count.
  else if (catalog && a.functions.some((f) => (f.resolved ? f.userCode && callMayChangePath(catalog, f.schema, f.name) : unresolvedMayRun(a, f)))) ops.push({ k: 'unknown' });
  // The same for such a function that runs without being named: a trigger of a table the
  // statement writes, a view's query, a default, a policy… (catalog/path-code.ts).
  else if (catalog && a.tables.some((t) => (t.relation.oid !== undefined ? relationMayChangePath(catalog, t.relation.oid) : catalog.pendingAttached?.has(`${t.relation.schema}.${t.relation.name}`)))) ops.push({ k: 'unknown' });
  // A domain with user code made in the open transaction: any relation may hold a column of it.
  else if (catalog?.pendingDomainCode && a.tables.some((t) => t.op !== 'select')) ops.push({ k: 'unknown' });
  return ops;
}


/**
 * Whether running the statement may run code that changes the names of `ns` behind the ledger:
 * a user function it calls (or one the catalog does not have yet), or code attached to a relation
 * it uses, whose body may (catalog/path-code.ts). Statements that only name a function for later
 * (CREATE TRIGGER, CREATE VIEW…) run none.
 */
function codeMayChangeNames(a: StatementAnalysis, catalog: CatalogSnapshot | null | undefined, ns: 'S' | 'P'): boolean {
  if (!catalog) return false;
  if (a.functions.some((f) => (f.resolved ? f.userCode && callMayChangeNames(catalog, f.schema, f.name, ns) : unresolvedMayRun(a, f)))) return true;
  return a.tables.some((t) => (t.relation.oid !== undefined ? relationMayChangeNames(catalog, t.relation.oid, ns) : (catalog.pendingAttached?.has(`${t.relation.schema}.${t.relation.name}`) ?? false)));
}

/** Statements that name a function for later without running it now. */
const NAMES_WITHOUT_RUNNING = new Set(['create trigger', 'create event trigger', 'create operator', 'create aggregate', 'create view', 'create table', 'create domain', 'create policy', 'create rule', 'create function', 'create procedure']);

/**
 * Whether a call of a function the catalog does not have may run code that changes search_path:
 * yes, unless the statement only names it.
 */
function unresolvedMayRun(a: StatementAnalysis, f: StatementAnalysis['functions'][number]): boolean {
  return f.computedTarget === undefined && !NAMES_WITHOUT_RUNNING.has(a.command);
}

/**
 * Whether a CALL may run code whose source matches `body`: true unless the catalog has every
 * procedure of the called name (any overload: the gateway does not choose among them), each
 * with its PL/pgSQL or SQL source, and none matches. A name the catalog has no procedure of is
 * refused by the server before anything runs, unless the catalog predates its creation: it
 * counts as unknown code too.
 */
function callMay(a: StatementAnalysis, catalog: CatalogSnapshot | null | undefined, body: RegExp): boolean {
  // The called name is recorded first, then every overload of it in other schemas that the
  // server's choice could land on, then the functions of the arguments.
  const called = a.functions[0];
  if (!catalog || called === undefined) return true;
  const procedures: CatalogFunction[] = [];
  for (const f of a.functions) {
    if (f.name !== called.name) continue;
    if (!f.resolved) return true;
    procedures.push(...(catalog.functions.get(`${f.schema}.${f.name}`) ?? []).filter((o) => o.kind === 'p'));
  }
  if (procedures.length === 0) return true;
  return procedures.some((p) => p.source === undefined || p.language === 'internal' || body.test(p.source));
}

/** What decides a statement's meaning: the objects its names resolved to. */
function fingerprint(a: StatementAnalysis): string {
  return JSON.stringify([
    a.tables.map((t) => [t.relation.schema, t.relation.name, t.relation.resolved, t.op]),
    a.functions.map((f) => [f.schema, f.name, f.resolved, f.userCode === true]),
    a.ddl,
    a.unsupported ?? null,
    a.inner ? fingerprint(a.inner) : null,
  ]);
}

/**
 * Whether `now` names no object `before` did not: every table and function it resolves, it
 * resolved before too, and it differs only in names that resolve to nothing any more (a table
 * dropped). The server then runs the objects decided on before, or fails (42P01) where it finds
 * none, as it does for the same statement prepared on it directly.
 */
function onlyGone(now: StatementAnalysis, before: StatementAnalysis): boolean {
  const objects = (a: StatementAnalysis): Set<string> => {
    const out = new Set<string>();
    for (const t of a.tables) if (t.relation.resolved) out.add(`t ${t.relation.schema}.${t.relation.name} ${t.op}`);
    for (const f of a.functions) if (f.resolved) out.add(`f ${f.schema}.${f.name} ${f.userCode === true}`);
    if (a.inner) for (const k of objects(a.inner)) out.add(k);
    return out;
  };
  if ((now.unsupported ?? null) !== (before.unsupported ?? null) || JSON.stringify(now.ddl) !== JSON.stringify(before.ddl)) return false;
  const had = objects(before);
  for (const k of objects(now)) if (!had.has(k)) return false;
  return true;
}

function pathOpsIn(effects: readonly unknown[]): PathOp[] {
  const out: PathOp[] = [];
  for (const e of effects) {
    const path = (e as Effect | null)?.path;
    if (path) out.push(...path);
  }
  return out;
}

/** Statements analysed along the search_path they run with (see `PolicyGate.analyseAlong`). */
interface Along {
  analyses: StatementAnalysis[];
  /** The search_path changes they make, in order. */
  ops: PathOp[];
  /** Keys of the values the first statement was analysed under. */
  paths: string[];
  /** Per statement, the states it runs in. */
  statesAt: PathState[][];
}

export class PolicyGate implements StatementGate {
  private scope: Scope | null = null;
  private scopeVersion = -1;
  /** The session's prepared statements and portals (protocol and SQL alike), as the server has them. */
  private readonly ledger = new Ledger<Prepared>();
  /**
   * The session's default search_path: from the startup packet, else the upstream role's
   * default. What RESET returns to. The value in effect is followed in `pathStates`: SET, SET
   * LOCAL, RESET, set_config, RESET ALL and DISCARD ALL, through transactions, savepoints and
   * failed cycles, as the server keeps it (search-path.ts), since PostgreSQL 15 does not report it.
   */
  private readonly searchPath: string[] | null;
  /** Every state the server's search_path may be in after the cycles completed so far. */
  private pathStates: PathState[] = [initialState()];
  /** search_path changes of the batch being built, in order. */
  private pathBatch: PathOp[] = [];
  /** search_path changes of the cycles in flight, oldest first. */
  private readonly pathInflight: PathOp[][] = [];
  private reloadPending: Promise<void> | null = null;
  /**
   * DDL ran inside the transaction block that is open: the catalog, read on a connection of its
   * own, sees it only once the block commits, so the reload waits for the block's end.
   */
  private reloadAtBlockEnd: boolean | 'full' = false;
  /** Former names of renamed objects, from the current catalog: denials follow renames. */
  private readonly former: FormerNames;
  /**
   * The statement text last held for a catalog reload because it named a relation the catalog
   * did not know. It is retried once: decided on the reloaded catalog, whatever that says.
   * (A per-catalog-version marker would loop: every reload makes a new version.)
   */
  private retriedText: string | null = null;
  /** Names a reload did not find, with the catalog version that reload made (see check). */
  private readonly stillUnknown = new Map<string, number>();
  /** Settled reviews, by statement text and parameters, waiting to be used by the retry. */
  private readonly reviewed = new Map<string, { approved: true; reviewId: string } | { approved: false; error: GatewayError; reviewId?: string }>();
  /** The review being waited for (a cancel aborts it). */
  private waiting: AbortController | null = null;
  /** Notices for the client (review held), written by the session in protocol order. */
  notice: ((text: string) => void) | null = null;
  /** Told when a statement starts waiting for review (the audit lists it among the session's statements). */
  held: ((info: VerdictInfo, params: (string | null)[], portal?: PortalFacts) => void) | null = null;
  /**
   * Names of the temporary relations this session created (its pg_temp), followed from its own
   * statements: an unqualified name among them is decided as pg_temp.<name> (sql/collector.ts).
   */
  private readonly temp = new Set<string>();
  /** The analyses of the statement `check` decided last (a simple Query's review uses them). */
  private lastAnalyses: StatementAnalysis[] | null = null;
  /** Set by `analyseUnder` when an analysis came by a text's literal key (see check). */
  private byLiteralKey = false;
  /**
   * Allowed decisions (see `Decisions`), this session's or shared with the other sessions of its
   * identity (`decisions`). A statement seen again is a lookup, not a new decision.
   */
  private readonly decided: Decisions;
  /** `valueKey` of the one search_path state, for the state object it was computed from. */
  private pathKeyOf: { state: PathState; key: string } | null = null;

  constructor(private readonly o: PolicyGateOptions) {
    this.decided = o.decisions ?? new WeakMap();
    this.searchPath = o.startupSearchPath ? splitPath(o.startupSearchPath) : null;
    this.former = formerNamesOf(() => o.catalog.current());
  }

  /** The identity's scope for this database under the current policies (null: no access). */
  currentScope(): Scope | null {
    const p = this.o.policies();
    if (p.version !== this.scopeVersion) {
      this.scope = scopeFor(p.compiled, this.o.identity, this.o.database);
      this.scopeVersion = p.version;
    }
    return this.scope;
  }

  /**
   * User code the session's allowed statements created, renamed or moved that the catalog may
   * not have yet (created-code.ts): kept until the session is idle with nothing in flight.
   */
  private createdCode: CreatedCode[] = [];
  private augmented: { base: CatalogSnapshot; count: number; snapshot: CatalogSnapshot } | null = null;

  /** The snapshot statements are analysed on: the catalog's, with `createdCode` added. */
  private current(): CatalogSnapshot | null {
    const base = this.o.catalog.current();
    if (!base || this.createdCode.length === 0) return base;
    const a = this.augmented;
    if (a && a.base === base && a.count === this.createdCode.length) return a.snapshot;
    this.augmented = { base, count: this.createdCode.length, snapshot: withCreatedCode(base, this.createdCode) };
    return this.augmented.snapshot;
  }

  /**
   * While a view this session made or replaced is pending (created-code.ts), a view the
   * statements read whose query the catalog may not hold as the server runs it: the pending view
   * itself (known to the catalog or not), or any view made since initdb (its query may read the
   * pending one). Undefined when none.
   */
  private freshViewRead(analyses: readonly StatementAnalysis[]): string | undefined {
    const views = this.createdCode.filter((c) => c.kind === 'view');
    if (views.length === 0) return undefined;
    const visit = (a: StatementAnalysis): string | undefined => {
      for (const t of a.tables) {
        const r = t.relation;
        // The statement that makes it does not read it.
        if (a.ddl.some((d) => d.action === 'create' && d.name === r.name && d.schema === r.schema)) continue;
        if (views.some((v) => v.name === r.name && (v.schema === undefined || v.schema === r.schema))) return `${r.schema}.${r.name}`;
        if ((r.kind === 'view' || r.kind === 'materialized_view') && (r.oid === undefined || r.oid >= 16384)) return `${r.schema}.${r.name}`;
      }
      return a.inner ? visit(a.inner) : undefined;
    };
    for (const a of analyses) {
      const found = visit(a);
      if (found) return found;
    }
    return undefined;
  }

  /** Notes what these statements create or remove (once each). */
  private noteCreatedCode(analyses: readonly StatementAnalysis[]): void {
    for (const a of analyses) {
      for (const c of createdCodeOf(a)) {
        if (this.createdCode.some((k) => k.kind === c.kind && k.schema === c.schema && k.name === c.name && k.source === c.source && k.fn?.schema === c.fn?.schema && k.fn?.name === c.fn?.name)) continue;
        this.createdCode.push(c);
      }
    }
  }

  ready(): Promise<void> | null {
    if (this.reloadPending) return this.reloadPending;
    if (!this.o.catalog.current()) {
      // Not loaded yet (upstream was down at start): load now, then decide.
      return this.o.catalog.reload().then(
        () => undefined,
        () => undefined,
      );
    }
    if (this.o.catalog.reloading) return this.o.catalog.fresh().then(() => undefined);
    return null;
  }

  query(text: string): GateVerdict {
    const misread = this.misreadable(text);
    if (misread) return misread;
    const v = this.check(text, null);
    if (v.ok !== true) return v;
    const reviewed = this.review(v, text, []);
    if (reviewed.ok !== true) return reviewed;
    const copies = copiesFromStdin(this.lastAnalyses);
    return copies > 0 ? { ...reviewed, copyIn: copies } : reviewed;
  }

  parse(name: string, text: string, paramTypes: readonly number[] = []): GateVerdict {
    const misread = this.misreadable(text, name);
    if (misread) return misread;
    const v = this.check(text, name, paramTypes);
    // Held for review at its Execute: nothing of it may reach the server before that.
    if (v.ok === true && this.lastAnalyses && this.o.reviews?.ruleFor(this.lastAnalyses)) return { ...v, defer: true };
    return v;
  }

  bind(portal: string, statement: string, params?: () => readonly (Buffer | null)[] | null): GateVerdict {
    const misread = this.misreadable('', statement, portal);
    if (misread) return misread;
    const found = this.ledger.lookup('S', statement);
    switch (found.state) {
      case 'pending':
        return { ok: 'retry', retry: this.ledger.settled() };
      case 'absent':
        return this.unknownName('prepared statement', statement);
      case 'uncertain':
        return this.uncertainName('prepared statement', statement);
      case 'known':
      case 'maybe': {
        // The server plans the statement at Bind with the search_path then in effect, analysing
        // it again when that changed since Parse.
        const p = this.underCurrentPath(found.value, statement);
        if ('ok' in p) return p;
        const unreadable = this.settingParamsRefusal(p.analyses, params);
        if (unreadable) return unreadable;
        // A description of the statement holds for the portal only while the server runs the
        // plan it described: one analysed again here (search_path changed) is described anew.
        const facts = newPortalFacts(p === found.value ? (p.statementFacts ?? null) : null);
        const op = this.ledger.record({ ns: 'P', k: 'set', name: portal, value: { ...p, statement: p, statementFacts: undefined, portalFacts: facts } });
        return this.heldForReview(p) ? { ok: true, effect: op, defer: true, portal: facts } : { ok: true, effect: op, portal: facts };
      }
      default:
        return assertNever(found);
    }
  }

  execute(portal: string): GateVerdict {
    const found = this.ledger.lookup('P', portal);
    if (found.state === 'pending') return { ok: 'retry', retry: this.ledger.settled() };
    if (found.state === 'absent') return this.unknownName('portal', portal);
    if (found.state === 'uncertain') return this.uncertainName('portal', portal);
    const p = found.value.statement ?? found.value;
    const v = this.withReload(this.withPath(this.executeVerdict(p), p.pathOps), p.analyses);
    if (v.ok !== true) return v;
    const facts = found.value.portalFacts;
    const reviewed = found.value.statement ? this.review(v, p.text, facts?.params ?? [], p.analyses, facts) : v;
    if (reviewed.ok !== true) return reviewed;
    const copies = copiesFromStdin(p.analyses);
    return copies > 0 ? { ...reviewed, results: [p.outputs], portal: facts, copyIn: copies } : { ...reviewed, results: [p.outputs], portal: facts };
  }

  /**
   * The facts of the record a Describe's name means at this point of the batch, where the server
   * is sure to answer about that record (known, or `maybe`: if it has nothing, the Describe fails).
   * A pending or uncertain name gives none: its answer is not kept (an Execute of it describes
   * its portal again).
   */
  describe(target: 'S' | 'P', name: string): StatementFacts | PortalFacts | undefined {
    const found = this.ledger.lookup(target, name);
    if (found.state !== 'known' && found.state !== 'maybe') return undefined;
    return target === 'S' ? found.value.statementFacts : found.value.portalFacts;
  }

  /** Whether a review rule names the statement (asked once per policy version). */
  private heldForReview(p: Prepared): boolean {
    const port = this.o.reviews;
    if (!port) return false;
    const version = this.o.policies().version;
    if (p.heldAt !== version || p.held === undefined) {
      p.held = port.ruleFor(p.analyses) !== null;
      p.heldAt = version;
    }
    return p.held;
  }

  /** The client cancelled: a statement held for review is abandoned (and never runs). */
  cancelWait(): boolean {
    if (!this.waiting) return false;
    this.waiting.abort();
    return true;
  }

  /** The session ended: a review still waited for is marked abandoned (its statement never runs). */
  abandon(): void {
    this.waiting?.abort(ABANDONED);
    this.waiting = null;
  }

  /**
   * Human review: a statement a review rule names runs only once approved. The review is settled
   * asynchronously (`retry`), then the same message is decided again and finds the outcome here.
   */
  private review(v: GateVerdict & { ok: true }, text: string, params: (string | null)[], analyses?: StatementAnalysis[], portal?: PortalFacts): GateVerdict {
    const port = this.o.reviews;
    if (!port) return v;
    const key = `${text}\u0000${JSON.stringify(params)}`;
    const settled = this.reviewed.get(key);
    if (settled) {
      this.reviewed.delete(key);
      if (settled.approved) return { ...v, info: v.info && { ...v.info, reviewId: settled.reviewId } };
      return { ok: false, error: settled.error, info: v.info && { ...v.info, rule: 'review', reviewId: settled.reviewId } };
    }
    const list = analyses ?? this.lastAnalyses;
    if (!list) return v;
    const rule = port.ruleFor(list);
    if (!rule) return v;
    const abort = new AbortController();
    this.waiting = abort;
    const retry = port
      .settle(
        { rule: rule.name, mode: rule.mode, text, params, analyses: list, searchPath: this.resolvingSearchPath() },
        (t, reviewId) => {
          this.notice?.(t);
          this.held?.({ ...(v.info ?? { text }), rule: rule.name, reviewId }, params, portal);
        },
        abort.signal,
      )
      .catch((err) => ({ approved: false as const, error: err instanceof GatewayError ? err : new GatewayError('review.rejected', 'pgwarden: the review could not be completed; the statement was not run', { cause: err }) }))
      .then((r) => {
        this.reviewed.set(key, r);
        if (this.waiting === abort) this.waiting = null;
      });
    return { ok: 'retry', retry };
  }

  /**
   * A prepared DDL statement changes the catalog each time it runs (a `create table` run again
   * after a `drop table`, as clients that keep their prepared statements do): each run asks for
   * the reload its Parse asked for.
   */
  private withReload(v: GateVerdict, analyses: StatementAnalysis[]): GateVerdict {
    if (v.ok !== true) return v;
    const reload = this.effectOf(analyses)?.reload;
    return reload ? { ...v, effect: { ...((v.effect ?? {}) as Effect), reload } satisfies Effect } : v;
  }

  /** The decision on running a prepared statement or cursor now. */
  private executeVerdict(p: Prepared): GateVerdict {
    if (p.dynamic) {
      // It names other prepared statements or cursors: what they mean is read now, when it runs.
      const states = this.pathNow();
      if (states === 'pending') return { ok: 'retry', retry: this.ledger.settled() };
      const r = this.resolveNames(p.raw, false, p.raw.map(() => states));
      if (r.pending) return { ok: 'retry', retry: this.ledger.settled() };
      if (r.absent !== undefined) return this.unknownName('prepared statement', r.absent);
      const v = this.judge(p.text, r.expanded);
      if (v.ok !== true) return v;
      // What it runs now is what reviews and masking go by.
      p.analyses = r.expanded;
      p.outputs = r.results[r.results.length - 1];
      return r.ops.length > 0 ? { ...v, effect: { ops: r.ops.map((op) => this.ledger.record(op)) } satisfies Effect } : v;
    }
    const version = this.o.policies().version;
    if (p.version === version && p.allowed) return { ok: true, info: (p.info ??= summary(p.text, p.analyses, this.currentScope()?.policies.join(', '))) };
    // The policy changed since it was decided: decide again.
    const v = this.judge(p.text, p.analyses);
    p.version = version;
    p.allowed = v.ok === true;
    p.info = v.ok === true ? v.info : undefined;
    return v;
  }

  close(target: 'S' | 'P', name: string): unknown {
    return this.ledger.record({ ns: target, k: 'drop', name });
  }

  /**
   * Whether a statement already in the batch being built (the pipeline up to its Sync) runs code
   * that may change client_encoding or standard_conforming_strings (a DO block, a procedure or a
   * user function whose body may set settings: catalog/path-code.ts, the same code that makes
   * search_path unknown). The server reports such a change only at the batch's end, and reads the
   * batch's later messages in the new setting: in SJIS a multi-byte character can swallow the `\`
   * before a quote, with standard_conforming_strings off a `\` escapes it, and a name can convert
   * to another name.
   */
  lexingUnsettled(): boolean {
    if (this.pathBatch.length === 0) return false;
    for (const op of this.pathBatch) if (op.k === 'unknown') return true;
    return false;
  }

  /**
   * A refusal for text (or names) the server could read otherwise than the gateway did, after such
   * code in the same pipeline (`lexingUnsettled`): anything but ASCII, and a backslash in text.
   * Pure ASCII without backslashes reads the same in every encoding the server accepts and with
   * either standard_conforming_strings. Null when it is safe.
   */
  private misreadable(text: string, ...names: string[]): GateVerdict | null {
    if (!this.lexingUnsettled()) return null;
    const textSafe = !/[\\\u0080-\uffff]/.test(text);
    const namesSafe = names.every((n) => !/[\u0080-\uffff]/.test(n));
    if (textSafe && namesSafe) return null;
    const what = textSafe ? 'a statement or portal name that is not plain ASCII' : 'text that is not plain ASCII or holds a backslash';
    return {
      ok: false,
      error: new GatewayError(
        'policy.denied',
        `pgwarden: an earlier statement of this pipeline runs code that may change client_encoding or standard_conforming_strings (a DO block, a procedure or a function that sets settings), and the server would read ${what} only after that code ran, possibly not as the gateway read it`,
        { hint: 'Send a Sync before this message (end the pipeline), so that the gateway sees the settings first; or keep the text ASCII without backslashes, with values passed as parameters.' },
      ),
      info: { text: text || `(Bind of "${names[0] ?? ''}")`, rule: 'builtin:session-hardening' },
    };
  }

  batchEnd(effects: unknown[], forwarded: boolean): void {
    this.ledger.batchEnd(effects, forwarded);
    this.pathBatch = [];
    if (forwarded) this.pathInflight.push(pathOpsIn(effects));
  }

  cycleDone(effects: unknown[], failed: boolean, outcome?: CycleOutcome): void {
    this.pathInflight.shift();
    const ops = pathOpsIn(effects);
    // The common case: a cycle that changed no search_path completed without error, and every
    // candidate already has the status the server reported, outside an implicit transaction:
    // `afterCycle` would give the same candidates back, so they are kept as they are.
    const same = outcome !== undefined && ops.length === 0 && outcome.error === 'none' && this.pathStates.every((st) => st.top !== 'implicit' && statusOf(st) === outcome.status);
    if (!same) this.advancePath(ops, failed, outcome);
    this.ledger.cycleDone(effects, failed);
    this.reloadAfter(effects as Effect[], outcome);
    // Idle with nothing in flight: what was created committed (the reload DDL asks for sees it,
    // and the next statement waits for that) or was rolled back.
    if (this.createdCode.length > 0 && outcome?.status === 'I' && this.pathInflight.length === 0 && this.pathBatch.length === 0) {
      this.createdCode = [];
      this.augmented = null;
    }
  }

  /**
   * The catalog reload DDL asks for, once what it did can be seen: the catalog is read on a
   * connection of its own, which sees a change once it committed. Inside a transaction block
   * (`T`, or `E` after an error) that is when the block ends; a failed cycle of one atomic simple
   * Query committed nothing. Any other failed cycle reloads all the same: part of it may have
   * committed. Without an outcome (the server's status is not known), it reloads now.
   */
  private reloadAfter(effects: Effect[], outcome: CycleOutcome | undefined): void {
    let want: boolean | 'full' = this.reloadAtBlockEnd;
    for (const e of effects) if (e.reload && want !== 'full') want = e.reload;
    if (!want) return;
    if (outcome && outcome.status !== 'I') {
      this.reloadAtBlockEnd = want;
      return;
    }
    const before = this.reloadAtBlockEnd;
    this.reloadAtBlockEnd = false;
    if (!before && outcome && outcome.error !== 'none' && effects.length === 1 && effects[0].atomic) return;
    const p = this.o.catalog.reload({ full: want === 'full' });
    this.reloadPending = p.then(
      () => undefined,
      () => undefined,
    );
    void this.reloadPending.then(() => {
      this.reloadPending = null;
    });
  }

  /**
   * After a cycle of the client's: a read-back of search_path when code the gateway cannot follow
   * left it unknown and the server's value can be read now, in a cycle of its own: idle, or in a
   * transaction block that has not failed (in a failed one the value is the block's start's once
   * it rolls back). Behind a transaction pool only inside a block: between transactions the
   * session's next one may run on another server connection.
   */
  pathReadback(status: 'I' | 'T' | 'E'): unknown {
    if (status === 'E' || (this.o.pooling && status === 'I')) return undefined;
    if (!this.pathStates.some((st) => st.cur === 'unknown')) return undefined;
    const effect: Effect = { path: [{ k: 'observe' }] };
    return effect;
  }

  /** The server's answer to a read-back (`current_setting('search_path')`). */
  pathObserved(effect: unknown, value: string): void {
    const op = (effect as Effect).path?.[0];
    if (op?.k !== 'observe') return;
    const parsed = parseSearchPath(value);
    if (parsed !== undefined) op.value = parsed;
  }

  /** The search_path candidates after a cycle that made `ops` and ended with `outcome`. */
  private advancePath(ops: PathOp[], failed: boolean, outcome: CycleOutcome | undefined): void {
    // Without the server's transaction status, every status is possible.
    const outcomes: CycleOutcome[] = outcome ? [outcome] : (['I', 'T', 'E'] as const).map((status) => ({ error: failed ? 'upstream' : 'none', status }));
    const next = new Map<string, PathState>();
    for (const o of outcomes) for (const st of afterCycle(this.pathStates, ops, o)) if (outcomes.length === 1 || st.cur !== 'unknown') next.set(JSON.stringify(st), st);
    this.pathStates = next.size > 0 ? [...next.values()] : afterCycle(this.pathStates, ops, outcomes[0]);
  }

  // ---------------------------------------------------------------------------------------------

  private path(snapshot: CatalogSnapshot): string[] {
    return this.searchPath ?? snapshot.defaultSearchPath;
  }

  /**
   * The one search_path value (`valueKey`) the next message of the batch runs under, when nothing
   * of the batch or in flight changes it and the server's is one known state; else null.
   */
  private settledPathKey(): string | null {
    if (this.pathBatch.length > 0 || this.pathStates.length !== 1) return null;
    for (const ops of this.pathInflight) if (ops.length > 0) return null;
    const state = this.pathStates[0];
    if (state.cur === 'unknown') return null;
    if (this.pathKeyOf?.state !== state) this.pathKeyOf = { state, key: valueKey(state.cur) };
    return this.pathKeyOf.key;
  }

  /**
   * The states the server's search_path may be in when the next message of the batch runs;
   * `pending` while a cycle in flight may change it (the caller waits for it, then decides).
   */
  private pathNow(): PathState[] | 'pending' {
    if (this.pathInflight.some((ops) => mayChange(this.pathStates, ops))) return 'pending';
    return currentStates(this.pathStates, this.pathBatch);
  }

  /**
   * The statements of `text` analysed under one search_path value (throws on a syntax error):
   * from the shared cache by the exact text, else by its literal key where that is proven not to
   * matter (`sql/literal-key.ts`; noted in `byLiteralKey`), else analysed now.
   */
  private analyseUnder(snapshot: CatalogSnapshot, text: string, value: PathValue, exact: boolean): StatementAnalysis[] {
    const searchPath = value === 'default' || value === 'unknown' ? this.path(snapshot) : quotedPath(value);
    // The session's temporary relations change what names mean: part of the cache key.
    const keyPath = this.temp.size === 0 ? searchPath : [...searchPath, '\u0000pg_temp', ...[...this.temp].sort()];
    const r = analyseCached(this.o.cache, snapshot, searchPath, text, exact, { keyPath, maxNodes: this.o.maxStatementNodes, tempRelations: this.temp });
    if (r.byLiteralKey) this.byLiteralKey = true;
    return r.analyses;
  }

  /**
   * Analyse each statement of `text` under the search_path it will run with: every value the
   * server may have (`states`), advanced by the changes of the statements before it. A statement
   * whose names resolve differently under two of them is refused (fail closed), as is one that
   * depends on a search_path the gateway cannot know.
   */
  private analyseAlong(snapshot: CatalogSnapshot, text: string, states: PathState[], exact = false): Along | GateVerdict {
    const analyses: StatementAnalysis[] = [];
    const ops: PathOp[] = [];
    const paths = [...new Set(states.map((st) => valueKey(st.cur)))];
    const statesAt: PathState[][] = [];
    // The whole text analysed once per path value (a long script is not looked up per statement).
    const byPath = new Map<string, StatementAnalysis[]>();
    const under = (value: PathValue): StatementAnalysis[] => {
      const key = valueKey(value === 'unknown' ? 'default' : value);
      let all = byPath.get(key);
      if (!all) byPath.set(key, (all = this.analyseUnder(snapshot, text, value, exact)));
      return all;
    };
    let now = states;
    for (let i = 0; ; i++) {
      let chosen: StatementAnalysis | undefined;
      let print = '';
      let done = false;
      for (const st of now) {
        const all = under(st.cur);
        if (i >= all.length) {
          done = true;
          break;
        }
        const a = all[i];
        if (st.cur === 'unknown' && !PATH_FREE.has(a.node) && !namesNothing(a)) {
          return this.refuse(
            `pgwarden: search_path may have been changed by code the gateway could not follow (a DO block, a procedure or a function that sets it), so it cannot tell which objects the names in this statement mean`,
            this.o.pooling
              ? 'Send the statement on its own inside a transaction block (the gateway reads the path back there), set it again (SET search_path TO ...), or qualify the names with their schema.'
              : 'Send the statement on its own (the gateway reads the path back from the server after such code), set it again (SET search_path TO ...), or qualify the names with their schema.',
          );
        }
        if (st.cur === 'unknown') {
          chosen ??= a;
          continue;
        }
        const fp = now.length > 1 ? fingerprint(a) : '';
        if (chosen === undefined || print === '') {
          chosen = a;
          print = fp;
        } else if (fp !== print) {
          return this.refuse(
            'pgwarden: the gateway cannot tell which search_path is in effect (a request that changed it failed part-way, or a set_config that may not have run), and the names in this statement mean different objects under each',
            'Set it again (SET search_path TO ...), or qualify the names with their schema.',
          );
        }
      }
      if (done || chosen === undefined) break;
      const own = pathOpsOf(chosen, snapshot);
      // What this statement creates or removes that the catalog cannot see yet: noted
      // (created-code.ts), and the statements after it taken from the text analysed on the
      // snapshot with it.
      if (chosen.class === 'ddl' && createdCodeOf(chosen).length > 0) {
        this.noteCreatedCode([chosen]);
        const next = this.current()!;
        if (next !== snapshot) {
          snapshot = next;
          byPath.clear();
        }
      }
      if (typeof own === 'string') return this.refuse(`pgwarden: ${this.o.identity.subject} may not run this statement: ${own}, so the gateway could not follow search_path`, 'Set search_path with SET search_path TO ... or set_config(\'search_path\', \'...\', false) with constants.');
      analyses.push(chosen);
      statesAt.push(now);
      ops.push(...own);
      if (own.length > 0) now = currentStates(now, own);
    }
    return { analyses, ops, paths, statesAt };
  }

  /**
   * A prepared statement as the server will run it now: analysed again when search_path changed
   * since it was analysed (the server re-plans it then), or a refusal.
   */
  private underStates(p: Prepared, states: PathState[], name?: string): Prepared | GateVerdict {
    const keys = [...new Set(states.map((st) => valueKey(st.cur)))];
    const snapshot = this.current();
    const samePath = p.paths.length > 0 && keys.every((k) => p.paths.includes(k));
    if (samePath && p.snapshot === snapshotId(snapshot)) return p;
    if (!snapshot) return this.refuse('pgwarden: the catalog of the database could not be loaded, so the statement cannot be checked', 'Try again shortly.', 'internal');
    if (samePath) return this.underCatalog(p, snapshot, states, name);
    let along: Along | GateVerdict;
    try {
      // Exact: a review of it at Execute reads the analyses' own text.
      along = this.analyseAlong(snapshot, p.text, states, true);
    } catch {
      along = this.refuse('pgwarden: a prepared statement could not be analysed again under the search_path now in effect', 'Prepare it again.', 'sql.unsupported');
    }
    if ('ok' in along) return along;
    if (along.analyses.length !== 1) return this.refuse('pgwarden: a prepared statement could not be analysed again under the search_path now in effect', 'Prepare it again.', 'sql.unsupported');
    // A statement made by SQL PREPARE keeps the PREPARE's text: what runs is its inner statement.
    const first = along.analyses[0];
    const a = first.specials.includes('prepare') && first.inner ? first.inner : first;
    return { ...p, raw: [a], analyses: [a], outputs: shapeOf(a, a.outputs), paths: keys, snapshot: snapshotId(snapshot), pathOps: a === first ? along.ops : [], version: -1, allowed: false };
  }

  /**
   * A prepared statement under the same search_path but a newer catalog. The server keeps the
   * objects its plan resolved until something invalidates the plan (a change of a relation it
   * reads, an ANALYZE, autovacuum), and then resolves the text again: a table created since in a
   * schema earlier on the path (`"$user"`), an overload created since, or a table dropped so that
   * a name now falls through to another schema, changes what the statement reads, which the
   * decision made at PREPARE never saw. Which of the two the server runs cannot be known, so
   * the statement is kept only when its names resolve to the same objects in the new catalog
   * (then the old decision and mask plan hold, and the check is not made again for this
   * catalog); otherwise it is refused until prepared again.
   */
  private underCatalog(p: Prepared, snapshot: CatalogSnapshot, states: PathState[], name?: string): Prepared | GateVerdict {
    const changed = (): GateVerdict =>
      this.refuse(
        `pgwarden: the names in prepared statement ${JSON.stringify(name ?? '')} now resolve to other objects than when it was prepared (a table, view or function was created, dropped or replaced since), and the server may run either`,
        'Prepare the statement again (a Close or DEALLOCATE, then Parse or PREPARE), so that it is checked against the objects its names now mean.',
      );
    let along: Along | GateVerdict;
    try {
      along = this.analyseAlong(snapshot, p.text, states, true);
    } catch {
      return changed();
    }
    if ('ok' in along || along.analyses.length !== 1) return changed();
    const first = along.analyses[0];
    const a = first.specials.includes('prepare') && first.inner ? first.inner : first;
    const before = p.raw.length === 1 ? p.raw[0] : undefined;
    if (!before || (fingerprint(a) !== fingerprint(before) && !onlyGone(a, before))) return changed();
    p.snapshot = snapshotId(snapshot);
    return p;
  }

  private underCurrentPath(p: Prepared, name?: string): Prepared | GateVerdict {
    // The common case: nothing in this batch or in flight changes search_path, the server's is
    // known to be one value, and the statement was analysed under it. A lookup.
    const key = this.settledPathKey();
    if (key !== null && p.paths.length === 1 && p.paths[0] === key && p.snapshot === snapshotId(this.current())) return p;
    // The catalog changed since it was prepared: a reload under way (after DDL just run) is
    // waited for, or its names would be resolved in a catalog that does not hold the change yet.
    const loading = p.snapshot === snapshotId(this.current()) ? null : this.ready();
    if (loading) return { ok: 'retry', retry: loading };
    const states = this.pathNow();
    if (states === 'pending') return { ok: 'retry', retry: this.ledger.settled() };
    return this.underStates(p, states, name);
  }

  /** An allowed Execute also carries the search_path changes running the statement makes. */
  private withPath(v: GateVerdict, ops: PathOp[]): GateVerdict {
    if (v.ok !== true || ops.length === 0) return v;
    this.pathBatch.push(...ops);
    const prior = (v.effect ?? {}) as Effect;
    return { ...v, effect: { ...prior, path: [...(prior.path ?? []), ...ops] } satisfies Effect };
  }

  /**
   * A statement run by EXECUTE that would change search_path: its change happens inside another
   * statement, where the gateway does not follow it. Refused (fail closed); it is rare.
   */
  private executedPathChange(raw: StatementAnalysis[], expanded: StatementAnalysis[]): GateVerdict | null {
    for (const a of expanded) {
      if (raw.includes(a)) continue;
      const ops = pathOpsOf(a, this.current());
      if (typeof ops === 'string' || ops.length > 0) {
        return this.refuse('pgwarden: a prepared statement that changes search_path may not be run with EXECUTE', 'Run the statement itself, or set search_path with SET.');
      }
    }
    return null;
  }

  /**
   * The search_path names are resolved with now: the one accessor every consumer of the path
   * outside analysis reads (reviews bind approvals to it). When the server's path is known to be
   * one value, that value; otherwise the session's starting path.
   */
  resolvingSearchPath(): string[] {
    const snapshot = this.o.catalog.current();
    const states = this.pathNow();
    let path: string[] | undefined;
    if (states !== 'pending' && states.length > 0) {
      const v = states[0].cur;
      if (v !== 'default' && v !== 'unknown') path = quotedPath(v);
    }
    if (!snapshot) return path ?? this.searchPath ?? [];
    // As current_schemas(false) shows it: the schemas that exist, "$user" expanded.
    return listedSchemas(snapshot, path ?? this.path(snapshot));
  }

  private check(text: string, statementName: string | null, paramTypes: readonly number[] = []): GateVerdict {
    // What the text creates is noted as it is analysed; a text refused (or held) runs nothing.
    const noted = this.createdCode.length;
    const v = this.checkText(text, statementName, paramTypes);
    if (v.ok !== true && this.createdCode.length > noted) {
      this.createdCode.length = noted;
      this.augmented = null;
    }
    return v;
  }

  private checkText(text: string, statementName: string | null, paramTypes: readonly number[]): GateVerdict {
    const snapshot = this.current();
    if (!snapshot) {
      return this.refuse('pgwarden: the catalog of the database could not be loaded, so the statement cannot be checked', 'Try again shortly.', 'internal');
    }
    const states = this.pathNow();
    if (states === 'pending') return { ok: 'retry', retry: this.ledger.settled() };
    // A long text is parsed on a worker thread first, not on the event loop every session shares.
    const parsing = parseAhead(text, this.o.maxStatementNodes);
    if (parsing) return { ok: 'retry', retry: parsing };
    let along: Along | GateVerdict;
    this.o.clock?.enter('analyse');
    this.byLiteralKey = false;
    try {
      along = this.analyseAlong(snapshot, text, states);
      // A review reads the statement's own text (the approver sees it, the row estimate runs
      // it): a statement a review rule may hold is analysed as this very text.
      if (this.byLiteralKey && !('ok' in along) && this.o.reviews?.ruleFor(along.analyses)) along = this.analyseAlong(snapshot, text, states, true);
    } catch (err) {
      if (err instanceof SqlSyntaxError) {
        // The error PostgreSQL's own parser gives: message and position, no hint.
        return { ok: false, error: new GatewayError('sql.syntax', err.message, { position: err.position }) };
      }
      if (err instanceof SqlParserFailure) return { ok: false, error: new GatewayError('sql.too_complex', err.message) };
      if (err instanceof SqlTooManyNodes) return { ok: false, error: new GatewayError('sql.too_many_nodes', err.message) };
      return this.refuse('pgwarden: the statement could not be analysed', undefined, 'sql.unsupported');
    } finally {
      this.o.clock?.leave();
    }
    if ('ok' in along) return along;
    const analyses = along.analyses;
    // A protocol Parse holds one statement; PostgreSQL refuses more with this very error (and no
    // hint), so the gateway does too, before anything reaches the server.
    if (statementName !== null && analyses.length > 1) {
      return {
        ok: false,
        error: new GatewayError('sql.syntax', 'cannot insert multiple commands into a prepared statement'),
        info: summary(text, analyses, 'protocol'),
      };
    }
    // A relation the catalog does not know may have been created since it was loaded (by another
    // client, or directly on the database): reload once and decide on the fresh catalog.
    // A name still unknown after a reload (a temporary table: the catalog holds no session's
    // temporary schema; or a typo) is not reloaded for again until the catalog changes, so a
    // session working on a temporary table does not wait for a reload at every statement.
    const unknown = analyses.flatMap((a) => unknownNames(a, snapshot));
    if (this.retriedText === text) {
      this.retriedText = null;
      if (this.stillUnknown.size > 1000) this.stillUnknown.clear();
      for (const name of unknown) this.stillUnknown.set(name, snapshot.version);
    } else if (unknown.some((name) => this.stillUnknown.get(name) !== snapshot.version)) {
      this.retriedText = text;
      return { ok: 'retry', retry: this.o.catalog.refreshAfterNow().then(noop, noop) };
    }
    // A simple Query runs now; a Parse prepares (what it names is resolved again at Execute).
    const r = this.resolveNames(analyses, statementName === null, along.statesAt);
    if (r.pending) return { ok: 'retry', retry: this.ledger.settled() };
    // EXECUTE of a statement the connection does not have fails on PostgreSQL with 26000
    // (clients map it to "prepare it again"); it is still refused here, never sent.
    if (r.absent !== undefined) return { ...this.unknownName('prepared statement', r.absent), info: summary(text, analyses, 'protocol') };
    const hidden = this.executedPathChange(analyses, r.expanded);
    if (hidden) return hidden;
    const byParameter = this.settingByParameter(text, analyses, r.expanded, statementName, paramTypes);
    if (byParameter) return byParameter;
    this.lastAnalyses = r.expanded;
    const v = this.judgeOnce(text, r.expanded);
    if (v.ok !== true) return v;
    let pool = this.o.pooling ? poolEffectOf(analyses) : undefined;
    if (this.o.pooling && (along.ops.some((op) => op.k === 'unknown') || analyses.some((a) => a.command === 'do' || a.command === 'call'))) {
      // Code the gateway cannot follow may change the connection's settings (search_path among
      // them): the connection is reset before it is lent again. A prepared statement may run in
      // any later transaction: it keeps the session on its connection.
      pool = statementName === null ? { ...pool, unknownSettings: true } : { ...pool, pin: pool?.pin ?? 'a prepared statement that runs code which may change session settings' };
    }
    if (pool?.pin && this.o.pooling!.refuseSessionState) {
      return {
        ok: false,
        error: new GatewayError('pool.session_state', `pgwarden: ${pool.pin} would tie this session to one server connection, which upstream ${this.o.pooling!.upstream} does not allow`, {
          hint: `Its pool lends a connection per transaction (upstreams.${this.o.pooling!.upstream}.pool.on_session_state: refuse); keep such state inside a transaction, or use a session-mode upstream.`,
        }),
        info: summary(text, analyses, 'pool'),
      };
    }
    const over = pool?.pin ? this.o.pooling!.takePin?.() : null;
    if (over) {
      return { ok: false, error: new GatewayError('pool.pinned_limit', `pgwarden: ${pool!.pin} would tie this session to one server connection: ${over}`), info: summary(text, analyses, 'pool') };
    }
    // Followed as soon as it is allowed: a name taken for a temporary table that the server then
    // does not create is harmless (see followTempRelations). (User code a statement creates is
    // noted as it is analysed, see analyseAlong.)
    for (const a of analyses) followTempRelations(this.temp, a);
    const effect: Effect = { ...this.effectOf(analyses) };
    if (effect.reload && statementName === null && !analyses.some((a) => a.node === 'TransactionStmt') && !CONCURRENTLY.test(text)) effect.atomic = true;
    // A Parse of a name the ledger knows normally fails at the server, but is recorded all the
    // same: code the gateway does not follow (a function) may have deallocated it.
    if (statementName === null) {
      effect.ops = r.ops.map((op) => this.ledger.record(op));
      if (along.ops.length > 0) {
        effect.path = along.ops;
        this.pathBatch.push(...along.ops);
      }
    } else {
      const prepared: Prepared = {
        text,
        raw: analyses,
        analyses: r.expanded,
        outputs: r.results[r.results.length - 1],
        // Code it runs may change names (resolveNames' touch_all): they are resolved at each Execute.
        dynamic: isDynamic(analyses) || r.ops.some((op) => op.k === 'touch_all'),
        version: this.o.policies().version,
        allowed: true,
        paths: along.paths,
        snapshot: snapshotId(this.current()),
        pathOps: along.ops,
        info: v.info,
        statementFacts: newStatementFacts(),
      };
      effect.ops = [this.ledger.record({ ns: 'S', k: 'set', name: statementName, value: prepared })];
    }
    return pool ? { ...v, effect, results: r.results, pool } : { ...v, effect, results: r.results };
  }

  /**
   * `judge`, made once per statement: a single statement whose analysis comes from the shared
   * cache is decided again only when the policy version or the catalog changed since (a refusal
   * is always made again, with its own message).
   */
  private judgeOnce(text: string, analyses: StatementAnalysis[]): GateVerdict {
    const one = analyses.length === 1 && Object.isFrozen(analyses[0]) ? analyses[0] : undefined;
    if (!one) return this.judge(text, analyses);
    const version = this.o.policies().version;
    const current = this.current();
    const snapshot = snapshotId(current);
    const known = this.decided.get(one);
    if (known && known.version === version && known.snapshot === snapshot) return { ok: true, info: known.info && { ...known.info, text } };
    const v = this.judge(text, analyses);
    if (v.ok === true && current) this.decided.set(one, { version, snapshot, info: v.info });
    return v;
  }

  /** The policy's decision, then masking's (a masked column read in a form that cannot be masked). */
  private judge(text: string, analyses: StatementAnalysis[]): GateVerdict {
    const d = this.decideOn(analyses);
    if (d.verdict !== 'allow') return this.deny(d, analyses, text);
    const renamed = this.o.governedRename?.(analyses);
    if (renamed) return { ok: false, error: new GatewayError('policy.denied', renamed.message, { hint: renamed.hint }), info: summary(text, analyses, 'builtin:governed-rename') };
    const fresh = this.o.maskingRefusal ? this.freshViewRead(analyses) : undefined;
    if (fresh) {
      return {
        ok: false,
        error: new GatewayError('policy.denied', `pgwarden: ${this.o.identity.subject} may not read view ${fresh} before the transaction that made or replaced a view ends: reads of views are decided on their query, which the gateway reads from the catalog once it is committed`, {
          hint: 'Commit (or end the pipeline) first, then read the view.',
        }),
        info: summary(text, analyses, 'masking'),
      };
    }
    const masked = this.o.maskingRefusal?.(analyses);
    if (masked) {
      const hint = masked.hint ?? 'Select masked columns by name (they come back masked) and compare them as their masking rule\'s filter mode allows; a rule\'s allow_flows opens other uses.';
      return { ok: false, error: new GatewayError('policy.denied', masked.message, { hint }), info: summary(text, analyses, 'masking') };
    }
    return { ok: true, info: summary(text, analyses, d.policies.join(', ')) };
  }

  /**
   * Read the prepared statements and cursors `analyses` name, as the server will when they run
   * (after the changes made by the statements before them), and the changes they make:
   * PREPARE / DEALLOCATE [ALL] / DISCARD ALL, DECLARE / CLOSE [ALL], and a DO block or CALL,
   * after which no name is certain any more. A simple Query (`query`)
   * also drops the unnamed statement and portal, as the server does. EXECUTE of a name the
   * gateway does not know for certain is refused (fail closed): it is expanded to what it runs.
   */
  private resolveNames(analyses: StatementAnalysis[], query: boolean, statesAt: PathState[][]): Resolved {
    const ops: LedgerOp<Prepared>[] = query ? [{ ns: 'S', k: 'drop', name: '' }, { ns: 'P', k: 'drop', name: '' }] : [];
    const expanded: StatementAnalysis[] = [];
    const results: Outputs[] = [];
    let pending = false;
    let absent: string | undefined;
    const version = this.o.policies().version;
    const record = (a: StatementAnalysis, text: string, states: PathState[] = []): Prepared => ({
      text,
      raw: [a],
      analyses: [a],
      outputs: shapeOf(a, a.outputs),
      dynamic: isDynamic([a]),
      version,
      allowed: true,
      paths: [...new Set(states.map((st) => valueKey(st.cur)))],
      snapshot: snapshotId(this.current()),
      pathOps: [],
    });
    for (const [i, a] of analyses.entries()) {
      const name = a.objectName;
      const sp = a.specials;
      // What running it runs: itself, and for EXECUTE or FETCH the statement or cursor query it names.
      const runs: StatementAnalysis[] = [a];
      if (sp.includes('execute') || (sp.includes('fetch') && a.command !== 'close')) {
        const ns = sp.includes('execute') ? 'S' : 'P';
        const what = ns === 'S' ? 'prepared statement' : 'cursor';
        const found = name === undefined ? ({ state: 'absent' } as const) : this.ledger.lookup(ns, name, ops);
        if (found.state === 'pending') pending = true;
        // EXECUTE: the server plans the statement again when search_path changed since PREPARE.
        const now = (found.state === 'known' || found.state === 'maybe') && ns === 'S' ? this.underStates(found.value, statesAt[i] ?? [], name) : null;
        if (now && 'ok' in now) {
          const why = now.ok === false && now.error.message.startsWith('pgwarden: the names') ? now.error.message.slice('pgwarden: '.length) : `prepared statement "${name ?? ''}" cannot be analysed under the search_path now in effect`;
          expanded.push({ ...a, unsupported: why });
          results.push(undefined);
        } else if (found.state === 'known' || found.state === 'maybe') {
          const value = now ?? found.value;
          expanded.push(ns === 'S' ? storedExecute(a, value) : a, ...(ns === 'S' ? value.analyses : []));
          results.push(value.outputs);
          runs.push(...value.analyses);
        } else {
          // FETCH of an unknown cursor: nothing to mask by, so masking falls back to masking every column.
          if (ns === 'S' && found.state === 'absent' && name !== undefined) absent ??= name;
          if (ns === 'S') expanded.push({ ...a, unsupported: found.state === 'uncertain' ? uncertainText(what, name ?? '') : `${what} "${name ?? ''}" is unknown to the gateway` });
          else expanded.push(a);
          results.push(undefined);
        }
      } else {
        expanded.push(a);
        results.push(shapeOf(a, a.outputs));
      }
      // PREPARE or DECLARE of a name the ledger knows is recorded too: a function may have
      // deallocated it, and a portal ends with its transaction, which the ledger does not follow.
      if (sp.includes('prepare') && name !== undefined && a.inner) {
        ops.push({ ns: 'S', k: 'set', name, value: { ...record(a.inner, a.inner.text || `PREPARE ${name}`, statesAt[i]), statementFacts: newStatementFacts() } });
      } else if (sp.includes('deallocate')) {
        ops.push(name === undefined ? { ns: 'S', k: 'drop_all' } : { ns: 'S', k: 'drop', name });
      } else if (sp.includes('declare_cursor') && name !== undefined) {
        ops.push({ ns: 'P', k: 'set', name, value: { ...record(a.inner ?? a, `DECLARE ${name}`), portalFacts: newPortalFacts(null) } });
      } else if (a.command === 'close' && sp.includes('fetch')) {
        ops.push(name === undefined ? { ns: 'P', k: 'drop_all' } : { ns: 'P', k: 'drop', name });
      } else if (a.command === 'discard all') {
        ops.push({ ns: 'S', k: 'drop_all' }, { ns: 'P', k: 'drop_all' });
      }
      if (sp.includes('do_block') || a.command === 'call') {
        // Code the gateway cannot see may change names: PL/pgSQL opens cursors (portals) with
        // names of its choosing, and prepares or deallocates statements only through dynamic SQL
        // (EXECUTE 'PREPARE …'), so a DO block whose body has no EXECUTE leaves statements alone.
        if (a.command === 'call' ? callMay(a, this.current(), CODE_DYNAMIC_SQL) : DO_DYNAMIC_SQL.test(a.text)) ops.push({ ns: 'S', k: 'touch_all' });
        ops.push({ ns: 'P', k: 'touch_all' });
      } else {
        // A user function the statement calls, or code attached to a relation it uses (a
        // trigger, a rule, a view's query, a default, a row security policy…), may prepare,
        // deallocate, open or close too (catalog/path-code.ts `callMayChangeNames`).
        for (const ns of ['S', 'P'] as const) if (runs.some((x) => codeMayChangeNames(x, this.current(), ns))) ops.push({ ns, k: 'touch_all' });
      }
    }
    return { expanded, ops, results, pending, absent };
  }

  private unknownName(what: string, name: string): Extract<GateVerdict, { ok: false }> {
    return {
      ok: false,
      error: new GatewayError('policy.denied', `pgwarden: ${what} "${name}" does not exist on this connection`, {
        sqlstate: what === 'portal' ? '34000' : '26000',
        hint: what === 'portal' ? 'Bind the portal first (cursors are read with FETCH).' : 'Prepare it first on this connection.',
      }),
    };
  }

  private uncertainName(what: string, name: string): GateVerdict {
    return {
      ok: false,
      error: new GatewayError('policy.denied', `pgwarden: ${uncertainText(what, name)}`, {
        hint: what === 'portal' ? 'Bind it again under a new name.' : `Close it (DEALLOCATE ${name}, or a protocol Close) and prepare it again.`,
      }),
    };
  }

  private decideOn(analyses: StatementAnalysis[]): Decision {
    const scope = this.currentScope();
    if (!scope) {
      return {
        verdict: 'deny',
        message: `pgwarden: ${this.o.identity.subject} no longer has access to database "${this.o.database}"`,
        hint: 'No policy grants this identity access any more; reconnect after the policy is changed.',
        rule: 'default-deny',
        statement: 0,
      };
    }
    return decide(scope, analyses, this.former);
  }

  private effectOf(analyses: StatementAnalysis[]): Effect | undefined {
    if (!analyses.some((a) => (a.class === 'ddl' || a.class === 'dcl') && a.catalogNeutral !== true)) return undefined;
    // A stored default (ALTER ROLE/DATABASE … SET search_path) is what a new session gets: the
    // catalog's connection reads it again only when it is new (see CatalogService).
    return { reload: analyses.some((a) => a.settings.some((s) => s.action === 'set_stored' && (s.name === 'search_path' || s.name === null))) ? 'full' : true };
  }

  private deny(d: Decision, analyses: StatementAnalysis[], text: string): GateVerdict {
    if (d.verdict === 'allow') return { ok: true };
    const refused: GateVerdict = { ok: false, error: new GatewayError('policy.denied', d.message, { hint: d.hint }), info: summary(text, analyses, d.rule) };
    return endsBlock(analyses, d.statement) ? { ...refused, rollback: ROLLBACK_EFFECT } : refused;
  }

  /**
   * `current_setting($n)`: which setting it reads is known only from the parameter's value. A
   * protocol Parse of one plain statement (SELECT, INSERT, UPDATE, DELETE, MERGE, VALUES) whose
   * parameter is text (or left to the server, which then takes it as text) is allowed, and each
   * Bind of it is decided on the value (`settingParamsRefusal`). Anything else that would run
   * such a call is refused as a setting read by a name that is not a constant: a simple Query (it
   * has no parameters), SQL EXECUTE (the values are in its text, but the statement it runs was
   * decided elsewhere), PREPARE, DECLARE, EXPLAIN, DDL (a function body's `$1` is its argument),
   * and a parameter declared of another type, whose conversion to text the gateway cannot follow.
   */
  private settingByParameter(text: string, raw: StatementAnalysis[], expanded: StatementAnalysis[], statementName: string | null, paramTypes: readonly number[]): GateVerdict | null {
    // `expanded` is new for each statement: found directly, not kept (settingParams keeps a
    // prepared statement's, asked again at each Bind).
    const named = findSettingParams(expanded);
    if (named.length === 0) return null;
    const a = raw.length === 1 ? raw[0] : undefined;
    const plain = a !== undefined && a.inner === undefined && (a.class === 'read' || a.class === 'write') && !isDynamic(raw) && expanded.length === 1 && expanded[0] === a;
    // Of no declared type, the parameter is text only where current_setting is its one use.
    const only = named.some((n) => (paramTypes[n - 1] ?? 0) === 0) ? settingOnlyParams(text) : new Set<number>();
    const textual = named.every((n) => {
      const type = paramTypes[n - 1] ?? 0;
      return type === 0 ? only.has(n) : TEXT_PARAMETER_TYPES.has(type);
    });
    if (statementName !== null && plain && textual) return null;
    const why =
      statementName === null
        ? 'a simple Query or SQL EXECUTE gives it no parameter value to decide on'
        : !plain
          ? 'only a protocol Parse of one plain statement has its parameters decided at Bind'
          : 'the parameter is used elsewhere in the statement or declared of a type other than text, so the server may convert it to text by code the gateway cannot follow';
    return this.refuse(
      `pgwarden: ${this.o.identity.subject} may not read a setting whose name is not a constant (${why})`,
      'The gateway must see which setting is read: write the name as a string literal, or send it as a text parameter of a prepared SELECT.',
    );
  }

  /** A Bind of a statement that reads settings named by its parameters: each value must name a readable setting. */
  private settingParamsRefusal(analyses: StatementAnalysis[], params: (() => readonly (Buffer | null)[] | null) | undefined): GateVerdict | null {
    const named = settingParams(analyses);
    if (named.length === 0) return null;
    const values = params?.() ?? null;
    if (values === null) return this.refuse(`pgwarden: ${this.o.identity.subject} may not read a setting named by parameter $${named[0]}: the Bind's parameters cannot be read`);
    for (const n of named) {
      const v = values[n - 1];
      // No such parameter: the server refuses the Bind itself, and nothing runs. NULL reads nothing.
      if (v === undefined || v === null) continue;
      const name = v.toString('utf8').trim().toLowerCase();
      if (isReadableSetting(name)) continue;
      return this.refuse(
        `pgwarden: ${this.o.identity.subject} may not read setting ${quoteSetting(name)} (parameter $${n} of current_setting)`,
        'Settings can hold server paths, commands, connection strings and secrets; only the settings clients and drivers need are readable.',
      );
    }
    return null;
  }

  private refuse(message: string, hint?: string, code: 'policy.denied' | 'internal' | 'sql.unsupported' = 'policy.denied'): GateVerdict {
    return { ok: false, error: new GatewayError(code, message, hint ? { hint } : {}) };
  }
}
