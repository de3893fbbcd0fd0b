/**
 * DDL and DCL statements: the objects they create, alter, drop, comment on, rename or maintain
 * (`ddl` targets), plus what runs or is referenced as a side effect: expressions in DEFAULT /
 * CHECK / index / policy / trigger clauses (their function calls and subqueries), the trigger
 * function of CREATE TRIGGER (and the TRIGGER privilege it needs), FOREIGN KEY references (the
 * REFERENCES privilege), and the query of CREATE VIEW / CREATE RULE (whose reads a later SELECT of
 * the view would perform with the owner's rights, so they count now).
 */
import { constText, list, names, type Node, objectTypeName, str, typeOf, unwrap } from './ast.ts';
import type { Collector } from './collector.ts';
import { expr } from './expressions.ts';
import type { QueryWalker } from './queries.ts';
import { lookupFunction } from './resolve.ts';
import { columnProv, NONE, type Prov } from './provenance.ts';
import { relationColumns, Scope } from './scope.ts';
import type { DdlAction, DdlTarget, StatementClass } from './types.ts';

export interface Classified {
  command: string;
  cls: StatementClass;
}

const RELATION_TYPES = new Set(['table', 'view', 'materialized view', 'foreign table', 'sequence', 'index', 'column', 'trigger', 'rule', 'policy', 'constraint']);
const ATTACHED_TYPES = new Set(['trigger', 'rule', 'policy', 'constraint', 'column']);
/** Kinds of object that live in a schema and are not relations (relations resolve against the catalog). */
const SCHEMA_OBJECTS = new Set([
  'type',
  'domain',
  'function',
  'procedure',
  'routine',
  'aggregate',
  'operator',
  'operator class',
  'operator family',
  'collation',
  'conversion',
  'statistics',
  'text search parser',
  'text search dictionary',
  'text search template',
  'text search configuration',
]);
/** Of those, the kinds an unqualified name never finds in the session's temporary schema. */
const NEVER_IN_TEMP = new Set(['function', 'procedure', 'routine', 'aggregate', 'operator']);
/** Kinds whose name in DROP / ALTER / COMMENT is preceded by the access method's name. */
const AFTER_ACCESS_METHOD = new Set(['operator class', 'operator family']);

export class DdlWalker {
  constructor(
    readonly c: Collector,
    readonly w: QueryWalker,
  ) {}

  private add(action: DdlAction, objectType: string, schema?: string, name?: string, on?: { schema: string; name: string }): void {
    const t: DdlTarget = { action, objectType };
    if (schema === undefined && name !== undefined && on === undefined && SCHEMA_OBJECTS.has(objectType)) {
      // An unqualified name of an object the catalog snapshot does not list: a CREATE puts it in
      // the creation schema; anything else means the first schema of the search path that has
      // one, which the gateway cannot tell, so it names every schema the server may look in.
      if (action === 'create') schema = this.c.createSchema();
      else t.candidates = NEVER_IN_TEMP.has(objectType) ? [...this.c.path] : ['pg_temp', ...this.c.path];
    }
    if (schema !== undefined) t.schema = schema;
    if (name !== undefined) t.name = name;
    if (on) t.on = on;
    this.c.ddl.push(t);
  }

  /**
   * A setting value stored for later (ALTER ROLE / ALTER DATABASE / ALTER SYSTEM … SET, and a
   * function's SET clause, applied whenever it is called): recorded as a `set_stored` setting
   * change so that the policy holds it to the protected settings (a stored client_encoding or
   * standard_conforming_strings would change how the server reads statements). RESET of a stored
   * value only removes it and is not recorded.
   */
  private storedSetting(set: Node | undefined): void {
    if (!set || set.kind !== 'VAR_SET_VALUE' || typeof set.name !== 'string') return;
    const values = list(set.args).map((a) => constText(a));
    // Not a constant: a value no allowed list holds, so a protected setting is refused.
    const value = values.length > 0 && values.every((v) => typeof v === 'string') ? values.join(', ') : '(not a constant)';
    this.c.settings.push({ name: set.name.toLowerCase(), value, action: 'set_stored' });
  }

  private functionSettings(options: Node[]): void {
    for (const o of options) {
      const d = o.DefElem as Node | undefined;
      if (d?.defname === 'set') this.storedSetting(unwrap(d.arg, 'VariableSetStmt'));
    }
  }

  /** A relation named for DDL: resolved when it exists; a CREATE puts it in the creation schema. */
  private relTarget(action: DdlAction, objectType: string, rv: Node | undefined): { schema: string; name: string } | undefined {
    if (!rv) {
      this.add(action, objectType);
      return undefined;
    }
    const r = unwrap(rv, 'RangeVar') as Node;
    let schema: string | undefined = r.schemaname;
    if (schema === undefined && action === 'create') schema = r.relpersistence === 't' ? 'pg_temp' : this.c.createSchema();
    else if (schema === undefined) {
      const rel = this.c.relation(undefined, r.relname);
      schema = rel.name.schema || undefined;
      if (rel.temp) this.addShared(action, objectType, schema, r.relname);
      else this.add(action, objectType, schema, r.relname);
      return { schema: schema ?? '', name: r.relname };
    }
    this.add(action, objectType, schema, r.relname);
    return { schema: schema ?? '', name: r.relname };
  }

