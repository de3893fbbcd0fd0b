import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { StatementAnalysis } from '../sql/types.ts';
import { decide, explainDecision, type Decision, type PolicyInput, type Scope } from './index.ts';
import { access, call, ddl, fn, identity, scopeOf, select, setting, special, stmt, write } from './test-builders.ts';

/** The fixed policy set most cases decide against. */
const POLICIES: PolicyInput[] = [
  {
    name: 'analysts',
    match: { groups: ['analysts'] },
    databases: ['shop'],
    allow: [{ tables: ['public.orders', 'public.customers'], operations: ['select'] }, { functions: ['public.order_total'] }],
    deny: [{ columns: ['public.customers.ssn'] }, { tables: ['public.secrets'] }],
    limits: { statement_timeout: '5s', max_rows: 1000, read_only: true },
  },
  {
    name: 'support',
    match: { subjects: ['support-bot'] },
    allow: [
      { tables: ['public.customers'], operations: ['select'], columns: ['id', 'name', 'email'] },
      { tables: ['public.orders'], operations: ['select', 'update'], write_columns: ['status'] },
    ],
  },
  {
    name: 'writers',
    match: { groups: ['writers'] },
    allow: [
      { tables: ['sales.*'], operations: 'all' },
      { tables: ['*.audit_log'], operations: ['insert'] },
      { functions: ['sales.*', 'pg_catalog.pg_read_file'] },
      { ddl: { schemas: ['scratch'] } },
      { session: ['listen', 'notify', 'lock'] },
      { do_blocks: ['plpgsql'] },
    ],
    deny: [{ tables: ['sales.payroll'] }, { functions: ['sales.drop_*'] }],
  },
  {
    name: 'admins',
    match: { groups: ['dba'], issuers: ['corp'] },
    allow: [
      { tables: ['*.*'], operations: 'all' },
      { functions: ['pg_catalog.*', '*.*'] },
      { dcl: true },
      { ddl: { schemas: ['*'] } },
      { session: ['custom_settings'] },
    ],
    deny: [{ tables: ['public.vault'] }],
  },
];

const WHO = {
  analyst: identity('analyst', ['analysts']),
  support: identity('support-bot'),
  writer: identity('writer', ['writers']),
  dba: identity('dba', ['dba']),
  both: identity('both', ['analysts', 'writers']),
} as const;
type Who = keyof typeof WHO;

function scope(who: Who): Scope {
  const s = scopeOf(POLICIES, WHO[who]);
  assert.ok(s, `${who} should have a scope`);
  return s;
}

type Expect = 'allow' | { rule: string; message?: string; contains?: string; statement?: number };
interface Case {
  name: string;
  who: Who;
  sql: StatementAnalysis | StatementAnalysis[];
  expect: Expect;
}

function check(c: Case): void {
  const d = decide(scope(c.who), Array.isArray(c.sql) ? c.sql : [c.sql]);
  if (c.expect === 'allow') {
    assert.equal(d.verdict, 'allow', d.verdict === 'deny' ? `${d.rule}: ${d.message}` : '');
    return;
  }
  assert.equal(d.verdict, 'deny', 'expected a refusal');
  if (d.verdict !== 'deny') return;
  assert.equal(d.rule, c.expect.rule, d.message);
  if (c.expect.message !== undefined) assert.equal(d.message, c.expect.message);
  if (c.expect.contains !== undefined) assert.ok(d.message.includes(c.expect.contains), d.message);
  assert.equal(d.statement, c.expect.statement ?? 0);
  assert.ok(d.hint.length > 0, 'a refusal carries a hint');
}

function suite(title: string, cases: Case[]): void {
  describe(title, () => {
    for (const c of cases) it(c.name, () => check(c));
  });
}

const nested = (outer: StatementAnalysis, inner: StatementAnalysis): StatementAnalysis => ({ ...outer, inner });

