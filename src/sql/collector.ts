/**
 * The accumulator one statement's walk writes into, and the conversion to a `StatementAnalysis`.
 * Table accesses are merged per (operation, relation); columns are sets until the end.
 */
import type { CatalogRelation, CatalogSnapshot } from '../catalog/types.ts';
import { plantedCalls, plantedCoercions } from './planted.ts';
import { creationSchema, lookupFunction, lookupRelation } from './resolve.ts';
import type {
  ColumnUse,
  DdlTarget,
  FunctionCall,
  RelationName,
  FlowSink,
  SettingChange,
  SourceColumn,
  Special,
  StatementAnalysis,
  StatementClass,
  TableAccess,
  TableOperation,
  ValueFlow,
} from './types.ts';

/** What the flow records need of a value's provenance (see provenance.ts). */
export interface Carried {
  readonly d: string;
  readonly src: readonly SourceColumn[];
  /** A whole row's fields in order (provenance.ts `wholeRow`). */
  readonly fields?: readonly { readonly prov: Carried }[];
}

/** A relation as the walk knows it: its policy name and, when resolved, its catalog entry. */
export interface Rel {
  name: RelationName;
  catalog?: CatalogRelation;
  /**
   * An unqualified name that is both this permanent relation and one of the session's temporary
   * tables: the server takes the temporary one if it still exists, which the gateway cannot be
   * sure of. Every access is recorded on both, so the statement needs the grants of both and
   * is masked as the permanent one.
   */
  temp?: Rel;
}

interface Entry {
  op: TableOperation;
  rel: Rel;
  columns: Set<string>;
  all: boolean;
}

const WRITE_OPS: ReadonlySet<TableOperation> = new Set(['insert', 'update', 'delete', 'truncate']);

/** Built-in sequence functions and the table operation each performs on its sequence. */
const SEQUENCE_FUNCTIONS: ReadonlyMap<string, TableOperation> = new Map([
  ['nextval', 'update'],
  ['setval', 'update'],
  ['currval', 'select'],
  ['pg_sequence_last_value', 'select'],
]);

/**
 * A qualified name written as text, as PostgreSQL's regclass input reads it: dot-separated
 * parts, unquoted ones folded to lower case, double-quoted ones kept ("" is a quote). Undefined
 * when the text is not such a name.
 */