  /** A name that may be the session's temporary table or a permanent one: DDL on both. */
  private addShared(action: DdlAction, objectType: string, schema: string | undefined, name: string): void {
    this.add(action, objectType, 'pg_temp', name);
    this.add(action, objectType, schema, name);
  }

  /** A relation by a dotted name list (DROP TABLE a.b, COMMENT ON TABLE b). */
  private relByNames(parts: string[]): { schema: string; name: string; temp: boolean } {
    const name = parts[parts.length - 1] ?? '';
    const schema = parts.length > 1 ? parts[parts.length - 2] : undefined;
    const rel = this.c.relation(schema, name);
    return { schema: rel.name.schema, name, temp: rel.temp !== undefined };
  }


  /** A target for an object named by a parse node of any of the shapes DROP / COMMENT / ALTER use. */
  objectTarget(action: DdlAction, objtype: string | undefined, object: Node | undefined): void {
    const type = objectTypeName(objtype);
    if (!object) {
      this.add(action, type);
      return;
    }
    if (object.RangeVar) {
      this.relTarget(action, type, object);
      return;
    }
    if (object.ObjectWithArgs || object.objname) {
      const owa = unwrap(object, 'ObjectWithArgs') as Node;
      const parts = names(owa.objname);
      const name = parts[parts.length - 1];
      let schema = parts.length > 1 ? parts[parts.length - 2] : undefined;
      if (schema === undefined && (type === 'function' || type === 'procedure' || type === 'routine' || type === 'aggregate')) {
        schema = lookupFunction(this.c.catalog, undefined, name ?? '', this.c.path)?.schema;
      }
      this.add(action, type, schema, name);
      return;
    }
    if (object.TypeName) {
      const parts = names(object.TypeName.names);
      this.add(action, type, parts.length > 1 ? parts[parts.length - 2] : undefined, parts[parts.length - 1]);
      return;
    }
    const single = str(object);
    if (single !== undefined) {
      this.add(action, type, undefined, single);
      return;
    }
    const items = object.List ? names(object.List.items) : [];
    const parts = AFTER_ACCESS_METHOD.has(type) ? items.slice(1) : items;
    if (parts.length === 0) {
      this.add(action, type);
      return;
    }
    if (ATTACHED_TYPES.has(type) && parts.length >= 2) {
      const on = this.relByNames(parts.slice(0, -1));
      this.add(action, type, on.schema, parts[parts.length - 1], on);
      return;
    }
    if (RELATION_TYPES.has(type)) {
      const r = this.relByNames(parts);
      if (r.temp) this.addShared(action, type, r.schema, r.name);
      else this.add(action, type, r.schema, r.name);
      return;
    }
    this.add(action, type, parts.length > 1 ? parts[parts.length - 2] : undefined, parts[parts.length - 1]);
  }

  /**
   * An expression in a DDL clause: names refer to the row being defined (lenient). The table's
   * stored values flow into it: a generated column stores them, a CHECK, index, policy or
   * trigger condition is evaluated on them by the server (failing, or choosing rows), so a use
   * of a column's value here is a flow into the table's definition (`column`: the generated one).
   */
  private ddlExpr(n: Node | undefined, table?: { rv?: Node; extra?: string[] }, column?: string): Prov {
    if (!n) return NONE;
    const s = new Scope(undefined, true);
    let target: string | undefined;
    if (table?.rv) {
      const r = unwrap(table.rv, 'RangeVar') as Node;
      const rel = this.c.relation(r.schemaname, r.relname);
      const cols = relationColumns(rel, []);
      const outs = [...(cols ?? new Map<string, string>()).keys()].map((name) => ({ name, prov: columnProv(rel.name.schema, rel.name.name, name) }));
      s.items.push({ refname: r.relname, cols, outs });
      for (const alias of table.extra ?? []) s.items.push({ refname: alias, cols, outs });
      target = column !== undefined ? `${rel.name.schema}.${rel.name.name}.${column}` : `the definition of ${rel.name.schema}.${rel.name.name}`;
    }
    const p = expr(this.w, n, s);
    if (target !== undefined) this.c.flowOf(p, 'write', target);
    return p;
  }

  /**
   * ALTER COLUMN … TYPE converts every stored value (or the USING expression's) to the new type
   * by assignment, which fails on values that do not fit (`value too long`, invalid input that
   * echoes the value): a flow through a conversion, unless the new type is text.
   */
  private alterColumnType(rv: Node, column: string | undefined, def: Node): void {
    const cd = def.ColumnDef as Node;
    const r = unwrap(rv, 'RangeVar') as Node;
    const rel = this.c.relation(r.schemaname, r.relname);
    const p = cd.raw_default ? this.ddlExpr(cd.raw_default, { rv }, column) : column ? columnProv(rel.name.schema, rel.name.name, column) : NONE;
    const tn = names(cd.typeName?.names).map((x) => x.toLowerCase());
    if (tn.at(-1) !== 'text' || list(cd.typeName?.arrayBounds).length > 0) this.c.flowOf(p, 'function', `a change of column type to ${tn.at(-1) ?? 'another type'}`);
  }

