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
  /** pg_attribute.attnotnull: the column can never hold NULL (a primary key's columns included). */
  notNull?: boolean;
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
  /**
   * For views and materialized views created since initdb: their query (`pg_get_viewdef`, names
   * qualified as the catalog's connection needs them under `defaultSearchPath`). Masking rules
   * name a base table's columns; a view made on the database carries their values under names
   * no rule has, so its reads are checked on this query (see engine/view-reads.ts).
   */
  viewDefinition?: string;
  /** True when the relation has rules that could turn a write into other writes. */
  hasRules?: boolean;
  /**
   * OIDs of the relations this one inherits from or is a partition of (pg_inherits.inhparent): a
   * scan of a parent reads its children's rows.
   */
  parents?: number[];
  /**
   * Column groups (attnums) a write compares with the values stored in other rows: the columns
   * of each unique index or exclusion constraint (key, expression and predicate columns). Writing
   * one of them succeeds or fails (or, with ON CONFLICT, updates a row) by whether another row
   * holds an equal value: an equality test of the stored column.
   */
  uniqueKeys?: number[][];
  /**
   * Foreign keys of this relation: writing `columns` looks the value up in `refColumns` of the
   * relation with OID `references` (an equality test of the referenced column).
   */
  foreignKeys?: { columns: number[]; references: number; refColumns: number[] }[];
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
  /**
   * Where the code comes from: `builtin` (made by initdb: OID below 16384), `extension` (a member
   * of an extension, installed by a database administrator) or `user` (created since: by anyone
   * with CREATE on a schema, and possibly planted to be picked by someone else's call).
   */
  origin: CodeOrigin;
  /** How many trailing arguments have defaults (pronargdefaults). */
  argDefaults: number;
  /** The last argument is VARIADIC. */
  variadic: boolean;
  /**
   * The source text (prosrc) of user code written in PL/pgSQL or SQL: what calling it may do to
   * search_path and prepared statements is read there (see path-code.ts, engine/gate.ts). For
   * `internal` functions (the range constructors CREATE TYPE makes), the C function's name.
   */
  source?: string;
}

export type CodeOrigin = 'builtin' | 'extension' | 'user';

/** The function behind an operator or a cast. */
export interface CodeRef {
  oid: number;
  schema: string;
  name: string;
}

/** An operator whose function is user code (see `PlantedCode`). */
export interface CatalogOperator {
  oid: number;
  schema: string;
  name: string;
  /** Left operand type OID; 0 for a prefix operator. */
  left: number;
  right: number;
  fn: CodeRef;
}

export interface TypeSet {
  oids: number[];
  names: { schema: string; name: string }[];
}

/** A cast whose function is user code (see `PlantedCode`). */
export interface CatalogCast {
  oid: number;
  source: number;
  target: number;
  /** pg_cast.castcontext: explicit only, in assignments too, or implicit anywhere. */
  context: 'e' | 'a' | 'i';
  fn: CodeRef;
  /**
   * Each side's type with its domains and array types (a cast to T also runs for a domain over T,
   * and element-wise for T[]), as OIDs and as the names `x::name` would write.
   */
  sourceTypes: TypeSet;
  targetTypes: TypeSet;
  /** Both types are built in (only a superuser can make such a cast). */
  betweenBuiltins: boolean;
  /**
   * Not a pg_cast row: the CHECK constraints or default of the domain `target` (= `source`) call
   * `fn`, which runs whenever a value becomes of a type in `targetTypes`.
   */
  domainCheck?: true;
}

/**
 * User code that a call, an operator or a cast could reach without naming it: PostgreSQL picks
 * the best-matching overload over every schema of the search path, so `lower(1)` runs a
 * `public.lower(integer)` that someone created, and an operator or a cast created by a user runs
 * its function wherever the server applies it. Indexed once per snapshot so that the analyser's
 * hot path costs one map probe per call.
 *
 * When a cast can run (the analyser does not type expressions, so it looks for what must be there):
 * - an explicit cast to a user type runs only where `::T` (or a domain or array of T) is written;
 * - otherwise a cast needs a value of its source type when that is a user type (a column of it, a
 *   `::S` that makes one, or a parameter the client types as S), else a context of its target
 *   type (a column of it, a `::T`);
 * - an implicit or assignment cast between two built-in types (which only a superuser can create)
 *   can run anywhere.
 */
export interface PlantedCode {
  /** Functions of origin `user`, by name (any schema, pg_catalog included). */
  functions: Map<string, CatalogFunction[]>;
  /** Operators whose function is of origin `user`, by operator name. */
  operators: Map<string, CatalogOperator[]>;
  /** Casts of user code, by a type name whose `::name` may run them. */
  castsByTypeName: Map<string, CatalogCast[]>;
  /** Casts of user code, by a type OID whose columns may make the server run them. */
  castsByColumnType: Map<number, CatalogCast[]>;
  /** Casts of user code from a user type: a parameter the client types so may run them. */
  castsFromParameters: CatalogCast[];
  /** Implicit or assignment casts of user code between built-in types: any statement may run them. */
  everywhere: CatalogCast[];
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
  /** User code reachable without naming it (see `PlantedCode`). */
  planted: PlantedCode;
  /** Name of the role the gateway signs in as (for `"$user"` in search_path). */
  currentUser: string;
  /** The upstream's default search_path, as `current_schemas(false)` reports it. */
  defaultSearchPath: string[];
  /**
   * Relation OID → OIDs of the user functions that run when it is read or written without being
   * named (triggers, rules and view queries, defaults, constraints, index expressions, row
   * security policies). Empty in a snapshot from a dump file written before it was recorded.
   */
  attachedCode?: Map<number, number[]>;
  /**
   * `schema.name` of relations a session attached user code to that the catalog does not have
   * yet (created in its open transaction): only in the snapshot a session's statements are
   * analysed on (engine/created-code.ts), never in a loaded one.
   */
  pendingAttached?: ReadonlySet<string>;
  /**
   * A domain whose CHECK or default calls user code was made or changed in the session's open
   * transaction (engine/created-code.ts): any relation used may have a column of it.
   */
  pendingDomainCode?: true;
  /**
   * The search_path setting a new upstream session gets (e.g. `"$user", public`): the gateway
   * starts its sessions with it, so a default stored later (ALTER ROLE … SET search_path) does
   * not change their path behind its back. Absent in snapshots read from older dump files.
   */
  searchPathSetting?: string;
  loadedAt: number;
  /**
   * Names relations and columns had earlier in this process (renamed since), keyed by
   * `${oid}:${attnum}` (attnum 0: the relation); see renames.ts. Absent or empty: none seen.
   */
  formerNames?: Map<string, readonly (readonly string[])[]>;
}
