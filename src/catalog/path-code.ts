/**
 * Which code in the database may change the session's search_path when it runs.
 *
 * PostgreSQL 15 does not report search_path to clients, so the gateway follows it itself (see
 * engine/search-path.ts). A statement that runs code the gateway cannot follow must make the path
 * unknown until the gateway has read it back from the server. The same code may change the
 * settings that decide how the server reads the next message of a pipeline (client_encoding,
 * standard_conforming_strings): the gateway refuses text it could read otherwise after it in the
 * same pipeline (engine/gate.ts, `lexingUnsettled`). The code is read, not run: a body
 * may change the path when it mentions `search_path`, `set_config`, `client_encoding`,
 * `standard_conforming_strings` or `SET NAMES`, runs dynamic SQL
 * (`EXECUTE`), calls a procedure (`CALL`), or ends the transaction (`COMMIT` / `ROLLBACK` end
 * SET LOCAL in the middle of a pipeline).
 *
 * A relation may run such a function when it is read or written without a name in the
 * statement: a trigger, a rule, a view's query, a default, a constraint, an index expression or a
 * row security policy attached to it (`attachedCode`, through views at any depth).
 *
 * A user function may change it when its body cannot be read (a language other than PL/pgSQL or
 * SQL), matches the words above, or names another user function that may change it. A function's
 * own `SET search_path` clause does not keep the caller's path: a plain SET (or set_config with
 * is_local false) in its body outlives the call. Built-in and extension functions are not followed: `set_config` itself is read at
 * the call (engine/gate.ts), and extensions are installed by an administrator.
 */
import type { CatalogFunction, CatalogSnapshot } from './types.ts';

/**
 * A DO block body that may change search_path or end the transaction, or change a setting that
 * decides how the server reads the next message (client_encoding, SET NAMES,
 * standard_conforming_strings: see engine/lexing-settings.ts).
 */
export const DO_MAY_SET_PATH = /search_path|set_config|client_encoding|standard_conforming_strings|\bset\s+names\b|\bexecute\b|\bcommit\b|\brollback\b/i;
/** A DO block body with dynamic SQL, the only way PL/pgSQL prepares or deallocates statements. */
export const DO_DYNAMIC_SQL = /\bexecute\b/i;
/** A procedure or function body that may change search_path: as a DO block's, or by calling a procedure. */
export const CODE_MAY_SET_PATH = new RegExp(`${DO_MAY_SET_PATH.source}|\\bcall\\b`, 'i');
/** A procedure body that may prepare or deallocate statements: dynamic SQL, or another procedure. */
export const CODE_DYNAMIC_SQL = new RegExp(`${DO_DYNAMIC_SQL.source}|\\bcall\\b`, 'i');

/** What is worked out once per snapshot, as it is first asked for. */
interface PathCode {
  changers: Set<CatalogFunction>;
  changerOids: Set<number>;
  /** Relation OID → whether using it may run a changer (see `relationMayChangePath`). */
  relations: Map<number, boolean>;
}

const pathCodeOf = new WeakMap<CatalogSnapshot, PathCode>();

function pathCode(snapshot: CatalogSnapshot): PathCode {
  let code = pathCodeOf.get(snapshot);
  if (!code) {
    const changers = findChangers(snapshot);
    pathCodeOf.set(snapshot, (code = { changers, changerOids: new Set([...changers].map((f) => f.oid)), relations: new Map() }));
  }
  return code;
}

/** The user functions of the snapshot whose call may change search_path (computed once per snapshot). */
export function pathChangers(snapshot: CatalogSnapshot): Set<CatalogFunction> {
  return pathCode(snapshot).changers;
}

/**
 * The C functions of the `internal` language that CREATE TYPE … AS RANGE gives a range and its
 * multirange as constructors: they build a value and run no SQL. Any other `internal` function a
 * superuser made may run anything its C function does (query_to_xml runs a query).
 */
const SAFE_INTERNAL = new Set(['range_constructor2', 'range_constructor3', 'multirange_constructor0', 'multirange_constructor1', 'multirange_constructor2']);

/** Whether the function's body may do what `words` find in it: true when it cannot be read. */
function bodyMay(f: CatalogFunction, words: (f: CatalogFunction) => boolean): boolean {
  if (f.source === undefined) return true;
  if (f.language === 'internal') return !SAFE_INTERNAL.has(f.source);
  return words(f);
}

function findChangers(snapshot: CatalogSnapshot): Set<CatalogFunction> {
  return closure(snapshot, (f) => CODE_MAY_SET_PATH.test(f.source!));
}

/**
 * Whether calling `schema.name` may change search_path: some overload of that name is one of
 * `pathChangers`. (The gateway does not choose among overloads.)
 */
export function callMayChangePath(snapshot: CatalogSnapshot, schema: string, name: string): boolean {
  const overloads = snapshot.functions.get(`${schema}.${name}`);
  if (!overloads) return false;
  const { changers } = pathCode(snapshot);
  return overloads.some((f) => changers.has(f));
}

/**
 * Whether reading or writing the relation may run such a function without naming it: one
 * attached to it (a trigger, a rule, its view query, a default, a constraint, an index
 * expression, a row security policy), or to a relation its view query reads, at any depth.
 */
