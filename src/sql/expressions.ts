/**
 * Expressions: every raw-parse expression node the grammar produces, walked for column reads,
 * column uses (filters with their operator), function calls and subqueries. A node type not
 * listed here makes the statement unsupported: an expression the analyser cannot see into could
 * hide a read or a call.
 *
 * The same walk computes each node's provenance (the base columns flowing into its value, see
 * provenance.ts): `expr` returns it, so a target list's outputs cost no second pass.
 */
import { constText, list, names, type Node, str, typeOf } from './ast.ts';
import type { Collector } from './collector.ts';
import { resolveColumnRef, STAR, type Use } from './columns.ts';
import { callFlows, matchOperatorUses, matchUses, operatorFlow, safeCast, valuePreservingCast } from './flows.ts';
import { plantedCast, plantedOperator, plantedOperators } from './planted.ts';
import { callProv, choice, computed, NONE, type Out, packed, type Prov, fieldOf, untrusted } from './provenance.ts';
import type { Scope } from './scope.ts';
import { ANY_SOURCE } from './types.ts';

/** What the expression walker needs from the query walker (subqueries). */
export interface QueryWalk {
  readonly c: Collector;
  /**
   * Walks a query (SELECT, VALUES, set operation, or DML with RETURNING) as a subquery of
   * `parent`; returns its output columns (undefined when it returns no rows).
   */
  query(node: Node, parent: Scope | undefined): Out[] | undefined;
}

/** A filter context keeps its use (without an operator) for nested operands. */
function nested(use: Use | undefined): Use | undefined {
  return use && use.operator !== undefined ? { use: use.use } : use;
}

/**
 * A field selection from a row value (`(c).ssn`, `(c.*).email`, `(c).*`): only field names, no
 * subscript. It stands for the field it selects, as `c.ssn` does for the column.
 */
function isFieldSelection(n: Node): boolean {
  const ind = n.A_Indirection as Node | undefined;
  return ind !== undefined && list(ind.indirection).every((x) => x.String !== undefined || x.A_Star !== undefined);
}

/** A value a comparison or a function takes as it is: a column, a field of a row, or a whole row. */
function isDirect(n: Node): boolean {
  return n.ColumnRef !== undefined || isFieldSelection(n);
}

/** The operand context for a comparison: a direct column (or scalar subquery) gets the operator. */
function operand(w: QueryWalk, n: Node | undefined, scope: Scope, use: Use | undefined, operator: string): Prov {
  if (!n) return NONE;
  if (use && (isDirect(n) || n.SubLink?.subLinkType === 'EXPR_SUBLINK')) return expr(w, n, scope, { use: use.use, operator });
  const p = expr(w, n, scope, nested(use));
  // A value computed by user code may be any stored value: compared in a predicate it is used
  // like a column, under this operator (masking's filter modes then decide, filter.ts).
  if (use && p.src.includes(ANY_SOURCE)) w.c.useSources({ d: 'column', src: [ANY_SOURCE] }, use.use, operator);
  return p;
}

/** Records the sources of `p` flowing into `sink` (nothing when it holds no stored data). */
function flowOf(w: QueryWalk, p: Prov, sink: Parameters<QueryWalk['c']['flow']>[1], detail?: string): void {
  w.c.flowOf(p, sink, detail);
}

const NOT_OPS: Record<string, string> = { '~~': 'like', '!~~': 'not like', '~~*': 'ilike', '!~~*': 'not ilike' };

function aExprOperator(e: Node): string {
  const op = names(e.name).at(-1) ?? '';
  switch (e.kind as string) {
    case 'AEXPR_OP':
      return op;
    case 'AEXPR_OP_ANY':
      return `${op} any`;
    case 'AEXPR_OP_ALL':
      return `${op} all`;
    case 'AEXPR_DISTINCT':
      return 'is distinct from';
    case 'AEXPR_NOT_DISTINCT':
      return 'is not distinct from';
    case 'AEXPR_NULLIF':
      return 'nullif';
    case 'AEXPR_IN':
      return op === '<>' ? 'not in' : 'in';
    case 'AEXPR_LIKE':
    case 'AEXPR_ILIKE':
      return NOT_OPS[op] ?? op;
    case 'AEXPR_SIMILAR':
      return op === '!~' ? 'not similar to' : 'similar to';
    case 'AEXPR_BETWEEN':
      return 'between';
    case 'AEXPR_NOT_BETWEEN':
      return 'not between';
    case 'AEXPR_BETWEEN_SYM':
      return 'between symmetric';
    case 'AEXPR_NOT_BETWEEN_SYM':
      return 'not between symmetric';
    default:
      return op;
  }
}

