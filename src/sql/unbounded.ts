/**
 * Whether a DELETE's, UPDATE's or MERGE action's row selection is unbounded, judged by effect,
 * not by whether the word WHERE was written. Pure: a parse tree and a relation lookup in, a
 * boolean out.
 *
 * Fails closed: a selection is BOUNDED only when the analysis recognises a predicate that
 * restricts the target's rows to a chosen set; every predicate it does not recognise (a tautology
 * it has never seen included) leaves the selection unbounded, and the review rules that name
 * `delete_without_where` / `update_without_where` hold it.
 *
 * The predicate is the WHERE (for MERGE the join condition AND the action's condition), with the
 * conditions of inner joins among the USING / FROM items, read as AND-ed conjuncts. The target
 * and each of those items is restricted or not, to a fixpoint (an equality with a restricted
 * item's column restricts); the selection is bounded when the target ends up restricted. A
 * conjunct restricts an item when it is:
 * - a plain column of the item (not a cast, function or arithmetic of it, not its whole row)
 *   compared with `=`, `<`, `>`, `<=`, `>=`, `BETWEEN [SYMMETRIC]`, `IN (list)`,
 *   `= ANY (ARRAY[…] / '{…}' / $n)` to values that read no unrestricted item, the item itself
 *   included: constants, parameters, `now() - interval '1 day'`, a scalar subquery, a restricted
 *   item's column. A range's bound holds no subquery (`id >= (SELECT min(id) FROM t)` is a
 *   tautology in disguise);
 * - the column `IS NULL`, `LIKE` / `ILIKE` a constant pattern that does not begin with a wildcard,
 *   `~` / `~*` a constant pattern anchored on a plain character (`'^ab'`, no `|`);
 * - a row comparison `(a, b) = (1, 2)` or `(a, b) IN ((1, 2), …)`: any position as above;
 * - a plain boolean column: `archived`, `NOT archived`, `archived IS TRUE / IS FALSE`;
 * - an AND with a restricting part; an OR whose every branch restricts the item; NOT pushed
 *   through OR, AND, NOT and comparisons (`NOT (id <> 5)` is `id = 5`);
 * - a CASE whose every outcome that can be true comes with a restricting condition (or is
 *   restricting), and whose ELSE is absent, false, NULL or restricting;
 * - `x IN (SELECT …)` / `x = ANY (ARRAY(SELECT …))` of an uncorrelated restricted set (below),
 *   or `EXISTS (SELECT … WHERE …)` / `x IN (SELECT y … WHERE …)` whose WHERE restricts the item
 *   through restricted items of its own:
 *   `EXISTS (SELECT 1 FROM customers c WHERE c.id = o.customer_id AND c.name = 'x')`;
 * - `WHERE CURRENT OF cursor` (the cursor's one row);
 * - a predicate false or NULL for every row (predicate-truth.ts): it selects nothing.
 * A FROM item or subquery is a restricted set by itself when it is a SELECT without FROM (and no
 * function that could return a set), VALUES, a query with a constant LIMIT, a UNION of
 * restricted sets, a SELECT whose WHERE restricts every one of its FROM items, or
 * `generate_series` / `unnest` of constants and parameters; and it reads no other item.
 *
 * Deliberately not restricting, so held: `<>`, `!=`, `NOT IN`, `NOT LIKE`, `IS NOT NULL` (they
 * select everything but one value, usually nearly every row); a comparison with the target's own
 * row (`id = id`, `(id, status) = (id, status)`, `orders = orders`); a function or arithmetic of a
 * column (`lower(status) = 'x'`, `id % 1 = 0`, `starts_with(status, '')`); a predicate that does
 * not read the target (`current_user = 'x'`, `$1`, `EXISTS (SELECT 1 FROM other)`: every row or
 * none); IN, EXISTS or a join over a table nothing restricts (`customer_id IN (SELECT id FROM
 * customers)` reaches every row through a NOT NULL foreign key), the target itself included (a
 * mirror, `USING orders o2 WHERE orders.id = o2.id`, restricts only once `o2` is restricted);
 * CTEs (not looked into). Through a view only predicates on the view's columns count, never the
 * view's own WHERE.
 *
 * Ranges are data-dependent (`id > 0` may select every row): the review rules' `max_rows` limits
 * those by the estimated number of rows.
 */
