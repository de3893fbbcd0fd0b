/**
 * The names a write's row selection can see, for the unbounded-write check (unbounded.ts,
 * predicate-truth.ts): the target, its USING / FROM items (or the MERGE source), and the items of
 * each subquery level, with the columns each is known to have. Resolves a column reference as
 * PostgreSQL would, and tells whether an expression reads a given set of items. Pure.
 *
 * Erring: a name the analysis cannot place is "unknown", and every caller counts an unknown name
 * as reading whatever it must not read. A mirror of the target is recognised only as a plain
 * reference to the same relation with the same inheritance, or an unfiltered subquery of it.
 */
import type { CatalogRelation } from '../catalog/types.ts';
import { list, names, type Node, typeOf, unwrap } from './ast.ts';
import { SYSTEM_COLUMNS } from './columns.ts';

/** Finds the catalog relation a RangeVar names (undefined when unknown, or when it is a CTE). */
export type RelationLookup = (rv: Node) => CatalogRelation | undefined;

export type Kind = 'target' | 'mirror' | 'other';

export interface Item {
  refname?: string;
  kind: Kind;
  /** Column names; undefined when unknown (a subquery of `*`, most functions, an unknown relation). */
  columns?: ReadonlySet<string>;
  /** For a mirror that renames: its column → the target's column. */
  map?: ReadonlyMap<string, string>;
  /** The FROM item itself (a RangeSubselect, a RangeFunction …), for the checks that read it. */
  node?: Node;
  /** A relation (RangeVar) with system columns: not a view, not a subquery. */
  relation?: boolean;
}

/** The items of one query level, innermost last in a stack. */
export type Level = Item[];

export interface Ctx {
  target: CatalogRelation | undefined;
  /** The target's inheritance flag (`ONLY t` is not a mirror of `t`). */
  inh: boolean;
  notNull: ReadonlySet<string>;
  lookup: RelationLookup;
  /** Steps left before the analysis gives up (and the selection counts as unbounded). */
  budget: { steps: number };
  /** Truth already computed per parse-tree node (predicate-truth.ts), so nesting costs its size. */
  truths: WeakMap<Node, string>;
}

/** Where a column reference points: an item and its column (undefined: the item's whole row). */
export interface Place {
  item: Item;
  column?: string;
}

export function fromItems(f: Node, ctx: Ctx, top: boolean): Item[] {
  const type = typeOf(f);
  const n = f[type] as Node;
  switch (type) {
    case 'RangeVar': {
      const rel = ctx.lookup(n);
      const mirror = top && rel !== undefined && ctx.target !== undefined && rel.oid === ctx.target.oid && (n.inh === true) === ctx.inh;
      return [{ refname: n.alias?.aliasname ?? n.relname, kind: mirror ? 'mirror' : 'other', columns: rel && new Set(rel.columns.map((c) => c.name)), relation: rel !== undefined && rel.kind !== 'view', node: f }];
    }
    case 'RangeSubselect': {
      const m = top ? subselectMirror(n, ctx) : undefined;
      if (m) return [{ refname: n.alias?.aliasname, kind: 'mirror', columns: new Set(m.keys()), map: m, node: f }];
      return [{ refname: n.alias?.aliasname, kind: 'other', columns: subselectColumns(n), node: f }];
    }
    case 'RangeFunction':
      return [{ refname: n.alias?.aliasname, kind: 'other', columns: functionColumns(n), node: f }];
    case 'JoinExpr': {
      // Joined items filter each other: none of them is a plain mirror.
      const inner = [...fromItems(n.larg, ctx, false), ...fromItems(n.rarg, ctx, false)];
      if (n.alias?.aliasname) return [{ refname: n.alias.aliasname, kind: 'other', columns: undefined }];
      return inner.map((i) => ({ ...i, kind: 'other' as const }));
    }
    case 'RangeTableSample':
      // A sample of the target is a subset of it: not a mirror.
      return fromItems(n.relation, ctx, false).map((i) => ({ ...i, kind: 'other' as const, node: f }));
    default:
      return [{ refname: n?.alias?.aliasname, kind: 'other', columns: undefined, node: f }];
  }
}

/**
 * The conditions of the inner joins among FROM items (`a JOIN b ON …`): they filter the rows as
 * a WHERE would. An outer join's condition does not remove rows of its preserved side, and
 * `USING (…)` / NATURAL name columns the analysis does not pair up, so neither is returned.
 */
export function joinQuals(from: Node[]): Node[] {
  const out: Node[] = [];
  for (const f of from) {
    const j = f.JoinExpr as Node | undefined;
    if (!j) continue;
    out.push(...joinQuals([j.larg, j.rarg]));
    if ((j.jointype ?? 'JOIN_INNER') === 'JOIN_INNER' && j.quals && !j.isNatural && list(j.usingClause).length === 0) out.push(j.quals);
  }
  return out;
}

/** A subquery's output names, when each is known (`SELECT a, b AS c`, VALUES, column aliases). */
function subselectColumns(n: Node): ReadonlySet<string> | undefined {
  const s = unwrap(n.subquery, 'SelectStmt') as Node | undefined;
  if (!s) return undefined;
  let out: (string | undefined)[];
  if (s.valuesLists) out = list(unwrap(list(s.valuesLists)[0], 'List')?.items).map((_, i) => `column${i + 1}`);
  else if (s.larg) return undefined;
  else {
    out = list(s.targetList).map((t) => {
      const r = unwrap(t, 'ResTarget') as Node;
      if (r.name) return r.name;
      const fields = list(r.val?.ColumnRef?.fields);
      return fields.length > 0 && !fields.at(-1)?.A_Star ? names(fields).at(-1) : undefined;
    });
  }
  names(n.alias?.colnames).forEach((c, i) => (out[i] = c));
  return out.every((c) => c !== undefined) ? new Set(out as string[]) : undefined;
}

