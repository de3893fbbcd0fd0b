/**
 * The result of analysing SQL text: what each statement does, in terms a policy can decide on.
 * Produced by `analyse()` (pure: text + catalog snapshot + search_path in, data out).
 *
 * Names are resolved the way PostgreSQL would (case folding, quoting, U&"…" identifiers,
 * search_path with pg_catalog first). A relation the catalog does not know keeps its written
 * schema (or the first search_path schema for a CREATE) and `resolved: false`.
 */

/** The broad class of a statement. */
export type StatementClass =
  | 'read' // SELECT, TABLE, VALUES, SHOW, EXPLAIN (without ANALYZE of a write), FETCH …
  | 'write' // INSERT, UPDATE, DELETE, MERGE, TRUNCATE, COPY FROM, SELECT INTO …
  | 'ddl' // CREATE, ALTER, DROP, COMMENT, REINDEX, VACUUM, ANALYZE, CLUSTER, REFRESH …
  | 'dcl' // GRANT, REVOKE, CREATE/ALTER/DROP ROLE, ALTER DEFAULT PRIVILEGES, SECURITY LABEL
  | 'transaction' // BEGIN, COMMIT, ROLLBACK, SAVEPOINT, PREPARE TRANSACTION …
  | 'session' // SET, RESET, DISCARD, LISTEN, NOTIFY, PREPARE, EXECUTE, DEALLOCATE, DECLARE, CLOSE …
  | 'utility'; // everything else the analyser classifies (LOCK, CHECKPOINT, LOAD, DO, CALL …)

/** Table-level operations, named as the policy names them. */
export type TableOperation = 'select' | 'insert' | 'update' | 'delete' | 'truncate' | 'references' | 'trigger';

export interface RelationName {
  schema: string;
  name: string;
  /** False when the catalog does not know it (the name is then as written / as it would be created). */
  resolved: boolean;
  /** pg_class OID when resolved. */
  oid?: number;
  kind?: import('../catalog/types.ts').RelationKind;
}

/** One use of one relation by one operation. */
export interface TableAccess {
  op: TableOperation;
  relation: RelationName;
  /**
   * Columns the operation touches: for select, every column read anywhere in the statement (output,
   * WHERE, JOIN, GROUP/ORDER BY, RETURNING, whole-row references expanded to all columns); for
   * insert/update, the columns written; for delete/truncate, empty.
   */
  columns: string[];
  /** True when the column list could not be known exactly (e.g. unknown relation with `*`). */
  allColumns?: boolean;
  /**
   * For the read of pg_catalog.pg_settings: the setting names its rows are proven limited to
   * (`WHERE name = '…'`, `name IN (…)`; see `settings-pin.ts`), exactly as written. Absent when
   * not proven: the read may return any setting.
   */
  settingNames?: string[];
}

/**
 * The `operator` of a filter a write makes: a unique index, exclusion constraint or foreign key
 * compares the written value with stored ones by equality (see `write-comparisons.ts`).
 */
export const KEY_CHECK = 'key check';

/** Columns used as filters, groups or orderings (inference through predicates; masking uses it). */
export interface ColumnUse {
  relation: RelationName;
  column: string;
  use: 'filter' | 'group' | 'order' | 'join';
  /** For filters: the operator or function comparing it, when it is a simple comparison ('=', 'like', '<', 'in', …). */
  operator?: string;
}

/**
 * Where a stored value goes other than an output column or a predicate (those are `outputs` and
 * `columnUses`): positions where it can steer the result's shape, raise an error that echoes it,
 * or be stored somewhere else. Masking refuses a flow of a masked column its rule does not allow.
 */
