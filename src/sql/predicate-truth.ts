/**
 * Three-valued truth of a write's predicate for every row of its target, where the analysis can
 * prove it whatever the data: constants (`true`, `1 = 1`, `'t'`, `NOT false`), `e = e`,
 * `e IS NULL`, `e LIKE '%'`, `e BETWEEN e AND e` of a never-NULL `e` (a NOT NULL column of the
 * target, COALESCE with a constant, arithmetic of those), `p OR NOT p`, `IN` / `EXISTS` of a
 * subquery that returns nothing, a CASE whose outcomes agree. Anything else is 'unknown'
 * (depends on the row). The unbounded-write check (unbounded.ts) reads a 'false' or 'null'
 * verdict: such a predicate selects no row. Pure; folding in fold.ts.
 *
 * Every verdict but 'unknown' MUST hold for every row (and every combination with the rows of the
 * other FROM items) whatever the data: a wrong 'false' lets a write through unreviewed. So only
 * the target's own columns count as "the same value": a mirror's column is another row's.
 */
import { list, listItems, names, type Node, typeOf, unwrap } from './ast.ts';
import { compare, constant, isBoolType, parseBool, type Value } from './fold.ts';
import { type Ctx, innerLevel, type Level, resolve } from './row-scope.ts';

export type Tri = 'true' | 'false' | 'null' | 'unknown';

/** Three-valued truth of a predicate for every row of the target ('unknown': depends on the row). */
export function truth(e: Node | undefined, levels: Level[], ctx: Ctx): Tri {
  if (!e) return 'unknown';
  const known = ctx.truths.get(e) as Tri | undefined;
  if (known) return known;
  const v = computeTruth(e, levels, ctx);
  ctx.truths.set(e, v);
  return v;
}

function computeTruth(e: Node, levels: Level[], ctx: Ctx): Tri {
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

/**
 * The target column an expression is, if any. A mirror's column (`orders o2`'s `o2.id`) belongs
 * to other rows too: `orders.id <> o2.id` is false for the row itself but true for the others.
 */
function columnOf(e: Node | undefined, levels: Level[]): string | undefined {
  const cr = e?.ColumnRef as Node | undefined;
  if (!cr) return undefined;
  const r = resolve(list(cr.fields), levels);
  return r.kind === 'target' ? r.column : undefined;
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
    const items = listItems(x.rexpr).map(constant);
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
 * A subquery that returns no row (EXISTS and IN are false, <> ALL is true), and
 * `EXISTS (SELECT 1)` (true).
 */
function sublink(n: Node, levels: Level[], ctx: Ctx): Tri {
  const s = unwrap(n.subselect, 'SelectStmt') as Node | undefined;
  if (!s || s.larg || s.rarg || s.valuesLists || s.limitOffset || s.havingClause || list(s.groupClause).length > 0) return 'unknown';
  const type = String(n.subLinkType);
  const stack = [...levels, innerLevel(s, ctx)];
  if (returnsNothing(s, stack, ctx)) return type === 'EXISTS_SUBLINK' || type === 'ANY_SUBLINK' ? 'false' : type === 'ALL_SUBLINK' ? 'true' : 'unknown';
  if (s.limitCount || list(s.fromClause).length > 0 || type !== 'EXISTS_SUBLINK') return 'unknown';
  return s.whereClause === undefined || truth(s.whereClause, stack, ctx) === 'true' ? 'true' : 'unknown';
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
