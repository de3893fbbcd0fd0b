/**
 * Expressions: every raw-parse expression node the grammar produces, walked for column reads,
 * column uses (filters with their operator), function calls and subqueries. A node type not
 * listed here makes the statement unsupported: an expression the analyser cannot see into could
 * hide a read or a call.
 */
import { constText, list, names, type Node, str, typeOf } from './ast.ts';
import type { Collector } from './collector.ts';
import { resolveColumnRef, STAR, type Use } from './columns.ts';
import type { Scope } from './scope.ts';

/** What the expression walker needs from the query walker (subqueries). */
export interface QueryWalk {
  readonly c: Collector;
  /** Walks a query (SELECT, VALUES, set operation, or DML with RETURNING) as a subquery of `parent`. */
  query(node: Node, parent: Scope | undefined): string[] | undefined;
}

/** A filter context keeps its use (without an operator) for nested operands. */
function nested(use: Use | undefined): Use | undefined {
  return use && use.operator !== undefined ? { use: use.use } : use;
}

/** The operand context for a comparison: a direct column gets the operator. */
function operand(w: QueryWalk, n: Node | undefined, scope: Scope, use: Use | undefined, operator: string): void {
  if (!n) return;
  if (use && n.ColumnRef) expr(w, n, scope, { use: use.use, operator });
  else expr(w, n, scope, nested(use));
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

export function exprs(w: QueryWalk, ns: unknown, scope: Scope, use?: Use): void {
  for (const n of list(ns)) expr(w, n, scope, use);
}

/** A FuncCall: record it (with constant arguments), then walk arguments, ORDER BY, FILTER, OVER. */
export function funcCall(w: QueryWalk, f: Node, scope: Scope, use: Use | undefined): void {
  const args = list(f.args);
  const consts: (string | null)[] = [];
  let anyConst = false;
  for (const a of args) {
    const v = constText(a.NamedArgExpr ? a.NamedArgExpr.arg : a);
    if (v === undefined) consts.push(null);
    else {
      consts.push(v);
      anyConst = true;
    }
  }
  const fname = names(f.funcname);
  w.c.call(fname, anyConst ? consts : undefined);
  const fnOp = fname.at(-1)?.toLowerCase();
  for (const a of args) {
    if (use && fnOp && a.ColumnRef) expr(w, a, scope, { use: use.use, operator: fnOp });
    else expr(w, a, scope, nested(use));
  }
  for (const s of list(f.agg_order)) expr(w, s.SortBy?.node, scope, undefined);
  if (f.agg_filter) expr(w, f.agg_filter, scope, { use: 'filter' });
  if (f.over) windowDef(w, f.over, scope);
}

export function windowDef(w: QueryWalk, wd: Node, scope: Scope): void {
  exprs(w, wd.partitionClause, scope, { use: 'group' });
  for (const s of list(wd.orderClause)) expr(w, s.SortBy?.node, scope, { use: 'order' });
  if (wd.startOffset) expr(w, wd.startOffset, scope, undefined);
  if (wd.endOffset) expr(w, wd.endOffset, scope, undefined);
}

function sublink(w: QueryWalk, s: Node, scope: Scope, use: Use | undefined): void {
  if (s.testexpr) {
    const kind = s.subLinkType as string;
    const op = kind === 'ANY_SUBLINK' ? (s.operName ? `${names(s.operName).at(-1)} any` : 'in') : kind === 'ALL_SUBLINK' ? `${names(s.operName).at(-1)} all` : '';
    operand(w, s.testexpr, scope, use, op);
  }
  w.query(s.subselect, scope);
}

/** Walks one expression node (wrapped form). */
export function expr(w: QueryWalk, n: Node | undefined, scope: Scope, use?: Use): void {
  if (n === undefined || n === null) return;
  const type = typeOf(n);
  const e = n[type] as Node;
  switch (type) {
    case 'ColumnRef':
      resolveColumnRef(w.c, refFields(e), scope, use);
      return;
    case 'A_Const':
    case 'ParamRef':
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
      return;
    case 'A_Expr': {
      const op = aExprOperator(e);
      operand(w, e.lexpr, scope, use, op);
      if (e.rexpr?.List) for (const x of list(e.rexpr.List.items)) operand(w, x, scope, use, op);
      else operand(w, e.rexpr, scope, use, op);
      return;
    }
    case 'BoolExpr':
      exprs(w, e.args, scope, use);
      return;
    case 'SubLink':
      sublink(w, e, scope, use);
      return;
    case 'FuncCall':
      funcCall(w, e, scope, use);
      return;
    case 'TypeCast':
      expr(w, e.arg, scope, use);
      return;
    case 'CollateClause':
      expr(w, e.arg, scope, use);
      return;
    case 'NamedArgExpr':
      expr(w, e.arg, scope, use);
      return;
    case 'CaseExpr':
      expr(w, e.arg, scope, nested(use));
      for (const cw of list(e.args)) {
        expr(w, cw.CaseWhen?.expr, scope, nested(use));
        expr(w, cw.CaseWhen?.result, scope, nested(use));
      }
      expr(w, e.defresult, scope, nested(use));
      return;
    case 'CaseWhen':
      expr(w, e.expr, scope, nested(use));
      expr(w, e.result, scope, nested(use));
      return;
    case 'CoalesceExpr':
    case 'MinMaxExpr':
    case 'RowExpr':
    case 'GroupingFunc':
      exprs(w, e.args, scope, nested(use));
      return;
    case 'NullTest':
      operand(w, e.arg, scope, use, e.nulltesttype === 'IS_NOT_NULL' ? 'is not null' : 'is null');
      return;
    case 'BooleanTest':
      operand(w, e.arg, scope, use, (e.booltesttype as string).toLowerCase().replace(/_/g, ' '));
      return;
    case 'A_ArrayExpr':
      exprs(w, e.elements, scope, nested(use));
      return;
    case 'A_Indirection':
      expr(w, e.arg, scope, nested(use));
      for (const ind of list(e.indirection)) expr(w, ind, scope, nested(use));
      return;
    case 'A_Indices':
      expr(w, e.lidx, scope, nested(use));
      expr(w, e.uidx, scope, nested(use));
      return;
    case 'List':
      exprs(w, e.items, scope, use);
      return;
    case 'ResTarget':
      expr(w, e.val, scope, use);
      for (const ind of list(e.indirection)) expr(w, ind, scope, undefined);
      return;
    case 'MultiAssignRef':
      expr(w, e.source, scope, use);
      return;
    case 'SortBy':
      expr(w, e.node, scope, use);
      return;
    case 'RowCompareExpr':
      exprs(w, e.largs, scope, nested(use));
      exprs(w, e.rargs, scope, nested(use));
      return;
    case 'XmlExpr':
      exprs(w, e.named_args, scope, nested(use));
      exprs(w, e.args, scope, nested(use));
      return;
    case 'XmlSerialize':
      expr(w, e.expr, scope, nested(use));
      return;
    case 'JsonValueExpr':
      expr(w, e.raw_expr, scope, nested(use));
      expr(w, e.formatted_expr, scope, nested(use));
      return;
    case 'JsonKeyValue':
      expr(w, e.key, scope, nested(use));
      expr(w, wrapJson(e.value), scope, nested(use));
      return;
    case 'JsonObjectConstructor':
    case 'JsonArrayConstructor':
      exprs(w, e.exprs, scope, nested(use));
      return;
    case 'JsonArrayQueryConstructor':
      w.query(e.query, scope);
      return;
    case 'JsonObjectAgg':
    case 'JsonArrayAgg': {
      const arg = e.arg;
      if (arg) expr(w, type === 'JsonObjectAgg' ? { JsonKeyValue: arg } : wrapJson(arg), scope, nested(use));
      const ctor = e.constructor as Node | undefined;
      if (ctor && typeof ctor === 'object' && ctor !== Object.prototype.constructor) {
        for (const s of list(ctor.agg_order)) expr(w, s.SortBy?.node, scope, undefined);
        if (ctor.agg_filter) expr(w, ctor.agg_filter, scope, { use: 'filter' });
        if (ctor.over) windowDef(w, ctor.over, scope);
      }
      return;
    }
    case 'JsonParseExpr':
    case 'JsonSerializeExpr':
      expr(w, wrapJson(e.expr), scope, nested(use));
      return;
    case 'JsonScalarExpr':
    case 'JsonIsPredicate':
      expr(w, e.expr, scope, nested(use));
      return;
    case 'JsonFuncExpr':
      expr(w, wrapJson(e.context_item), scope, nested(use));
      for (const a of list(e.passing)) expr(w, a.JsonArgument ? wrapJson(a.JsonArgument.val) : a, scope, undefined);
      expr(w, e.on_empty ? { JsonBehavior: e.on_empty } : undefined, scope, undefined);
      expr(w, e.on_error ? { JsonBehavior: e.on_error } : undefined, scope, undefined);
      return;
    case 'JsonArgument':
      expr(w, wrapJson(e.val), scope, undefined);
      return;
    case 'JsonBehavior':
      expr(w, e.expr, scope, undefined);
      return;
    default:
      w.c.fail(`expression type ${type || 'unknown'} is not supported by the gateway`);
  }
}

/** JSON helper nodes hold a typed JsonValueExpr field bare; re-wrap it for `expr`. */
function wrapJson(v: Node | undefined): Node | undefined {
  if (!v) return undefined;
  if (v.JsonValueExpr || v.raw_expr === undefined) return v;
  return { JsonValueExpr: v };
}