  private constraint(con: Node, table: Node | undefined): void {
    this.ddlExpr(con.raw_expr, { rv: table });
    this.ddlExpr(con.where_clause, { rv: table });
    if (con.contype === 'CONSTR_FOREIGN' && con.pktable) {
      const r = unwrap(con.pktable, 'RangeVar') as Node;
      const rel = this.c.relation(r.schemaname, r.relname);
      const cols = names(con.pk_attrs);
      this.c.access('references', rel);
      for (const col of cols) this.c.column('references', rel, col);
    }
  }

  private columnDef(cd: Node, table: Node | undefined): void {
    this.ddlExpr(cd.raw_default, { rv: table });
    for (const con of list(cd.constraints)) {
      const c = unwrap(con, 'Constraint') as Node;
      // A generated column stores its expression's value in the column.
      if (c.contype === 'CONSTR_GENERATED') this.ddlExpr(c.raw_expr, { rv: table }, cd.colname);
      else this.constraint(c, table);
    }
  }

  private tableElements(elts: Node[], table: Node | undefined): void {
    for (const e of elts) {
      if (e.ColumnDef) this.columnDef(e.ColumnDef, table);
      else if (e.Constraint) this.constraint(e.Constraint, table);
      else if (e.TableLikeClause) {
        const src = unwrap(e.TableLikeClause.relation, 'RangeVar') as Node;
        // LIKE copies the definition (and, with INCLUDING, defaults and expressions): a read of it.
        this.c.access('select', this.c.relation(src.schemaname, src.relname));
      }
    }
  }

  private partitionBound(pb: Node | undefined): void {
    const b = unwrap(pb, 'PartitionBoundSpec');
    if (!b) return;
    for (const k of ['listdatums', 'lowerdatums', 'upperdatums']) for (const d of list(b[k])) this.ddlExpr(d);
  }