suite('tables and operations', [
  { name: 'a granted table is readable', who: 'analyst', sql: select('public.orders', ['id', 'total']), expect: 'allow' },
  { name: 'granted columns of a table with a column denial are readable', who: 'analyst', sql: select('public.customers', ['id', 'name']), expect: 'allow' },
  {
    name: 'a denied column is refused by the denying policy',
    who: 'analyst',
    sql: select('public.customers', ['id', 'ssn']),
    expect: { rule: 'analysts', message: 'pgwarden: analyst may not read column public.customers.ssn' },
  },
  { name: 'a denied table is refused', who: 'analyst', sql: select('public.secrets', ['k']), expect: { rule: 'analysts', message: 'pgwarden: analyst may not read public.secrets' } },
  { name: 'a table nothing grants is refused', who: 'analyst', sql: select('public.products'), expect: { rule: 'default-deny', message: 'pgwarden: analyst may not read public.products' } },
  {
    name: 'an operation the grant does not name is refused',
    who: 'support',
    sql: write('delete', 'public.orders'),
    expect: { rule: 'default-deny', message: 'pgwarden: support-bot may not delete from public.orders' },
  },
  { name: 'an update of an allowlisted write column is allowed', who: 'support', sql: write('update', 'public.orders', ['status']), expect: 'allow' },
  {
    name: 'an update of a column outside write_columns is refused',
    who: 'support',
    sql: write('update', 'public.orders', ['status', 'total']),
    expect: { rule: 'default-deny', message: 'pgwarden: support-bot may not write column public.orders.total' },
  },
  { name: 'a read allowlist admits its columns', who: 'support', sql: select('public.customers', ['id', 'email']), expect: 'allow' },
  {
    name: 'a read allowlist refuses other columns',
    who: 'support',
    sql: select('public.customers', ['phone']),
    expect: { rule: 'default-deny', message: 'pgwarden: support-bot may not read column public.customers.phone' },
  },
  {
    name: 'unknown columns (allColumns) under a read allowlist are refused',
    who: 'support',
    sql: stmt('select', 'read', { tables: [access('select', 'public.customers', [], { allColumns: true })] }),
    expect: { rule: 'default-deny', message: 'pgwarden: support-bot may not read public.customers without naming its columns' },
  },
  {
    name: 'unknown columns (allColumns) where a column is denied are refused by the denial',
    who: 'analyst',
    sql: stmt('select', 'read', { tables: [access('select', 'public.customers', [], { allColumns: true })] }),
    expect: { rule: 'analysts' },
  },
  { name: 'unknown columns of an unrestricted table are allowed', who: 'analyst', sql: stmt('select', 'read', { tables: [access('select', 'public.orders', [], { allColumns: true })] }), expect: 'allow' },
  { name: 'a schema wildcard grants every table of the schema', who: 'writer', sql: select('sales.invoices', ['id']), expect: 'allow' },
  { name: 'operations: all grants delete', who: 'writer', sql: write('delete', 'sales.invoices'), expect: 'allow' },
  { name: 'operations: all grants truncate', who: 'writer', sql: write('truncate', 'sales.invoices'), expect: 'allow' },
  { name: 'a deny inside a wildcard grant wins', who: 'writer', sql: select('sales.payroll', ['salary']), expect: { rule: 'writers', message: 'pgwarden: writer may not read sales.payroll' } },
  { name: 'a table-name wildcard grants the table in any schema', who: 'writer', sql: write('insert', 'hr.audit_log', ['event']), expect: 'allow' },
  { name: 'the table-name wildcard grants only its operations', who: 'writer', sql: write('update', 'hr.audit_log', ['event']), expect: { rule: 'default-deny', message: 'pgwarden: writer may not update hr.audit_log' } },
  { name: 'a wildcard in one schema grants nothing in another', who: 'writer', sql: select('public.orders'), expect: { rule: 'default-deny' } },
  { name: 'truncate needs its own grant', who: 'support', sql: write('truncate', 'public.orders'), expect: { rule: 'default-deny', message: 'pgwarden: support-bot may not truncate public.orders' } },
  { name: 'references needs its own grant', who: 'support', sql: stmt('alter table', 'ddl', { tables: [access('references', 'public.customers', ['id'])] }), expect: { rule: 'default-deny', contains: 'may not reference public.customers' } },
  {
    name: 'an unresolved unqualified relation is not matched by a schema-specific grant',
    who: 'analyst',
    sql: select('orders', ['id']),
    expect: { rule: 'default-deny', message: 'pgwarden: analyst may not read orders' },
  },
  { name: 'an unresolved unqualified relation is matched by a *-schema grant', who: 'writer', sql: write('insert', 'audit_log', ['event']), expect: 'allow' },
  { name: 'an unresolved unqualified relation is matched by a denial of any schema', who: 'dba', sql: select('vault', ['x']), expect: { rule: 'admins', message: 'pgwarden: dba may not read vault' } },
  { name: 'an unresolved but qualified relation is checked by its written name', who: 'analyst', sql: stmt('select', 'read', { tables: [access('select', 'public.orders', ['id'], { resolved: false })] }), expect: 'allow' },
  { name: 'a schema-specific denial leaves other schemas alone', who: 'dba', sql: select('other.vault', ['x']), expect: 'allow' },
  { name: 'names with upper case are quoted in messages', who: 'analyst', sql: select('public.Orders', ['id']), expect: { rule: 'default-deny', message: 'pgwarden: analyst may not read public."Orders"' } },
  { name: 'system catalogs are readable by default', who: 'analyst', sql: select('pg_catalog.pg_class', ['relname']), expect: 'allow' },
  { name: 'information_schema is readable by default', who: 'support', sql: select('information_schema.tables', ['table_name']), expect: 'allow' },
  { name: 'pg_stat_activity is protected', who: 'analyst', sql: select('pg_catalog.pg_stat_activity', ['query']), expect: { rule: 'builtin:protected-catalog' } },
  { name: 'a wildcard grant does not lift a protected catalog', who: 'dba', sql: select('pg_catalog.pg_stat_activity', ['query']), expect: { rule: 'builtin:protected-catalog' } },
  { name: 'writes to catalogs are not granted by default', who: 'writer', sql: write('insert', 'pg_catalog.pg_class', ['relname']), expect: { rule: 'default-deny' } },
  { name: 'a statement without tables or functions is allowed', who: 'support', sql: stmt('select', 'read'), expect: 'allow' },
]);