/** ColumnRef fields as names with the STAR marker. */
export function refFields(cr: Node): (string | typeof STAR)[] {
  const out: (string | typeof STAR)[] = [];
  for (const f of list(cr.fields)) {
    if (f.A_Star) out.push(STAR);
    else out.push(str(f) ?? '');
  }
  return out;
}

/** Walks a list of expressions; returns their provenances in order. */
export function exprs(w: QueryWalk, ns: unknown, scope: Scope, use?: Use): Prov[] {
  const xs = list(ns);
  const out: Prov[] = new Array(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = expr(w, xs[i], scope, use);
  return out;
}

/** A FuncCall: record it (with constant arguments), then walk arguments, ORDER BY, FILTER, OVER. */
export function funcCall(w: QueryWalk, f: Node, scope: Scope, use: Use | undefined): Prov {
  const args = list(f.args);
  const consts: (string | null)[] = [];
  const params: (number | null)[] = [];
  let anyConst = false;
  let anyParam = false;
  for (const a of args) {
    const arg = (a.NamedArgExpr ? a.NamedArgExpr.arg : a) as Node | undefined;
    const v = constText(arg);
    if (v === undefined) consts.push(null);
    else {
      consts.push(v);
      anyConst = true;
    }
    const n = arg?.ParamRef?.number;
    if (typeof n === 'number' && !a.NamedArgExpr) {
      params.push(n);
      anyParam = true;
    } else params.push(null);
  }
  const fname = names(f.funcname);
  const userCode = w.c.call(fname, anyConst ? consts : undefined, args.length, f.func_variadic === true, anyParam ? params : undefined);
  const fnOp = fname.at(-1)?.toLowerCase();
  const argProvs: Prov[] = [];
  for (const a of args) {
    if (use && fnOp && isDirect(a)) argProvs.push(expr(w, a, scope, { use: use.use, operator: fnOp }));
    else argProvs.push(expr(w, a, scope, nested(use)));
  }
  // A pattern or search function is a predicate on what it searches, wherever it stands.
  matchUses(w.c, f, args, argProvs, use?.use === 'join');
  // DISTINCT inside an aggregate compares its arguments with `=` (`count(DISTINCT s)` over the
  // stored value and a guess is 1 or 2): an equality use of each, as in WHERE, so a column whose
  // rule allows no filtering is refused and one allowing equality lookups is not.
  if (f.agg_distinct === true) for (const p of argProvs) w.c.useSources(p, 'filter', '=');
  const order: Prov[] = [];
  for (const s of list(f.agg_order)) {
    const p = expr(w, s.SortBy?.node, scope, undefined);
    order.push(p);
    // An aggregate's ORDER BY orders by the value (`array_agg(id ORDER BY ssn)`).
    if (!f.agg_within_group) w.c.useSources(p, 'order', undefined);
  }
  if (f.agg_filter) expr(w, f.agg_filter, scope, { use: 'filter' });
  if (f.over) windowDef(w, f.over, scope);
  callFlows(w.c, f, args, argProvs, order);
  const p = callProv(f, argProvs, order);
  return userCode ? untrusted(p) : p;
}

export function windowDef(w: QueryWalk, wd: Node, scope: Scope): void {
  for (const p of exprs(w, wd.partitionClause, scope, { use: 'group' })) flowOf(w, p, 'window', 'PARTITION BY');
  for (const s of list(wd.orderClause)) flowOf(w, expr(w, s.SortBy?.node, scope, { use: 'order' }), 'window', 'ORDER BY');
  if (wd.startOffset) flowOf(w, expr(w, wd.startOffset, scope, undefined), 'window', 'frame offset');
  if (wd.endOffset) flowOf(w, expr(w, wd.endOffset, scope, undefined), 'window', 'frame offset');
}

function sublink(w: QueryWalk, s: Node, scope: Scope, use: Use | undefined): Prov {
  const kind = s.subLinkType as string;
  let test = NONE;
  if (s.testexpr) {
    const op = kind === 'ANY_SUBLINK' ? (s.operName ? `${names(s.operName).at(-1)} any` : 'in') : kind === 'ALL_SUBLINK' ? `${names(s.operName).at(-1)} all` : '';
    test = operand(w, s.testexpr, scope, use, op);
    if (plantedOperator(w.c, s.operName ? names(s.operName) : ['='], true)) test = untrusted(test);
  }
  const outs = w.query(s.subselect, scope) ?? [];
  if (use && (kind === 'ANY_SUBLINK' || kind === 'ALL_SUBLINK' || kind === 'ROWCOMPARE_SUBLINK')) {
    // `x IN (SELECT ssn …)` compares with the subquery's values as much as with a column.
    const op = kind === 'ANY_SUBLINK' ? (s.operName ? `${names(s.operName).at(-1)} any` : 'in') : kind === 'ALL_SUBLINK' ? `${names(s.operName).at(-1)} all` : undefined;
    for (const o of outs) w.c.useSources(o.prov, use.use, op);
  }
  switch (kind) {
    case 'EXISTS_SUBLINK':
    case 'MULTIEXPR_SUBLINK':
      return NONE;
    case 'EXPR_SUBLINK': {
      // A scalar subquery's value is its one output (a `*` standing for unknown columns: all of it).
      const p = outs[0]?.many ? choice(outs.map((o) => o.prov)) : (outs[0]?.prov ?? NONE);
      if (use) w.c.useSources(p, use.use, use.operator);
      return p;
    }
    case 'ARRAY_SUBLINK':
      return packed(outs.map((o) => o.prov));
    default:
      return computed([test, ...outs.map((o) => o.prov)]);
  }
}

/** CASE: a choice among its results, unless its conditions compare stored values. */
function caseExpr(w: QueryWalk, e: Node, scope: Scope, use: Use | undefined): Prov {
  const conds: Prov[] = [expr(w, e.arg, scope, nested(use))];
  // `CASE x WHEN v` compares with `=`, which may be a user operator.
  if (e.arg && plantedOperator(w.c, ['='], true)) conds.push(untrusted(NONE));
  const results: Prov[] = [];
  for (const cw of list(e.args)) {
    conds.push(expr(w, cw.CaseWhen?.expr, scope, nested(use)));
    results.push(expr(w, cw.CaseWhen?.result, scope, nested(use)));
  }
  results.push(expr(w, e.defresult, scope, nested(use)));
  const cond = computed(conds);
  // A condition on a stored value decides which result comes back: `count(CASE WHEN ssn LIKE …)`.
  // Inside a predicate it is part of the predicate, which the filter mode decides (as AND / OR).
  if (!use) flowOf(w, cond, 'case', 'CASE WHEN');
  // Conditions on stored values make the result reveal them (`CASE WHEN ssn LIKE '1%' …`).
  if (cond.d === 'none' || cond.d === 'aggregate') return choice([...results, cond]);
  return computed([cond, ...results]);
}

/** Walks one expression node (wrapped form); returns the provenance of its value. */
export function expr(w: QueryWalk, n: Node | undefined, scope: Scope, use?: Use): Prov {
  if (n === undefined || n === null) return NONE;
  const type = typeOf(n);
  const e = n[type] as Node;
  switch (type) {
    case 'ColumnRef':
      return resolveColumnRef(w.c, refFields(e), scope, use);
    case 'ParamRef':
      w.c.sawParameter = true;
      return NONE;
    case 'A_Const':
    case 'SQLValueFunction':
    case 'SetToDefault':
    case 'CurrentOfExpr':
    case 'MergeSupportFunc':
    case 'A_Star':
    case 'String':
    case 'Integer':
    case 'Float':
    case 'Boolean':
    case 'BitString':
      return NONE;
    case 'A_Expr': {
      const op = aExprOperator(e);
      const userOp = plantedOperators(w.c, e);
      const l = operand(w, e.lexpr, scope, use, op);
      const rs: Prov[] = [];
      if (e.rexpr?.List) for (const x of list(e.rexpr.List.items)) rs.push(operand(w, x, scope, use, op));
      else rs.push(operand(w, e.rexpr, scope, use, op));
      operatorFlow(w.c, e, l, e.lexpr ? 0 : 1, use !== undefined);
      for (const r of rs) operatorFlow(w.c, e, r, 1, use !== undefined);
      // LIKE, SIMILAR TO, a regular expression: a predicate on both sides, in any clause.
      matchOperatorUses(w.c, e, [l, ...rs], op, use?.use === 'join');
      if (e.kind === 'AEXPR_NULLIF' && !use) {
        // NULLIF compares: NULL or not tells whether the value equals the other one.
        for (const p of [l, ...rs]) w.c.useSources(p, 'filter', '=');
      }
      // NULLIF(a, b) is a, or NULL when it equals a constant b.
      if (e.kind === 'AEXPR_NULLIF' && rs.every((r) => r.d === 'none')) return userOp ? untrusted(l) : l;
      return userOp ? untrusted(computed([l, ...rs])) : computed([l, ...rs]);
    }
    case 'BoolExpr': {
      const ps = exprs(w, e.args, scope, use);
      // AND / OR stop at the first argument that decides: outside a predicate (where the filter
      // mode decides), a stored value there chooses whether the others run, and so whether
      // `(ssn = '…') AND 1 / (id - id) = 1` fails.
      if (!use && e.boolop !== 'NOT_EXPR' && ps.length > 1) for (const p of ps) w.c.flowOf(p, 'case', e.boolop === 'AND_EXPR' ? 'AND' : 'OR');
      return computed(ps);
    }
    case 'SubLink':
      return sublink(w, e, scope, use);
    case 'FuncCall':
      return funcCall(w, e, scope, use);
    case 'TypeCast': {
      const p = expr(w, e.arg, scope, use);
      const tn = names(e.typeName?.names).map((x) => x.toLowerCase());
      if (p.src.length > 0 && !safeCast(tn, list(e.typeName?.arrayBounds).length > 0)) w.c.flowOf(p, 'function', `cast to ${tn.at(-1) ?? 'a type'}`);
      // A cast that can change the value (`email::varchar(3)`) computes a new value from it.
      const cast = valuePreservingCast(e.typeName) ? p : computed([p]);
      return plantedCast(w.c, e.typeName) ? untrusted(cast) : cast;
    }
    case 'CollateClause':
    case 'NamedArgExpr':
      return expr(w, e.arg, scope, use);
    case 'CaseExpr':
      return caseExpr(w, e, scope, use);
    case 'CaseWhen':
      return computed([expr(w, e.expr, scope, nested(use)), expr(w, e.result, scope, nested(use))]);
    case 'CoalesceExpr':
      return choice(exprs(w, e.args, scope, nested(use)));
    case 'MinMaxExpr': {
      // GREATEST / LEAST compare their arguments: which one comes back orders them.
      const ps = exprs(w, e.args, scope, nested(use));
      if (ps.length > 1) for (const p of ps) w.c.useSources(p, 'order', undefined);
      return choice(ps);
    }
    case 'RowExpr':
      return packed(exprs(w, e.args, scope, nested(use)));
    case 'GroupingFunc':
      exprs(w, e.args, scope, nested(use));
      return NONE;
    case 'NullTest':
      return computed([operand(w, e.arg, scope, use, e.nulltesttype === 'IS_NOT_NULL' ? 'is not null' : 'is null')]);
    case 'BooleanTest':
      return computed([operand(w, e.arg, scope, use, (e.booltesttype as string).toLowerCase().replace(/_/g, ' '))]);
    case 'A_ArrayExpr':
      return packed(exprs(w, e.elements, scope, nested(use)));
    case 'A_Indirection': {
      // A field selection uses the field, not the row it is taken from: `(c).ssn LIKE …` is a
      // use of ssn with LIKE, exactly as `c.ssn LIKE …`, and `(c).id = 1` uses no other column.
      // Any other indirection (a subscript) computes from its base, used inside an expression.
      const selection = isFieldSelection(n);
      let p = expr(w, e.arg, scope, selection ? undefined : nested(use));
      for (const ind of list(e.indirection)) {
        // `(c).ssn` is the column ssn of the row c; `(c).*` is the row; a subscript computes.
        if (ind.String) p = fieldOf(p, ind.String.sval ?? '');
        else if (!ind.A_Star) {
          // A subscript past the end (or a missing JSON key) is NULL, and masked results keep
          // their NULLs: `(string_to_array(ssn, '-'))[4]` tells how many parts ssn has.
          w.c.flowOf(p, 'function', 'a subscript');
          p = computed([p, expr(w, ind, scope, nested(use))]);
        }
      }
      if (selection && use) w.c.useSources(p, use.use, use.operator);
      return p;
    }
    case 'A_Indices':
      return computed([expr(w, e.lidx, scope, nested(use)), expr(w, e.uidx, scope, nested(use))]);
    case 'List':
      return computed(exprs(w, e.items, scope, use));
    case 'ResTarget': {
      const p = expr(w, e.val, scope, use);
      for (const ind of list(e.indirection)) expr(w, ind, scope, undefined);
      return p;
    }
    case 'MultiAssignRef':
      return expr(w, e.source, scope, use);
    case 'SortBy':
      return expr(w, e.node, scope, use);
    case 'RowCompareExpr':
      return computed([...exprs(w, e.largs, scope, nested(use)), ...exprs(w, e.rargs, scope, nested(use))]);
    case 'XmlExpr': {
      const ps = [...exprs(w, e.named_args, scope, nested(use)), ...exprs(w, e.args, scope, nested(use))];
      // XMLPARSE / XMLPI / XMLROOT parse or check their input: invalid text fails, echoing it.
      if (e.op === 'IS_XMLPARSE' || e.op === 'IS_XMLPI' || e.op === 'IS_XMLROOT') for (const p of ps) flowOf(w, p, 'function', 'XML parsing');
      return e.op === 'IS_DOCUMENT' ? computed(ps) : packed(ps);
    }
    case 'XmlSerialize':
      return computed([expr(w, e.expr, scope, nested(use))]);
    case 'JsonValueExpr':
      return choice([expr(w, e.raw_expr, scope, nested(use)), expr(w, e.formatted_expr, scope, nested(use))]);
    case 'JsonKeyValue':
      return packed([expr(w, e.key, scope, nested(use)), expr(w, wrapJson(e.value), scope, nested(use))]);
    case 'JsonObjectConstructor':
    case 'JsonArrayConstructor':
      return packed(exprs(w, e.exprs, scope, nested(use)));
    case 'JsonArrayQueryConstructor':
      return packed((w.query(e.query, scope) ?? []).map((o) => o.prov));
    case 'JsonObjectAgg':
    case 'JsonArrayAgg': {
      const arg = e.arg;
      let p = NONE;
      if (arg) p = expr(w, type === 'JsonObjectAgg' ? { JsonKeyValue: arg } : wrapJson(arg), scope, nested(use));
      const ctor = e.constructor as Node | undefined;
      if (ctor && typeof ctor === 'object' && ctor !== Object.prototype.constructor) {
        for (const s of list(ctor.agg_order)) expr(w, s.SortBy?.node, scope, undefined);
        if (ctor.agg_filter) expr(w, ctor.agg_filter, scope, { use: 'filter' });
        if (ctor.over) windowDef(w, ctor.over, scope);
      }
      return packed([p]);
    }
    case 'JsonParseExpr':
    case 'JsonScalarExpr': {
      const p = expr(w, type === 'JsonParseExpr' ? wrapJson(e.expr) : e.expr, scope, nested(use));
      if (type === 'JsonParseExpr') flowOf(w, p, 'function', 'JSON()');
      return packed([p]);
    }
    case 'JsonSerializeExpr':
      return computed([expr(w, wrapJson(e.expr), scope, nested(use))]);
    case 'JsonIsPredicate':
      return computed([expr(w, e.expr, scope, nested(use))]);
    case 'JsonFuncExpr': {
      const ps = [expr(w, wrapJson(e.context_item), scope, nested(use))];
      // The context item is parsed as JSON and the path run on it: both can fail on the value.
      flowOf(w, ps[0], 'function', JSON_FUNC_LABELS[e.op as string] ?? 'JSON function');
      // So is each PASSING value: the path reads it as a variable (`$x starts with "a"`,
      // `$x like_regex …`, `$x.double()`), a predicate or a conversion of it.
      for (const a of list(e.passing)) {
        const p = expr(w, a.JsonArgument ? wrapJson(a.JsonArgument.val) : a, scope, nested(use));
        flowOf(w, p, 'function', JSON_FUNC_LABELS[e.op as string] ?? 'JSON function');
        ps.push(p);
      }
      ps.push(expr(w, e.on_empty ? { JsonBehavior: e.on_empty } : undefined, scope, undefined));
      ps.push(expr(w, e.on_error ? { JsonBehavior: e.on_error } : undefined, scope, undefined));
      return computed(ps);
    }
    case 'JsonArgument':
      return expr(w, wrapJson(e.val), scope, undefined);
    case 'JsonBehavior':
      return expr(w, e.expr, scope, undefined);
    default:
      w.c.fail(`expression type ${type || 'unknown'} is not supported by the gateway`);
      return NONE;
  }
}

const JSON_FUNC_LABELS: Record<string, string> = { JSON_EXISTS_OP: 'JSON_EXISTS()', JSON_QUERY_OP: 'JSON_QUERY()', JSON_VALUE_OP: 'JSON_VALUE()' };

/** JSON helper nodes hold a typed JsonValueExpr field bare; re-wrap it for `expr`. */
function wrapJson(v: Node | undefined): Node | undefined {
  if (!v) return undefined;
  if (v.JsonValueExpr || v.raw_expr === undefined) return v;
  return { JsonValueExpr: v };
}
