/**
 * Whether a DELETE's or UPDATE's row selection is unbounded: the statement can reach every row of
 * its target whatever the data, so "DELETE without WHERE" is judged by effect, not by whether the
 * word WHERE was written. Pure: a parse tree and a relation lookup in, a boolean out.
 *
 * A selection is unbounded when the analysis can show one of:
 * - the predicate is always true for every row of the target: constants (`true`, `1 = 1`,
 *   `NOT false`, `'t'`), a true branch of an OR, `e = e` / `e IS NOT NULL` / `e LIKE '%'` /
 *   `e ~ ''` / `e BETWEEN e AND e` for a never-NULL `e` (a NOT NULL column, COALESCE with a
 *   constant, arithmetic of those), `e IS NOT DISTINCT FROM e`, `p OR NOT p` for a never-NULL
 *   predicate, `x IN (SELECT x FROM same_table)` and
 *   `EXISTS (SELECT 1 FROM same_table s WHERE s.x = t.x)` on a NOT NULL column, a USING / FROM /
 *   MERGE source that is the target table itself (or an unfiltered subquery of it) joined on a
 *   NOT NULL column;
 * - the predicate (or a branch of an OR, or every branch of an AND) does not read the target row
 *   at all: `current_user = 'x'`, `$1`, `EXISTS (SELECT 1 FROM other)`, `random() < 0.99`. Such a
 *   predicate selects every row or none (or a share unrelated to the data), never a chosen set.
 *
 * Anything else counts as bounded: `id > 10` may well select every row, but proving it needs the
 * data. The review rules' `max_rows` option covers those by the estimated number of rows.
 *
 * Erring: a name the analysis cannot place counts as reading the target (bounded); a mirror of the
 * target is recognised only as a plain reference to the same relation with the same inheritance.
 */
import type { CatalogRelation } from '../catalog/types.ts';
import { list, names, type Node, typeOf, unwrap } from './ast.ts';
import { SYSTEM_COLUMNS } from './columns.ts';
import { compare, constant, isBoolType, parseBool, type Value } from './fold.ts';

/** Finds the catalog relation a RangeVar names (undefined when unknown, or when it is a CTE). */
export type RelationLookup = (rv: Node) => CatalogRelation | undefined;

type Kind = 'target' | 'mirror' | 'other';

interface Item {
  refname?: string;
  kind: Kind;
  /** Column names; undefined when unknown (a subquery, a function, an unknown relation). */
  columns?: ReadonlySet<string>;
  /** For a mirror that renames: its column → the target's column. */
  map?: ReadonlyMap<string, string>;
}

/** The items of one query level, innermost last in a stack. */
type Level = Item[];

interface Ctx {
  target: CatalogRelation | undefined;
  /** The target's inheritance flag (`ONLY t` is not a mirror of `t`). */
  inh: boolean;
  notNull: ReadonlySet<string>;
  lookup: RelationLookup;
}

type Tri = 'true' | 'false' | 'null' | 'unknown';

export interface SelectionInput {
  /** The target RangeVar (DeleteStmt.relation / UpdateStmt.relation / MergeStmt.relation). */
  relation: Node;
  /**
   * The target's catalog relation, as the statement resolves it (a write's target is never a
   * CTE, whatever the WITH clause names), or undefined when unknown.
   */
  target: CatalogRelation | undefined;
  /** USING / FROM items, or the MERGE source. */
  from: Node[];
  /** The predicate; undefined when there is none. */
  where: Node | undefined;
  lookup: RelationLookup;
}

/** Whether the statement's WHERE (or MERGE condition) can select every row of the target. */
export function unboundedSelection(s: SelectionInput): boolean {
  if (!s.where) return true;
  const rv = unwrap(s.relation, 'RangeVar') as Node;
  const target = s.target;
  const ctx: Ctx = {
    target,
    inh: rv.inh === true,
    // System columns (ctid, xmin …) are never NULL.
    notNull: new Set([...(target?.columns.filter((c) => c.notNull).map((c) => c.name) ?? []), ...SYSTEM_COLUMNS]),
    lookup: s.lookup,
  };
  const level: Level = [{ refname: rv.alias?.aliasname ?? rv.relname, kind: 'target', columns: target && new Set(target.columns.map((c) => c.name)) }];
  for (const f of s.from) level.push(...fromItems(f, ctx, true));
  return selectsAll(s.where, [level], ctx);
}