suite('functions', [
  { name: 'built-in functions are allowed', who: 'analyst', sql: call(fn('pg_catalog.now'), fn('pg_catalog.count')), expect: 'allow' },
  {
    name: 'a dangerous built-in is refused',
    who: 'analyst',
    sql: call(fn('pg_catalog.pg_read_file', ['/etc/passwd'])),
    expect: { rule: 'builtin:dangerous-functions', message: 'pgwarden: analyst may not call function pg_catalog.pg_read_file' },
  },
  { name: 'an exact allow entry lifts a dangerous function', who: 'writer', sql: call(fn('pg_catalog.pg_read_file')), expect: 'allow' },
  { name: 'a wildcard allow does not lift a dangerous function', who: 'dba', sql: call(fn('pg_catalog.pg_read_binary_file')), expect: { rule: 'builtin:dangerous-functions' } },
  { name: 'pg_ls_* is dangerous', who: 'dba', sql: call(fn('pg_catalog.pg_ls_dir')), expect: { rule: 'builtin:dangerous-functions' } },
  { name: 'large objects are dangerous', who: 'analyst', sql: call(fn('pg_catalog.lo_import')), expect: { rule: 'builtin:dangerous-functions' } },
  { name: 'dblink in any schema is dangerous', who: 'dba', sql: call(fn('public.dblink_exec')), expect: { rule: 'builtin:dangerous-functions' } },
  { name: 'query_to_xml runs SQL from a string', who: 'analyst', sql: call(fn('pg_catalog.query_to_xml')), expect: { rule: 'builtin:dangerous-functions' } },
  { name: 'table_to_xml reads a table named in a string', who: 'analyst', sql: call(fn('pg_catalog.table_to_xml')), expect: { rule: 'builtin:dangerous-functions' } },
  { name: 'pg_terminate_backend is dangerous', who: 'dba', sql: call(fn('pg_catalog.pg_terminate_backend')), expect: { rule: 'builtin:dangerous-functions' } },
  { name: 'replication slots are dangerous', who: 'dba', sql: call(fn('pg_catalog.pg_create_logical_replication_slot')), expect: { rule: 'builtin:dangerous-functions' } },
  { name: 'an unresolved unqualified dangerous name is refused', who: 'analyst', sql: call(fn('pg_read_file')), expect: { rule: 'builtin:dangerous-functions' } },
  { name: 'pg_sleep is allowed (statement_timeout bounds it)', who: 'analyst', sql: call(fn('pg_catalog.pg_sleep')), expect: 'allow' },
  { name: 'an allowlisted function outside pg_catalog is allowed', who: 'analyst', sql: call(fn('public.order_total')), expect: 'allow' },
  {
    name: 'a function outside pg_catalog needs an allow entry',
    who: 'analyst',
    sql: call(fn('public.discount')),
    expect: { rule: 'default-deny', message: 'pgwarden: analyst may not call function public.discount' },
  },
  { name: 'a table grant in a schema does not allow its functions', who: 'support', sql: call(fn('public.order_total')), expect: { rule: 'default-deny' } },
  { name: 'a function wildcard allows the schema', who: 'writer', sql: call(fn('sales.compute')), expect: 'allow' },
  { name: 'a function denial wins over the wildcard', who: 'writer', sql: call(fn('sales.drop_everything')), expect: { rule: 'writers' } },
  { name: 'set_config of a protected setting is refused', who: 'support', sql: call(fn('pg_catalog.set_config', ['role', 'postgres', 'false'])), expect: { rule: 'builtin:session-hardening' } },
  { name: 'set_config with a non-constant name is refused', who: 'dba', sql: call(fn('pg_catalog.set_config', [null, 'x'])), expect: { rule: 'builtin:session-hardening' } },
  { name: 'set_config of a harmless setting is allowed', who: 'support', sql: call(fn('pg_catalog.set_config', ['application_name', 'report', 'false'])), expect: 'allow' },
  { name: 'set_config is held to the statement_timeout limit', who: 'analyst', sql: call(fn('pg_catalog.set_config', ['statement_timeout', '0', 'false'])), expect: { rule: 'limits:statement-timeout' } },
  { name: 'set_config of search_path from an expression is refused', who: 'support', sql: call(fn('pg_catalog.set_config', ['search_path', null, 'false'])), expect: { rule: 'builtin:session-hardening' } },
  { name: 'pg_notify needs the notify permission', who: 'analyst', sql: call(fn('pg_catalog.pg_notify')), expect: { rule: 'default-deny' } },
  { name: 'pg_notify with the notify permission is allowed', who: 'writer', sql: call(fn('pg_catalog.pg_notify')), expect: 'allow' },
  { name: 'advisory locks need the lock permission', who: 'support', sql: call(fn('pg_catalog.pg_advisory_lock')), expect: { rule: 'default-deny' } },
  { name: 'advisory locks with the lock permission are allowed', who: 'writer', sql: call(fn('pg_catalog.pg_try_advisory_xact_lock')), expect: 'allow' },
  { name: 'nextval is refused in a read-only scope', who: 'analyst', sql: call(fn('pg_catalog.nextval')), expect: { rule: 'limits:read-only' } },
  { name: 'nextval is allowed in a writable scope', who: 'support', sql: call(fn('pg_catalog.nextval')), expect: 'allow' },
  { name: 'setval is dangerous', who: 'dba', sql: call(fn('pg_catalog.setval')), expect: { rule: 'builtin:dangerous-functions' } },
  {
    name: 'a security definer call with an exact entry is allowed',
    who: 'analyst',
    sql: stmt('select', 'read', { functions: [fn('public.order_total')], specials: ['security_definer_call'] }),
    expect: 'allow',
  },
  {
    name: 'a security definer call covered only by a wildcard is refused',
    who: 'writer',
    sql: stmt('select', 'read', { functions: [fn('sales.compute')], specials: ['security_definer_call'] }),
    expect: { rule: 'builtin:security-definer', message: 'pgwarden: writer may not call function sales.compute' },
  },
  {
    name: 'a security definer call the analysis cannot attribute is refused',
    who: 'dba',
    sql: stmt('select', 'read', { functions: [fn('pg_catalog.now')], specials: ['security_definer_call'] }),
    expect: { rule: 'builtin:security-definer' },
  },
]);