export type FlowSink =
  | 'limit' // LIMIT / OFFSET / TABLESAMPLE: the number of rows
  | 'set_returning' // an argument of a set-returning function (generate_series, regexp_matches, unnest …)
  | 'case' // a condition: CASE WHEN (or CASE x WHEN), AND / OR outside a predicate
  | 'aggregate' // an aggregate other than count of the plain column (min, max, sum, percentile …)
  | 'window' // a window function's arguments, PARTITION BY and ORDER BY
  | 'distinct' // SELECT DISTINCT over it
  | 'set_operation' // an operand of UNION / INTERSECT / EXCEPT (UNION ALL compares nothing)
  | 'function' // a function, operator or cast that can fail on the value (error messages echo it)
  | 'write' // stored by INSERT / UPDATE / MERGE / SELECT INTO / CREATE TABLE AS / CREATE VIEW
  | 'setting' // set_config()
  | 'parameter'; // a parameter of EXECUTE (where it goes is not known here)

/** One flow of one source column into a sink. */
export interface ValueFlow {
  source: SourceColumn;
  sink: FlowSink;
  /**
   * What the sink is, for messages: the function or operator (`sqrt`, `operator /`, `cast to
   * regclass`), the aggregate, or for 'write' the written column as `schema.table.column`
   * (`schema.table.*` when not known).
   */
  detail?: string;
}

export interface FunctionCall {
  /**
   * Schema-qualified when the catalog resolved it; otherwise the schema as written, or '' when
   * written without a schema and unknown to the catalog (such a call MUST NOT match a rule by schema).
   */
  schema: string;
  name: string;
  resolved: boolean;
  /** For set_config / current_setting style calls: the first argument when it is a constant. */
  constArgs?: (string | null)[];
  /**
   * Arguments that are a bind parameter alone (`current_setting($1)`): its number, by argument
   * position. What such a call does is known only at Bind (see the gate's `settingParams`).
   */
  paramArgs?: (number | null)[];
  /**
   * The function is user code: created after initdb and not part of an extension, whatever its
   * schema (a superuser can create functions in pg_catalog too). Never allowed as a built-in.
   */
  userCode?: boolean;
  /**
   * How the statement reaches a function it does not name: `lower(…) written without a schema`
   * (an overload PostgreSQL could pick), `operator public.#`, `the cast from … to … (::t)`.
   */
  via?: string;
  /**
   * A sequence function (nextval, setval, currval, pg_sequence_last_value) whose target is
   * computed at run time: it could name any of `targets` (every sequence of the catalog), each of
   * which needs `op` (update for nextval/setval, select for the others).
   */
  computedTarget?: { op: TableOperation; targets: RelationName[] };
}

/**
 * The source of a value computed by user code the gateway cannot see into (a function, operator
 * or cast created in the database): it may hold any value the upstream role can read. Masking
 * MUST treat it as covered by every rule.
 */
export const ANY_SOURCE: SourceColumn = Object.freeze({ schema: '*', table: '*', column: '*' });

export function isAnySource(s: SourceColumn): boolean {
  return s.schema === '*' && s.table === '*' && s.column === '*';
}

export type DdlAction = 'create' | 'alter' | 'drop' | 'comment' | 'rename' | 'maintenance' | 'refresh' | 'security_label' | 'other';

export interface DdlTarget {
  action: DdlAction;
  /** 'table', 'index', 'view', 'schema', 'function', 'sequence', 'type', 'extension', 'trigger', 'role', 'database', … */
  objectType: string;
  schema?: string;
  name?: string;
  /**
   * The relation the object belongs to, when it has one: the table of an index, trigger, rule,
   * policy, constraint, statistics object or commented column.
   */
  on?: { schema: string; name: string };
  /** For CREATE FUNCTION / PROCEDURE: the language the body is written in (lower case). */
  language?: string;
  /** For ALTER … SET SCHEMA: the schema the object moves to (the object keeps its name). */
  newSchema?: string;
  /** For ALTER … RENAME TO of an object that is not a relation: its new name (same schema). */
  newName?: string;
  /**
   * An unqualified name of an existing object that the catalog snapshot does not list (a type, a
   * domain, an operator class, …): every schema the server may find it in, in search order.
   */
  candidates?: string[];
  /** ALTER TABLE … INHERIT / ATTACH PARTITION: the child whose rows a scan of the parent will read. */
  links?: { child: { schema: string; name: string }; parent: { schema: string; name: string } };
}