/** A MERGE action's selection: the join condition and the action's own condition together. */
export function unboundedMerge(relation: Node, target: CatalogRelation | undefined, source: Node, join: Node | undefined, condition: Node | undefined, lookup: RelationLookup): boolean {
  const parts = [join, condition].filter((x): x is Node => x !== undefined);
  const where = parts.length === 0 ? undefined : parts.length === 1 ? parts[0] : { BoolExpr: { boolop: 'AND_EXPR', args: parts } };
  return unboundedSelection({ relation, target, from: [source], where, lookup });
}

// ---- items ------------------------------------------------------------------------------------

function fromItems(f: Node, ctx: Ctx, top: boolean): Item[] {
  const type = typeOf(f);
  const n = f[type] as Node;
  switch (type) {
    case 'RangeVar': {
      const rel = ctx.lookup(n);
      const mirror = top && rel !== undefined && ctx.target !== undefined && rel.oid === ctx.target.oid && (n.inh === true) === ctx.inh;
      return [{ refname: n.alias?.aliasname ?? n.relname, kind: mirror ? 'mirror' : 'other', columns: rel && new Set(rel.columns.map((c) => c.name)) }];
    }
    case 'RangeSubselect': {
      const m = top ? subselectMirror(n, ctx) : undefined;
      if (m) return [{ refname: n.alias?.aliasname, kind: 'mirror', columns: new Set(m.keys()), map: m }];
      return [{ refname: n.alias?.aliasname, kind: 'other', columns: undefined }];
    }
    case 'JoinExpr': {
      // Joined items filter each other: none of them is a plain mirror.
      const inner = [...fromItems(n.larg, ctx, false), ...fromItems(n.rarg, ctx, false)];
      if (n.alias?.aliasname) return [{ refname: n.alias.aliasname, kind: 'other', columns: undefined }];
      return inner.map((i) => ({ ...i, kind: 'other' as const }));
    }
    case 'RangeTableSample':
      // A sample of the target is a subset of it: not a mirror.
      return fromItems(n.relation, ctx, false).map((i) => ({ ...i, kind: 'other' as const }));
    default:
      return [{ refname: n?.alias?.aliasname, kind: 'other', columns: undefined }];
  }
}

/**
 * `(SELECT id, name AS n FROM t) s` / `(SELECT * FROM t) s` over the target itself, unfiltered:
 * every row of the target is a row of it. Its columns → the target's columns.
 */
function subselectMirror(n: Node, ctx: Ctx): Map<string, string> | undefined {
  const s = unwrap(n.subquery, 'SelectStmt') as Node | undefined;
  if (!s || !ctx.target || list(n.alias?.colnames).length > 0) return undefined;
  if (s.withClause || s.larg || s.rarg || s.valuesLists || s.whereClause || s.limitCount || s.limitOffset || s.havingClause || list(s.groupClause).length > 0) return undefined;
  const from = list(s.fromClause);
  if (from.length !== 1 || !from[0].RangeVar) return undefined;
  const rv = from[0].RangeVar as Node;
  const rel = ctx.lookup(rv);
  if (!rel || rel.oid !== ctx.target.oid || (rv.inh === true) !== ctx.inh) return undefined;
  const innerName = rv.alias?.aliasname ?? rv.relname;
  const cols = new Set(rel.columns.map((c) => c.name));
  const map = new Map<string, string>();
  for (const t of list(s.targetList)) {
    const r = unwrap(t, 'ResTarget') as Node;
    const fields = list(r.val?.ColumnRef?.fields);
    const parts = fields.map((f) => (f.A_Star ? '*' : (names([f])[0] ?? '')));
    if (parts.length === 0 || parts.length > 2 || (parts.length === 2 && parts[0] !== innerName)) return undefined;
    const col = parts[parts.length - 1];
    if (col === '*') {
      for (const c of cols) map.set(c, c);
      continue;
    }
    if (!cols.has(col)) return undefined;
    map.set(r.name ?? col, col);
  }
  return map;
}