  /** Classifies and walks a DDL/DCL statement; undefined when the node type is not DDL/DCL. */
  statement(type: string, n: Node): Classified | undefined {
    const c = this.c;
    switch (type) {
      case 'CreateStmt':
      case 'CreateForeignTableStmt': {
        const cs = type === 'CreateStmt' ? n : (unwrap(n.base, 'CreateStmt') as Node);
        const objType = type === 'CreateStmt' ? 'table' : 'foreign table';
        this.relTarget('create', objType, cs.relation);
        // INHERITS (…) and PARTITION OF change the parent too: its scans and writes now reach the
        // new table's rows, so the parent is a DDL target of its own (PostgreSQL requires owning it).
        for (const parent of list(cs.inhRelations)) this.relTarget('alter', 'table', parent);
        this.tableElements(list(cs.tableElts), cs.relation);
        this.partitionBound(cs.partbound);
        const ps = unwrap(cs.partspec, 'PartitionSpec');
        for (const pe of list(ps?.partParams)) this.ddlExpr((unwrap(pe, 'PartitionElem') as Node).expr, { rv: cs.relation });
        return { command: `create ${objType}`, cls: 'ddl' };
      }
      case 'ViewStmt': {
        this.relTarget('create', 'view', n.view);
        // A view hands its query's values to whoever may read the view.
        const outs = this.w.query(n.query, undefined) ?? [];
        const vr = unwrap(n.view, 'RangeVar') as Node | undefined;
        const aliases = names(n.aliases);
        const target = `${vr?.schemaname ?? this.c.createSchema() ?? ''}.${vr?.relname ?? '?'}`;
        this.w.writeFlows(outs, target, outs.map((o, i) => aliases[i] ?? o.name));
        return { command: 'create view', cls: 'ddl' };
      }
      case 'IndexStmt': {
        const on = this.relOf(n.relation);
        this.add('create', 'index', on.schema, n.idxname, on);
        for (const p of list(n.indexParams)) this.ddlExpr((unwrap(p, 'IndexElem') as Node).expr, { rv: n.relation });
        this.ddlExpr(n.whereClause, { rv: n.relation });
        return { command: 'create index', cls: 'ddl' };
      }
      case 'CreateSeqStmt':
        this.relTarget('create', 'sequence', n.sequence);
        return { command: 'create sequence', cls: 'ddl' };
      case 'AlterSeqStmt':
        this.relTarget('alter', 'sequence', n.sequence);
        // RESTART sets the sequence back: the values it hands out next collide with rows that
        // already hold them, as after TRUNCATE … RESTART IDENTITY.
        if (list(n.options).some((o) => (unwrap(o, 'DefElem') as Node | undefined)?.defname === 'restart')) c.rewrites.push('sequence restart');
        return { command: 'alter sequence', cls: 'ddl' };
      case 'CreateSchemaStmt': {
        const created = n.schemaname ?? n.authrole?.rolename;
        this.add('create', 'schema', undefined, created);
        const outer = c.creatingSchema;
        c.creatingSchema = typeof created === 'string' ? created : undefined;
        try {
          for (const e of list(n.schemaElts)) {
            const t = typeOf(e);
            if (c.creatingSchema === undefined) c.fail('the gateway cannot tell which schema CREATE SCHEMA creates its elements in');
            if (!this.statement(t, e[t])) c.fail(`statement type ${t} is not supported by the gateway`);
          }
        } finally {
          c.creatingSchema = outer;
        }
        return { command: 'create schema', cls: 'ddl' };
      }
      case 'CreateFunctionStmt': {
        const objType = n.is_procedure ? 'procedure' : 'function';
        const parts = names(n.funcname);
        this.add('create', objType, parts.length > 1 ? parts[parts.length - 2] : c.createSchema(), parts[parts.length - 1]);
        // The language decides what the body can do once called (an untrusted one: anything the
        // server's OS user can). Without LANGUAGE the body is SQL.
        const lang = list(n.options).find((o) => o.DefElem?.defname === 'language')?.DefElem?.arg;
        c.ddl[c.ddl.length - 1].language = (lang === undefined ? 'sql' : (str(lang) ?? '')).toLowerCase();
        for (const p of list(n.parameters)) this.ddlExpr((unwrap(p, 'FunctionParameter') as Node).defexpr);
        this.functionSettings(list(n.options));
        return { command: `create ${objType}`, cls: 'ddl' };
      }
      case 'CreateTrigStmt': {
        const on = this.relOf(n.relation);
        this.add('create', 'trigger', on.schema, n.trigname, on);
        c.access('trigger', c.relation(on.schema, on.name));
        c.call(names(n.funcname), undefined);
        this.ddlExpr(n.whenClause, { rv: n.relation, extra: ['new', 'old'] });
        // Trigger arguments that name columns of the table hand their values to the function on
        // every row (tsvector_update_trigger(tsv, 'pg_catalog.simple', email) copies email into
        // tsv): stored in the table's definition.
        const rel = c.relation(on.schema, on.name);
        for (const a of list(n.args)) {
          const arg = str(a);
          if (arg !== undefined && rel.catalog?.columns.some((col) => col.name === arg)) {
            c.flowOf(columnProv(rel.name.schema, rel.name.name, arg), 'write', `the definition of ${on.schema}.${on.name}`);
          }
        }
        return { command: 'create trigger', cls: 'ddl' };
      }
      case 'CreateEventTrigStmt':
        this.add('create', 'event trigger', undefined, n.trigname);
        c.call(names(n.funcname), undefined);
        return { command: 'create event trigger', cls: 'ddl' };
      case 'CreatePolicyStmt':
      case 'AlterPolicyStmt': {
        const action: DdlAction = type === 'CreatePolicyStmt' ? 'create' : 'alter';
        const on = this.relOf(n.table);
        this.add(action, 'policy', on.schema, n.policy_name, on);
        this.ddlExpr(n.qual, { rv: n.table });
        this.ddlExpr(n.with_check, { rv: n.table });
        return { command: `${action} policy`, cls: 'ddl' };
      }
      case 'RuleStmt': {
        const on = this.relOf(n.relation);
        this.add('create', 'rule', on.schema, n.rulename, on);
        this.ddlExpr(n.whereClause, { rv: n.relation, extra: ['new', 'old'] });
        for (const a of list(n.actions)) {
          const t = typeOf(a);
          if (t === 'NotifyStmt') continue;
          const s = new Scope(undefined, true);
          const rel = c.relation(on.schema, on.name);
          // NEW and OLD carry the rule's relation's values into the action (a write elsewhere,
          // rows returned to whoever fires the rule).
          const cols = relationColumns(rel, []);
          const outs = [...(cols ?? new Map<string, string>()).keys()].map((name) => ({ name, prov: columnProv(rel.name.schema, rel.name.name, name) }));
          for (const nm of ['new', 'old']) s.items.push({ refname: nm, cols, outs });
          // What the action returns (a SELECT, a RETURNING list) goes to whoever fires the rule,
          // as a view's columns go to whoever reads it: stored in the relation's definition.
          for (const o of this.w.query(a, s) ?? []) this.c.flowOf(o.prov, 'write', `the definition of ${on.schema}.${on.name}`);
        }
        return { command: 'create rule', cls: 'ddl' };
      }
      case 'CreateDomainStmt': {
        const parts = names(n.domainname);
        this.add('create', 'domain', parts.length > 1 ? parts[parts.length - 2] : c.createSchema(), parts[parts.length - 1]);
        for (const con of list(n.constraints)) this.constraint(unwrap(con, 'Constraint') as Node, undefined);
        return { command: 'create domain', cls: 'ddl' };
      }
      case 'AlterDomainStmt': {
        const parts = names(n.typeName);
        this.add('alter', 'domain', parts.length > 1 ? parts[parts.length - 2] : undefined, parts[parts.length - 1]);
        if (n.def?.Constraint) this.constraint(n.def.Constraint, undefined);
        else if (n.def) this.ddlExpr(n.def);
        const removed = DOMAIN_REMOVALS[String(n.subtype)];
        if (removed && !(n.subtype === 'T' && n.def)) c.removes.push(removed);
        return { command: 'alter domain', cls: 'ddl' };
      }
      case 'AlterTableStmt': {
        const objType = objectTypeName(n.objtype);
        const self = this.relTarget('alter', objType, n.relation);
        for (const cmd of list(n.cmds)) {
          const ac = unwrap(cmd, 'AlterTableCmd') as Node;
          const def = ac.def as Node | undefined;
          const destroys = alterTableEffect(String(ac.subtype ?? ''), def, objType);
          if (destroys?.removes) c.removes.push(destroys.removes);
          if (destroys?.rewrites) c.rewrites.push(destroys.rewrites);
          if (!def) continue;
          // The other relation of INHERIT / NO INHERIT / ATTACH / DETACH PARTITION changes too: it
          // becomes (or stops being) part of this one, its rows readable and writable through it.
          if (INHERITANCE_COMMANDS.has(ac.subtype)) {
            const other = this.relTarget('alter', objType, def.PartitionCmd ? def.PartitionCmd.name : def);
            // INHERIT / ATTACH PARTITION: a scan of the parent reads the child's rows, under the
            // parent's names.
            if (self && other && (ac.subtype === 'AT_AddInherit' || ac.subtype === 'AT_AttachPartition')) {
              const [child, parent] = ac.subtype === 'AT_AddInherit' ? [self, other] : [other, self];
              c.ddl[c.ddl.length - 1].links = { child, parent };
            }
          }
          if (ac.subtype === 'AT_AlterColumnType' && def.ColumnDef) this.alterColumnType(n.relation, ac.name, def);
          else if (def.ColumnDef) this.columnDef(def.ColumnDef, n.relation);
          else if (def.Constraint) this.constraint(def.Constraint, n.relation);
          else if (def.PartitionCmd) this.partitionBound(def.PartitionCmd.bound);
          else if (ac.subtype === 'AT_ColumnDefault' || ac.subtype === 'AT_CookedColumnDefault' || ac.subtype === 'AT_SetExpression') this.ddlExpr(def, { rv: n.relation });
        }
        return { command: `alter ${objType}`, cls: 'ddl' };
      }
      case 'DropStmt': {
        const objType = objectTypeName(n.removeType);
        for (const o of list(n.objects)) this.objectTarget('drop', n.removeType, o);
        return { command: `drop ${objType}`, cls: 'ddl' };
      }
      case 'RenameStmt': {
        const objType = objectTypeName(n.renameType);
        if (n.relation && (objType === 'column' || objType === 'constraint' || objType === 'trigger' || objType === 'rule' || objType === 'policy')) {
          const on = this.relOf(n.relation);
          this.add('rename', objType, on.schema, n.subname, on);
        } else if (n.relation) this.relTarget('rename', objType, n.relation);
        else if (objType === 'schema' && typeof n.subname === 'string') this.add('rename', 'schema', undefined, n.subname);
        else {
          this.objectTarget('rename', n.renameType, n.object);
          const renamed = c.ddl[c.ddl.length - 1];
          if (renamed && typeof n.newname === 'string') renamed.newName = n.newname;
        }
        return { command: `alter ${objType === 'column' || objType === 'constraint' ? objectTypeName(n.relationType) : objType}`, cls: objType === 'role' ? 'dcl' : 'ddl' };
      }
      case 'AlterObjectSchemaStmt':
      case 'AlterOwnerStmt':
      case 'AlterObjectDependsStmt': {
        const objType = objectTypeName(n.objectType);
        if (n.relation) this.relTarget('alter', objType, n.relation);
        else this.objectTarget('alter', n.objectType, n.object);
        // SET SCHEMA puts the object into another schema: a creation there, checked like one
        // (PostgreSQL checks CREATE on the new schema).
        if (type === 'AlterObjectSchemaStmt' && typeof n.newschema === 'string') {
          const moved = c.ddl[c.ddl.length - 1];
          if (moved) moved.newSchema = n.newschema;
          this.add('create', objType, n.newschema, moved?.name);
        }
        return { command: `alter ${objType}`, cls: 'ddl' };
      }
      case 'AlterFunctionStmt': {
        const objType = objectTypeName(n.objtype);
        this.objectTarget('alter', n.objtype, n.func ? { ObjectWithArgs: unwrap(n.func, 'ObjectWithArgs') } : undefined);
        this.functionSettings(list(n.actions));
        return { command: `alter ${objType}`, cls: 'ddl' };
      }
      case 'CommentStmt':
        this.objectTarget('comment', n.objtype, n.object);
        return { command: 'comment', cls: 'ddl' };
      case 'SecLabelStmt':
        this.objectTarget('security_label', n.objtype, n.object);
        return { command: 'security label', cls: 'dcl' };
      case 'DefineStmt': {
        const objType = objectTypeName(n.kind);
        const parts = names(n.defnames);
        this.add('create', objType, parts.length > 1 ? parts[parts.length - 2] : c.createSchema(), parts[parts.length - 1]);
        // An operator, aggregate, base type or text search object calls the functions it names
        // whenever it is used, where no statement shows a call: they count as called now.
        for (const d of list(n.definition)) {
          const el = d.DefElem as Node | undefined;
          if (!el || el.arg === undefined || !DEFINE_FUNCTIONS.has(String(el.defname).toLowerCase())) continue;
          const arg = el.arg as Node;
          // The grammar allows a type-like name, a string (one unqualified name) or a name list.
          const fn = arg.TypeName ? names(arg.TypeName.names) : arg.String ? [str(arg) ?? ''] : arg.List ? names(arg.List.items) : [];
          if (fn.length > 0 && fn.every((x) => x !== '')) c.call(fn, undefined);
          else c.fail(`the function of ${String(el.defname)} in CREATE ${objType.toUpperCase()} cannot be read`);
        }
        return { command: `create ${objType}`, cls: 'ddl' };
      }
      case 'CompositeTypeStmt':
        this.relTarget('create', 'type', n.typevar);
        return { command: 'create type', cls: 'ddl' };
      case 'CreateEnumStmt':
      case 'CreateRangeStmt':
      case 'AlterEnumStmt':
      case 'AlterTypeStmt': {
        const action: DdlAction = type.startsWith('Create') ? 'create' : 'alter';
        const parts = names(n.typeName);
        this.add(action, 'type', parts.length > 1 ? parts[parts.length - 2] : action === 'create' ? c.createSchema() : undefined, parts[parts.length - 1]);
        return { command: `${action} type`, cls: 'ddl' };
      }
      case 'CreateStatsStmt': {
        const parts = names(n.defnames);
        const rel = list(n.relations)[0];
        const on = rel ? this.relOf(rel) : undefined;
        this.add('create', 'statistics', parts.length > 1 ? parts[parts.length - 2] : c.createSchema(), parts[parts.length - 1], on);
        for (const e of list(n.exprs)) this.ddlExpr((unwrap(e, 'StatsElem') as Node).expr, { rv: rel });
        return { command: 'create statistics', cls: 'ddl' };
      }
      case 'AlterStatsStmt': {
        const parts = names(n.defnames);
        this.add('alter', 'statistics', parts.length > 1 ? parts[parts.length - 2] : undefined, parts[parts.length - 1]);
        return { command: 'alter statistics', cls: 'ddl' };
      }
      case 'RefreshMatViewStmt':
        this.relTarget('refresh', 'materialized view', n.relation);
        return { command: 'refresh materialized view', cls: 'ddl' };
      case 'VacuumStmt': {
        const command = n.is_vacuumcmd ? 'vacuum' : 'analyze';
        const rels = list(n.rels);
        if (rels.length === 0) this.add('maintenance', 'database');
        for (const r of rels) this.relTarget('maintenance', 'table', (unwrap(r, 'VacuumRelation') as Node).relation);
        return { command, cls: 'ddl' };
      }
      case 'ReindexStmt': {
        const kind = String(n.kind ?? '').replace('REINDEX_OBJECT_', '').toLowerCase();
        if (n.relation) this.relTarget('maintenance', kind, n.relation);
        else this.add('maintenance', kind, undefined, n.name);
        return { command: 'reindex', cls: 'ddl' };
      }
      case 'ClusterStmt':
        c.rewrites.push('cluster');
        if (n.relation) this.relTarget('maintenance', 'table', n.relation);
        else this.add('maintenance', 'database');
        return { command: 'cluster', cls: 'ddl' };
      case 'AlterSystemStmt': {
        const set = unwrap(n.setstmt, 'VariableSetStmt');
        this.add('alter', 'system', undefined, set?.name?.toLowerCase());
        this.storedSetting(set);
        return { command: 'alter system', cls: 'ddl' };
      }
      case 'AlterDatabaseSetStmt':
      case 'AlterDatabaseStmt':
      case 'AlterDatabaseRefreshCollStmt':
        this.add('alter', 'database', undefined, n.dbname);
        if (type === 'AlterDatabaseSetStmt') this.storedSetting(unwrap(n.setstmt, 'VariableSetStmt'));
        return { command: 'alter database', cls: 'ddl' };
      case 'CreatedbStmt':
        this.add('create', 'database', undefined, n.dbname);
        return { command: 'create database', cls: 'ddl' };
      case 'DropdbStmt':
        this.add('drop', 'database', undefined, n.dbname);
        return { command: 'drop database', cls: 'ddl' };
      case 'GrantStmt': {
        const command = n.is_grant ? 'grant' : 'revoke';
        const relTypes = n.objtype === 'OBJECT_TABLE' || n.objtype === 'OBJECT_SEQUENCE';
        for (const o of list(n.objects)) {
          if (o.RangeVar && relTypes) this.relTarget('other', objectTypeName(n.objtype), o);
          else this.objectTarget('other', n.objtype, o);
        }
        if (n.targtype === 'ACL_TARGET_ALL_IN_SCHEMA') for (const o of list(n.objects)) this.add('other', 'schema', undefined, str(o));
        return { command, cls: 'dcl' };
      }
      case 'GrantRoleStmt':
        for (const r of list(n.granted_roles)) this.add('other', 'role', undefined, (unwrap(r, 'AccessPriv') as Node).priv_name);
        return { command: n.is_grant ? 'grant' : 'revoke', cls: 'dcl' };
      case 'AlterDefaultPrivilegesStmt':
        this.add('alter', 'default privileges');
        return { command: 'alter default privileges', cls: 'dcl' };
      case 'CreateRoleStmt': {
        const kind = String(n.stmt_type ?? 'ROLESTMT_ROLE').replace('ROLESTMT_', '').toLowerCase();
        this.add('create', 'role', undefined, n.role);
        return { command: `create ${kind}`, cls: 'dcl' };
      }
      case 'AlterRoleStmt':
      case 'AlterRoleSetStmt':
        this.add('alter', 'role', undefined, roleName(n.role));
        if (type === 'AlterRoleSetStmt') this.storedSetting(unwrap(n.setstmt, 'VariableSetStmt'));
        return { command: 'alter role', cls: 'dcl' };
      case 'DropRoleStmt':
        for (const r of list(n.roles)) this.add('drop', 'role', undefined, roleName(r));
        return { command: 'drop role', cls: 'dcl' };
      case 'DropOwnedStmt':
        for (const r of list(n.roles)) this.add('drop', 'owned', undefined, roleName(r));
        return { command: 'drop owned', cls: 'dcl' };
      case 'ReassignOwnedStmt':
        for (const r of list(n.roles)) this.add('alter', 'owned', undefined, roleName(r));
        return { command: 'reassign owned', cls: 'dcl' };
      default: {
        const simple = SIMPLE[type];
        if (!simple) return undefined;
        const removed = removalOf(type, n);
        if (removed) c.removes.push(removed);
        const [action, objType, field] = simple;
        const raw = field ? n[field] : undefined;
        const qualified = Array.isArray(raw) ? names(raw) : undefined;
        const name = typeof raw === 'string' ? raw : qualified ? qualified.at(-1) : raw ? (str(raw) ?? roleName(raw)) : undefined;
        this.add(action, objType, qualified && qualified.length > 1 ? qualified[qualified.length - 2] : undefined, name);
        return { command: `${action} ${objType}`, cls: 'ddl' };
      }
    }
  }