suite('specials', [
  { name: 'COPY … PROGRAM is never allowed', who: 'dba', sql: special('copy', 'write', ['copy_program']), expect: { rule: 'builtin:copy-server', message: 'pgwarden: dba may not run COPY … PROGRAM' } },
  { name: 'COPY to a server file is never allowed', who: 'dba', sql: special('copy', 'read', ['copy_file'], { tables: [access('select', 'public.orders')] }), expect: { rule: 'builtin:copy-server' } },
  {
    name: 'COPY TO STDOUT is refused under a row limit',
    who: 'analyst',
    sql: special('copy', 'read', ['copy_to_stdout'], { tables: [access('select', 'public.orders', ['id'])] }),
    expect: { rule: 'limits:max-rows', message: 'pgwarden: analyst may not COPY to STDOUT' },
  },
  { name: 'COPY TO STDOUT of a readable table is allowed without a row limit', who: 'support', sql: special('copy', 'read', ['copy_to_stdout'], { tables: [access('select', 'public.orders', ['id'])] }), expect: 'allow' },
  { name: 'COPY TO STDOUT still needs the table read', who: 'support', sql: special('copy', 'read', ['copy_to_stdout'], { tables: [access('select', 'public.secrets', ['k'])] }), expect: { rule: 'default-deny' } },
  { name: 'COPY FROM STDIN into a writable table is allowed', who: 'writer', sql: special('copy', 'write', ['copy_from_stdin'], { tables: [access('insert', 'sales.orders', ['id'])] }), expect: 'allow' },
  { name: 'COPY FROM STDIN needs insert', who: 'support', sql: special('copy', 'write', ['copy_from_stdin'], { tables: [access('insert', 'public.orders', ['status'])] }), expect: { rule: 'default-deny', message: 'pgwarden: support-bot may not insert into public.orders' } },
  { name: 'COPY FROM STDIN with no visible table is refused', who: 'writer', sql: special('copy', 'write', ['copy_from_stdin']), expect: { rule: 'unsupported' } },
  { name: 'a DO block in a listed language is allowed', who: 'writer', sql: special('do', 'utility', ['do_block'], { doLanguage: 'plpgsql' }), expect: 'allow' },
  {
    name: 'a DO block is refused by default',
    who: 'dba',
    sql: special('do', 'utility', ['do_block'], { doLanguage: 'plpgsql' }),
    expect: { rule: 'default-deny', message: 'pgwarden: dba may not run a DO block in language plpgsql' },
  },
  { name: 'a DO block in an untrusted language is never allowed', who: 'writer', sql: special('do', 'utility', ['do_block'], { doLanguage: 'plpython3u' }), expect: { rule: 'builtin:untrusted-language' } },
  { name: 'a DO block without a known language is refused', who: 'writer', sql: special('do', 'utility', ['do_block']), expect: { rule: 'unsupported' } },
  { name: 'LOAD is never allowed', who: 'dba', sql: special('load', 'utility', ['load']), expect: { rule: 'builtin:load' } },
  { name: 'LISTEN needs the listen permission', who: 'analyst', sql: special('listen', 'session', ['listen']), expect: { rule: 'default-deny', message: 'pgwarden: analyst may not LISTEN' } },
  { name: 'LISTEN with the permission is allowed', who: 'writer', sql: special('listen', 'session', ['listen']), expect: 'allow' },
  { name: 'NOTIFY needs the notify permission', who: 'support', sql: special('notify', 'session', ['notify']), expect: { rule: 'default-deny' } },
  { name: 'LOCK needs the lock permission', who: 'support', sql: special('lock', 'utility', ['lock'], { tables: [access('update', 'public.orders')] }), expect: { rule: 'default-deny', message: 'pgwarden: support-bot may not LOCK tables' } },
  { name: 'LOCK with the permission is allowed', who: 'writer', sql: special('lock', 'utility', ['lock'], { tables: [access('update', 'sales.orders')] }), expect: 'allow' },
  { name: 'PREPARE of an allowed statement is allowed', who: 'analyst', sql: nested(special('prepare', 'session', ['prepare'], { objectName: 'q' }), select('public.orders', ['id'])), expect: 'allow' },
  {
    name: 'PREPARE is decided on the prepared statement',
    who: 'analyst',
    sql: nested(special('prepare', 'session', ['prepare']), select('public.secrets', ['k'])),
    expect: { rule: 'analysts', message: 'pgwarden: analyst may not read public.secrets' },
  },
  { name: 'PREPARE without a visible statement is refused', who: 'analyst', sql: special('prepare', 'session', ['prepare']), expect: { rule: 'unsupported' } },
  { name: 'DECLARE is decided on its query', who: 'analyst', sql: nested(special('declare cursor', 'session', ['declare_cursor']), select('public.customers', ['ssn'])), expect: { rule: 'analysts' } },
  { name: 'DECLARE of an allowed query is allowed', who: 'analyst', sql: nested(special('declare cursor', 'session', ['declare_cursor']), select('public.customers', ['name'])), expect: 'allow' },
  {
    name: 'EXPLAIN ANALYZE is decided on the statement it runs',
    who: 'support',
    sql: nested(special('explain', 'read', ['explain_analyze']), write('delete', 'public.orders')),
    expect: { rule: 'default-deny', message: 'pgwarden: support-bot may not delete from public.orders' },
  },
  { name: 'plain EXPLAIN of an allowed query is allowed', who: 'analyst', sql: nested(stmt('explain', 'read'), select('public.orders', ['id'])), expect: 'allow' },
  { name: 'EXECUTE is left to the engine', who: 'analyst', sql: special('execute', 'session', ['execute'], { objectName: 'q' }), expect: 'allow' },
  { name: 'FETCH is allowed', who: 'analyst', sql: special('fetch', 'session', ['fetch']), expect: 'allow' },
  { name: 'DEALLOCATE is allowed', who: 'analyst', sql: special('deallocate', 'session', ['deallocate']), expect: 'allow' },
  {
    name: 'a data-modifying CTE is a write in a read-only scope',
    who: 'analyst',
    sql: stmt('select', 'read', { tables: [access('select', 'public.orders', ['id']), access('delete', 'public.orders')], specials: ['cte_write'] }),
    expect: { rule: 'limits:read-only', message: 'pgwarden: analyst may not delete from public.orders: the access is read-only' },
  },
  { name: 'a data-modifying CTE needs the write granted', who: 'support', sql: stmt('select', 'read', { tables: [access('delete', 'public.orders')], specials: ['cte_write'] }), expect: { rule: 'default-deny' } },
  { name: 'SELECT INTO with no visible target is refused', who: 'writer', sql: special('select into', 'write', ['select_into'], { tables: [access('select', 'sales.orders', ['id'])] }), expect: { rule: 'unsupported' } },
  {
    name: 'SELECT INTO a granted schema is allowed',
    who: 'writer',
    sql: special('select into', 'write', ['select_into'], { tables: [access('select', 'sales.orders', ['id'])], ddl: [{ action: 'create', objectType: 'table', schema: 'scratch', name: 'copy' }] }),
    expect: 'allow',
  },
  { name: 'DELETE without WHERE is left to reviews', who: 'writer', sql: write('delete', 'sales.orders', [], { specials: ['delete_without_where'] }), expect: 'allow' },
]);