/** A scalar set-returning function's output name (`generate_series(1, 3) g`: `g`). */
function functionColumns(n: Node): ReadonlySet<string> | undefined {
  const fns = list(n.functions);
  const call = unwrap(list(unwrap(fns[0], 'List')?.items)[0], 'FuncCall') as Node | undefined;
  if (fns.length !== 1 || !call?.funcname || n.is_rowsfrom) return undefined;
  const colnames = names(n.alias?.colnames);
  const out = [colnames[0] ?? n.alias?.aliasname ?? names(call.funcname).at(-1) ?? ''];
  if (n.ordinality) out.push(colnames[1] ?? 'ordinality');
  return new Set(out);
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

export function innerLevel(s: Node, ctx: Ctx): Level {
  // An inner WITH can rename anything: its relations are not looked up.
  if (s.withClause) return list(s.fromClause).map(() => ({ kind: 'other' as const, columns: undefined }));
  return list(s.fromClause).flatMap((f) => fromItems(f, ctx, true));
}

// ---- names ------------------------------------------------------------------------------------

/** Resolves a column reference through the levels, innermost first, as PostgreSQL would. */
export function place(fields: Node[], levels: Level[]): Place | undefined {
  const parts = fields.map((f) => (f.A_Star ? '*' : (names([f])[0] ?? '')));
  if (parts.length === 1) {
    const name = parts[0];
    for (let i = levels.length - 1; i >= 0; i--) {
      if (SYSTEM_COLUMNS.has(name) && levels[i].length > 0) {
        // ctid, xmin …: the one relation of the level's (more than one: ambiguous).
        return levels[i].length === 1 ? { item: levels[i][0], column: name } : undefined;
      }
      const hits = levels[i].filter((it) => it.columns?.has(name));
      // One item known to have the column: it is that one, or the name is ambiguous (an error,
      // nothing runs) if an item of unknown columns has it too.
      if (hits.length === 1) return { item: hits[0], column: name };
      if (hits.length > 1 || levels[i].some((it) => it.columns === undefined)) return undefined;
      // A bare name equal to an item's name is that item's whole row.
      const whole = levels[i].find((it) => it.refname === name);
      if (whole) return { item: whole };
    }
    return undefined;
  }
  const qualifier = parts[parts.length - 2];
  const column = parts[parts.length - 1];
  for (let i = levels.length - 1; i >= 0; i--) {
    const it = levels[i].find((x) => x.refname === qualifier);
    if (!it) continue;
    return column === '*' ? { item: it } : { item: it, column };
  }
  return undefined;
}

export type Resolved = { kind: 'target' | 'mirror'; column: string } | { kind: 'other' } | { kind: 'unknown' } | { kind: 'row' };

/** A reference as the truth analysis sees it: the target's column, a mirror's, another's. */
export function resolve(fields: Node[], levels: Level[]): Resolved {
  const p = place(fields, levels);
  if (!p) return { kind: 'unknown' };
  if (p.column === undefined) return p.item.kind === 'target' ? { kind: 'row' } : { kind: 'other' };
  if (p.item.kind === 'other') return { kind: 'other' };
  if (p.item.map) {
    const mapped = p.item.map.get(p.column);
    return mapped === undefined ? { kind: 'other' } : { kind: p.item.kind, column: mapped };
  }
  return { kind: p.item.kind, column: p.column };
}

/**
 * Whether an expression reads something `bad` says it must not (a place, or undefined for a name
 * the analysis cannot place). A subquery's own items are pushed as a level of their own; its
 * outer references are judged like any other.
 */
export function reads(n: unknown, levels: Level[], ctx: Ctx, bad: (p: Place | undefined) => boolean): boolean {
  if (Array.isArray(n)) return n.some((x) => reads(x, levels, ctx, bad));
  if (n === null || typeof n !== 'object') return false;
  const node = n as Node;
  if (node.ColumnRef) return bad(place(list(node.ColumnRef.fields), levels));
  if (node.CurrentOfExpr) return bad(undefined); // WHERE CURRENT OF: the cursor's one row
  if (node.SelectStmt) return selectReads(node.SelectStmt, levels, ctx, bad);
  for (const k in node) {
    if (k === 'location') continue;
    if (reads(node[k], levels, ctx, bad)) return true;
  }
  return false;
}

function selectReads(s: Node, levels: Level[], ctx: Ctx, bad: (p: Place | undefined) => boolean): boolean {
  if (s.larg || s.rarg) return reads(s.larg, levels, ctx, bad) || reads(s.rarg, levels, ctx, bad) || reads([s.limitCount, s.limitOffset], levels, ctx, bad);
  const inner = [...levels, innerLevel(s, ctx)];
  for (const k in s) {
    if (k === 'fromClause') {
      // Items' own expressions (function arguments, LATERAL subqueries) see the inner level.
      for (const f of list(s.fromClause)) if (!f.RangeVar && reads(f, inner, ctx, bad)) return true;
      continue;
    }
    if (k === 'withClause' || k === 'larg' || k === 'rarg') {
      if (reads(s[k], levels, ctx, bad)) return true;
      continue;
    }
    if (reads(s[k], inner, ctx, bad)) return true;
  }
  return false;
}

/**
 * Whether an expression reads the target row (or might: names the analysis cannot place count).
 * A correlated subquery reads it through its outer references; a mirror's column belongs to
 * another row of the target, not to the row being selected.
 */
export function readsTarget(n: unknown, levels: Level[], ctx: Ctx): boolean {
  return reads(n, levels, ctx, (p) => p === undefined || (p.item.kind === 'target'));
}