  /** The relation a DDL object is attached to, resolved for its schema. */
  private relOf(rv: Node): { schema: string; name: string } {
    const r = unwrap(rv, 'RangeVar') as Node;
    const rel = this.c.relation(r.schemaname, r.relname);
    return { schema: rel.name.schema, name: r.relname };
  }
}

function roleName(r: Node | undefined): string | undefined {
  const rs = unwrap(r, 'RoleSpec');
  if (!rs) return undefined;
  if (rs.rolename) return rs.rolename;
  return String(rs.roletype ?? '').replace('ROLESPEC_', '').toLowerCase();
}

/**
 * What one ALTER TABLE (or ALTER TYPE / VIEW / INDEX …) subcommand removes or rewrites. Every
 * DROP form counts (column, constraint, NOT NULL, identity, expression, default, inheritance,
 * OF type, cluster index); DETACH PARTITION takes the partition's rows out of the table.
 */
function alterTableEffect(subtype: string, def: Node | undefined, objType: string): { removes?: string; rewrites?: string } | undefined {
  if (subtype === 'AT_DropColumn') return { removes: objType === 'type' ? 'drop attribute' : 'drop column' };
  if (subtype === 'AT_DropInherit') return { removes: 'no inherit' };
  if (subtype === 'AT_DetachPartition' || subtype === 'AT_DetachPartitionFinalize') return { removes: 'detach partition' };
  if (subtype === 'AT_ColumnDefault' && def === undefined) return { removes: 'drop default' };
  if (subtype.startsWith('AT_Drop')) return { removes: subtype.replace(/^AT_/, '').replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase() };
  const rewrite = REWRITES[subtype];
  return rewrite ? { rewrites: rewrite } : undefined;
}