// ---- names ------------------------------------------------------------------------------------

type Resolved = { kind: 'target' | 'mirror'; column: string } | { kind: 'other' } | { kind: 'unknown' } | { kind: 'row' };

/** Resolves a column reference through the levels, innermost first, as PostgreSQL would. */
function resolve(fields: Node[], levels: Level[]): Resolved {
  const parts = fields.map((f) => (f.A_Star ? '*' : (names([f])[0] ?? '')));
  if (parts.length === 1) {
    const name = parts[0];
    for (let i = levels.length - 1; i >= 0; i--) {
      if (SYSTEM_COLUMNS.has(name) && levels[i].length > 0) {
        // ctid, xmin …: the one relation of the level's (more than one: ambiguous).
        return levels[i].length === 1 ? classify(levels[i][0], name) : { kind: 'unknown' };
      }
      const hits = levels[i].filter((it) => it.columns?.has(name));
      // One item known to have the column: it is that one, or the name is ambiguous (an error,
      // nothing runs) if an item of unknown columns has it too.
      if (hits.length === 1) return classify(hits[0], name);
      if (hits.length > 1 || levels[i].some((it) => it.columns === undefined)) return { kind: 'unknown' };
      // A bare name equal to an item's name is that item's whole row.
      const whole = levels[i].find((it) => it.refname === name);
      if (whole) return whole.kind === 'target' ? { kind: 'row' } : { kind: 'other' };
    }
    return { kind: 'unknown' };
  }
  const qualifier = parts[parts.length - 2];
  const column = parts[parts.length - 1];
  for (let i = levels.length - 1; i >= 0; i--) {
    const it = levels[i].find((x) => x.refname === qualifier);
    if (!it) continue;
    if (column === '*') return it.kind === 'target' ? { kind: 'row' } : { kind: 'other' };
    return classify(it, column);
  }
  return { kind: 'unknown' };
}

function classify(it: Item, column: string): Resolved {
  if (it.kind === 'other') return { kind: 'other' };
  if (it.map) {
    const mapped = it.map.get(column);
    return mapped === undefined ? { kind: 'other' } : { kind: it.kind, column: mapped };
  }
  return { kind: it.kind, column };
}

/**
 * Whether an expression reads the target row (or might: names the analysis cannot place count).
 * A correlated subquery reads it through its outer references.
 */
function readsTarget(n: unknown, levels: Level[], ctx: Ctx): boolean {
  if (Array.isArray(n)) return n.some((x) => readsTarget(x, levels, ctx));
  if (n === null || typeof n !== 'object') return false;
  const node = n as Node;
  if (node.ColumnRef) {
    // A mirror's column belongs to another row of the target, not to the row being selected.
    const r = resolve(list(node.ColumnRef.fields), levels);
    return r.kind === 'target' || r.kind === 'row' || r.kind === 'unknown';
  }
  if (node.CurrentOfExpr) return true; // WHERE CURRENT OF: the cursor's one row
  if (node.SelectStmt) return selectReads(node.SelectStmt, levels, ctx);
  for (const k in node) {
    if (k === 'location') continue;
    if (readsTarget(node[k], levels, ctx)) return true;
  }
  return false;
}

function selectReads(s: Node, levels: Level[], ctx: Ctx): boolean {
  if (s.larg || s.rarg) return readsTarget(s.larg, levels, ctx) || readsTarget(s.rarg, levels, ctx);
  const inner = [...levels, innerLevel(s, ctx)];
  for (const k in s) {
    if (k === 'fromClause') {
      // Items' own expressions (function arguments, LATERAL subqueries) see the inner level.
      for (const f of list(s.fromClause)) if (!f.RangeVar && readsTarget(f, inner, ctx)) return true;
      continue;
    }
    if (k === 'withClause' || k === 'larg' || k === 'rarg') {
      if (readsTarget(s[k], levels, ctx)) return true;
      continue;
    }
    if (readsTarget(s[k], inner, ctx)) return true;
  }
  return false;
}

