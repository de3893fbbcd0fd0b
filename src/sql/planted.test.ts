/**
 * User code reached without naming it: which functions the analysis records for calls,
 * operators and casts that could run user code, and that their values get an unknown source.
 * Table-driven over the fixture's planted objects (see fixture.ts).
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { buildPlanted } from '../catalog/planted.ts';
import type { CatalogCast, CatalogFunction, CatalogSnapshot } from '../catalog/types.ts';
import { testCatalog } from './fixture.ts';
import { analyse, loadParser } from './index.ts';
import { arityFits } from './planted.ts';

before(async () => {
  await loadParser();
});

/** User functions a statement reaches, as `schema.name` (with `@` when reached without naming it). */
function userCalls(sql: string, catalog: CatalogSnapshot = testCatalog(), path = ['public']): string[] {
  const [a] = analyse(sql, { catalog, searchPath: path });
  assert.equal(a.unsupported, undefined, `${sql}: unsupported: ${a.unsupported}`);
  return a.functions.filter((f) => f.userCode).map((f) => `${f.via ? '@' : ''}${f.schema}.${f.name}`).sort();
}

const cases: { name: string; sql: string; path?: string[]; calls: string[] }[] = [
  { name: 'an unqualified call reaches a planted overload', sql: 'select md5(1)', calls: ['@public.md5'] },
  { name: 'a qualified built-in call reaches none', sql: "select pg_catalog.md5('x')", calls: [] },
  { name: 'a qualified user call is that function', sql: 'select public.md5(1)', calls: ['public.md5'] },
  { name: 'a count the overload cannot take reaches none', sql: "select md5('a', 'b')", calls: [] },
  { name: 'defaults widen the counts an overload takes', sql: 'select reverse(1), reverse(1, 2)', calls: ['@public.reverse'] },
  { name: 'too many arguments for defaults reach none', sql: 'select reverse(1, 2, 3)', calls: [] },
  { name: 'VARIADIC takes any count', sql: 'select abs(1, 2, 3, 4)', calls: ['@public.abs'] },
  { name: 'a schema off the path is not reached', sql: "select initcap('x')", calls: [] },
  { name: 'a schema on the path is reached', sql: "select initcap('x')", path: ['sales', 'public'], calls: ['@sales.initcap'] },
  { name: 'an identical signature later on the path never wins', sql: "select lower('x')", path: ['app', 'public'], calls: [] },
  { name: 'an identical signature before pg_catalog wins', sql: "select lower('x')", path: ['app', 'pg_catalog'], calls: ['app.lower'] },
  { name: 'code created in pg_catalog is user code', sql: 'select format_money(1)', calls: ['pg_catalog.format_money'] },
  { name: 'functional notation is a call', sql: 'select o.md5 from orders o', calls: ['@public.md5'] },
  { name: 'a user operator is a call of its function', sql: "select 1 # 'a'", calls: ['@public.leak_eq'] },
  { name: 'OPERATOR(schema.op) is a call of its function', sql: "select 1 operator(public.#) 'a'", calls: ['@public.leak_eq'] },
  { name: 'OPERATOR(pg_catalog.op) is not', sql: 'select 1 operator(pg_catalog.#) 2', calls: [] },
  { name: 'a prefix user operator is a call of its function', sql: "select ## 'a'", calls: ['@public.leak_prefix'] },
  { name: 'ANY with a user operator is a call', sql: "select 1 # any (array['a'])", calls: ['@public.leak_eq'] },
  { name: 'a sublink with a user operator is a call', sql: 'select 1 # any (select status from orders)', calls: ['@public.leak_eq'] },
  { name: 'a user = on the path is a call wherever = is looked up', sql: 'select 1 where 1 = 2', path: ['sales', 'public'], calls: ['@public.leak_eq'] },
  { name: 'IN compares with =', sql: 'select 1 where 1 in (2, 3)', path: ['sales', 'public'], calls: ['@public.leak_eq'] },
  { name: 'IS DISTINCT FROM compares with =', sql: 'select 1 is distinct from 2', path: ['sales', 'public'], calls: ['@public.leak_eq'] },
  { name: 'CASE x WHEN compares with =', sql: "select case 1 when 2 then 'a' end", path: ['sales', 'public'], calls: ['@public.leak_eq'] },
  { name: 'JOIN USING compares with =', sql: 'select 1 from orders a join orders b using (id)', path: ['sales', 'public'], calls: ['@public.leak_eq'] },
  { name: 'a user = off the path is not', sql: 'select 1 from orders a join orders b using (id) where 1 = 2', calls: [] },
  { name: 'BETWEEN compares with >= and <=', sql: 'select 1 between 0 and 2', calls: [] },
  { name: 'a cast to a user type is a call of the cast function', sql: "select 'a'::text::secretive", calls: ['@public.to_secretive'] },
  { name: 'an array cast is a call of the element cast function', sql: "select array['a']::secretive[]", calls: ['@public.to_secretive'] },
  { name: 'a cast to a built-in type is not', sql: 'select id::text from orders', calls: [] },
  { name: 'a column of an implicit cast\'s type brings the cast', sql: 'select id from moods', calls: ['@public.text_mood'] },
  { name: 'a ::type an implicit cast applies to brings the cast', sql: "select 'x'::mood", calls: ['@public.text_mood'] },
];

