/**
 * The accumulator one statement's walk writes into, and the conversion to a `StatementAnalysis`.
 * Table accesses are merged per (operation, relation); columns are sets until the end.
 */
import type { CatalogRelation, CatalogSnapshot } from '../catalog/types.ts';
import { creationSchema, lookupFunction, lookupRelation } from './resolve.ts';
import type {
  ColumnUse,
  DdlTarget,
  FunctionCall,
  RelationName,
  SettingChange,
  Special,
  StatementAnalysis,
  StatementClass,
  TableAccess,
  TableOperation,
} from './types.ts';

/** A relation as the walk knows it: its policy name and, when resolved, its catalog entry. */
export interface Rel {
  name: RelationName;
  catalog?: CatalogRelation;
}

interface Entry {
  op: TableOperation;
  rel: Rel;
  columns: Set<string>;
  all: boolean;
}

const WRITE_OPS: ReadonlySet<TableOperation> = new Set(['insert', 'update', 'delete', 'truncate']);

export class Collector {
  private readonly entries = new Map<string, Entry>();
  private readonly useKeys = new Set<string>();
  private readonly fnKeys = new Set<string>();
  readonly columnUses: ColumnUse[] = [];
  readonly functions: FunctionCall[] = [];
  readonly ddl: DdlTarget[] = [];
  readonly settings: SettingChange[] = [];
  readonly specials = new Set<Special>();
  unsupported: string | undefined;

  constructor(
    readonly catalog: CatalogSnapshot,
    /** The effective search path (pg_catalog placed, "$user" expanded). */
    readonly path: readonly string[],
    private readonly pathListsCatalog: boolean,
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
    if (found) {
      return { name: { schema: found.schema, name: found.name, resolved: true, oid: found.oid, kind: found.kind }, catalog: found };
    }
    const s = schema ?? this.createSchema() ?? '';
    return { name: { schema: s, name, resolved: false } };
  }

  /** The schema a CREATE without a schema would use (also the best guess for unknown names). */
  createSchema(): string | undefined {
    return creationSchema(this.catalog, this.path, this.pathListsCatalog);
  }

  /** Ensures an access entry exists (a FROM item is a read even when no column is named). */
  access(op: TableOperation, rel: Rel): Entry {
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

  /** Records a function call by its written name; resolves it through the catalog. */
  call(written: string[], constArgs: (string | null)[] | undefined): void {
    const name = written[written.length - 1] ?? '';
    const schema = written.length > 1 ? written[written.length - 2] : undefined;
    const found = lookupFunction(this.catalog, schema, name, this.path);
    const fc: FunctionCall = { schema: found ? found.schema : (schema ?? ''), name, resolved: found !== undefined };
    if (constArgs && constArgs.length > 0) fc.constArgs = constArgs;
    if (found && found.overloads.some((o) => o.securityDefiner)) this.specials.add('security_definer_call');
    this.addFunction(fc);
  }

  addFunction(fc: FunctionCall): void {
    const key = `${fc.schema}\u0000${fc.name}\u0000${fc.constArgs ? JSON.stringify(fc.constArgs) : ''}`;
    if (this.fnKeys.has(key)) return;
    this.fnKeys.add(key);
    this.functions.push(fc);
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

  /** Copies another statement's findings in (EXPLAIN, PREPARE, DECLARE); `ops` filters tables. */
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
    if (a.unsupported !== undefined) this.fail(a.unsupported);
  }

  finish(text: string, node: string, command: string, cls: StatementClass): StatementAnalysis {
    const a: StatementAnalysis = {
      text,
      node,
      command,
      class: cls,
      tables: this.tables(),
      columnUses: this.columnUses,
      functions: this.functions,
      ddl: this.ddl,
      settings: this.settings,
      specials: [...this.specials],
    };
    if (this.unsupported !== undefined) a.unsupported = this.unsupported;
    return a;
  }
}