import type { CatalogRelation } from '../catalog/types.ts';
import { list, listItems, names, type Node, typeOf, unwrap } from './ast.ts';
import { SYSTEM_COLUMNS } from './columns.ts';
import { constant, isBoolType } from './fold.ts';
import { truth } from './predicate-truth.ts';
import { type Ctx, fromItems, innerLevel, type Item, joinQuals, type Level, type Place, place, reads, type RelationLookup } from './row-scope.ts';

export type { RelationLookup } from './row-scope.ts';

/**
 * Evaluation steps before the analysis gives up on a selection (and counts it unbounded): bounds
 * the work nested ORs and subqueries can ask for. An OR of 40 000 key equalities fits.
 */
const STEPS = 200_000;

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

/** Whether the statement's WHERE (or MERGE condition) may select every row of the target. */
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
    budget: { steps: STEPS },
    truths: new WeakMap(),
  };
  const self: Item = { refname: rv.alias?.aliasname ?? rv.relname, kind: 'target', columns: target && new Set(target.columns.map((c) => c.name)), relation: target !== undefined && target.kind !== 'view' };
  const level: Level = [self];
  for (const f of s.from) level.push(...fromItems(f, ctx, true));
  const levels = [level];
  const known = new Set(level.filter((it) => restrictedSet(it, levels, new Set(), ctx)));
  const r = restricted([s.where, ...joinQuals(s.from)], levels, new Set(level), known, ctx);
  return !r.has(self) || ctx.budget.steps <= 0;
}

/** A MERGE action's selection: the join condition and the action's own condition together. */
export function unboundedMerge(relation: Node, target: CatalogRelation | undefined, source: Node, join: Node | undefined, condition: Node | undefined, lookup: RelationLookup): boolean {
  const parts = [join, condition].filter((x): x is Node => x !== undefined);
  const where = parts.length === 0 ? undefined : parts.length === 1 ? parts[0] : { BoolExpr: { boolop: 'AND_EXPR', args: parts } };
  return unboundedSelection({ relation, target, from: [source], where, lookup });
}

// ---- the fixpoint -----------------------------------------------------------------------------

type Items = ReadonlySet<Item>;

/**
 * The items of `scope` the conjuncts restrict, with `known` (already restricted): repeated until
 * nothing changes, since restricting one item can restrict another through an equality. One
 * conjunct needs one pass: what it restricts is already closed under its own parts (an AND runs
 * its own fixpoint), so nested ORs cost their size, not a power of it.
 */
function restricted(conjuncts: Node[], levels: Level[], scope: Items, known: Items, ctx: Ctx): Set<Item> {
  const b = new Set(known);
  for (;;) {
    const before = b.size;
    for (const c of conjuncts) for (const it of restricts(c, levels, scope, b, ctx)) b.add(it);
    if (b.size === before || conjuncts.length === 1 || ctx.budget.steps <= 0 || [...scope].every((it) => b.has(it))) return b;
  }
}

function step(ctx: Ctx): boolean {
  return --ctx.budget.steps > 0;
}

function common(sets: Iterable<Item>[]): Item[] {
  const [first, ...rest] = sets.map((s) => new Set(s));
  return first ? [...first].filter((it) => rest.every((s) => s.has(it))) : [];
}

function selectsNothing(e: Node | undefined, levels: Level[], ctx: Ctx): boolean {
  const v = truth(e, levels, ctx);
  return v === 'false' || v === 'null';
}

function not(e: Node): Node {
  return { BoolExpr: { boolop: 'NOT_EXPR', args: [e] } };
}