function innerLevel(s: Node, ctx: Ctx): Level {
  // An inner WITH can rename anything: its relations are not looked up.
  if (s.withClause) return list(s.fromClause).map(() => ({ kind: 'other' as const, columns: undefined }));
  return list(s.fromClause).flatMap((f) => fromItems(f, ctx, true));
}

// ---- truth ------------------------------------------------------------------------------------

/** Whether `e` can hold for every row of the target regardless of the data (see the module doc). */
function selectsAll(e: Node, levels: Level[], ctx: Ctx): boolean {
  const v = truth(e, levels, ctx);
  if (v === 'true') return true;
  if (v === 'false' || v === 'null') return false;
  const b = e.BoolExpr as Node | undefined;
  if (b?.boolop === 'OR_EXPR') return list(b.args).some((a) => selectsAll(a, levels, ctx));
  if (b?.boolop === 'AND_EXPR') return list(b.args).every((a) => selectsAll(a, levels, ctx));
  if (b?.boolop === 'NOT_EXPR') {
    const inner = list(b.args)[0]?.BoolExpr as Node | undefined;
    // De Morgan, so a row-independent branch under NOT is still found.
    if (inner?.boolop === 'AND_EXPR') return list(inner.args).some((a) => selectsAll(not(a), levels, ctx));
    if (inner?.boolop === 'OR_EXPR') return list(inner.args).every((a) => selectsAll(not(a), levels, ctx));
    if (inner?.boolop === 'NOT_EXPR') return selectsAll(list(inner.args)[0], levels, ctx);
  }
  return !readsTarget(e, levels, ctx);
}

function not(e: Node): Node {
  return { BoolExpr: { boolop: 'NOT_EXPR', args: [e] } };
}

/** Three-valued truth of a predicate for every row of the target ('unknown': depends on the row). */
function truth(e: Node | undefined, levels: Level[], ctx: Ctx): Tri {
  if (!e) return 'unknown';
  const type = typeOf(e);
  const n = e[type] as Node;
  switch (type) {
    case 'A_Const':
    case 'TypeCast': {
      const c = constant(e);
      if (c === null) return 'null';
      if (typeof c === 'boolean') return c ? 'true' : 'false';
      if (typeof c === 'string') {
        // An untyped literal in a boolean position is read as a boolean: WHERE 't'.
        const b = parseBool(c);
        return b === undefined ? 'unknown' : b ? 'true' : 'false';
      }
      // (x = x)::boolean
      if (c === undefined && type === 'TypeCast' && isBoolType(n.typeName)) return truth(n.arg, levels, ctx);
      return 'unknown';
    }
    case 'BoolExpr': {
      const args = list(n.args).map((a) => truth(a, levels, ctx));
      if (n.boolop === 'NOT_EXPR') return args[0] === 'true' ? 'false' : args[0] === 'false' ? 'true' : args[0];
      if (n.boolop === 'AND_EXPR') {
        if (args.includes('false')) return 'false';
        if (args.every((a) => a === 'true')) return 'true';
        return args.includes('unknown') ? 'unknown' : 'null';
      }
      if (args.includes('true') || complementary(list(n.args), levels, ctx)) return 'true';
      if (args.every((a) => a === 'false')) return 'false';
      return args.includes('unknown') ? 'unknown' : 'null';
    }
    case 'NullTest': {
      const notNull = n.nulltesttype === 'IS_NOT_NULL';
      const c = constant(n.arg);
      if (c !== undefined) return (c === null) !== notNull ? 'true' : 'false';
      if (neverNull(n.arg, levels, ctx)) return notNull ? 'true' : 'false';
      return 'unknown';
    }
    case 'BooleanTest': {
      const v = truth(n.arg, levels, ctx);
      if (v === 'unknown') return 'unknown';
      const t = String(n.booltesttype);
      const is = t === 'IS_TRUE' || t === 'IS_NOT_TRUE' ? v === 'true' : t === 'IS_FALSE' || t === 'IS_NOT_FALSE' ? v === 'false' : v === 'null';
      return is !== t.startsWith('IS_NOT_') ? 'true' : 'false';
    }
    case 'A_Expr':
      return comparison(n, levels, ctx);
    case 'SubLink':
      return sublink(n, levels, ctx);
    case 'CaseExpr':
      return caseTruth(n, levels, ctx);
    default:
      return 'unknown';
  }
}