describe('user code reached without naming it', () => {
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(userCalls(c.sql, testCatalog(), c.path ?? ['public']), c.calls, c.sql);
    });
  }

  test('values computed by user code have an unknown source', () => {
    const [a] = analyse("select md5(1), 1 # 'a', 'a'::secretive, lower('a'), md5(id) from orders", { catalog: testCatalog(), searchPath: ['public'] });
    const any = (i: number) => a.outputs?.[i].sources.some((s) => s.schema === '*' && s.table === '*' && s.column === '*');
    assert.deepEqual([0, 1, 2, 3, 4].map(any), [true, true, true, false, true]);
    assert.equal(a.outputs?.[4].derivation, 'expression');
  });

  test('a parameter brings the casts from user types (the client chooses its type)', () => {
    const catalog = withCast({ source: 16501, target: 25, context: 'i' });
    assert.deepEqual(userCalls('select $1', catalog), ['@public.text_mood']);
    assert.deepEqual(userCalls('select 1', catalog), []);
  });

  test('an implicit cast between built-in types may run anywhere', () => {
    const catalog = withCast({ source: 25, target: 23, context: 'i' });
    assert.deepEqual(userCalls('select 1', catalog), ['@public.text_mood']);
  });

  test('an explicit cast between built-in types runs where it is written', () => {
    const catalog = withCast({ source: 25, target: 23, context: 'e' });
    assert.deepEqual(userCalls('select 1', catalog), []);
    assert.deepEqual(userCalls("select '1'::text::int4", catalog), ['@public.text_mood']);
  });
});

/** The fixture with one more user cast (function public.text_mood) between the given types. */
function withCast(c: Pick<CatalogCast, 'source' | 'target' | 'context'>): CatalogSnapshot {
  const base = testCatalog();
  const fn = base.functions.get('public.text_mood')?.[0] as CatalogFunction;
  const name = (oid: number) => (oid === 25 ? 'text' : oid === 23 ? 'int4' : 'mood');
  const schema = (oid: number) => (oid < 16384 ? 'pg_catalog' : 'public');
  const cast: CatalogCast = {
    oid: 99999,
    ...c,
    fn: { oid: fn.oid, schema: fn.schema, name: fn.name },
    sourceTypes: { oids: [c.source], names: [{ schema: schema(c.source), name: name(c.source) }] },
    targetTypes: { oids: [c.target], names: [{ schema: schema(c.target), name: name(c.target) }] },
    betweenBuiltins: c.source < 16384 && c.target < 16384,
  };
  return { ...base, planted: buildPlanted(base.functions, [], [cast]) };
}

describe('arityFits', () => {
  const f = (n: number, defaults = 0, variadic = false) => ({ argTypes: new Array<number>(n).fill(23), argDefaults: defaults, variadic }) as CatalogFunction;
  const rows: [CatalogFunction, number | undefined, boolean, boolean][] = [
    [f(1), 1, false, true],
    [f(1), 2, false, false],
    [f(1), 0, false, false],
    [f(2, 1), 1, false, true],
    [f(2, 1), 3, false, false],
    [f(1, 0, true), 5, false, true],
    [f(1, 0, true), 0, false, true],
    [f(2, 0, true), 0, false, false],
    [f(1, 0, true), 1, true, true],
    [f(1), undefined, false, true],
  ];
  for (const [fn, n, variadicCall, fits] of rows) {
    test(`${fn.argTypes.length} args, ${fn.argDefaults} defaults${fn.variadic ? ', variadic' : ''}: ${String(n)}${variadicCall ? ' (VARIADIC call)' : ''} → ${fits}`, () => {
      assert.equal(arityFits(fn, n, variadicCall), fits);
    });
  }
});
