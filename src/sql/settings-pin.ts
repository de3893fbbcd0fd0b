/**
 * A read of pg_settings pinned to named settings: `SELECT setting FROM pg_catalog.pg_settings
 * WHERE name = 'max_index_keys'` (pgJDBC's foreign-key metadata), `… WHERE name IN
 * ('max_identifier_length', 'server_encoding')`. pg_settings holds every setting, secret custom
 * ones included, so the policy refuses it; but a read that can only return the rows of named
 * settings reads no more than `current_setting` of each name would. This file proves that shape
 * from the parse tree; the policy then allows it when every name is readable.
 *
 * The proof (`pinnedSettingNames`) holds only for this exact shape, and everything else is left
 * unproven (the read stays refused):
 *
 * - a plain SELECT (no set operation, no WITH, no INTO) whose FROM is one relation reference,
 *   and no other relation reference, subquery or function in FROM anywhere in the statement: no
 *   other rows are reachable, and an unqualified column is a column of that relation;
 * - its WHERE is a pin: `name = '<literal>'` (either order, the literal as written or cast to
 *   text), `name IN ('<literal>', …)`, an AND with at least one pin among its operands, or an OR
 *   whose every branch is a pin. The pinned names of an AND are those of its pins (their
 *   intersection), of an OR their union. PostgreSQL compares `name` (text, deterministic
 *   collation) with the literal exactly, so a returned row's name IS one of the literals.
 * - the relation has no column alias list: `FROM pg_settings s(x, name)` gives the view's second
 *   column, `setting`, the name `name`, and a pin on it would pin values, not settings;
 * - every other operand of the WHERE cannot fail or act on a row: a column compared by a bare
 *   comparison operator with a constant, `IN`/`NOT IN` a list of constants, IS [NOT] NULL, and
 *   NOT / AND / OR of those. PostgreSQL may evaluate the operands of an AND in any order, so an
 *   operand runs on rows the pin later rejects: one that can fail (`setting::int > 0` on a
 *   secret custom setting echoes its value in the error, `1/0` in a CASE on it answers a guess)
 *   would read those rows. A comparison of a column with an untyped constant resolves the
 *   constant's type at parse time, so its errors do not depend on the row.
 * - the same holds for HAVING, whose conditions without an aggregate PostgreSQL moves into the
 *   WHERE (`GROUP BY name, setting HAVING setting::int > 0` becomes a filter of the scan, which
 *   the planner runs before a costlier pin): each AND operand of the HAVING is harmless, or
 *   contains an aggregate call and so stays above the grouping, on rows the pin kept.
 *
 * The caller MUST also check what the parse tree cannot show: that the relation resolves to
 * pg_catalog.pg_settings and is the statement's only table access, and that no operator or cast
 * of user code is reached (a planted `=` could be true for every row).
 *
 * Because the analysis reads these literals' values, a statement naming pg_settings is keyed by
 * its exact text in the analysis cache (see `literal-key.ts`).
 *
 * Pure (parse tree in, data out).
 */
import { constText, list, listItems, names, type Node } from './ast.ts';

const COMPARISONS = new Set(['=', '<>', '!=', '<', '>', '<=', '>=']);

/** The setting names the statement's rows are limited to, or undefined when not proven. */
export function pinnedSettingNames(select: Node): string[] | undefined {
  if ((select.op !== undefined && select.op !== 'SETOP_NONE') || select.withClause || select.intoClause || select.valuesLists) return undefined;
  const from = list(select.fromClause);
  // Only a relation named pg_settings can be pinned (the caller checks that it resolves to
  // pg_catalog's); other statements skip the walk below.
  if (from.length !== 1 || from[0].RangeVar?.relname !== 'pg_settings') return undefined;
  if (list((from[0].RangeVar.alias as Node | undefined)?.colnames).length > 0) return undefined;
  // One relation reference in the whole statement, and no subquery anywhere (target list,
  // HAVING, ORDER BY, LIMIT included): nothing reaches other rows of any relation.
  let rangeVars = 0;
  let other = false;
  walk(select, (key) => {
    if (key === 'RangeVar') rangeVars++;
    else if (key === 'SubLink' || key === 'RangeSubselect' || key === 'RangeFunction' || key === 'RangeTableFunc' || key === 'RangeTableSample' || key === 'JoinExpr' || key === 'CommonTableExpr') other = true;
  });
  if (rangeVars !== 1 || other) return undefined;
  const where = select.whereClause as Node | undefined;
  if (!where || !harmless(where)) return undefined;
  const having = select.havingClause as Node | undefined;
  if (having && !conjuncts(having).every((h) => harmless(h) || hasAggregate(h))) return undefined;
  const pinned = pins(where);
  return pinned && [...new Set(pinned)];
}