/** `p OR NOT p` (p never NULL), `e IS NULL OR e IS NOT NULL`: one branch holds for every row. */
function complementary(args: Node[], levels: Level[], ctx: Ctx): boolean {
  const keys = args.map(shape);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const b = a.BoolExpr as Node | undefined;
    if (b?.boolop === 'NOT_EXPR') {
      const inner = list(b.args)[0];
      if (inner && keys.includes(shape(inner)) && neverNullPredicate(inner, levels, ctx)) return true;
    }
    const nt = a.NullTest as Node | undefined;
    if (nt) {
      const other = { NullTest: { arg: nt.arg, nulltesttype: nt.nulltesttype === 'IS_NULL' ? 'IS_NOT_NULL' : 'IS_NULL' } };
      if (keys.includes(shape(other))) return true;
    }
  }
  return false;
}

/** A parse tree's shape without positions (two spellings of the same expression compare equal). */
function shape(n: unknown): string {
  return JSON.stringify(n, (k, v) => (k === 'location' ? undefined : v));
}

/** A predicate that is TRUE or FALSE for every row, never NULL. */
function neverNullPredicate(e: Node, levels: Level[], ctx: Ctx): boolean {
  if (e.NullTest || e.BooleanTest) return true;
  if (e.ColumnRef) return neverNull(e, levels, ctx);
  const x = e.A_Expr as Node | undefined;
  if (x?.kind === 'AEXPR_OP' && COMPARISONS.has(opName(x))) return neverNull(x.lexpr, levels, ctx) && neverNull(x.rexpr, levels, ctx);
  if (x?.kind === 'AEXPR_DISTINCT' || x?.kind === 'AEXPR_NOT_DISTINCT') return true;
  const b = e.BoolExpr as Node | undefined;
  if (b) return list(b.args).every((a) => neverNullPredicate(a, levels, ctx));
  return false;
}

/**
 * A value that is never NULL and the same each time it is computed for a row: a non-NULL
 * constant, a NOT NULL column of the target, COALESCE with such an argument, casts and
 * arithmetic / concatenation of such values.
 */
function neverNull(e: Node | undefined, levels: Level[], ctx: Ctx): boolean {
  if (!e) return false;
  const c = constant(e);
  if (c !== undefined) return c !== null;
  if (e.ColumnRef) {
    const id = columnOf(e, levels);
    return id !== undefined && ctx.notNull.has(id);
  }
  if (e.CoalesceExpr) {
    const args = list(e.CoalesceExpr.args);
    return args.every((a) => deterministic(a, levels)) && args.some((a) => neverNull(a, levels, ctx));
  }
  if (e.TypeCast) return neverNull(e.TypeCast.arg, levels, ctx);
  const x = e.A_Expr as Node | undefined;
  if (x?.kind === 'AEXPR_OP' && ARITHMETIC.has(opName(x))) return x.lexpr !== undefined && neverNull(x.lexpr, levels, ctx) && neverNull(x.rexpr, levels, ctx);
  return false;
}

const ARITHMETIC = new Set(['+', '-', '*', '||']);

/** The same value each time it is computed for a row (no functions, subqueries or parameters). */
function deterministic(e: Node | undefined, levels: Level[]): boolean {
  if (!e) return false;
  if (constant(e) !== undefined) return true;
  if (e.ColumnRef) return columnOf(e, levels) !== undefined;
  if (e.CoalesceExpr) return list(e.CoalesceExpr.args).every((a) => deterministic(a, levels));
  if (e.TypeCast) return deterministic(e.TypeCast.arg, levels);
  const x = e.A_Expr as Node | undefined;
  if (x?.kind === 'AEXPR_OP' && ARITHMETIC.has(opName(x))) return x.lexpr !== undefined && deterministic(x.lexpr, levels) && deterministic(x.rexpr, levels);
  return false;
}

/** Two expressions that compute the same value for the row: the same column, or the same shape. */
function same(a: Node | undefined, b: Node | undefined, levels: Level[]): boolean {
  const l = columnOf(a, levels);
  if (l !== undefined) return l === columnOf(b, levels);
  return a !== undefined && b !== undefined && shape(a) === shape(b) && deterministic(a, levels);
}