suite('settings', [
  { name: 'SET ROLE is refused', who: 'dba', sql: setting('role', 'postgres', 'set_role'), expect: { rule: 'builtin:session-hardening', message: 'pgwarden: dba may not change role (SET ROLE)' } },
  { name: 'SET SESSION AUTHORIZATION is refused', who: 'dba', sql: setting('session_authorization', 'postgres', 'set_session_authorization'), expect: { rule: 'builtin:session-hardening' } },
  { name: 'RESET ROLE is refused', who: 'dba', sql: setting('role', null, 'reset'), expect: { rule: 'builtin:session-hardening', message: 'pgwarden: dba may not change setting role' } },
  { name: 'RESET ALL is allowed: it returns to the startup settings the gateway chose', who: 'support', sql: setting(null, null, 'reset_all'), expect: 'allow' },
  { name: 'DISCARD ALL is allowed: it keeps the startup role and limits', who: 'support', sql: stmt('discard all', 'session'), expect: 'allow' },
  { name: 'DISCARD TEMP is allowed', who: 'support', sql: stmt('discard temp', 'session'), expect: 'allow' },
  { name: 'a SET the analyser could not name is refused', who: 'support', sql: stmt('set', 'session', { node: 'VariableSetStmt' }), expect: { rule: 'unsupported' } },
  { name: 'a harmless setting is allowed', who: 'support', sql: setting('application_name', "'reports'"), expect: 'allow' },
  { name: 'session_replication_role is protected', who: 'dba', sql: setting('session_replication_role', 'replica'), expect: { rule: 'builtin:session-hardening', message: 'pgwarden: dba may not change setting session_replication_role' } },
  { name: 'logging settings are protected', who: 'dba', sql: setting('log_statement', 'none'), expect: { rule: 'builtin:session-hardening' } },
  { name: 'preload libraries are protected', who: 'dba', sql: setting('session_preload_libraries', "'auto_explain'"), expect: { rule: 'builtin:session-hardening' } },
  { name: 'a multi-byte client encoding is refused', who: 'support', sql: setting('client_encoding', "'SJIS'"), expect: { rule: 'builtin:session-hardening', message: "pgwarden: support-bot may not set client_encoding to 'SJIS'" } },
  { name: 'client_encoding UTF8 is allowed', who: 'support', sql: setting('client_encoding', "'UTF-8'"), expect: 'allow' },
  { name: 'client_encoding SQL_ASCII is allowed (the session watch holds it to a UTF8 database)', who: 'support', sql: setting('client_encoding', "'SQL_ASCII'"), expect: 'allow' },
  { name: 'standard_conforming_strings off is refused', who: 'support', sql: setting('standard_conforming_strings', 'off'), expect: { rule: 'builtin:session-hardening' } },
  { name: 'standard_conforming_strings on is allowed', who: 'support', sql: setting('standard_conforming_strings', 'on'), expect: 'allow' },
  { name: 'a custom setting is refused by default', who: 'support', sql: setting('app.tenant_id', "'42'"), expect: { rule: 'builtin:session-hardening', message: 'pgwarden: support-bot may not change custom setting app.tenant_id' } },
  { name: 'a custom setting with custom_settings is allowed', who: 'dba', sql: setting('app.tenant_id', "'42'"), expect: 'allow' },
  { name: 'search_path of granted schemas is allowed', who: 'support', sql: setting('search_path', 'public, pg_catalog'), expect: 'allow' },
  {
    name: 'search_path with an ungranted schema is refused',
    who: 'support',
    sql: setting('search_path', 'evil, public'),
    expect: { rule: 'builtin:session-hardening', message: 'pgwarden: support-bot may not put schema evil on the search_path' },
  },
  { name: 'search_path with pg_temp is refused', who: 'dba', sql: setting('search_path', 'pg_temp, public'), expect: { rule: 'builtin:session-hardening' } },
  { name: 'search_path with "$user" and no role is refused', who: 'support', sql: setting('search_path', '"$user", public'), expect: { rule: 'builtin:session-hardening', contains: '"$user"' } },
  { name: 'search_path as one quoted string is read as a list', who: 'support', sql: setting('search_path', "'public, evil'"), expect: { rule: 'builtin:session-hardening', contains: 'evil' } },
  { name: 'search_path names fold to lower case', who: 'support', sql: setting('search_path', 'PUBLIC'), expect: 'allow' },
  { name: 'a quoted search_path name keeps its case', who: 'support', sql: setting('search_path', '"Public"'), expect: { rule: 'builtin:session-hardening' } },
  { name: 'search_path DEFAULT is allowed', who: 'support', sql: setting('search_path', null), expect: 'allow' },
  { name: 'RESET search_path is allowed', who: 'support', sql: setting('search_path', null, 'reset'), expect: 'allow' },
  { name: 'a lower statement_timeout is allowed', who: 'analyst', sql: setting('statement_timeout', "'1s'"), expect: 'allow' },
  { name: 'statement_timeout at the limit in plain ms is allowed', who: 'analyst', sql: setting('statement_timeout', '5000'), expect: 'allow' },
  {
    name: 'a higher statement_timeout is refused',
    who: 'analyst',
    sql: setting('statement_timeout', "'1min'"),
    expect: { rule: 'limits:statement-timeout', message: "pgwarden: analyst may not set statement_timeout to '1min' (the limit is 5s)" },
  },
  { name: 'statement_timeout 0 (no limit) is refused', who: 'analyst', sql: setting('statement_timeout', '0'), expect: { rule: 'limits:statement-timeout' } },
  { name: 'RESET statement_timeout under a limit is refused', who: 'analyst', sql: setting('statement_timeout', null, 'reset'), expect: { rule: 'limits:statement-timeout' } },
  { name: 'SET LOCAL statement_timeout is held to the limit', who: 'analyst', sql: setting('statement_timeout', "'10s'", 'set_local'), expect: { rule: 'limits:statement-timeout' } },
  { name: 'statement_timeout without a limit is free', who: 'support', sql: setting('statement_timeout', '0'), expect: 'allow' },
  {
    name: 'SET TRANSACTION READ WRITE is refused in a read-only scope',
    who: 'analyst',
    sql: setting('transaction_read_only', 'off', 'set_transaction'),
    expect: { rule: 'limits:read-only', message: 'pgwarden: analyst may not turn off read-only (transaction_read_only)' },
  },
  { name: 'BEGIN READ WRITE is refused in a read-only scope', who: 'analyst', sql: stmt('begin', 'transaction', { settings: [{ name: 'transaction_read_only', value: 'false', action: 'set_transaction' }] }), expect: { rule: 'limits:read-only' } },
  { name: 'default_transaction_read_only off is refused in a read-only scope', who: 'analyst', sql: setting('default_transaction_read_only', "'no'"), expect: { rule: 'limits:read-only' } },
  { name: 'RESET default_transaction_read_only is refused in a read-only scope', who: 'analyst', sql: setting('default_transaction_read_only', null, 'reset'), expect: { rule: 'limits:read-only' } },
  { name: 'turning read-only on is allowed', who: 'analyst', sql: setting('transaction_read_only', 'on', 'set_transaction'), expect: 'allow' },
  { name: 'read write is allowed in a writable scope', who: 'support', sql: setting('transaction_read_only', 'off', 'set_transaction'), expect: 'allow' },
]);