/** A `set_config(name, value, is_local)` call of a pinned read whose setting is the row's `name`. */
export interface PinnedSetConfig {
  /** The value, when a constant (a string literal, as written or cast to text). */
  value?: string;
  /** is_local, when a constant. */
  local?: string;
}

/**
 * The set_config calls of a statement that `pinnedSettingNames` proved pinned, when every call
 * whose setting is not a constant names the row's `name` column: `SELECT set_config(name,
 * 'view, foreign-table', false) FROM pg_settings WHERE name = 'restrict_nonsystem_relation_kind'`
 * (pg_dump). The target list runs once per returned row, and every returned row's name is one
 * of the pinned names, so such a call is `set_config('<pinned name>', …)` for each of them.
 * Undefined when a set_config call names its setting any other way (a computed name stays
 * refused); an empty list when there is no such call. Call only on a statement proven pinned.
 */
export function pinnedSetConfigs(select: Node): PinnedSetConfig[] | undefined {
  const out: PinnedSetConfig[] = [];
  let other = false;
  walkNodes(select, (key, v) => {
    if (key !== 'FuncCall') return;
    const f = v as Node;
    const n = names(f.funcname);
    if (n[n.length - 1] !== 'set_config') return;
    const args = list(f.args);
    // A constant name is the collector's: it records `set_config('<name>', …)` itself.
    if (typeof constText(args[0]) === 'string') return;
    if (args.length !== 3 || !isNameColumn(args[0]) || f.agg_star === true || f.over !== undefined || f.func_variadic === true) {
      other = true;
      return;
    }
    const value = constText(args[1]);
    const local = constText(args[2]);
    out.push({ ...(typeof value === 'string' && { value }), ...(typeof local === 'string' && { local }) });
  });
  return other ? undefined : out;
}

/** The operands of a top-level AND (PostgreSQL moves each one of a HAVING on its own). */
function conjuncts(e: Node): Node[] {
  const b = e.BoolExpr as Node | undefined;
  return b?.boolop === 'AND_EXPR' ? list(b.args).flatMap(conjuncts) : [e];
}

/**
 * Built-in aggregates a HAVING is written with. A call of one keeps its HAVING operand above the
 * grouping; the caller refuses the pin when any call could reach user code (an overload of the
 * name created in the database), so these names are pg_catalog's aggregates.
 */
const AGGREGATES = new Set(['count', 'sum', 'min', 'max', 'avg', 'bool_and', 'bool_or', 'every', 'string_agg', 'array_agg']);

/** Whether an expression calls an aggregate (`count(*)`, or a built-in aggregate by name). */
function hasAggregate(e: Node): boolean {
  let found = false;
  walkNodes(e, (key, v) => {
    if (key !== 'FuncCall') return;
    const f = v as Node;
    const n = names(f.funcname);
    const plain = n.length === 1 || (n.length === 2 && n[0] === 'pg_catalog');
    if (f.agg_star === true || (plain && AGGREGATES.has(n[n.length - 1]) && f.over === undefined)) found = true;
  });
  return found;
}

