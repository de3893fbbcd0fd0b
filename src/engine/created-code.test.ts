/**
 * What a statement creates that calls may resolve to before the catalog has it, and the
 * snapshot with it added: every call of its name on the path is then a possible call of it.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { analyse, loadParser } from '../sql/index.ts';
import { testCatalog } from '../sql/fixture.ts';
import { createdCodeOf, withCreatedCode } from './created-code.ts';
import { relationMayChangePath } from '../catalog/path-code.ts';

before(async () => {
  await loadParser();
});

const catalog = () => testCatalog();
const created = (sql: string) => createdCodeOf(analyse(sql, { catalog: catalog(), searchPath: ['public'] })[0]).map(({ source, ...c }) => ({ ...c, source: source !== undefined }));

describe('createdCodeOf', () => {
  const cases: { sql: string; want: unknown[] }[] = [
    { sql: "create function app.lower(text) returns text language sql as 'select $1'", want: [{ kind: 'function', schema: 'app', name: 'lower', source: true }] },
    { sql: "create or replace procedure p() language plpgsql as 'begin null; end'", want: [{ kind: 'procedure', schema: 'public', name: 'p', source: true }] },
    { sql: "create function f() returns int language c as 'lib', 'sym'", want: [{ kind: 'function', schema: 'public', name: 'f', source: false }] },
    { sql: 'create aggregate app.agg(int) (sfunc = int4pl, stype = int)', want: [{ kind: 'aggregate', schema: 'app', name: 'agg', source: false }] },
    { sql: 'alter function app.f(int) rename to lower', want: [{ kind: 'function', schema: 'app', name: 'lower', source: false }] },
    { sql: 'alter function app.f(int) set schema public', want: [{ kind: 'function', schema: 'public', name: 'f', source: false }] },
    { sql: 'create operator app.~~~ (procedure = pg_catalog.lower, rightarg = text)', want: [] },
    { sql: 'create operator app.|| (procedure = app.mine, leftarg = text, rightarg = text)', want: [{ kind: 'operator', schema: 'app', name: '||', fn: { schema: 'app', name: 'mine' }, source: false }] },
    { sql: 'create table app.t (id int)', want: [] },
    { sql: 'drop table app.t, customers', want: [{ kind: 'gone', schema: 'app', name: 't', source: false }, { kind: 'gone', schema: 'public', name: 'customers', source: false }] },
    { sql: 'alter view app.v rename to w', want: [{ kind: 'gone', schema: 'app', name: 'v', source: false }] },
    { sql: 'alter table app.t set schema public', want: [{ kind: 'gone', schema: 'app', name: 't', source: false }] },
    { sql: 'drop schema app cascade', want: [{ kind: 'gone', schema: 'app', name: '', source: false }] },
    { sql: 'alter table app.t rename column a to b', want: [] },
    { sql: 'alter table customers add column z int default app.mine()', want: [{ kind: 'attached', schema: 'public', name: 'customers', source: false }] },
    { sql: 'create table app.made (id int, z int default app.mine())', want: [{ kind: 'attached', schema: 'app', name: 'made', source: false }] },
    { sql: "alter table customers add column z int default pg_catalog.lower('x')", want: [] },
    { sql: 'select lower(name) from customers', want: [] },
    { sql: 'create domain app.d as int check (app.mine() = 1)', want: [{ kind: 'domain', schema: 'app', name: 'd', fn: { schema: 'app', name: 'mine' }, source: false }] },
    { sql: 'alter domain app.d set default app.mine()', want: [{ kind: 'domain', schema: 'app', name: 'd', fn: { schema: 'app', name: 'mine' }, source: false }] },
    { sql: "create domain app.d as text check (pg_catalog.lower(value) = value)", want: [] },
  ];
  for (const c of cases) it(c.sql, () => assert.deepEqual(created(c.sql), c.want));
});

describe('withCreatedCode', () => {
  it("a function created again over one the catalog has: the catalog's body no longer counts", () => {
    const fixture = catalog();
    const [planted] = fixture.functions.get('app.lower') ?? [];
    const existing = { ...planted, source: 'select $1' };
    const base = { ...fixture, functions: new Map(fixture.functions).set('app.lower', [existing]) };
    const code = createdCodeOf(analyse("create or replace function app.lower(text) returns text language sql as 'select $1'", { catalog: base, searchPath: ['public'] })[0]);
    const overloads = withCreatedCode(base, code).functions.get('app.lower') ?? [];
    assert.equal(overloads.length, 2);
    assert.equal(overloads[0].oid, existing.oid, 'found by the same OID (a trigger names it so)');
    assert.equal(overloads[0].source, undefined);
  });

  it('code attached to a relation makes using it a possible change of search_path', () => {
    const base = catalog();
    const customers = base.relations.get('public.customers')!;
    const attached = withCreatedCode(base, [{ kind: 'attached', schema: 'public', name: 'customers' }, { kind: 'attached', schema: 'app', name: 'made' }]);
    assert.equal(relationMayChangePath(base, customers.oid), false);
    assert.equal(relationMayChangePath(attached, customers.oid), true);
    assert.deepEqual([...(attached.pendingAttached ?? [])], ['app.made']);
    assert.equal(base.pendingAttached, undefined);
  });

  it('a domain whose check calls user code: a cast to it, or to an array of it, is a call of that code, and writes may run it', () => {
    const base = catalog();
    const domain = withCreatedCode(base, [{ kind: 'domain', schema: 'app', name: 'd', fn: { schema: 'app', name: 'mine' } }]);
    assert.equal(domain.pendingDomainCode, true);
    assert.equal(base.pendingDomainCode, undefined);
    for (const [sql, calls] of [
      ['select 1::app.d', true],
      ['select array[1]::d[]', true],
      ['select 1::other.d', false],
      ['select 1::int', false],
    ] as const) {
      const [a] = analyse(sql, { catalog: domain, searchPath: ['app'] });
      assert.equal(a.functions.some((f) => f.userCode && f.name === 'mine'), calls, sql);
    }
  });

  it('a relation dropped is left out: its name finds the next one on the path', () => {
    const base = catalog();
    const resolved = (snapshot: typeof base) => analyse('select id from customers', { catalog: snapshot, searchPath: ['app', 'public'] })[0].tables.map((t) => `${t.relation.schema}.${t.relation.name}`);
    const gone = withCreatedCode(base, [{ kind: 'gone', schema: 'app', name: 'customers' }]);
    assert.deepEqual(resolved(base), ['app.customers']);
    assert.deepEqual(resolved(gone), ['public.customers']);
    assert.ok(base.relations.get('app.customers'), 'the catalog snapshot itself is unchanged');
    const schemaGone = withCreatedCode(base, [{ kind: 'gone', schema: 'public', name: '' }]);
    assert.ok(![...schemaGone.relations.values()].some((r) => r.schema === 'public'));
  });

  it('a created function shadows a built-in on a path that names pg_catalog after its schema', () => {
    const base = catalog();
    const code = createdCodeOf(analyse("create function app.max(text) returns text language sql as 'select $1'", { catalog: base, searchPath: ['public'] })[0]);
    const augmented = withCreatedCode(base, code);
    const calls = (snapshot: typeof base, path: string[]) => analyse("select max('x')", { catalog: snapshot, searchPath: path })[0].functions.filter((f) => f.userCode).map((f) => `${f.schema}.${f.name}`);
    assert.deepEqual(calls(base, ['app', 'pg_catalog']), []);
    assert.deepEqual(calls(augmented, ['app', 'pg_catalog']), ['app.max']);
    // Not on the path: not reachable by an unqualified call.
    assert.deepEqual(calls(augmented, ['public']), []);
    assert.notEqual(augmented, base);
    assert.equal(base.functions.get('app.max'), undefined, 'the catalog snapshot itself is unchanged');
  });
});