/** ALTER TABLE subcommands that rewrite the table (and may change what it stores). */
const REWRITES: Record<string, string> = {
  AT_AlterColumnType: 'alter column type',
  AT_SetExpression: 'set expression',
  AT_SetAccessMethod: 'set access method',
  AT_SetLogged: 'set logged',
  AT_SetUnLogged: 'set unlogged',
};

/** ALTER DOMAIN forms that remove something (subtype letters of AlterDomainStmt). */
const DOMAIN_REMOVALS: Record<string, string> = { X: 'drop constraint', T: 'drop default', N: 'drop not null' };

/** The DROP forms of other ALTER statements: members of extensions, publications, families … */
function removalOf(type: string, n: Node): string | undefined {
  switch (type) {
    case 'AlterExtensionContentsStmt':
      return n.action === -1 ? 'drop extension member' : undefined;
    case 'AlterPublicationStmt':
      return n.action === 'AP_DropObjects' ? 'drop publication member' : undefined;
    case 'AlterOpFamilyStmt':
      return n.isDrop === true ? 'drop operator family member' : undefined;
    case 'AlterTSConfigurationStmt':
      return n.kind === 'ALTER_TSCONFIG_DROP_MAPPING' ? 'drop mapping' : undefined;
    case 'AlterSubscriptionStmt':
      return n.kind === 'ALTER_SUBSCRIPTION_DROP_PUBLICATION' ? 'drop publication' : undefined;
    default:
      return undefined;
  }
}

