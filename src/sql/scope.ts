/**
 * Name scopes of one query level: the FROM items a column reference can bind to, the CTE names a
 * table reference can bind to, and the link to the enclosing level (correlated references).
 *
 * A FROM item is either a base relation (`rel` set: reads are recorded against it) or a derived
 * one (subquery, CTE, function, VALUES, EXCLUDED…: the reads already happened inside it, so a
 * reference records nothing). `cols` maps the visible column name to the underlying one (aliases
 * like `customers AS c(a, b)` rename by position); undefined means the names are unknown.
 */
import type { Rel } from './collector.ts';
import { choice, columnProv, NONE, type Out, type Prov } from './provenance.ts';

export interface FromItem {
  /** The name qualified references use: the alias, or the relation's own name. */
  refname?: string;
  /** For an unaliased base relation: its schema, so `schema.table.column` matches. */
  schema?: string;
  rel?: Rel;
  cols?: Map<string, string>;
  /** A join with an alias hides its members' names but not their columns. */
  children?: FromItem[];
  /** For a join with USING / NATURAL: the merged columns (listed once, first, by `*`). */
  using?: string[];
  /** For a join: how many of `children` are its left side. */
  left?: number;
  /** For a join `… USING (…) AS name`: the name that shows only the merged columns. */
  usingAlias?: string;
  /** The item that name stands for: the join's merged USING columns, nothing else. */
  usingOnly?: true;
  /** A derived item's columns in order with their provenance (visible names). */
  outs?: Out[];
  /** The provenance of a derived item's column no `outs` names (a function's unknown columns). */
  fallback?: Prov;
  /**
   * For a write's target: the values the statement stores, by column (`*`: any column), so
   * RETURNING shows what it wrote (`SET name = ssn RETURNING name` returns ssn values).
   */
  stored?: Map<string, Prov>;
}

export interface CteInfo {
  cols?: string[];
  outs?: Out[];
  /**
   * A recursive CTE's columns added by its SEARCH / CYCLE clauses (search sequence, cycle mark,
   * cycle path), which its own recursive branch can read too.
   */
  added?: string[];
}

export class Scope {
  readonly items: FromItem[] = [];
  ctes?: Map<string, CteInfo>;
  /**
   * Output column names of this level's target list → the expression, so GROUP BY / ORDER BY can
   * bind a name to an output column when no input column has it.
   */
  outputs?: Map<string, unknown>;
  constructor(
    readonly parent: Scope | undefined,
    /**
     * Lenient scopes are the DDL expression contexts (CHECK, DEFAULT, index expressions, policy
     * quals, trigger WHEN) where names refer to the row being defined: unknown names are ignored
     * instead of making the statement unsupported.
     */
    readonly lenient = false,
  ) {}

  isLenient(): boolean {
    for (let s: Scope | undefined = this; s; s = s.parent) if (s.lenient) return true;
    return false;
  }

  findCte(name: string): CteInfo | undefined {
    for (let s: Scope | undefined = this; s; s = s.parent) {
      const c = s.ctes?.get(name);
      if (c) return c;
    }
    return undefined;
  }
}

/** A relation item's visible columns: the catalog's, renamed by position by alias column names. */
export function relationColumns(rel: Rel, aliasCols: string[]): Map<string, string> | undefined {
  if (!rel.catalog) {
    if (aliasCols.length === 0) return undefined;
    // Unknown relation with renamed columns: the underlying names are unknown; keep the visible
    // names so references bind here, recorded under the visible name.
    return new Map(aliasCols.map((c) => [c, c]));
  }
  const m = new Map<string, string>();
  rel.catalog.columns.forEach((c, i) => m.set(aliasCols[i] ?? c.name, c.name));
  return m;
}