/** The target column an expression is (directly, or as the same column of a mirror), if any. */
function columnOf(e: Node | undefined, levels: Level[]): string | undefined {
  const cr = e?.ColumnRef as Node | undefined;
  if (!cr) return undefined;
  const r = resolve(list(cr.fields), levels);
  return r.kind === 'target' || r.kind === 'mirror' ? r.column : undefined;
}

const COMPARISONS = new Set(['=', '<>', '!=', '<', '>', '<=', '>=']);
/** Regular expression matches: `~`, `~*` and their negations. */
const MATCH_ALL = new Set(['~', '~*', '!~', '!~*']);
/** Comparisons that hold for a value and itself. */
const REFLEXIVE = new Set(['=', '<=', '>=']);

function opName(x: Node): string {
  return names(x.name).at(-1) ?? '';
}

function comparison(x: Node, levels: Level[], ctx: Ctx): Tri {
  const kind = x.kind as string;
  if (kind === 'AEXPR_NOT_DISTINCT' || kind === 'AEXPR_DISTINCT') {
    if (same(x.lexpr, x.rexpr, levels)) return kind === 'AEXPR_NOT_DISTINCT' ? 'true' : 'false';
    const a = constant(x.lexpr);
    const b = constant(x.rexpr);
    if (a === undefined || b === undefined) return 'unknown';
    const equal = a === null || b === null ? a === b : compare(a, b) === 0;
    return equal === (kind === 'AEXPR_NOT_DISTINCT') ? 'true' : 'false';
  }
  if (kind === 'AEXPR_IN') {
    const a = constant(x.lexpr);
    const items = list(x.rexpr).map(constant);
    if (a === undefined || items.some((i) => i === undefined)) return 'unknown';
    if (a === null) return 'null';
    const hit = items.some((i) => i !== null && compare(a, i as Value) === 0);
    const negated = opName(x) === '<>';
    if (hit) return negated ? 'false' : 'true';
    return items.includes(null) ? 'null' : negated ? 'true' : 'false';
  }
  if (kind === 'AEXPR_LIKE' || kind === 'AEXPR_ILIKE') {
    // LIKE '%' matches every value that is not NULL.
    const pattern = constant(x.rexpr);
    if (typeof pattern !== 'string' || !/^%+$/.test(pattern) || !neverNull(x.lexpr, levels, ctx)) return 'unknown';
    return opName(x).startsWith('!') ? 'false' : 'true';
  }
  if (kind === 'AEXPR_BETWEEN' || kind === 'AEXPR_BETWEEN_SYM' || kind === 'AEXPR_NOT_BETWEEN' || kind === 'AEXPR_NOT_BETWEEN_SYM') {
    const [lo, hi] = list(x.rexpr?.List?.items ?? x.rexpr);
    if (!same(x.lexpr, lo, levels) || !same(x.lexpr, hi, levels) || !neverNull(x.lexpr, levels, ctx)) return 'unknown';
    return kind.includes('NOT') ? 'false' : 'true';
  }
  if ((kind === 'AEXPR_OP_ANY' || kind === 'AEXPR_OP_ALL') && x.rexpr?.SubLink?.subLinkType === 'ARRAY_SUBLINK') {
    // x = ANY (ARRAY(SELECT …)) is x IN (SELECT …); x <> ALL (ARRAY(…)) is x NOT IN (…).
    const type = kind === 'AEXPR_OP_ANY' ? 'ANY_SUBLINK' : 'ALL_SUBLINK';
    return sublink({ subLinkType: type, testexpr: x.lexpr, operName: x.name, subselect: x.rexpr.SubLink.subselect }, levels, ctx);
  }
  if (kind !== 'AEXPR_OP') return 'unknown';
  const op = opName(x);
  if (MATCH_ALL.has(op)) {
    // A regular expression that matches anything: '', '.*', '^'.
    const pattern = constant(x.rexpr);
    if (typeof pattern !== 'string' || !/^(\^?(\.\*)?|\.\*\$?)$/.test(pattern) || !neverNull(x.lexpr, levels, ctx)) return 'unknown';
    return op.startsWith('!') ? 'false' : 'true';
  }
  if (!COMPARISONS.has(op)) return 'unknown';
  // The same never-NULL value on both sides (of the row, or of a mirror row: the row itself is a
  // witness).
  if (same(x.lexpr, x.rexpr, levels) && neverNull(x.lexpr, levels, ctx)) return REFLEXIVE.has(op) ? 'true' : 'false';
  const a = constant(x.lexpr);
  const b = constant(x.rexpr);
  if (a === undefined || b === undefined) return 'unknown';
  if (a === null || b === null) return 'null';
  const c = compare(a, b);
  if (c === undefined) return 'unknown';
  const holds = op === '=' ? c === 0 : op === '<>' || op === '!=' ? c !== 0 : op === '<' ? c < 0 : op === '>' ? c > 0 : op === '<=' ? c <= 0 : c >= 0;
  return holds ? 'true' : 'false';
}

