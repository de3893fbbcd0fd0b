/**
 * What each statement does to search_path, read from its analysis as PostgreSQL runs it: SET and
 * set_config with their duration, transaction control with savepoint names, RESET ALL and
 * DISCARD ALL, code the gateway cannot see, and what it cannot follow (refused).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { analyse, loadParser } from '../sql/index.ts';
import { testCatalog } from '../sql/fixture.ts';
import { pathOpsOf } from './gate.ts';
import { createdCodeOf, withCreatedCode } from './created-code.ts';
import type { CatalogFunction, CatalogSnapshot } from '../catalog/types.ts';

before(async () => {
  await loadParser();
});

const cases: { sql: string; want: unknown }[] = [
  { sql: 'set search_path = app, "Public"', want: [{ k: 'set', value: ['app', 'Public'], local: false }] },
  { sql: "set search_path = 'a, b'", want: [{ k: 'set', value: ['a, b'], local: false }] },
  { sql: 'set session search_path = app', want: [{ k: 'set', value: ['app'], local: false }] },
  { sql: 'set local search_path to app', want: [{ k: 'set', value: ['app'], local: true }] },
  { sql: "set schema 'app'", want: [{ k: 'set', value: ['app'], local: false }] },
  { sql: 'reset search_path', want: [{ k: 'set', value: 'default', local: false }] },
  { sql: 'set search_path to default', want: [{ k: 'set', value: 'default', local: false }] },
  { sql: 'set search_path from current', want: [{ k: 'current', local: false }] },
  { sql: 'reset all', want: [{ k: 'set', value: 'default', local: false }] },
  { sql: 'discard all', want: [{ k: 'discard_all' }] },
  { sql: 'set statement_timeout = 1000', want: [] },
  { sql: "select set_config('search_path', 'app, public', false)", want: [{ k: 'set', value: ['app', 'public'], local: false }] },
  { sql: "select set_config('search_path', 'app', true) as x", want: [{ k: 'set', value: ['app'], local: true }] },
  { sql: "select set_config('search_path', 'app', false) from orders where false", want: [{ k: 'maybe', value: ['app'], local: false }] },
  { sql: "select case when random() > 0.5 then set_config('search_path', 'app', false) end", want: [{ k: 'maybe', value: ['app'], local: false }] },
  { sql: "select set_config('search_path', current_user, false)", want: 'refused' },
  { sql: "select set_config('search_path', 'app', $1)", want: 'refused' },
  { sql: 'begin', want: [{ k: 'begin' }] },
  { sql: 'start transaction read only', want: [{ k: 'begin' }] },
  { sql: 'commit', want: [{ k: 'commit', chain: false }] },
  { sql: 'end', want: [{ k: 'commit', chain: false }] },
  { sql: 'commit and chain', want: [{ k: 'commit', chain: true }] },
  { sql: 'abort', want: [{ k: 'rollback', chain: false }] },
  { sql: 'rollback and chain', want: [{ k: 'rollback', chain: true }] },
  { sql: 'savepoint s1', want: [{ k: 'savepoint', name: 's1' }] },
  { sql: 'release savepoint s1', want: [{ k: 'release', name: 's1' }] },
  { sql: 'release "S1"', want: [{ k: 'release', name: 'S1' }] },
  { sql: 'rollback to s1', want: [{ k: 'rollback_to', name: 's1' }] },
  { sql: 'do $$ begin perform 1; end $$', want: [] },
  { sql: "do $$ begin set search_path to other; end $$", want: [{ k: 'unknown' }] },
  { sql: "do $$ begin perform set_config('search_path', 'other', false); end $$", want: [{ k: 'unknown' }] },
  { sql: "do $$ begin execute 'set ' || 'search_path to other'; end $$", want: [{ k: 'unknown' }] },
  { sql: 'do $$ begin commit; end $$', want: [{ k: 'unknown' }] },
  { sql: 'call public.refresh_stats()', want: [{ k: 'unknown' }] },
  { sql: 'select * from orders', want: [] },
];

/** The test catalog with procedures (or functions) of these sources (undefined: written in another language). */
function withProcedures(procs: { schema: string; name: string; source?: string; kind?: 'f' | 'p' }[]): CatalogSnapshot {
  const catalog = testCatalog();
  const functions = new Map(catalog.functions);
  for (const [i, p] of procs.entries()) {
    const f: CatalogFunction = { oid: 90000 + i, schema: p.schema, name: p.name, kind: p.kind ?? 'p', volatility: 'v', securityDefiner: false, language: p.source === undefined ? 'c' : 'plpgsql', argTypes: [], origin: 'user', argDefaults: 0, variadic: false };
    if (p.source !== undefined) f.source = p.source;
    const key = `${p.schema}.${p.name}`;
    functions.set(key, [...(functions.get(key) ?? []), f]);
  }
  return { ...catalog, functions };
}