/** The items of `scope` one conjunct restricts, given the restricted items `b`. */
function restricts(p: Node | undefined, levels: Level[], scope: Items, b: Items, ctx: Ctx): Iterable<Item> {
  if (!p || !step(ctx)) return [];
  if (selectsNothing(p, levels, ctx)) return scope;
  const type = typeOf(p);
  const n = p[type] as Node;
  switch (type) {
    case 'BoolExpr': {
      const args = list(n.args);
      if (n.boolop === 'AND_EXPR') return restricted(args, levels, scope, b, ctx);
      if (n.boolop === 'OR_EXPR') return common(args.map((a) => restricted([a], levels, scope, b, ctx)));
      return negated(args[0], levels, scope, b, ctx);
    }
    case 'ColumnRef': {
      // A plain boolean column: WHERE archived.
      const c = plainColumn(p, levels, scope);
      return c ? [c.item] : [];
    }
    case 'CurrentOfExpr':
      return [...scope].filter((it) => it.kind === 'target');
    case 'TypeCast':
      return isBoolType(n.typeName) ? restricts(n.arg, levels, scope, b, ctx) : [];
    case 'BooleanTest':
      if (n.booltesttype === 'IS_TRUE') return restricts(n.arg, levels, scope, b, ctx);
      if (n.booltesttype === 'IS_FALSE') return restricts(not(n.arg), levels, scope, b, ctx);
      return [];
    case 'NullTest': {
      const c = n.nulltesttype === 'IS_NULL' ? plainColumn(n.arg, levels, scope) : undefined;
      return c ? [c.item] : [];
    }
    case 'A_Expr':
      return comparison(n, levels, scope, b, ctx);
    case 'SubLink':
      return sublink(n, levels, scope, b, ctx);
    case 'CaseExpr':
      return caseRestricts(n, levels, scope, b, ctx);
    default:
      return [];
  }
}

/** Comparisons whose negation is another comparison with the same NULL behaviour. */
const NEGATION = new Map([['=', '<>'], ['<>', '='], ['!=', '='], ['<', '>='], ['>=', '<'], ['>', '<='], ['<=', '>']]);

/** `NOT e`: pushed through NOT, OR (an AND of negations), AND (an OR of them), comparisons. */
function negated(e: Node | undefined, levels: Level[], scope: Items, b: Items, ctx: Ctx): Iterable<Item> {
  if (!e) return [];
  // NOT archived: the column's other value.
  if (e.ColumnRef) return restricts(e, levels, scope, b, ctx);
  const bool = e.BoolExpr as Node | undefined;
  if (bool?.boolop === 'NOT_EXPR') return restricts(list(bool.args)[0], levels, scope, b, ctx);
  if (bool?.boolop === 'OR_EXPR') return restricted(list(bool.args).map(not), levels, scope, b, ctx);
  if (bool?.boolop === 'AND_EXPR') return common(list(bool.args).map((a) => restricted([not(a)], levels, scope, b, ctx)));
  const x = e.A_Expr as Node | undefined;
  const op = x?.kind === 'AEXPR_OP' ? NEGATION.get(opName(x)) : undefined;
  if (x && op) return comparison({ ...x, name: [{ String: { sval: op } }] }, levels, scope, b, ctx);
  if (e.NullTest?.nulltesttype === 'IS_NOT_NULL') return restricts({ NullTest: { ...e.NullTest, nulltesttype: 'IS_NULL' } }, levels, scope, b, ctx);
  return [];
}

// ---- comparisons ------------------------------------------------------------------------------

const RANGE = new Set(['<', '>', '<=', '>=']);

function opName(x: Node): string {
  return names(x.name).at(-1) ?? '';
}

/**
 * A plain column of an item of `scope` the item is known to have (not a whole row, not
 * `t.f` that PostgreSQL would read as the function call `f(t)`).
 */
function plainColumn(e: Node | undefined, levels: Level[], scope: Items): Place | undefined {
  const cr = e?.ColumnRef as Node | undefined;
  if (!cr) return undefined;
  const p = place(list(cr.fields), levels);
  if (!p || p.column === undefined || !scope.has(p.item)) return undefined;
  return p.item.columns?.has(p.column) || (SYSTEM_COLUMNS.has(p.column) && p.item.relation) ? p : undefined;
}