export interface SettingChange {
  /** Lower-cased setting name; null for RESET ALL / DISCARD ALL. */
  name: string | null;
  /** SET value as text (null for RESET / DEFAULT). */
  value: string | null;
  /** `set_stored`: kept for later sessions or calls (ALTER ROLE/DATABASE/SYSTEM … SET, a function's SET clause). */
  action: 'set' | 'set_local' | 'reset' | 'reset_all' | 'set_role' | 'set_session_authorization' | 'set_transaction' | 'set_stored';
  /** SET name FROM CURRENT (value null): keeps the value in effect, as the session's. */
  fromCurrent?: true;
}

/** Things a policy must look at individually, whatever the tables say. */
export type Special =
  | 'copy_program' // COPY … PROGRAM
  | 'copy_file' // COPY … TO/FROM 'file' (server side)
  | 'copy_to_stdout'
  | 'copy_from_stdin'
  | 'do_block' // DO $$ … $$ (language in `doLanguage`)
  | 'listen'
  | 'notify'
  | 'prepare' // PREPARE name AS …  (the inner statement is analysed in `inner`)
  | 'execute' // EXECUTE name (decided against the prepared statement's analysis)
  | 'deallocate'
  | 'declare_cursor' // DECLARE … CURSOR FOR …  (inner analysed)
  | 'fetch' // FETCH / MOVE / CLOSE cursor
  | 'explain_analyze' // EXPLAIN ANALYZE: the inner statement is executed
  | 'lock'
  | 'load' // LOAD 'library'
  | 'delete_without_where'
  | 'update_without_where'
  | 'select_into' // SELECT INTO / CREATE TABLE AS
  | 'security_definer_call'
  | 'cte_write'; // a data-modifying CTE

export interface StatementAnalysis {
  /** The statement's own text (sliced from the query by its UTF-8 byte offsets). */
  text: string;
  /** The parse node type, e.g. 'SelectStmt', 'DropStmt', 'VariableSetStmt'. */
  node: string;
  /** A short lower-case command name: 'select', 'insert', 'drop table', 'set', 'begin', … */
  command: string;
  class: StatementClass;
  tables: TableAccess[];
  columnUses: ColumnUse[];
  functions: FunctionCall[];
  /** Flows of stored values into positions other than outputs and predicates (see `FlowSink`). */
  flows?: ValueFlow[];
  ddl: DdlTarget[];
  settings: SettingChange[];
  specials: Special[];
  /** DECLARE … WITH HOLD: the cursor outlives the transaction that declared it. */
  holdCursor?: true;
  /** DO block language (lower case), when `do_block`. */
  doLanguage?: string;
  /** For PREPARE / DECLARE / EXPLAIN / CREATE TABLE AS: the analysis of the contained statement. */
  inner?: StatementAnalysis;
  /**
   * Name of the prepared statement (PREPARE / EXECUTE / DEALLOCATE), cursor (DECLARE / FETCH /
   * CLOSE) or notification channel (LISTEN / NOTIFY / UNLISTEN).
   */
  objectName?: string;
  /**
   * When set, the analyser could not fully understand the statement; the policy MUST refuse it
   * with this reason (fail closed).
   */
  unsupported?: string;
  /**
   * The columns of the rows this statement returns to the client, in order, with the base
   * columns whose values flow into each (provenance, for masking). Set for statements that return
   * rows: SELECT / VALUES / TABLE, DML with RETURNING, COPY … TO STDOUT (the copied columns),
   * DECLARE … CURSOR (the cursor's rows, FETCHed later), EXECUTE is left to the engine. Absent
   * when the statement returns no rows, or returns rows that hold no table data (SHOW, EXPLAIN).
   */
  outputs?: OutputColumn[];
  /** COPY: its direction, format and options (for masking COPY … TO STDOUT rows). */
  copy?: CopyOptions;
  /**
   * What an ALTER removes short of dropping a whole object (whole objects are `ddl` targets with
   * action 'drop'): `drop column`, `drop constraint`, `drop default`, `drop not null`,
   * `detach partition`, `no inherit`, `drop attribute`, … (review rules: `drop`).
   */
  removes?: string[];
  /**
   * Table rewrites that can change stored values or hold the table for long: `alter column type`,
   * `set expression`, `set access method`, `set logged` / `set unlogged`, `cluster`
   * (review rules: `rewrite`).
   */
  rewrites?: string[];
  /**
   * DDL or DCL that changes nothing the catalog snapshot holds (`COMMENT`, `GRANT`, a plain
   * `CREATE INDEX`, …: see `catalog-neutral.ts`): no catalog reload follows it.
   */
  catalogNeutral?: true;
}