/**
 * EXISTS and IN over the target itself: `EXISTS (SELECT 1 FROM t s WHERE s.id = t.id)` and
 * `id IN (SELECT id FROM t)` hold for every row whose column is not NULL (the row is its own
 * witness). `EXISTS (SELECT 1)` holds always.
 */
function sublink(n: Node, levels: Level[], ctx: Ctx): Tri {
  const s = unwrap(n.subselect, 'SelectStmt') as Node | undefined;
  if (!s || s.larg || s.rarg || s.valuesLists || s.limitOffset || s.havingClause || list(s.groupClause).length > 0) return 'unknown';
  const type = String(n.subLinkType);
  const inner = innerLevel(s, ctx);
  const stack = [...levels, inner];
  // A subquery that returns no row: EXISTS and IN are false, <> ALL is true.
  if (returnsNothing(s, stack, ctx)) return type === 'EXISTS_SUBLINK' || type === 'ANY_SUBLINK' ? 'false' : type === 'ALL_SUBLINK' ? 'true' : 'unknown';
  if (s.limitCount) return 'unknown';
  const from = list(s.fromClause);
  if (from.length > 0 && !inner.every((i) => i.kind === 'mirror')) return 'unknown';
  const filtered = s.whereClause === undefined ? 'true' : truth(s.whereClause, stack, ctx);
  if (filtered !== 'true') return 'unknown';
  if (type === 'EXISTS_SUBLINK') return 'true';
  if (type === 'ANY_SUBLINK' && (n.operName === undefined || names(n.operName).at(-1) === '=')) {
    const targets = list(s.targetList).map((t) => unwrap(t, 'ResTarget') as Node);
    if (targets.length !== 1 || from.length === 0) return 'unknown';
    const outer = columnOf(n.testexpr, levels);
    const col = columnOf(targets[0].val, stack);
    if (outer !== undefined && outer === col && ctx.notNull.has(outer)) return 'true';
  }
  return 'unknown';
}

/**
 * A subquery that returns no row: a plain row list (no aggregate, which would return one row over
 * none) whose WHERE is never true, or LIMIT 0.
 */
function returnsNothing(s: Node, stack: Level[], ctx: Ctx): boolean {
  const plain = list(s.targetList).every((t) => {
    const v = (unwrap(t, 'ResTarget') as Node).val as Node | undefined;
    return v !== undefined && (v.ColumnRef !== undefined || constant(v) !== undefined);
  });
  if (!plain) return false;
  if (s.limitCount && constant(s.limitCount) === 0) return true;
  if (s.whereClause === undefined) return false;
  const f = truth(s.whereClause, stack, ctx);
  return f === 'false' || f === 'null';
}

/** CASE whose every outcome has the same truth (the conditions then do not matter). */
function caseTruth(n: Node, levels: Level[], ctx: Ctx): Tri {
  const outcomes = list(n.args).map((w) => truth((unwrap(w, 'CaseWhen') as Node).result, levels, ctx));
  outcomes.push(n.defresult === undefined ? 'null' : truth(n.defresult, levels, ctx));
  if (outcomes.every((o) => o === 'true')) return 'true';
  if (outcomes.every((o) => o === 'false' || o === 'null')) return outcomes.includes('false') ? 'false' : 'null';
  return 'unknown';
}