/**
 * A value that does not depend on the compared item's row, nor on any item not restricted: it
 * reads only restricted items (or items of its own subqueries). A range's bound holds no subquery.
 */
function valueOk(v: Node | undefined, subject: Item, levels: Level[], b: Items, ctx: Ctx, range: boolean): boolean {
  if (!v) return false;
  if (range && JSON.stringify(v).includes('"SubLink"')) return false;
  const visible = new Set(levels.flat());
  return !reads(v, levels, ctx, (p) => p === undefined || p.item === subject || (visible.has(p.item) && !b.has(p.item)));
}

/** `col op value` (either way round): the column's item, when the value is acceptable. */
function pair(col: Node | undefined, value: Node | undefined, levels: Level[], scope: Items, b: Items, ctx: Ctx, range: boolean): Item[] {
  const c = plainColumn(col, levels, scope);
  return c && valueOk(value, c.item, levels, b, ctx, range) ? [c.item] : [];
}

/** An array operand of `= ANY (…)`: a literal, a parameter, ARRAY[…] of acceptable values. */
function arrayOk(e: Node | undefined, subject: Item, levels: Level[], b: Items, ctx: Ctx): boolean {
  if (!e) return false;
  if (e.A_Const || e.ParamRef) return true;
  if (e.TypeCast) return arrayOk(e.TypeCast.arg, subject, levels, b, ctx);
  if (e.A_ArrayExpr) return list(e.A_ArrayExpr.elements).every((x) => (x.A_ArrayExpr ? arrayOk(x, subject, levels, b, ctx) : valueOk(x, subject, levels, b, ctx, false)));
  return false;
}

