/**
 * One statement's analysis: dispatch on the parse node type to the query walker, the DDL walker
 * or the session/utility handlers here, then assemble the `StatementAnalysis`. A node type not
 * handled anywhere is unsupported, and so is anything that throws inside the walk: the policy
 * refuses what the analyser could not read.
 */
import type { CatalogSnapshot } from '../catalog/types.ts';
import { constText, defBool, list, names, type Node, typeOf, unwrap } from './ast.ts';
import { leavesCatalogAsIs } from './catalog-neutral.ts';
import { Collector, setConfigChange } from './collector.ts';
import { type Classified, DdlWalker } from './ddl.ts';
import { expr, exprs } from './expressions.ts';
import { columnProv, type Out, toOutputs } from './provenance.ts';
import { QueryWalker } from './queries.ts';
import { pinnedSetConfigs, pinnedSettingNames, type PinnedSetConfig } from './settings-pin.ts';
import { recordWriteComparisons } from './write-comparisons.ts';
import { expandItem, relationColumns, Scope } from './scope.ts';
import type { CopyOptions, FunctionCall, OutputColumn, SettingChange, StatementAnalysis, StatementClass, TableOperation } from './types.ts';

export interface Env {
  catalog: CatalogSnapshot;
  /** Effective search path (see `effectiveSearchPath`). */
  path: readonly string[];
  pathListsCatalog: boolean;
  /** Names of the session's temporary relations (see `AnalyseContext.tempRelations`). */
  tempRelations?: ReadonlySet<string>;
}

interface Result extends Classified {
  inner?: StatementAnalysis;
  /** The rows the statement returns (see `StatementAnalysis.outputs`). */
  outputs?: OutputColumn[];
  copy?: CopyOptions;
  objectName?: string;
  doLanguage?: string;
  holdCursor?: true;
  /** A SELECT whose WHERE pins `name` to these literals (see `settings-pin.ts`). */
  settingNames?: string[];
  setConfigs?: PinnedSetConfig[];
}

const READ_OPS: ReadonlySet<TableOperation> = new Set(['select']);

/** Analyses one statement node (wrapped, e.g. `{ SelectStmt: … }`). Never throws. */
export function analyseNode(wrapped: Node, text: string, env: Env): StatementAnalysis {
  const type = typeOf(wrapped);
  const c = new Collector(env.catalog, env.path, env.pathListsCatalog, env.tempRelations);
  let r: Result;
  try {
    r = dispatch(type, wrapped[type] ?? {}, wrapped, text, env, c);
  } catch (err) {
    c.fail(`the gateway could not analyse this ${type} statement (${err instanceof Error ? err.message : String(err)})`);
    r = { command: commandOf(type), cls: 'utility' };
  }
  const a = c.finish(text, type, r.command, r.cls);
  recordWriteComparisons(a, env.catalog);
  if (r.inner) a.inner = r.inner;
  if (r.outputs) a.outputs = r.outputs;
  if (r.copy) a.copy = r.copy;
  if (r.objectName !== undefined) a.objectName = r.objectName;
  if (r.holdCursor) a.holdCursor = true;
  if (r.doLanguage !== undefined) a.doLanguage = r.doLanguage;
  if (r.settingNames) pinSettings(a, r.settingNames, r.setConfigs);
  if ((a.class === 'ddl' || a.class === 'dcl') && leavesCatalogAsIs(type, wrapped[type] ?? {})) a.catalogNeutral = true;
  return a;
}

/**
 * Records a proven pin on the read of pg_settings, when that read is the statement's only table
 * access (an unqualified name that is also a temporary table is two accesses) and no user code
 * (a planted operator or cast, which could make `name = '…'` true for every row) is reached.
 */
