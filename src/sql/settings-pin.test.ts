/**
 * A read of pg_settings is pinned to named settings only where its rows can be nothing else: one
 * relation, a WHERE that pins `name` to literals, and other predicates that can neither widen the
 * rows nor fail on a row the pin rejects. Each case is the analysed statement and the names the
 * read of pg_catalog.pg_settings is pinned to (undefined: not proven, the read stays refused).
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { testCatalog } from './fixture.ts';
import { analyse, loadParser } from './index.ts';

before(async () => {
  await loadParser();
});

const catalog = testCatalog();

function pinned(sql: string, searchPath = ['public']): string[] | undefined {
  const [a] = analyse(sql, { catalog, searchPath });
  return a.tables.find((t) => t.relation.schema === 'pg_catalog' && t.relation.name === 'pg_settings')?.settingNames;
}

const PINNED: [string, string, string[]][] = [
  ['pgJDBC foreign-key metadata', "SELECT setting FROM pg_catalog.pg_settings WHERE name='max_index_keys'", ['max_index_keys']],
  ['unqualified under the default search_path', "select name, setting from pg_settings where name = 'server_version_num'", ['server_version_num']],
  ['the literal on the left', "select setting from pg_settings where 'max_index_keys' = name", ['max_index_keys']],
  ['the literal cast to text', "select setting from pg_settings where name = 'max_index_keys'::text", ['max_index_keys']],
  ['the literal cast to pg_catalog.text', "select setting from pg_settings where name = cast('max_index_keys' as pg_catalog.text)", ['max_index_keys']],
  ['an IN list', "select name, setting from pg_settings where name in ('max_identifier_length', 'server_encoding')", ['max_identifier_length', 'server_encoding']],
  ['an alias, qualified column', "select s.setting from pg_catalog.pg_settings s where s.name = 'DateStyle'", ['DateStyle']],
  ['the relation-qualified column', "select setting from pg_catalog.pg_settings where pg_catalog.pg_settings.name = 'TimeZone'", ['TimeZone']],
  ['an E string is its value', "select setting from pg_settings where name = E'max\\_index_keys'", ['max_index_keys']],
  ['an AND with a harmless comparison', "select setting from pg_settings where name = 'max_index_keys' and vartype = 'integer'", ['max_index_keys']],
  ['an AND with IS NOT NULL and NOT of a comparison', "select * from pg_settings where not (setting = 'x') and name = 'work_mem' and unit is not null", ['work_mem']],
  ['an AND of two pins is their intersection', "select setting from pg_settings where name in ('work_mem', 'data_directory') and name = 'work_mem'", ['work_mem']],
  ['an OR of pins is their union', "select setting from pg_settings where name = 'work_mem' or name = 'block_size'", ['work_mem', 'block_size']],
  ['an OR of pinned conjunctions', "select setting from pg_settings where (name = 'work_mem' and unit = 'kB') or name in ('block_size')", ['work_mem', 'block_size']],
  ['every column, ordered and aggregated', "select count(*), max(setting) from pg_settings where name = 'work_mem' group by name having count(*) > 0 order by 1 limit 1", ['work_mem']],
  ['a HAVING of aggregates stays above the grouping', "select name from pg_settings where name = 'work_mem' group by name, setting having count(*) > 0 and max(setting) <> '' and pg_catalog.min(setting) is not null", ['work_mem']],
  ['a HAVING operand mixing an aggregate with a column stays above the grouping', "select name from pg_settings where name = 'work_mem' group by name, setting having count(*) > 0 or setting::int > 0", ['work_mem']],
  ['a harmless HAVING', "select name from pg_settings where name = 'work_mem' group by name, setting having setting <> 'x' and unit is not null", ['work_mem']],
  ['a secret name is pinned too (the policy refuses it)', "select setting from pg_settings where name = 'app.secret'", ['app.secret']],
];

const UNPROVEN: [string, string][] = [
  ['no WHERE', 'select * from pg_settings'],
  ['OR with a branch that pins nothing', "select setting from pg_settings where name = 'max_index_keys' or setting = 'x'"],
  ['OR true', "select setting from pg_settings where name = 'max_index_keys' or true"],
  ['NOT of a pin', "select setting from pg_settings where not name = 'data_directory'"],
  ['<> is no pin', "select setting from pg_settings where name <> 'data_directory'"],
  ['NOT IN is no pin', "select setting from pg_settings where name not in ('data_directory')"],
  ['LIKE is no pin', "select setting from pg_settings where name like 'max%'"],
  ['ILIKE is no pin', "select setting from pg_settings where name ilike 'MAX_INDEX_KEYS'"],
  ['a case-insensitive comparison is no pin', "select setting from pg_settings where lower(name) = 'max_index_keys'"],
  ['a COLLATE clause is no pin', "select setting from pg_settings where name = 'max_index_keys' collate \"C\""],
  ['an explicit operator is no pin', "select setting from pg_settings where name operator(pg_catalog.=) 'max_index_keys'"],
  ['a parameter is not known at Parse', 'select setting from pg_settings where name = $1'],
  ['a parameter in an IN list', "select setting from pg_settings where name in ('work_mem', $1)"],
  ['a NULL literal', 'select setting from pg_settings where name = null'],
  ['a cast to another type', "select setting from pg_settings where name = 'max_index_keys'::varchar"],
  ['a column compared with a column', "select setting from pg_settings where name = setting"],
  ['a join with another table', "select s.setting, c.name from pg_settings s join customers c on true where s.name = 'max_index_keys'"],
  ['a comma join with another table', "select s.setting from pg_settings s, orders o where s.name = 'max_index_keys'"],
  ['a self-join', "select b.setting from pg_settings a, pg_settings b where a.name = 'max_index_keys'"],
  ['a subquery in WHERE reading another table', "select setting from pg_settings where name = 'max_index_keys' and exists (select 1 from customers)"],
  ['a pin against a subquery', "select setting from pg_settings where name = (select name from customers limit 1)"],
  ['IN a subquery', "select setting from pg_settings where name in (select name from customers)"],
  ['a subquery in the target list', "select setting, (select setting from pg_settings where name = 'data_directory') from pg_settings where name = 'max_index_keys'"],
  ['a CTE', "with s as (select * from pg_settings) select setting from s where name = 'max_index_keys'"],
  ['a CTE of the pinned read', "with s as (select setting from pg_settings where name = 'max_index_keys') select * from s"],
  ['UNION with another read', "select setting from pg_settings where name = 'max_index_keys' union select setting from pg_settings where name = 'data_directory'"],
  ['UNION ALL with a table', "select setting from pg_settings where name = 'max_index_keys' union all select name from customers"],
  ['a derived table', "select setting from (select * from pg_settings) s where name = 'max_index_keys'"],
  ['a function that can fail on another row', "select setting from pg_settings where name = 'max_index_keys' and setting::int > 0"],
  ['a CASE that can fail on another row', "select setting from pg_settings where name = 'max_index_keys' and case when setting like 's%' then 1/0 else 1 end = 1"],
  ['a function of a column in the WHERE', "select setting from pg_settings where name = 'max_index_keys' and length(setting) > 3"],
  ['a boolean column alone', "select setting from pg_settings where name = 'max_index_keys' and pending_restart"],
  ['a LATERAL function', "select s.setting, g from pg_settings s, generate_series(1, 2) g where s.name = 'max_index_keys'"],
  // PostgreSQL moves a HAVING operand without an aggregate into the WHERE, where the planner
  // orders it by cost: before a pin made costly (a long IN list, ORs), it runs on every row.
  ['a HAVING cast that can fail on another row', "select name from pg_settings where name in ('work_mem', 'block_size') group by name, setting having setting::int > 0"],
  ['a HAVING division that can fail on another row', "select name from pg_settings where name = 'work_mem' group by name, setting having 1 / (case when setting like '/%' then 0 else 1 end) = 1"],
  ['a failing HAVING operand beside an aggregate one', "select name from pg_settings where name = 'work_mem' group by name, setting having count(*) > 0 and setting::int > 0"],
  ['a HAVING of a scalar function of a column', "select name from pg_settings where name = 'work_mem' group by name, setting having length(setting) > 0"],
  ['a HAVING aggregate of a schema other than pg_catalog', "select name from pg_settings where name = 'work_mem' group by name, setting having public.max(setting::int) > 0"],
  // A column alias list renames the view's columns: `name` is then another column.
  ['a column alias list that renames setting to name', "select x, name from pg_settings s(x, name) where name = 'TimeZone'"],
  ['a column alias list that keeps name first', "select name from pg_settings s(name) where name = 'TimeZone'"],
  ['SELECT INTO', "select setting into t from pg_settings where name = 'max_index_keys'"],
  ['INSERT … SELECT', "insert into orders (status) select setting from pg_settings where name = 'max_index_keys'"],
];

describe('a pg_settings read pinned to named settings', () => {
  for (const [name, sql, names] of PINNED) test(`pinned: ${name}`, () => assert.deepEqual(pinned(sql), names, sql));
  for (const [name, sql] of UNPROVEN) test(`not proven: ${name}`, () => assert.equal(pinned(sql), undefined, sql));

  test('an unqualified name that is also a temporary table is not proven', () => {
    const [a] = analyse("select setting from pg_settings where name = 'max_index_keys'", { catalog, searchPath: ['public'], tempRelations: new Set(['pg_settings']) });
    assert.equal(a.tables.some((t) => t.settingNames !== undefined), false);
  });

  test('a relation named pg_settings in another schema is not pg_catalog.pg_settings', () => {
    const [a] = analyse("select setting from public.pg_settings where name = 'max_index_keys'", { catalog, searchPath: ['public'] });
    assert.equal(a.tables.some((t) => t.settingNames !== undefined), false);
  });

  test('EXPLAIN, PREPARE and DECLARE of a pinned read are not proven', () => {
    for (const sql of [
      "explain select setting from pg_settings where name = 'max_index_keys'",
      "prepare p as select setting from pg_settings where name = 'max_index_keys'",
      "declare c cursor for select setting from pg_settings where name = 'max_index_keys'",
    ]) {
      const [a] = analyse(sql, { catalog, searchPath: ['public'] });
      assert.equal(a.tables.some((t) => t.settingNames !== undefined), false, sql);
    }
  });
});