/** A regular expression that matches only values beginning with a given character: `'^ab'`. */
function anchored(e: Node | undefined): boolean {
  const p = constant(e);
  return typeof p === 'string' && /^\^[A-Za-z0-9]([^*?{]|$)/.test(p) && !p.includes('|');
}

function comparison(x: Node, levels: Level[], scope: Items, b: Items, ctx: Ctx): Item[] {
  const op = opName(x);
  const both = (range: boolean) => [...pair(x.lexpr, x.rexpr, levels, scope, b, ctx, range), ...pair(x.rexpr, x.lexpr, levels, scope, b, ctx, range)];
  switch (x.kind) {
    case 'AEXPR_OP': {
      if (op === '=' && x.lexpr?.RowExpr && x.rexpr?.RowExpr) {
        // (a, b) = (1, 2): each position is an equality.
        const r = list(x.rexpr.RowExpr.args);
        return list(x.lexpr.RowExpr.args).flatMap((l, i) => [...pair(l, r[i], levels, scope, b, ctx, false), ...pair(r[i], l, levels, scope, b, ctx, false)]);
      }
      if (op === '=' || RANGE.has(op)) return both(op !== '=');
      if (op === '~' || op === '~*') return anchored(x.rexpr) ? column(x.lexpr, levels, scope) : [];
      return [];
    }
    case 'AEXPR_IN': {
      if (op !== '=') return [];
      const items = listItems(x.rexpr);
      const lefts = x.lexpr?.RowExpr ? list(x.lexpr.RowExpr.args) : [x.lexpr];
      return lefts.flatMap((l, i) => {
        const c = plainColumn(l, levels, scope);
        const at = (item: Node) => (x.lexpr?.RowExpr ? list(item.RowExpr?.args)[i] : item);
        return c && items.every((item) => valueOk(at(item), c.item, levels, b, ctx, false)) ? [c.item] : [];
      });
    }
    case 'AEXPR_OP_ANY': {
      if (op === '=' && x.rexpr?.SubLink?.subLinkType === 'ARRAY_SUBLINK') {
        // x = ANY (ARRAY(SELECT …)) is x IN (SELECT …).
        return sublink({ subLinkType: 'ANY_SUBLINK', testexpr: x.lexpr, operName: x.name, subselect: x.rexpr.SubLink.subselect }, levels, scope, b, ctx);
      }
      const c = op === '=' || RANGE.has(op) ? plainColumn(x.lexpr, levels, scope) : undefined;
      return c && arrayOk(x.rexpr, c.item, levels, b, ctx) ? [c.item] : [];
    }
    case 'AEXPR_LIKE':
    case 'AEXPR_ILIKE': {
      const pattern = constant(x.rexpr);
      return !op.startsWith('!') && typeof pattern === 'string' && !/^[%_]/.test(pattern) ? column(x.lexpr, levels, scope) : [];
    }
    case 'AEXPR_BETWEEN':
    case 'AEXPR_BETWEEN_SYM': {
      const [lo, hi] = listItems(x.rexpr);
      const c = plainColumn(x.lexpr, levels, scope);
      return c && valueOk(lo, c.item, levels, b, ctx, true) && valueOk(hi, c.item, levels, b, ctx, true) ? [c.item] : [];
    }
    default:
      return [];
  }
}

function column(e: Node | undefined, levels: Level[], scope: Items): Item[] {
  const c = plainColumn(e, levels, scope);
  return c ? [c.item] : [];
}

/** CASE: a row it selects took a branch that can be true, so met that branch's condition. */
function caseRestricts(n: Node, levels: Level[], scope: Items, b: Items, ctx: Ctx): Item[] {
  const outcomes = list(n.args).map((w) => {
    const cw = unwrap(w, 'CaseWhen') as Node;
    // CASE x WHEN v: the condition is x = v.
    const cond = n.arg ? { A_Expr: { kind: 'AEXPR_OP', name: [{ String: { sval: '=' } }], lexpr: n.arg, rexpr: cw.expr } } : cw.expr;
    return selectsNothing(cw.result, levels, ctx) ? scope : restricted([cond, cw.result], levels, scope, b, ctx);
  });
  const otherwise = n.defresult === undefined || selectsNothing(n.defresult, levels, ctx) ? scope : restricted([n.defresult], levels, scope, b, ctx);
  return common([...outcomes, otherwise]);
}

// ---- subqueries and FROM items ----------------------------------------------------------------

/** A value that yields one row (no function, which could return a set or aggregate over none). */
function oneValue(e: Node | undefined): boolean {
  if (!e) return false;
  if (e.A_Const || e.ParamRef || e.ColumnRef) return true;
  if (e.TypeCast) return oneValue(e.TypeCast.arg);
  return e.SubLink?.subLinkType === 'EXPR_SUBLINK';
}

function targets(s: Node): Node[] {
  return list(s.targetList).map((t) => (unwrap(t, 'ResTarget') as Node).val as Node);
}

/**
 * `x IN (SELECT …)` and `EXISTS (SELECT …)`. An uncorrelated restricted set restricts `x`'s item;
 * otherwise the subquery's WHERE (with `x = y` for IN) must restrict the outer item through
 * restricted items of the subquery (LIMIT and OFFSET only remove rows, so they are not needed).
 */
function sublink(n: Node, levels: Level[], scope: Items, b: Items, ctx: Ctx): Item[] {
  const s = unwrap(n.subselect, 'SelectStmt') as Node | undefined;
  const type = String(n.subLinkType);
  const isIn = type === 'ANY_SUBLINK' && (n.operName === undefined || names(n.operName).at(-1) === '=');
  if (!s || (!isIn && type !== 'EXISTS_SUBLINK') || !step(ctx)) return [];
  const out: Item[] = [];
  const lefts = n.testexpr?.RowExpr ? list(n.testexpr.RowExpr.args) : [n.testexpr];
  if (isIn && restrictedQuery(s, levels, b, ctx)) {
    for (const l of lefts) out.push(...column(l, levels, scope));
    return out;
  }
  if (s.larg || s.valuesLists || s.withClause || s.havingClause || list(s.groupClause).length > 0 || !targets(s).every(oneValue)) return [];
  const inner = innerLevel(s, ctx);
  const stack = [...levels, inner];
  const known = new Set([...b, ...inner.filter((it) => restrictedSet(it, stack, b, ctx))]);
  const r = restricted([s.whereClause, ...joinQuals(list(s.fromClause))].filter((c): c is Node => c !== undefined), stack, new Set([...scope, ...inner]), known, ctx);
  out.push(...[...scope].filter((it) => r.has(it)));
  const ys = targets(s);
  if (isIn && lefts.length === ys.length) {
    lefts.forEach((l, i) => {
      const c = plainColumn(l, levels, scope);
      if (c && valueOk(ys[i], c.item, stack, r, ctx, false)) out.push(c.item);
    });
  }
  return out;
}

/**
 * Whether a query's rows are a restricted set by themselves, reading no unrestricted item of the
 * levels around it (outer references only to items in `b`).
 */
function restrictedQuery(s: Node | undefined, levels: Level[], b: Items, ctx: Ctx): boolean {
  if (!s || !step(ctx)) return false;
  const visible = new Set(levels.flat());
  if (reads({ SelectStmt: s }, levels, ctx, (p) => p === undefined || (visible.has(p.item) && !b.has(p.item)))) return false;
  return restrictedRows(s, levels, b, ctx);
}

function restrictedRows(s: Node, levels: Level[], b: Items, ctx: Ctx): boolean {
  // LIMIT n (not WITH TIES, which can return every row).
  if (s.limitOption === 'LIMIT_OPTION_COUNT' && typeof constant(s.limitCount) === 'number') return true;
  if (s.larg || s.rarg) {
    const l = restrictedRows(s.larg, levels, b, ctx);
    const r = restrictedRows(s.rarg, levels, b, ctx);
    return s.op === 'SETOP_UNION' ? l && r : s.op === 'SETOP_INTERSECT' ? l || r : s.op === 'SETOP_EXCEPT' && l;
  }
  // VALUES rows are written out (a set-returning function is not allowed there).
  if (s.valuesLists) return true;
  if (s.withClause || !targets(s).every(oneValue)) return false;
  const from = list(s.fromClause);
  if (from.length === 0) return true;
  const inner = innerLevel(s, ctx);
  const stack = [...levels, inner];
  const known = new Set([...b, ...inner.filter((it) => restrictedSet(it, stack, b, ctx))]);
  const r = restricted([s.whereClause, ...joinQuals(from)].filter((c): c is Node => c !== undefined), stack, new Set(inner), known, ctx);
  return inner.every((it) => r.has(it));
}

const SERIES = new Set(['generate_series', 'unnest']);

/** A FROM item that is a restricted set by itself (a relation never is). */
function restrictedSet(it: Item, levels: Level[], b: Items, ctx: Ctx): boolean {
  const n = it.node;
  if (!n || it.kind === 'target') return false;
  if (n.RangeSubselect) return restrictedQuery(unwrap(n.RangeSubselect.subquery, 'SelectStmt'), levels, b, ctx);
  const f = n.RangeFunction as Node | undefined;
  if (!f || list(f.functions).length !== 1 || f.is_rowsfrom) return false;
  const call = unwrap(list(unwrap(list(f.functions)[0], 'List')?.items)[0], 'FuncCall') as Node | undefined;
  const fname = names(call?.funcname);
  if (!call || !SERIES.has(fname.at(-1) ?? '') || fname.length > 2 || (fname.length === 2 && fname[0] !== 'pg_catalog')) return false;
  return list(call.args).every(literal);
}

/** A constant or a parameter (an array of them, arithmetic of them). */
function literal(e: Node | undefined): boolean {
  if (!e) return false;
  if (e.A_Const || e.ParamRef) return true;
  if (e.TypeCast) return literal(e.TypeCast.arg);
  if (e.A_ArrayExpr) return list(e.A_ArrayExpr.elements).every(literal);
  const x = e.A_Expr as Node | undefined;
  return x?.kind === 'AEXPR_OP' && (x.lexpr === undefined || literal(x.lexpr)) && literal(x.rexpr);
}