suite('DDL, DCL, read-only, transactions and utility', [
  { name: 'DDL in a granted schema is allowed', who: 'writer', sql: ddl('create', 'table', 'scratch', 't'), expect: 'allow' },
  { name: 'DDL outside the granted schemas is refused', who: 'writer', sql: ddl('create', 'table', 'public', 't'), expect: { rule: 'default-deny', message: 'pgwarden: writer may not create table public.t' } },
  { name: 'DDL without a ddl grant is refused', who: 'support', sql: ddl('drop', 'table', 'public', 'orders'), expect: { rule: 'default-deny', message: 'pgwarden: support-bot may not drop table public.orders' } },
  { name: 'DDL with no visible target is refused', who: 'writer', sql: stmt('drop table', 'ddl'), expect: { rule: 'unsupported' } },
  { name: 'DDL on a target of unknown schema is refused', who: 'writer', sql: ddl('create', 'table', undefined, 't'), expect: { rule: 'default-deny' } },
  { name: 'a table denial without operations covers DDL on the table', who: 'dba', sql: ddl('drop', 'table', 'public', 'vault'), expect: { rule: 'admins', message: 'pgwarden: dba may not drop table public.vault' } },
  { name: 'a function in an untrusted language is never created', who: 'dba', sql: ddl('create', 'function', 'public', 'f', { ddl: [{ action: 'create', objectType: 'function', schema: 'public', name: 'f', language: 'plpython3u' }] }), expect: { rule: 'builtin:untrusted-language', message: 'pgwarden: dba may not create function public.f in language plpython3u' } },
  { name: 'a function in a trusted language follows the ddl grant', who: 'writer', sql: ddl('create', 'function', 'scratch', 'f', { ddl: [{ action: 'create', objectType: 'function', schema: 'scratch', name: 'f', language: 'plpgsql' }] }), expect: 'allow' },
  { name: 'an index on a denied table is DDL on the denied table', who: 'dba', sql: ddl('create', 'index', 'public', 'vault_idx', { ddl: [{ action: 'create', objectType: 'index', schema: 'public', name: 'vault_idx', on: { schema: 'public', name: 'vault' } }] }), expect: { rule: 'admins', message: 'pgwarden: dba may not create index public.vault_idx on public.vault' } },
  { name: 'a comment on a column of a denied table names the column', who: 'dba', sql: ddl('comment', 'column', 'public', 'secret', { ddl: [{ action: 'comment', objectType: 'column', schema: 'public', name: 'secret', on: { schema: 'public', name: 'vault' } }] }), expect: { rule: 'admins', message: 'pgwarden: dba may not comment on column public.vault.secret' } },
  { name: 'an object attached to a table outside the ddl grant is refused', who: 'writer', sql: ddl('create', 'statistics', 'scratch', 'st', { ddl: [{ action: 'create', objectType: 'statistics', schema: 'scratch', name: 'st', on: { schema: 'public', name: 'orders' } }] }), expect: { rule: 'default-deny', message: 'pgwarden: writer may not create statistics scratch.st on public.orders' } },
  { name: 'an object attached to a table in the granted schema is allowed', who: 'writer', sql: ddl('create', 'index', 'scratch', 'i', { ddl: [{ action: 'create', objectType: 'index', schema: 'scratch', name: 'i', on: { schema: 'scratch', name: 't' } }] }), expect: 'allow' },
  { name: 'dropping the schema of a denied table is refused', who: 'dba', sql: ddl('drop', 'schema', undefined, 'public'), expect: { rule: 'admins' } },
  { name: 'dropping another schema is allowed with a * ddl grant', who: 'dba', sql: ddl('drop', 'schema', undefined, 'other'), expect: 'allow' },
  { name: 'CREATE SCHEMA needs the schema itself granted', who: 'writer', sql: ddl('create', 'schema', undefined, 'scratch2'), expect: { rule: 'default-deny' } },
  { name: 'maintenance in a granted schema is allowed', who: 'writer', sql: ddl('maintenance', 'table', 'scratch', 't'), expect: 'allow' },
  { name: 'extensions are outside any schema grant', who: 'dba', sql: ddl('create', 'extension', 'public', 'dblink'), expect: { rule: 'builtin:database-objects' } },
  { name: 'event triggers are outside any schema grant', who: 'dba', sql: ddl('create', 'event_trigger', undefined, 'guard'), expect: { rule: 'builtin:database-objects' } },
  { name: 'GRANT with dcl: true is allowed', who: 'dba', sql: stmt('grant', 'dcl', { ddl: [{ action: 'other', objectType: 'role', name: 'x' }] }), expect: 'allow' },
  { name: 'GRANT without dcl is refused', who: 'writer', sql: stmt('grant', 'dcl'), expect: { rule: 'default-deny', message: 'pgwarden: writer may not run grant' } },
  { name: 'a read-only scope refuses DDL', who: 'analyst', sql: ddl('create', 'table', 'public', 't'), expect: { rule: 'limits:read-only', message: 'pgwarden: analyst may not run create table: the access is read-only' } },
  { name: 'a read-only scope refuses DCL', who: 'analyst', sql: stmt('revoke', 'dcl'), expect: { rule: 'limits:read-only' } },
  { name: 'a read-only scope refuses a write class without tables', who: 'analyst', sql: stmt('insert', 'write'), expect: { rule: 'limits:read-only' } },
  { name: 'BEGIN is allowed', who: 'analyst', sql: stmt('begin', 'transaction'), expect: 'allow' },
  { name: 'COMMIT is allowed', who: 'analyst', sql: stmt('commit', 'transaction'), expect: 'allow' },
  { name: 'PREPARE TRANSACTION is refused', who: 'dba', sql: stmt('prepare transaction', 'transaction'), expect: { rule: 'builtin:two-phase-commit' } },
  { name: 'SHOW is allowed', who: 'support', sql: stmt('show', 'read', { node: 'VariableShowStmt' }), expect: 'allow' },
  { name: 'an unknown utility statement is refused', who: 'dba', sql: stmt('checkpoint', 'utility'), expect: { rule: 'default-deny', message: 'pgwarden: dba may not run checkpoint' } },
  { name: 'CALL of an allowed procedure is allowed', who: 'writer', sql: stmt('call', 'utility', { node: 'CallStmt', functions: [fn('sales.close_month')] }), expect: 'allow' },
  { name: 'CALL of a procedure nothing allows is refused', who: 'support', sql: stmt('call', 'utility', { node: 'CallStmt', functions: [fn('public.purge')] }), expect: { rule: 'default-deny' } },
  { name: 'CALL with no visible procedure is refused', who: 'writer', sql: stmt('call', 'utility', { node: 'CallStmt' }), expect: { rule: 'unsupported' } },
]);