function pinSettings(a: StatementAnalysis, names: string[], setConfigs: PinnedSetConfig[] | undefined): void {
  if (a.unsupported !== undefined || a.tables.length !== 1 || a.functions.some((f) => f.userCode === true || f.via !== undefined)) return;
  const t = a.tables[0];
  if (!(t.op === 'select' && t.relation.resolved && t.relation.schema === 'pg_catalog' && t.relation.name === 'pg_settings')) return;
  t.settingNames = names;
  if (setConfigs === undefined || setConfigs.length === 0) return;
  // set_config(name, …) of the pinned rows is set_config('<name>', …) of each pinned name: the
  // policy decides each as the SET it is, and the session follows what it changes.
  const isCall = (f: FunctionCall) => f.schema === 'pg_catalog' && f.name === 'set_config' && typeof f.constArgs?.[0] !== 'string';
  a.functions = a.functions.filter((f) => !isCall(f));
  for (const s of setConfigs) {
    for (const n of names) {
      const constArgs = [n, s.value ?? null, s.local ?? null];
      a.functions.push({ schema: 'pg_catalog', name: 'set_config', resolved: true, constArgs });
      const change = setConfigChange(constArgs);
      if (change) a.settings.push(change);
    }
  }
}

/** 'AlterFooStmt' → 'alter foo' (the command name of an unsupported statement). */
function commandOf(type: string): string {
  return type
    .replace(/Stmt$/, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toLowerCase();
}

function queryClass(c: Collector): StatementClass {
  return c.hasWrite() ? 'write' : 'read';
}

function dispatch(type: string, n: Node, wrapped: Node, text: string, env: Env, c: Collector): Result {
  const w = new QueryWalker(c);
  switch (type) {
    case 'SelectStmt': {
      const outs = w.select(n, undefined);
      if (n.intoClause) {
        const rv = unwrap(n.intoClause.rel, 'RangeVar') as Node;
        c.ddl.push({ action: 'create', objectType: 'table', schema: createdIn(rv, c), name: rv.relname });
        return { command: 'select into', cls: 'write' };
      }
      const settingNames = pinnedSettingNames(n);
      const setConfigs = settingNames && pinnedSetConfigs(n);
      return { command: n.valuesLists ? 'values' : 'select', cls: queryClass(c), outputs: outs && toOutputs(outs), ...(settingNames && { settingNames }), ...(setConfigs && { setConfigs }) };
    }
    case 'InsertStmt':
    case 'UpdateStmt':
    case 'DeleteStmt':
    case 'MergeStmt': {
      // Only a RETURNING clause returns rows.
      const outs = w.query(wrapped, undefined);
      return { command: type.replace('Stmt', '').toLowerCase(), cls: 'write', outputs: outs && toOutputs(outs) };
    }
    case 'CreateTableAsStmt': {
      const inner = analyseNode(n.query ?? {}, text, env);
      c.absorb(inner);
      for (const s of inner.specials) c.special(s);
      c.special('select_into');
      const into = unwrap(n.into, 'IntoClause') as Node;
      const rv = unwrap(into?.rel, 'RangeVar') as Node;
      const matview = n.objtype === 'OBJECT_MATVIEW';
      const schema = createdIn(rv, c);
      c.ddl.push({ action: 'create', objectType: matview ? 'materialized view' : 'table', schema, name: rv?.relname });
      // The query's values are stored in the new relation (read by whoever may read it).
      const colNames = names(into?.colNames);
      (inner.outputs ?? []).forEach((o, i) => c.flowOf({ d: o.derivation, src: o.sources }, 'write', `${schema ?? ''}.${rv?.relname ?? '?'}.${colNames[i] ?? o.name}`));
      if (inner.outputs === undefined && inner.tables.length > 0) c.fail('the gateway cannot see which values CREATE TABLE AS stores');
      return { command: matview ? 'create materialized view' : 'create table as', cls: matview ? 'ddl' : 'write', inner, objectName: inner.objectName };
    }
    case 'ExplainStmt': {
      const inner = analyseNode(n.query ?? {}, text, env);
      const analyze = list(n.options).some((o) => o.DefElem?.defname === 'analyze' && defBool(o.DefElem.arg));
      if (analyze) {
        // EXPLAIN ANALYZE runs the statement: everything it does happens.
        c.absorb(inner);
        for (const s of inner.specials) c.special(s);
        c.ddl.push(...inner.ddl);
        c.special('explain_analyze');
      } else {
        c.absorb(inner, READ_OPS);
        if (inner.specials.includes('security_definer_call')) c.special('security_definer_call');
      }
      // EXPLAIN ANALYZE EXECUTE keeps 'read': the `execute` flag and name let the caller decide
      // on what was prepared.
      const cls: StatementClass = analyze && (inner.class === 'write' || inner.class === 'ddl') ? inner.class : 'read';
      return { command: 'explain', cls, inner, objectName: inner.objectName };
    }
    case 'PrepareStmt': {
      const inner = analyseNode(n.query ?? {}, text, env);
      c.absorb(inner);
      c.special('prepare');
      return { command: 'prepare', cls: 'session', inner, objectName: n.name, outputs: inner.outputs };
    }
    case 'ExecuteStmt':
      // Where a parameter goes inside the prepared statement is not known here.
      for (const p of exprs(w, n.params, new Scope(undefined))) c.flowOf(p, 'parameter', 'EXECUTE');
      c.special('execute');
      return { command: 'execute', cls: 'session', objectName: n.name };
    case 'DeallocateStmt':
      c.special('deallocate');
      return { command: 'deallocate', cls: 'session', objectName: n.isall ? undefined : n.name };
    case 'DeclareCursorStmt': {
      const inner = analyseNode(n.query ?? {}, text, env);
      // The cursor's query runs as it is fetched, under this statement's decision.
      c.absorb(inner);
      for (const s of inner.specials) c.special(s);
      c.special('declare_cursor');
      // Its rows come back by FETCH: the cursor's outputs are the query's.
      // CURSOR_OPT_HOLD (0x20): the cursor outlives its transaction.
      const holdCursor = (Number(n.options ?? 0) & 0x20) !== 0 ? { holdCursor: true as const } : {};
      return { command: 'declare cursor', cls: 'session', inner, objectName: n.portalname, outputs: inner.outputs, ...holdCursor };
    }
    case 'FetchStmt':
      c.special('fetch');
      return { command: n.ismove ? 'move' : 'fetch', cls: 'read', objectName: n.portalname };
    case 'ClosePortalStmt':
      c.special('fetch');
      return { command: 'close', cls: 'session', objectName: n.portalname };
    case 'CopyStmt':
      return copy(n, w, c);
    case 'TruncateStmt':
      for (const r of list(n.relations)) {
        const rv = unwrap(r, 'RangeVar') as Node;
        c.access('truncate', c.relation(rv.schemaname, rv.relname));
      }
      return { command: 'truncate', cls: 'write' };
    case 'LockStmt': {
      // ACCESS SHARE needs SELECT; every stronger mode needs a write privilege. ACCESS SHARE is
      // the lock any SELECT takes and holds to the end of its transaction (pg_dump takes it on
      // every table it dumps), so only a stronger mode needs the `lock` session permission.
      const accessShare = (n.mode ?? 0) <= 1;
      const op: TableOperation = accessShare ? 'select' : 'update';
      for (const r of list(n.relations)) {
        const rv = unwrap(r, 'RangeVar') as Node;
        c.access(op, c.relation(rv.schemaname, rv.relname));
      }
      if (accessShare) return { command: 'lock', cls: 'read' };
      c.special('lock');
      return { command: 'lock', cls: 'utility' };
    }
    case 'VariableSetStmt':
      return variableSet(n, c);
    case 'VariableShowStmt':
      // SHOW name reads what current_setting('name') reads, and is decided as that call.
      c.addFunction({ schema: 'pg_catalog', name: 'current_setting', resolved: true, constArgs: [String(n.name ?? '').toLowerCase()] });
      return { command: 'show', cls: 'read' };
    case 'DiscardStmt': {
      const target = String(n.target ?? 'DISCARD_ALL').replace('DISCARD_', '').toLowerCase();
      if (target === 'all') c.settings.push({ name: null, value: null, action: 'reset_all' });
      return { command: `discard ${target}`, cls: 'session' };
    }
    case 'TransactionStmt':
      return transaction(n, c);
    case 'ConstraintsSetStmt':
      return { command: 'set constraints', cls: 'transaction' };
    case 'ListenStmt':
      c.special('listen');
      return { command: 'listen', cls: 'session', objectName: n.conditionname };
    case 'UnlistenStmt':
      return { command: 'unlisten', cls: 'session', objectName: n.conditionname };
    case 'NotifyStmt':
      c.special('notify');
      return { command: 'notify', cls: 'session', objectName: n.conditionname };
    case 'DoStmt': {
      c.special('do_block');
      let lang = 'plpgsql';
      for (const a of list(n.args)) if (a.DefElem?.defname === 'language') lang = String(constText(a.DefElem.arg) ?? lang).toLowerCase();
      return { command: 'do', cls: 'utility', doLanguage: lang };
    }
    case 'LoadStmt':
      c.special('load');
      return { command: 'load', cls: 'utility' };
    case 'CallStmt':
      expr(w, { FuncCall: n.funccall }, new Scope(undefined));
      return { command: 'call', cls: 'utility' };
    case 'CheckPointStmt':
      return { command: 'checkpoint', cls: 'utility' };
    default: {
      const ddl = new DdlWalker(c, w).statement(type, n);
      if (ddl) return ddl;
      c.fail(`statement type ${type || 'unknown'} is not supported by the gateway`);
      return { command: commandOf(type), cls: 'utility' };
    }
  }
}

/** The schema a created relation lands in: as written, pg_temp for TEMP, else the creation schema. */
export function createdIn(rv: Node | undefined, c: Collector): string | undefined {
  if (rv?.schemaname) return rv.schemaname;
  if (rv?.relpersistence === 't') return 'pg_temp';
  return c.createSchema();
}

function copy(n: Node, w: QueryWalker, c: Collector): Result {
  const isFrom = n.is_from === true;
  let outs: Out[] | undefined;
  if (n.relation) {
    const rv = unwrap(n.relation, 'RangeVar') as Node;
    const rel = c.relation(rv.schemaname, rv.relname);
    const op: TableOperation = isFrom ? 'insert' : 'select';
    const cols = names(n.attlist);
    if (cols.length === 0) c.allColumns(op, rel);
    else for (const col of cols) c.column(op, rel, col);
    // The copied columns, as they are: the listed ones, or all of the table's.
    if (cols.length === 0) outs = expandItem({ rel, cols: relationColumns(rel, []) });
    else outs = cols.map((col) => ({ name: col, prov: columnProv(rel.name.schema, rel.name.name, col) }));
    if (n.whereClause) {
      // COPY FROM … WHERE filters the incoming rows: names are the file's columns.
      const s = new Scope(undefined, true);
      s.items.push({ refname: rv.relname });
      expr(w, n.whereClause, s);
    }
  } else if (n.query) {
    outs = w.query(n.query, undefined);
  }
  if (n.is_program) c.special('copy_program');
  else if (n.filename !== undefined) c.special('copy_file');
  else c.special(isFrom ? 'copy_from_stdin' : 'copy_to_stdout');
  // Only COPY … TO STDOUT sends the rows to the client.
  const toClient = !isFrom && !n.is_program && n.filename === undefined;
  return { command: 'copy', cls: isFrom || c.hasWrite() ? 'write' : 'read', outputs: toClient && outs ? toOutputs(outs) : undefined, copy: copyOptions(n, isFrom) };
}

/** COPY's format and the options that shape its rows (masking rewrites COPY TO STDOUT rows). */
function copyOptions(n: Node, isFrom: boolean): CopyOptions {
  const o: CopyOptions = { direction: isFrom ? 'from' : 'to', format: 'text' };
  for (const item of list(n.options)) {
    const d = (item as Node).DefElem as Node | undefined;
    if (!d?.defname) continue;
    const name = String(d.defname).toLowerCase();
    const value = d.arg === undefined ? undefined : constText(d.arg as Node);
    switch (name) {
      case 'format':
        if (value === 'csv' || value === 'binary' || value === 'text') o.format = value;
        break;
      case 'delimiter':
        if (typeof value === 'string') o.delimiter = value;
        break;
      case 'null':
        if (typeof value === 'string') o.null = value;
        break;
      case 'quote':
        if (typeof value === 'string') o.quote = value;
        break;
      case 'escape':
        if (typeof value === 'string') o.escape = value;
        break;
      case 'header':
        o.header = defBool(d.arg as Node | undefined);
        break;
      case 'encoding':
        o.encoding = typeof value === 'string' ? value : String(value ?? '');
        break;
    }
  }
  return o;
}

/**
 * A SET value as the server stores it. For list settings whose elements are names (search_path,
 * temp_tablespaces) each element is quoted as an identifier when it needs it, as PostgreSQL's
 * flatten_set_variable_args does: `SET search_path = 'a, b'` names ONE schema called "a, b".
 */
function settingValue(args: Node[], quoteNames = false): string | null {
  if (args.length === 0) return null;
  const parts: string[] = [];
  for (const a of args) {
    const v = constText(a);
    if (v === undefined || v === null) return null;
    parts.push(quoteNames && !/^[a-z_][a-z0-9_]*$/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  }
  return parts.join(', ');
}

const NAME_LIST_SETTINGS = new Set(['search_path', 'temp_tablespaces']);

/** Transaction options (BEGIN, SET TRANSACTION, SET SESSION CHARACTERISTICS) as settings. */
function transactionOptions(opts: Node[], prefix: string, c: Collector): void {
  for (const o of opts) {
    const d = o.DefElem as Node | undefined;
    if (!d?.defname) continue;
    let value = constText(d.arg) ?? null;
    if (d.defname === 'transaction_read_only' || d.defname === 'transaction_deferrable') value = value === '0' || value === 'false' ? 'off' : 'on';
    c.settings.push({ name: `${prefix}${d.defname}`, value, action: 'set_transaction' });
  }
}

function variableSet(n: Node, c: Collector): Result {
  const kind = n.kind as string;
  const name = typeof n.name === 'string' ? n.name.toLowerCase() : null;
  if (kind === 'VAR_RESET_ALL') {
    c.settings.push({ name: null, value: null, action: 'reset_all' });
    return { command: 'reset all', cls: 'session' };
  }
  if (kind === 'VAR_SET_MULTI') {
    if (name === 'transaction' || name === 'session characteristics') {
      transactionOptions(list(n.args), name === 'transaction' ? '' : 'default_', c);
      return { command: name === 'transaction' ? 'set transaction' : 'set session characteristics', cls: 'session' };
    }
    if (name === 'transaction snapshot') {
      c.settings.push({ name: 'transaction_snapshot', value: settingValue(list(n.args)), action: 'set_transaction' });
      return { command: 'set transaction', cls: 'session' };
    }
    c.fail(`SET ${String(n.name)} is not supported by the gateway`);
    return { command: 'set', cls: 'session' };
  }
  const reset = kind === 'VAR_RESET';
  const value = reset || kind === 'VAR_SET_DEFAULT' || kind === 'VAR_SET_CURRENT' ? null : settingValue(list(n.args), name !== null && NAME_LIST_SETTINGS.has(name));
  let action: SettingChange['action'] = reset ? 'reset' : n.is_local ? 'set_local' : 'set';
  let command = reset ? 'reset' : 'set';
  // Leaving the role the session was given (RESET ROLE included) is a role change.
  if (name === 'role') {
    action = 'set_role';
    command = `${command} role`;
  } else if (name === 'session_authorization') {
    action = 'set_session_authorization';
    command = `${command} session authorization`;
  }
  if (kind === 'VAR_SET_CURRENT' && action !== 'set_role' && action !== 'set_session_authorization') action = n.is_local ? 'set_local' : 'set';
  c.settings.push(kind === 'VAR_SET_CURRENT' ? { name, value, action, fromCurrent: true } : { name, value, action });
  return { command, cls: 'session' };
}

const TRANSACTION_COMMANDS: Record<string, string> = {
  TRANS_STMT_BEGIN: 'begin',
  TRANS_STMT_START: 'start transaction',
  TRANS_STMT_COMMIT: 'commit',
  TRANS_STMT_ROLLBACK: 'rollback',
  TRANS_STMT_SAVEPOINT: 'savepoint',
  TRANS_STMT_RELEASE: 'release savepoint',
  TRANS_STMT_ROLLBACK_TO: 'rollback to savepoint',
  TRANS_STMT_PREPARE: 'prepare transaction',
  TRANS_STMT_COMMIT_PREPARED: 'commit prepared',
  TRANS_STMT_ROLLBACK_PREPARED: 'rollback prepared',
};

function transaction(n: Node, c: Collector): Result {
  const command = TRANSACTION_COMMANDS[n.kind as string];
  if (!command) {
    c.fail(`transaction statement ${String(n.kind)} is not supported by the gateway`);
    return { command: 'transaction', cls: 'transaction' };
  }
  transactionOptions(list(n.options), '', c);
  // COMMIT / ROLLBACK AND CHAIN open a new transaction; savepoints are named (the session's
  // search_path follows both).
  const chained = n.chain === true && (command === 'commit' || command === 'rollback') ? `${command} and chain` : command;
  return typeof n.savepoint_name === 'string' ? { command: chained, cls: 'transaction', objectName: n.savepoint_name } : { command: chained, cls: 'transaction' };
}
