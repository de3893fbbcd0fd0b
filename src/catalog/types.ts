/**
 * What the gateway knows of an upstream database's schema: a snapshot loaded from the upstream's
 * system catalogs with the gateway's own connection. Snapshots are immutable data; a reload makes
 * a new one with a higher `version`, so anything cached against a snapshot (analyses, decisions)
 * can be keyed by that version.
 */

export type RelationKind = 'table' | 'partitioned_table' | 'view' | 'materialized_view' | 'foreign_table' | 'sequence' | 'composite_type' | 'other';

export interface CatalogColumn {
  name: string;
  /** pg_attribute.attnum (1-based; system columns are not listed). */
  attnum: number;
  typeOid: number;
  /** format_type() of the column, e.g. `text`, `numeric(10,2)`, `public.mood`. */
  typeName: string;
}

export interface CatalogRelation {
  oid: number;
  schema: string;
  name: string;
  kind: RelationKind;
  /** User columns in attnum order (dropped columns omitted). */
  columns: CatalogColumn[];
  /** For views: the relations the view reads (from pg_depend / pg_rewrite), schema-qualified. */
  viewDependencies?: { schema: string; name: string }[];
  /** True when the relation has rules that could turn a write into other writes. */
  hasRules?: boolean;
}

export interface CatalogFunction {
  oid: number;
  schema: string;
  name: string;
  /** 'f' function, 'p' procedure, 'a' aggregate, 'w' window. */
  kind: 'f' | 'p' | 'a' | 'w';
  /** 'i' immutable, 's' stable, 'v' volatile. */
  volatility: 'i' | 's' | 'v';
  securityDefiner: boolean;
  language: string;
  /** Input argument type OIDs. */
  argTypes: number[];
}

export interface CatalogSnapshot {
  /** Increases with every load of the same upstream. */
  version: number;
  /** `${schema}.${name}` → relation (names as stored: already case-folded). */
  relations: Map<string, CatalogRelation>;
  /** Relation OID → relation (for RowDescription's table OID). */
  relationsByOid: Map<number, CatalogRelation>;
  schemas: Set<string>;
  /** `${schema}.${name}` → overloads. */
  functions: Map<string, CatalogFunction[]>;
  /** Name of the role the gateway signs in as (for `"$user"` in search_path). */
  currentUser: string;
  /** The upstream's default search_path, as `current_schemas(false)` reports it. */
  defaultSearchPath: string[];
  loadedAt: number;
  /**
   * Names relations and columns had earlier in this process (renamed since), keyed by
   * `${oid}:${attnum}` (attnum 0: the relation); see renames.ts. Absent or empty: none seen.
   */
  formerNames?: Map<string, readonly (readonly string[])[]>;
}