describe('a CALL changes search_path only where the procedure\'s source may', () => {
  const calls: { name: string; procs: { schema: string; name: string; source?: string }[]; sql: string; want: unknown }[] = [
    { name: 'a procedure whose source names none of it', procs: [{ schema: 'public', name: 'tidy', source: 'begin delete from orders where id < 0; end' }], sql: 'call tidy()', want: [] },
    { name: 'one that commits (ending SET LOCAL mid-cycle)', procs: [{ schema: 'public', name: 'tidy', source: 'begin delete from orders where id < 0; commit; end' }], sql: 'call tidy()', want: [{ k: 'unknown' }] },
    { name: 'one that rolls back', procs: [{ schema: 'public', name: 'tidy', source: 'begin rollback; end' }], sql: 'call tidy()', want: [{ k: 'unknown' }] },
    { name: 'one that sets search_path', procs: [{ schema: 'public', name: 'tidy', source: 'begin set search_path to other; end' }], sql: 'call tidy()', want: [{ k: 'unknown' }] },
    { name: 'one that calls set_config', procs: [{ schema: 'public', name: 'tidy', source: "begin perform set_config('search_path', 'x', false); end" }], sql: 'call tidy()', want: [{ k: 'unknown' }] },
    { name: 'one with dynamic SQL', procs: [{ schema: 'public', name: 'tidy', source: "begin execute 'select 1'; end" }], sql: 'call tidy()', want: [{ k: 'unknown' }] },
    { name: 'one that calls another procedure', procs: [{ schema: 'public', name: 'tidy', source: 'begin call other(); end' }], sql: 'call tidy()', want: [{ k: 'unknown' }] },
    { name: 'one written in a language whose source is not read', procs: [{ schema: 'public', name: 'tidy' }], sql: 'call tidy()', want: [{ k: 'unknown' }] },
    { name: 'an overload of the name that may', procs: [{ schema: 'public', name: 'tidy', source: 'begin null; end' }, { schema: 'public', name: 'tidy', source: 'begin set search_path to x; end' }], sql: 'call tidy()', want: [{ k: 'unknown' }] },
    { name: 'a name the catalog has no procedure of', procs: [], sql: 'call nosuch()', want: [{ k: 'unknown' }] },
    { name: 'a function that is not a procedure', procs: [], sql: 'call lower(\'x\')', want: [{ k: 'unknown' }] },
    { name: 'a harmless procedure with function calls in its arguments', procs: [{ schema: 'public', name: 'tidy2', source: 'begin null; end' }], sql: "call tidy2(lower('x'))", want: [] },
  ];
  for (const c of calls) {
    it(c.name, () => {
      const catalog = withProcedures(c.procs);
      const [a] = analyse(c.sql, { catalog, searchPath: ['public'] });
      assert.deepEqual(pathOpsOf(a, catalog), c.want);
    });
  }
});