/** ALTER TABLE subcommands that tie another relation to this one (or untie it). */
const INHERITANCE_COMMANDS = new Set(['AT_AddInherit', 'AT_DropInherit', 'AT_AttachPartition', 'AT_DetachPartition', 'AT_DetachPartitionFinalize']);

/** Definition options of CREATE OPERATOR / AGGREGATE / TYPE / TEXT SEARCH … that name a function. */
const DEFINE_FUNCTIONS = new Set([
  // operators
  'function', 'procedure', 'restrict', 'join',
  // aggregates
  'sfunc', 'finalfunc', 'combinefunc', 'serialfunc', 'deserialfunc', 'msfunc', 'minvfunc', 'mfinalfunc',
  // base types
  'input', 'output', 'receive', 'send', 'typmod_in', 'typmod_out', 'analyze', 'subscript',
  // text search parsers and templates
  'start', 'gettoken', 'end', 'headline', 'lextypes', 'init', 'lexize',
]);

/** Statements whose analysis is one target named by one field: [action, object type, field]. */
const SIMPLE: Record<string, [DdlAction, string, string | undefined]> = {
  CreateExtensionStmt: ['create', 'extension', 'extname'],
  AlterExtensionStmt: ['alter', 'extension', 'extname'],
  AlterExtensionContentsStmt: ['alter', 'extension', 'extname'],
  CreatePLangStmt: ['create', 'language', 'plname'],
  CreateAmStmt: ['create', 'access method', 'amname'],
  CreateCastStmt: ['create', 'cast', undefined],
  CreateConversionStmt: ['create', 'conversion', 'conversion_name'],
  CreateTransformStmt: ['create', 'transform', 'lang'],
  CreateOpClassStmt: ['create', 'operator class', 'opclassname'],
  CreateOpFamilyStmt: ['create', 'operator family', 'opfamilyname'],
  AlterOpFamilyStmt: ['alter', 'operator family', 'opfamilyname'],
  AlterOperatorStmt: ['alter', 'operator', undefined],
  CreateFdwStmt: ['create', 'foreign data wrapper', 'fdwname'],
  AlterFdwStmt: ['alter', 'foreign data wrapper', 'fdwname'],
  CreateForeignServerStmt: ['create', 'server', 'servername'],
  AlterForeignServerStmt: ['alter', 'server', 'servername'],
  CreateUserMappingStmt: ['create', 'user mapping', 'servername'],
  AlterUserMappingStmt: ['alter', 'user mapping', 'servername'],
  DropUserMappingStmt: ['drop', 'user mapping', 'servername'],
  ImportForeignSchemaStmt: ['create', 'foreign table', 'local_schema'],
  CreatePublicationStmt: ['create', 'publication', 'pubname'],
  AlterPublicationStmt: ['alter', 'publication', 'pubname'],
  CreateSubscriptionStmt: ['create', 'subscription', 'subname'],
  AlterSubscriptionStmt: ['alter', 'subscription', 'subname'],
  DropSubscriptionStmt: ['drop', 'subscription', 'subname'],
  CreateTableSpaceStmt: ['create', 'tablespace', 'tablespacename'],
  DropTableSpaceStmt: ['drop', 'tablespace', 'tablespacename'],
  AlterTableSpaceOptionsStmt: ['alter', 'tablespace', 'tablespacename'],
  AlterTableMoveAllStmt: ['alter', 'tablespace', 'orig_tablespacename'],
  AlterCollationStmt: ['alter', 'collation', 'collname'],
  AlterTSDictionaryStmt: ['alter', 'text search dictionary', 'dictname'],
  AlterTSConfigurationStmt: ['alter', 'text search configuration', 'cfgname'],
  AlterEventTrigStmt: ['alter', 'event trigger', 'trigname'],
};