/** A derived item's visible columns from its output names and alias column names. */
export function derivedColumns(outputs: string[] | undefined, aliasCols: string[]): Map<string, string> | undefined {
  if (outputs === undefined) {
    return aliasCols.length > 0 ? new Map(aliasCols.map((c) => [c, c])) : undefined;
  }
  const m = new Map<string, string>();
  outputs.forEach((c, i) => {
    const v = aliasCols[i] ?? c;
    m.set(v, v);
  });
  for (let i = outputs.length; i < aliasCols.length; i++) m.set(aliasCols[i], aliasCols[i]);
  return m;
}

/** Items whose columns an unqualified name can bind to (join aliases flattened). */
export function flatItems(items: readonly FromItem[], out: FromItem[] = []): FromItem[] {
  for (const it of items) {
    if (it.children) flatItems(it.children, out);
    else out.push(it);
  }
  return out;
}

/** The item a qualifier names at one level: alias/refname, or schema + name for unaliased relations. */
export function findQualified(items: readonly FromItem[], schema: string | undefined, name: string): FromItem | undefined {
  for (const it of items) {
    if (schema === undefined) {
      if (it.refname === name) return it;
      if (it.usingAlias === name) return { refname: name, children: it.children, using: it.using, left: it.left, usingOnly: true };
    } else if (it.schema !== undefined && it.refname === name && it.rel?.name.schema === schema) {
      return it;
    }
    if (it.children && it.refname === undefined) {
      const inner = findQualified(it.children, schema, name);
      if (inner) return inner;
    }
  }
  return undefined;
}

/** The provenance of one visible column of an item (no read is recorded here). */
export function itemProv(item: FromItem, visible: string): Prov {
  if (item.rel) return relProv(item, item.cols?.get(visible) ?? visible);
  if (item.outs) for (const o of item.outs) if (o.name === visible && !o.many) return o.prov;
  return item.fallback ?? NONE;
}

/**
 * An item's columns in order, as `*` lists them: a relation's catalog columns, a derived item's
 * outputs, a join's merged USING columns first and then each side's others. A relation the
 * catalog does not know gives one `many` column standing for all of its columns.
 */
export function expandItem(item: FromItem): Out[] {
  if (item.children) {
    const using = item.using ?? [];
    if (item.usingOnly) return expandItem({ ...item, usingOnly: undefined }).slice(0, using.length);
    if (using.length === 0) return item.children.flatMap(expandItem);
    const left = item.children.slice(0, item.left ?? 0).flatMap(expandItem);
    const right = item.children.slice(item.left ?? 0).flatMap(expandItem);
    const merged = new Set(using);
    const out: Out[] = using.map((u) => ({ name: u, prov: choice([...left, ...right].filter((o) => o.name === u).map((o) => o.prov)) }));
    for (const o of left) if (!merged.has(o.name)) out.push(o);
    for (const o of right) if (!merged.has(o.name)) out.push(o);
    return out;
  }
  if (item.rel) {
    const rel = item.rel;
    if (!rel.catalog) {
      const all: Prov = { d: 'opaque', src: [{ schema: rel.name.schema, table: rel.name.name, column: '*' }] };
      const stored = item.stored ? [...item.stored.values()] : [];
      return [{ name: '*', prov: stored.length > 0 ? choice([all, ...stored]) : all, many: true }];
    }
    const out: Out[] = [];
    for (const [visible, col] of item.cols ?? []) out.push({ name: visible, prov: relProv(item, col) });
    return out;
  }
  if (item.outs) return item.outs;
  if (item.cols) return [...item.cols.keys()].map((name) => ({ name, prov: item.fallback ?? NONE }));
  return [{ name: item.refname ?? '?column?', prov: item.fallback ?? NONE, many: true }];
}

/** A base relation item's column, with what the statement writes into it. */
function relProv(item: FromItem, col: string): Prov {
  const rel = item.rel as Rel;
  const p = columnProv(rel.name.schema, rel.name.name, col);
  if (!item.stored) return p;
  const ps = [p];
  const s = item.stored.get(col);
  if (s) ps.push(s);
  const any = item.stored.get('*');
  if (any) ps.push(any);
  return ps.length > 1 ? choice(ps) : p;
}