describe('a call of a user function changes search_path where its body may', () => {
  const fn = (name: string, source?: string) => ({ schema: 'public', name, source, kind: 'f' as const });
  const calls: { name: string; fns: ReturnType<typeof fn>[]; sql: string; want: unknown }[] = [
    { name: 'a body that names none of it', fns: [fn('tidy', 'select $1 + 1')], sql: 'select tidy(1)', want: [] },
    { name: 'a body that calls set_config', fns: [fn('tenant', "begin perform set_config('search_path', $1, false); return 1; end")], sql: "select tenant('a')", want: [{ k: 'unknown' }] },
    { name: 'a body that sets it', fns: [fn('tenant', 'begin set search_path = a; return 1; end')], sql: 'select 1 from orders where id = tenant(1)', want: [{ k: 'unknown' }] },
    { name: 'a body with dynamic SQL', fns: [fn('tenant', "begin execute 'select 1'; return 1; end")], sql: 'select tenant(1)', want: [{ k: 'unknown' }] },
    { name: 'a body that names a function that may', fns: [fn('tenant', "select set_config('search_path', $1, false)"), fn('wrap', 'select tenant($1)'), fn('outer_wrap', 'select wrap($1)')], sql: 'select outer_wrap(1)', want: [{ k: 'unknown' }] },
    { name: 'a body in a language whose source is not read', fns: [fn('tenant')], sql: 'select tenant(1)', want: [{ k: 'unknown' }] },
    { name: 'a built-in function', fns: [], sql: "select lower('x')", want: [] },
    { name: 'a function the catalog does not have (created since it was read)', fns: [], sql: 'select 1 from orders where id = not_loaded(1)', want: [{ k: 'unknown' }] },
    { name: 'one only named by a trigger being created, not run', fns: [], sql: 'create trigger t before insert on orders for each row execute function not_loaded()', want: [] },
    { name: 'one only named by a view being created, not run', fns: [], sql: 'create view v as select not_loaded(1)', want: [] },
    { name: 'one run by an index being built', fns: [], sql: 'create index i on orders (not_loaded(id))', want: [{ k: 'unknown' }] },
  ];
  for (const c of calls) {
    it(c.name, () => {
      const catalog = withProcedures(c.fns);
      const [a] = analyse(c.sql, { catalog, searchPath: ['public'] });
      assert.deepEqual(pathOpsOf(a, catalog), c.want);
    });
  }
});

describe('a function the session created is judged by its CREATE statement', () => {
  const cases: { name: string; create: string; sql: string; want: unknown }[] = [
    { name: 'a harmless body', create: "create function mk(x int) returns int language sql as 'select x + 1'", sql: 'select mk(1)', want: [] },
    { name: 'a body that calls set_config', create: "create function sw() returns text language plpgsql as $$ begin perform set_config('search_path', 'other', false); return 'x'; end $$", sql: 'select sw()', want: [{ k: 'unknown' }] },
    { name: 'a body in another language', create: "create function c_fn() returns int language c as 'lib', 'sym'", sql: 'select c_fn()', want: [{ k: 'unknown' }] },
    { name: 'a function renamed', create: 'alter function public.tidy(int) rename to tidier', sql: 'select tidier(1)', want: [{ k: 'unknown' }] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const catalog = withProcedures([{ schema: 'public', name: 'tidy', source: 'select $1', kind: 'f' }]);
      const [created] = analyse(c.create, { catalog, searchPath: ['public'] });
      const code = createdCodeOf(created);
      assert.ok(code.length > 0, 'the statement creates code');
      const augmented = withCreatedCode(catalog, code);
      const [a] = analyse(c.sql, { catalog: augmented, searchPath: ['public'] });
      assert.deepEqual(pathOpsOf(a, augmented), c.want);
    });
  }
});

describe('search_path changes of a statement', () => {
  for (const c of cases) {
    it(c.sql, () => {
      const [a] = analyse(c.sql, { catalog: testCatalog(), searchPath: ['public'] });
      const got = pathOpsOf(a);
      if (c.want === 'refused') assert.equal(typeof got, 'string');
      else assert.deepEqual(got, c.want);
    });
  }
});