export function relationMayChangePath(snapshot: CatalogSnapshot, oid: number): boolean {
  const { changerOids, relations } = pathCode(snapshot);
  return relationRuns(snapshot, oid, changerOids, relations);
}

/**
 * Whether using the relation may run one of `code` without naming it (attached to it, or to a
 * relation its view query reads, at any depth); memoised in `memo` per snapshot.
 */
function relationRuns(snapshot: CatalogSnapshot, oid: number, code: ReadonlySet<number>, memo: Map<number, boolean>): boolean {
  const attached = snapshot.attachedCode;
  if (!attached || attached.size === 0 || code.size === 0) return false;
  const known = memo.get(oid);
  if (known !== undefined) return known;
  const seen = new Set<number>();
  const visit = (rel: number): boolean => {
    if (seen.has(rel)) return false;
    seen.add(rel);
    if (attached.get(rel)?.some((fn) => code.has(fn))) return true;
    for (const d of snapshot.relationsByOid.get(rel)?.viewDependencies ?? []) {
      const dep = snapshot.relations.get(`${d.schema}.${d.name}`);
      if (dep && visit(dep.oid)) return true;
    }
    return false;
  };
  const answer = visit(oid);
  memo.set(oid, answer);
  return answer;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Which code in the database may change the names of the session's prepared statements (`S`)
 * or cursors and portals (`P`) when it runs, behind the gateway's ledger (engine/ledger.ts). A
 * SQL function runs PREPARE, DEALLOCATE, DISCARD, DECLARE … CURSOR and CLOSE as written; PL/pgSQL
 * prepares or deallocates only through dynamic SQL (`EXECUTE`), and opens and closes portals
 * with names of its choosing (OPEN, CLOSE of a refcursor, a bound cursor). A body that cannot be
 * read, calls a procedure, or names another such function may do it too.
 */
const NAMES_STATEMENTS = /\bprepare\b|\bdeallocate\b|\bdiscard\b|\bexecute\b|\bcall\b/i;
const NAMES_PORTALS = new RegExp(`${NAMES_STATEMENTS.source}|\\bclose\\b|\\bopen\\b|\\bcursor\\b|\\bfetch\\b|\\bmove\\b`, 'i');
/** In a SQL function DECLARE is a cursor; in PL/pgSQL it opens every body's variable section. */
const SQL_DECLARE = /\bdeclare\b/i;

interface NameCode {
  S: Set<number>;
  P: Set<number>;
  relations: { S: Map<number, boolean>; P: Map<number, boolean> };
}

const nameCodeOf = new WeakMap<CatalogSnapshot, NameCode>();

function nameCode(snapshot: CatalogSnapshot): NameCode {
  let code = nameCodeOf.get(snapshot);
  if (!code) {
    const portals = (f: CatalogFunction): boolean => NAMES_PORTALS.test(f.source!) || (f.language === 'sql' && SQL_DECLARE.test(f.source!));
    const oids = (set: Set<CatalogFunction>) => new Set([...set].map((f) => f.oid));
    code = {
      S: oids(closure(snapshot, (f) => NAMES_STATEMENTS.test(f.source!))),
      P: oids(closure(snapshot, portals)),
      relations: { S: new Map(), P: new Map() },
    };
    nameCodeOf.set(snapshot, code);
  }
  return code;
}

/** The user functions whose body cannot be read or matches `direct`, and those whose body names one of them. */
function closure(snapshot: CatalogSnapshot, direct: (f: CatalogFunction) => boolean): Set<CatalogFunction> {
  const set = new Set<CatalogFunction>();
  const open: CatalogFunction[] = [];
  for (const list of snapshot.functions.values()) {
    for (const f of list) {
      if (f.origin !== 'user') continue;
      if (bodyMay(f, direct)) set.add(f);
      else open.push(f);
    }
  }
  // A body that names a function that may do it may too, through it: until nothing changes.
  for (let grew = true; grew && set.size > 0 && open.length > 0; ) {
    grew = false;
    const names = new RegExp(`(?<![A-Za-z0-9_$])(?:${[...new Set([...set].map((f) => escapeRegExp(f.name)))].join('|')})(?![A-Za-z0-9_$])`, 'i');
    for (let i = open.length - 1; i >= 0; i--) {
      if (!names.test(open[i].source!)) continue;
      set.add(open[i]);
      open.splice(i, 1);
      grew = true;
    }
  }
  return set;
}

/** Whether calling `schema.name` (any overload) may change the names of namespace `ns`. */
export function callMayChangeNames(snapshot: CatalogSnapshot, schema: string, name: string, ns: 'S' | 'P'): boolean {
  const overloads = snapshot.functions.get(`${schema}.${name}`);
  if (!overloads) return false;
  const set = nameCode(snapshot)[ns];
  return overloads.some((f) => set.has(f.oid));
}

/** Whether using the relation may run, without naming it, code that may change the names of `ns` (as `relationMayChangePath`). */
export function relationMayChangeNames(snapshot: CatalogSnapshot, oid: number, ns: 'S' | 'P'): boolean {
  // Asked for every table of every statement: a catalog with no attached code answers at once.
  if (!snapshot.attachedCode || snapshot.attachedCode.size === 0) return false;
  const code = nameCode(snapshot);
  return relationRuns(snapshot, oid, code[ns], code.relations[ns]);
}