suite('unsupported, multi-statement strings and failure', [
  {
    name: 'an unsupported statement is refused with its reason',
    who: 'dba',
    sql: stmt('select', 'read', { unsupported: 'cannot resolve the relation of a whole-row reference' }),
    expect: { rule: 'unsupported', message: 'pgwarden: dba may not run select: cannot resolve the relation of a whole-row reference' },
  },
  { name: 'an unsupported contained statement refuses the outer one', who: 'dba', sql: nested(special('prepare', 'session', ['prepare']), stmt('select', 'read', { unsupported: 'unknown node' })), expect: { rule: 'unsupported', contains: 'unknown node' } },
  { name: 'unsupported wins over everything else in the statement', who: 'analyst', sql: select('public.secrets', [], { unsupported: 'x' }), expect: { rule: 'unsupported' } },
  { name: 'one refused statement refuses the string', who: 'support', sql: [select('public.orders', ['id']), write('delete', 'public.orders')], expect: { rule: 'default-deny', statement: 1 } },
  { name: 'the first refusal wins', who: 'analyst', sql: [select('public.orders'), select('public.secrets'), setting('role', 'x', 'set_role')], expect: { rule: 'analysts', statement: 1 } },
  { name: 'every statement allowed allows the string', who: 'analyst', sql: [stmt('begin', 'transaction'), select('public.orders', ['id']), stmt('commit', 'transaction')], expect: 'allow' },
  { name: 'an empty string is allowed', who: 'analyst', sql: [], expect: 'allow' },
  { name: 'a malformed analysis is refused, not thrown', who: 'dba', sql: { command: 'select', class: 'read' } as unknown as StatementAnalysis, expect: { rule: 'internal' } },
  { name: 'an unknown class is refused, not thrown', who: 'dba', sql: stmt('frobnicate', 'mystery' as never), expect: { rule: 'internal' } },
  { name: 'nesting too deep is refused', who: 'dba', sql: Array.from({ length: 12 }).reduce<StatementAnalysis>((inner) => nested(stmt('explain', 'read'), inner), stmt('select', 'read')), expect: { rule: 'unsupported' } },
]);