export function splitQualifiedName(text: string): string[] | undefined {
  const parts: string[] = [];
  let i = 0;
  const s = text.trim();
  while (i <= s.length) {
    let part = '';
    if (s[i] === '"') {
      i++;
      for (;;) {
        if (i >= s.length) return undefined;
        if (s[i] === '"') {
          if (s[i + 1] === '"') {
            part += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        part += s[i++];
      }
      if (part === '') return undefined;
    } else {
      const m = /^[^".\s]+/.exec(s.slice(i));
      if (!m) return undefined;
      part = m[0].toLowerCase();
      i += m[0].length;
    }
    parts.push(part);
    if (i === s.length) return parts;
    if (s[i] !== '.') return undefined;
    i++;
  }
  return undefined;
}

export class Collector {
  private readonly entries = new Map<string, Entry>();
  private readonly useKeys = new Set<string>();
  private readonly fnKeys = new Set<string>();
  private readonly flowKeys = new Set<string>();
  readonly columnUses: ColumnUse[] = [];
  readonly flows: ValueFlow[] = [];
  readonly functions: FunctionCall[] = [];
  readonly ddl: DdlTarget[] = [];
  readonly settings: SettingChange[] = [];
  readonly specials = new Set<Special>();
  /** See `StatementAnalysis.removes` / `rewrites`. */
  readonly removes: string[] = [];
  readonly rewrites: string[] = [];
  unsupported: string | undefined;
  /** A parameter ($n) appears: the client chooses its type, which may bring a cast of user code. */
  sawParameter = false;

  constructor(
    readonly catalog: CatalogSnapshot,
    /** The effective search path (pg_catalog placed, "$user" expanded). */
    readonly path: readonly string[],
    private readonly pathListsCatalog: boolean,
    /** Names of the session's temporary relations: an unqualified name among them is pg_temp's. */
    private readonly temp?: ReadonlySet<string>,
  ) {}

  /** Marks the statement as not understood; the first reason is kept. */
  fail(reason: string): void {
    if (this.unsupported === undefined) this.unsupported = reason;
  }

  special(s: Special): void {
    this.specials.add(s);
  }

  /** Resolves a relation name written in the statement (CTE names are handled by the caller). */
  relation(schema: string | undefined, name: string): Rel {
    const found = schema !== undefined ? this.catalog.relations.get(`${schema}.${name}`) : lookupRelation(this.catalog, name, this.path);
    if (schema === undefined && this.temp?.has(name)) {
      // PostgreSQL looks in the session's temporary schema first (or where search_path lists
      // pg_temp): the name is the session's temporary table, decided as pg_temp.<name>. When a
      // permanent relation of that name is on the path too, the gateway cannot know for certain
      // that the temporary one still exists (code it does not follow may have dropped it, a
      // rollback may have undone it): the name is decided as both, the permanent relation with
      // its catalog columns and rules, and the temporary one beside it (`Rel.temp`).
      const temp: Rel = { name: { schema: 'pg_temp', name, resolved: false } };
      if (found) return { name: { schema: found.schema, name: found.name, resolved: true, oid: found.oid, kind: found.kind }, catalog: found, temp };
      return temp;
    }
    if (found) {
      return { name: { schema: found.schema, name: found.name, resolved: true, oid: found.oid, kind: found.kind }, catalog: found };
    }
    const s = schema ?? this.createSchema() ?? '';
    return { name: { schema: s, name, resolved: false } };
  }

  /**
   * Set while the elements of `CREATE SCHEMA s CREATE …` are analysed: PostgreSQL creates them in
   * s and looks s up first for their names (s is new, so only objects the same statement creates
   * are found there).
   */
  creatingSchema: string | undefined;

  /** The schema a CREATE without a schema would use (also the best guess for unknown names). */
  createSchema(): string | undefined {
    return this.creatingSchema ?? creationSchema(this.catalog, this.path, this.pathListsCatalog);
  }

  /** Ensures an access entry exists (a FROM item is a read even when no column is named). */
  access(op: TableOperation, rel: Rel): Entry {
    // The temporary table the name may mean instead: its columns are not known, so all of them.
    if (rel.temp) this.access(op, rel.temp).all = true;
    const key = `${op}\u0000${rel.name.schema}\u0000${rel.name.name}`;
    let e = this.entries.get(key);
    if (!e) {
      e = { op, rel, columns: new Set(), all: false };
      this.entries.set(key, e);
    }
    return e;
  }

  column(op: TableOperation, rel: Rel, column: string): void {
    this.access(op, rel).columns.add(column);
  }

  /** Every column of the relation (a `*`, a whole-row reference, an INSERT without a column list). */
  allColumns(op: TableOperation, rel: Rel): void {
    const e = this.access(op, rel);
    if (rel.catalog) for (const c of rel.catalog.columns) e.columns.add(c.name);
    else e.all = true;
  }

  use(rel: Rel, column: string, use: ColumnUse['use'], operator: string | undefined): void {
    const key = `${rel.name.schema}\u0000${rel.name.name}\u0000${column}\u0000${use}\u0000${operator ?? ''}`;
    if (this.useKeys.has(key)) return;
    this.useKeys.add(key);
    const u: ColumnUse = { relation: rel.name, column, use };
    if (operator !== undefined) u.operator = operator;
    this.columnUses.push(u);
  }

  /**
   * Records that the values of `sources` flow into `sink` (deduplicated). Recorded for every
   * source: whether one is masked depends on the identity, decided later on the cached analysis.
   */
  flow(sources: readonly SourceColumn[], sink: FlowSink, detail?: string): void {
    for (const s of sources) {
      const key = `${s.schema}\u0000${s.table}\u0000${s.column}\u0000${sink}\u0000${detail ?? ''}`;
      if (this.flowKeys.has(key)) continue;
      this.flowKeys.add(key);
      const f: ValueFlow = { source: { schema: s.schema, table: s.table, column: s.column }, sink };
      if (detail !== undefined) f.detail = detail;
      this.flows.push(f);
    }
  }

  /**
   * Records that a value flows into `sink`, unless it holds no stored data or is an aggregate that
   * reveals none (`count(ssn)::int`, `count(ssn) + 1`).
   */
  flowOf(p: Carried, sink: FlowSink, detail?: string): void {
    if (p.d === 'aggregate' || p.src.length === 0) return;
    this.flow(p.src, sink, detail);
  }

  /**
   * Records uses of the sources of a value reaching a predicate, grouping or ordering (values that
   * come through a derived table, a subquery or an output alias rather than a direct column). The
   * operator applies only when the value IS a column; a computed value is used "inside an
   * expression". A whole row (`c`, `c.*`, a derived table's row `d`) is each of its fields under
   * the same operator: `c = ROW(…)` compares every column by `=`, `c >= ROW(…)` by `>=`, so each
   * is decided as that column compared alone would be.
   */
  useSources(p: Carried, use: ColumnUse['use'], operator: string | undefined): void {
    if (p.d === 'aggregate') return;
    if (p.fields) {
      for (const f of p.fields) this.useSources(f.prov, use, operator);
      return;
    }
    const direct = p.d === 'column';
    for (const s of p.src) {
      const rel: Rel = { name: { schema: s.schema, name: s.table, resolved: true } };
      this.use(rel, s.column, use, direct ? operator : undefined);
    }
  }

  /**
   * Records a function call by its written name; resolves it through the catalog. `nargs` is the
   * number of arguments written (undefined: unknown), `variadicCall` whether the last one is
   * written `VARIADIC arr`. Every user overload the call could resolve to is recorded too (see
   * planted.ts). Returns true when the call may run user code: its value's provenance is then
   * unknown.
   */
  call(written: string[], constArgs: (string | null)[] | undefined, nargs?: number, variadicCall = false, paramArgs?: (number | null)[]): boolean {
    const name = written[written.length - 1] ?? '';
    const schema = written.length > 1 ? written[written.length - 2] : undefined;
    const found = lookupFunction(this.catalog, schema, name, this.path);
    const fc: FunctionCall = { schema: found ? found.schema : (schema ?? ''), name, resolved: found !== undefined };
    if (constArgs && constArgs.length > 0) fc.constArgs = constArgs;
    if (paramArgs) fc.paramArgs = paramArgs;
    if (found && found.overloads.some((o) => o.securityDefiner)) this.specials.add('security_definer_call');
    const user = found !== undefined && found.overloads.some((o) => o.origin === 'user');
    if (user) fc.userCode = true;
    this.addFunction(fc);
    const planted = plantedCalls(this, schema, name, nargs, variadicCall, found?.schema);
    const builtin = (fc.schema === 'pg_catalog' || fc.schema === '') && !user;
    if (builtin && name === 'set_config') this.setConfig(constArgs);
    const seqOp = builtin ? SEQUENCE_FUNCTIONS.get(name) : undefined;
    if (seqOp) this.sequence(seqOp, name, constArgs?.[0]);
    return user || planted;
  }

  /**
   * nextval / setval / currval('name') use the sequence their argument names (a regclass given as
   * text, or as an OID): an access to that relation, like a table's. A target computed at run
   * time (a column, an expression, a parameter, an OID the catalog does not know) could name any
   * sequence: the call records every sequence of the catalog as a target (`targets`), and the
   * policy refuses it unless the identity may use each of them. A constant that is not a valid
   * name is unsupported.
   */
  private sequence(op: TableOperation, fn: string, target: string | null | undefined): void {
    if (typeof target !== 'string') return this.dynamicSequence(op, fn);
    if (/^\s*\d+\s*$/.test(target)) {
      const r = this.catalog.relationsByOid.get(Number(target));
      if (!r) return this.dynamicSequence(op, fn);
      this.access(op, this.relation(r.schema, r.name));
      return;
    }
    const parts = splitQualifiedName(target);
    if (parts === undefined || parts.length === 0 || parts.length > 3) {
      this.fail('a sequence name given to a sequence function cannot be read');
      return;
    }
    const name = parts[parts.length - 1];
    const schema = parts.length > 1 ? parts[parts.length - 2] : undefined;
    this.access(op, this.relation(schema, name));
  }

  private dynamicSequence(op: TableOperation, fn: string): void {
    const targets: RelationName[] = [];
    for (const r of this.catalog.relations.values()) {
      if (r.kind === 'sequence') targets.push({ schema: r.schema, name: r.name, resolved: true, oid: r.oid, kind: r.kind });
    }
    this.addFunction({ schema: 'pg_catalog', name: fn, resolved: true, computedTarget: { op, targets } });
  }

  /**
   * set_config(name, value, is_local) changes a setting exactly as SET does, so it is recorded as
   * the setting change it is: whoever watches `settings` (the session's search_path, read-only,
   * the role) MUST see it too. Only constant name and value are recorded; a call with anything
   * else is refused by the policy's own set_config check.
   */
  private setConfig(constArgs: (string | null)[] | undefined): void {
    const change = setConfigChange(constArgs);
    if (change) this.settings.push(change);
  }

  addFunction(fc: FunctionCall): void {
    const key = `${fc.schema}\u0000${fc.name}\u0000${fc.constArgs ? JSON.stringify(fc.constArgs) : ''}\u0000${fc.paramArgs ? JSON.stringify(fc.paramArgs) : ''}\u0000${fc.computedTarget ? 'computed' : ''}`;
    if (this.fnKeys.has(key)) return;
    this.fnKeys.add(key);
    this.functions.push(fc);
  }

  /** The column types of the relations the statement uses (for casts the server applies on its own). */
  private *columnTypes(): Iterable<number> {
    for (const e of this.entries.values()) for (const c of e.rel.catalog?.columns ?? []) yield c.typeOid;
  }

  hasWrite(): boolean {
    for (const e of this.entries.values()) if (WRITE_OPS.has(e.op)) return true;
    return false;
  }

  tables(): TableAccess[] {
    const out: TableAccess[] = [];
    for (const e of this.entries.values()) {
      const t: TableAccess = { op: e.op, relation: e.rel.name, columns: [...e.columns] };
      if (e.all) t.allColumns = true;
      out.push(t);
    }
    return out;
  }

  /**
   * Copies another statement's findings in (EXPLAIN, PREPARE, DECLARE, CREATE TABLE AS); `ops`
   * filters tables. Without `ops` the contained statement runs (now, or when executed or fetched),
   * so its setting changes (set_config calls) are copied too.
   */
  absorb(a: StatementAnalysis, ops?: ReadonlySet<TableOperation>): void {
    for (const t of a.tables) {
      if (ops && !ops.has(t.op)) continue;
      const rel: Rel = { name: t.relation };
      const e = this.access(t.op, rel);
      for (const c of t.columns) e.columns.add(c);
      if (t.allColumns) e.all = true;
    }
    for (const u of a.columnUses) this.use({ name: u.relation }, u.column, u.use, u.operator);
    for (const f of a.functions) this.addFunction(f);
    for (const f of a.flows ?? []) this.flow([f.source], f.sink, f.detail);
    if (!ops) this.settings.push(...a.settings);
    if (a.unsupported !== undefined) this.fail(a.unsupported);
  }

  finish(text: string, node: string, command: string, cls: StatementClass): StatementAnalysis {
    const p = this.catalog.planted;
    if (p.everywhere.length > 0 || (this.sawParameter && p.castsFromParameters.length > 0) || p.castsByColumnType.size > 0) {
      plantedCoercions(this, this.columnTypes(), this.sawParameter);
    }
    const a: StatementAnalysis = {
      text,
      node,
      command,
      class: cls,
      tables: this.tables(),
      columnUses: this.columnUses,
      functions: this.functions,
      flows: this.flows,
      ddl: this.ddl,
      settings: this.settings,
      specials: [...this.specials],
    };
    if (this.unsupported !== undefined) a.unsupported = this.unsupported;
    if (this.removes.length > 0) a.removes = [...new Set(this.removes)];
    if (this.rewrites.length > 0) a.rewrites = [...new Set(this.rewrites)];
    return a;
  }
}

/** The setting change of `set_config(name, value, is_local)` with these constant arguments; undefined unless name and value are constants. */
export function setConfigChange(constArgs: readonly (string | null)[] | undefined): SettingChange | undefined {
  const [name, value, local] = constArgs ?? [];
  if (typeof name !== 'string' || typeof value !== 'string') return undefined;
  return { name: name.trim().toLowerCase(), value, action: local === 'true' ? 'set_local' : 'set' };
}