export interface CopyOptions {
  direction: 'to' | 'from';
  format: 'text' | 'csv' | 'binary';
  delimiter?: string;
  null?: string;
  quote?: string;
  escape?: string;
  header?: boolean;
  /** The ENCODING option as written (rows are converted to it; absent: the client encoding). */
  encoding?: string;
}

/** A base table column, schema-qualified. */
export interface SourceColumn {
  schema: string;
  table: string;
  column: string;
}

/**
 * One output column and where its value comes from.
 *
 * - `column`: the value IS a source column (possibly through a cast, COALESCE/NULLIF/GREATEST
 *   of columns, CASE returning columns, a subquery returning a column): a masker for that column
 *   applies to it.
 * - `expression`: the value is computed from the sources (`lower(email)`, `email || ''`,
 *   `substr(ssn, 1, 3)`, arithmetic, min/max/sum of them …): it may reveal them, so it is masked
 *   as a whole (redacted / NULL), never passed in clear when a source is sensitive.
 * - `aggregate`: an aggregate that reveals no value of its sources (`count(ssn)`,
 *   `count(distinct ssn)`): passes.
 * - `opaque`: whole rows, records, JSON/array/string aggregation or conversion of rows or values
 *   (`c`, `c.*` as one value, `row_to_json(c)`, `to_jsonb(c.*)`, `json_agg(c)`,
 *   `string_agg(ssn, ',')`, `array_agg(ssn)`): the value packs sources inside it.
 */
export interface OutputColumn {
  /** The column label PostgreSQL would give (`?column?` when it has none). */
  name: string;
  sources: SourceColumn[];
  derivation: 'column' | 'expression' | 'aggregate' | 'opaque';
}

/** A syntax error from the parser, with the 1-based character position PostgreSQL would report. */
/**
 * The parser could not finish (it ran out of memory on a statement too large or too deeply
 * nested), as opposed to finding a syntax error: the statement is too complex to check.
 */
/**
 * A statement whose parse tree is larger than the limit (`limits.max_statement_nodes`): refused
 * before the tree is read, since reading and analysing it would hold the event loop every session
 * shares. Only texts parsed off the event loop (16 KiB or more) are counted: a shorter text has
 * fewer nodes than any limit allowed.
 */
export class SqlTooManyNodes extends Error {
  constructor(
    readonly nodes: number,
    readonly limit: number,
  ) {
    super(`pgwarden: the statement is too complex to be checked: its parse tree has ${nodes} nodes, over the limit of ${limit} (limits.max_statement_nodes)`);
    this.name = 'SqlTooManyNodes';
  }
}

export class SqlParserFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SqlParserFailure';
  }
}

export class SqlSyntaxError extends Error {
  constructor(
    message: string,
    readonly position?: number,
  ) {
    super(message);
    this.name = 'SqlSyntaxError';
  }
}