suite('several matching policies', [
  { name: 'grants are a union: the first policy\'s table', who: 'both', sql: select('public.orders', ['id']), expect: 'allow' },
  { name: 'grants are a union: the second policy\'s table', who: 'both', sql: select('sales.orders', ['id']), expect: 'allow' },
  { name: 'read-only from one policy applies to the other\'s grants', who: 'both', sql: write('delete', 'sales.orders'), expect: { rule: 'limits:read-only' } },
  { name: 'the lowest statement_timeout applies', who: 'both', sql: setting('statement_timeout', "'6s'"), expect: { rule: 'limits:statement-timeout' } },
  { name: 'a denial of one policy wins over a grant of the other', who: 'both', sql: select('public.customers', ['ssn']), expect: { rule: 'analysts' } },
  { name: 'the max_rows limit of one policy restricts COPY for both', who: 'both', sql: special('copy', 'read', ['copy_to_stdout'], { tables: [access('select', 'sales.orders', ['id'])] }), expect: { rule: 'limits:max-rows' } },
]);

describe('decisions report what they used', () => {
  it('names the policies whose grants allowed the string, in config order', () => {
    const d = decide(scope('both'), [select('sales.orders', ['id']), select('public.orders', ['id'])]);
    assert.deepEqual(d, { verdict: 'allow', policies: ['analysts', 'writers'] } satisfies Decision);
  });
  it('names no policy for statements that need no grant', () => {
    assert.deepEqual(decide(scope('analyst'), [stmt('begin', 'transaction')]), { verdict: 'allow', policies: [] });
  });
  it('a deny decision carries message, hint, rule and index', () => {
    const d = decide(scope('analyst'), [select('public.orders'), select('public.customers', ['ssn'])]);
    assert.deepEqual(d, {
      verdict: 'deny',
      message: 'pgwarden: analyst may not read column public.customers.ssn',
      hint: 'Policy "analysts" denies it, and a denial wins over any grant.',
      rule: 'analysts',
      statement: 1,
    });
  });
});

describe('deny wins across policies', () => {
  const policies: PolicyInput[] = [
    { name: 'broad', match: { groups: ['staff'] }, allow: [{ tables: ['public.*'], operations: 'all' }] },
    { name: 'guard', match: { groups: ['staff'] }, deny: [{ tables: ['public.secrets'], operations: ['select'] }, { write_columns: ['public.*.created_at'] }, { session: ['prepare'] }] },
  ];
  const s = scopeOf(policies, identity('ann', ['staff'])) as Scope;
  const cases: [string, StatementAnalysis, string][] = [
    ['select of a table the other policy denies', select('public.secrets', ['k']), 'guard'],
    ['a write-only column denial refuses the write', write('update', 'public.orders', ['created_at']), 'guard'],
    ['a denied session permission refuses PREPARE', nested(special('prepare', 'session', ['prepare']), select('public.orders', ['id'])), 'guard'],
  ];
  for (const [name, sql, rule] of cases) {
    it(name, () => {
      const d = decide(s, [sql]);
      assert.equal(d.verdict, 'deny');
      assert.equal(d.verdict === 'deny' && d.rule, rule);
    });
  }
  it('operations not denied stay granted', () => assert.equal(decide(s, [write('delete', 'public.secrets')]).verdict, 'allow'));
  it('a write-only column denial leaves reads alone', () => assert.equal(decide(s, [select('public.orders', ['created_at'])]).verdict, 'allow'));
});

describe('names follow SQL identifier rules', () => {
  const policies: PolicyInput[] = [
    {
      name: 'mixed',
      match: { subjects: ['m'] },
      allow: [
        { tables: ['Public.Orders', 'public."Line.Items"', 'public."Camel"'], operations: ['select'] },
        { tables: ['app.cust*'], operations: ['select'] },
      ],
      deny: [{ columns: ['PUBLIC.ORDERS.SSN'] }],
    },
  ];
  const s = scopeOf(policies, identity('m')) as Scope;
  const cases: [string, StatementAnalysis, boolean][] = [
    ['an unquoted pattern folds to lower case', select('public.orders', ['id']), true],
    ['an unquoted pattern does not match a quoted mixed-case table', select('public.Orders', ['id']), false],
    ['a quoted pattern keeps its case', select('public.Camel', ['id']), true],
    ['a quoted pattern does not match the folded name', select('public.camel', ['id']), false],
    ['a quoted pattern may contain a dot', select('public.Line.Items', ['id']), true],
    ['an upper-case deny still denies the folded column', select('public.orders', ['ssn']), false],
    ['a prefix wildcard matches', select('app.customers', ['id']), true],
    ['a prefix wildcard does not match other names', select('app.orders', ['id']), false],
  ];
  for (const [name, sql, allowed] of cases) it(name, () => assert.equal(decide(s, [sql]).verdict, allowed ? 'allow' : 'deny'));
});

describe('explainDecision', () => {
  it('lists the analysis and the verdict with its rule', () => {
    const s = scope('analyst');
    const analyses = [select('public.orders', ['id']), stmt('select', 'read', { tables: [access('select', 'public.customers', ['ssn'])], functions: [fn('pg_catalog.lower')] })];
    const text = explainDecision(s, analyses, decide(s, analyses));
    assert.equal(
      text,
      [
        'identity: analyst',
        'policies: analysts',
        'limits: read-only, statement_timeout ≤ 5s, max_rows 1000',
        'statement 1: select (read)',
        '  table: select public.orders (id)',
        'statement 2: select (read) — refused',
        '  table: select public.customers (ssn)',
        '  functions: pg_catalog.lower',
        'verdict: deny statement 2 by rule analysts',
        '  pgwarden: analyst may not read column public.customers.ssn',
        '  hint: Policy "analysts" denies it, and a denial wins over any grant.',
      ].join('\n'),
    );
  });
  it('shows contained statements and the policies used', () => {
    const s = scope('writer');
    const analyses = [nested(special('prepare', 'session', ['prepare']), write('insert', 'sales.orders', ['id']))];
    const text = explainDecision(s, analyses, decide(s, analyses));
    assert.match(text, /contains: insert \(write\)\n {4}table: insert sales\.orders \(id\)/);
    assert.match(text, /verdict: allow \(grants used: writers\)$/);
  });
});
