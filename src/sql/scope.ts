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

export interface FromItem {
  /** The name qualified references use: the alias, or the relation's own name. */
  refname?: string;
  /** For an unaliased base relation: its schema, so `schema.table.column` matches. */
  schema?: string;
  rel?: Rel;
  cols?: Map<string, string>;
  /** A join with an alias hides its members' names but not their columns. */
  children?: FromItem[];
}

export interface CteInfo {
  cols?: string[];
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