/** Names a predicate limits `name` to, when every row it is true for has one of them. */
function pins(e: Node): string[] | undefined {
  const b = e.BoolExpr as Node | undefined;
  if (b) {
    const args = list(b.args).map(pins);
    if (b.boolop === 'AND_EXPR') {
      const known = args.filter((a): a is string[] => a !== undefined);
      if (known.length === 0) return undefined;
      return known.reduce((acc, a) => acc.filter((n) => a.includes(n)));
    }
    if (b.boolop === 'OR_EXPR') return args.every((a) => a !== undefined) ? (args as string[][]).flat() : undefined;
    return undefined;
  }
  const x = e.A_Expr as Node | undefined;
  if (!x || bareOp(x) !== '=') return undefined;
  if (x.kind === 'AEXPR_OP') {
    if (isNameColumn(x.lexpr)) return oneName(stringLiteral(x.rexpr));
    if (isNameColumn(x.rexpr)) return oneName(stringLiteral(x.lexpr));
    return undefined;
  }
  if (x.kind === 'AEXPR_IN' && isNameColumn(x.lexpr)) {
    const items = listItems(x.rexpr).map(stringLiteral);
    return items.length > 0 && items.every((i) => i !== undefined) ? (items as string[]) : undefined;
  }
  return undefined;
}

function oneName(s: string | undefined): string[] | undefined {
  return s === undefined ? undefined : [s];
}

/** A predicate that can neither fail nor act, whatever row it is evaluated on. */
function harmless(e: Node): boolean {
  const b = e.BoolExpr as Node | undefined;
  if (b) return list(b.args).length > 0 && list(b.args).every(harmless);
  const t = e.NullTest as Node | undefined;
  if (t) return isColumn(t.arg);
  const x = e.A_Expr as Node | undefined;
  if (!x || !COMPARISONS.has(bareOp(x) ?? '')) return false;
  if (x.kind === 'AEXPR_OP') return (isColumn(x.lexpr) && isConstant(x.rexpr)) || (isColumn(x.rexpr) && isConstant(x.lexpr));
  if (x.kind === 'AEXPR_IN') {
    const items = listItems(x.rexpr);
    return isColumn(x.lexpr) && items.length > 0 && items.every(isConstant);
  }
  return false;
}

/** The single, unqualified operator name of an A_Expr (`OPERATOR(pg_catalog.=)` is not one). */
function bareOp(x: Node): string | undefined {
  const n = names(x.name);
  return n.length === 1 && list(x.name).length === 1 ? n[0] : undefined;
}

/** A plain column reference (`c`, `t.c`, `s.t.c`), not `*`. */
function isColumn(n: Node | undefined): boolean {
  const fields = list(n?.ColumnRef?.fields);
  return fields.length >= 1 && fields.length <= 3 && fields.every((f) => f.String !== undefined);
}

/** The column `name` of the one relation in FROM, however qualified. */
function isNameColumn(n: Node | undefined): boolean {
  const fields = names(n?.ColumnRef?.fields);
  return isColumn(n) && fields[fields.length - 1] === 'name';
}

/** A non-null constant, as written or cast to text. */
function isConstant(n: Node | undefined): boolean {
  const c = constant(n);
  return c !== undefined && !c.isnull;
}

function constant(n: Node | undefined): Node | undefined {
  if (n?.A_Const) return n.A_Const as Node;
  const cast = n?.TypeCast as Node | undefined;
  if (!cast?.arg?.A_Const) return undefined;
  const tn = cast.typeName as Node | undefined;
  const typ = names(tn?.names);
  const isText = (typ.length === 1 && typ[0] === 'text') || (typ.length === 2 && typ[0] === 'pg_catalog' && typ[1] === 'text');
  if (!isText || tn?.typmods !== undefined || tn?.arrayBounds !== undefined || tn?.setof || tn?.pct_type) return undefined;
  return cast.arg.A_Const as Node;
}

/** The value of a string literal (as written or cast to text). */
function stringLiteral(n: Node | undefined): string | undefined {
  const c = constant(n);
  if (!c || c.isnull || c.sval === undefined) return undefined;
  return (c.sval as Node).sval ?? '';
}

/** Every key of every object in a tree. */
function walk(n: unknown, visit: (key: string) => void): void {
  walkNodes(n, (k) => visit(k));
}

/** Every key of every object in a tree, with its value. */
function walkNodes(n: unknown, visit: (key: string, value: unknown) => void): void {
  if (Array.isArray(n)) {
    for (const x of n) walkNodes(x, visit);
    return;
  }
  if (n === null || typeof n !== 'object') return;
  for (const [k, v] of Object.entries(n)) {
    visit(k, v);
    walkNodes(v, visit);
  }
}
