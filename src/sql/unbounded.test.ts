/**
 * Unbounded DELETE / UPDATE / MERGE judged by effect: which predicates the analysis shows select
 * every row of the target (always true, or not reading the row), and which it must leave bounded.
 * The fixture's `id` columns are NOT NULL; `status` is nullable.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { testCatalog } from './fixture.ts';
import { analyse, loadParser } from './index.ts';
import { parseBool } from './fold.ts';

before(async () => {
  await loadParser();
});

const ctx = { catalog: testCatalog(), searchPath: ['public'] };

function specials(sql: string): string[] {
  const [a] = analyse(sql, ctx);
  assert.equal(a.unsupported, undefined, `${sql}: ${a.unsupported}`);
  return a.specials;
}

/** WHERE clauses of `DELETE FROM orders WHERE …` that may select every row, or that the check does not recognise as restricting. */
const UNBOUNDED: [string, string][] = [
  ['no WHERE', ''],
  ['true', 'true'],
  ['a constant comparison', '1 = 1'],
  ['constant arithmetic', '1 + 1 = 2'],
  ['NOT false', 'not false'],
  ['a literal read as a boolean', "'t'"],
  ['a literal cast to boolean', "'yes'::boolean"],
  ['an OR with a true branch', 'id = 5 or true'],
  ['an OR with a constant-true branch', "id = 5 or 'a' = 'a'"],
  ['a NOT NULL column IS NOT NULL', 'id is not null'],
  ['a qualified NOT NULL column IS NOT NULL', 'orders.id is not null'],
  ['NOT (a NOT NULL column IS NULL)', 'not (id is null)'],
  ['x = x on a NOT NULL column', 'id = id'],
  ['x >= x on a NOT NULL column', 'id >= id'],
  ['NOT (x <> x) on a NOT NULL column', 'not (id <> id)'],
  ['x IS NOT DISTINCT FROM x on a nullable column', 'status is not distinct from status'],
  ['e IS NULL OR e IS NOT NULL', 'status is null or status is not null'],
  ['p OR NOT p for a never-NULL p', 'id = 5 or not id = 5'],
  ['IN over the same table', 'id in (select id from orders)'],
  ['IN over the same table, qualified', 'id in (select o2.id from public.orders o2)'],
  ['= ANY over the same table', 'id = any (select id from orders)'],
  ['EXISTS over the same row', 'exists (select 1 from orders o2 where o2.id = orders.id)'],
  ['EXISTS (SELECT 1)', 'exists (select 1)'],
  ['EXISTS over another table (all or none)', 'exists (select 1 from customers)'],
  ['a predicate not reading the row', "current_user = 'migrator'"],
  ['a parameter as the predicate', '$1'],
  ['an OR with a parameter branch', 'id = 5 or $1'],
  ['a volatile share of the rows', 'random() < 0.99'],
  ['a subquery not reading the row', '(select count(*) from customers) > 0'],
  ['an AND of unbounded parts', 'true and id is not null'],
  ['a boolean test of true', '(1 = 1) is true'],
  ['NOT of an AND with a row-independent branch', 'not (id = 5 and false)'],
  ['CASE-free cast of a tautology', '(id = id)::boolean'],
  ['the same never-NULL expression on both sides', "coalesce(status, 'a') = coalesce(status, 'a')"],
  ['the same arithmetic on both sides', 'id + 1 = id + 1'],
  ['the same expression IS NOT DISTINCT FROM itself', "status || 'x' is not distinct from status || 'x'"],
  ["LIKE '%' on a NOT NULL column", "id like '%'"],
  ["ILIKE '%%' on a never-NULL expression", "coalesce(status, '') ilike '%%'"],
  ["a regular expression matching anything", "id ~ ''"],
  ['BETWEEN itself and itself', 'id between id and id'],
  ['a NOT NULL cast IS NOT NULL', 'id::text is not null'],
  ['a coin flip per row does not read the row', 'random() = random()'],
  ['a system column IS NOT NULL', 'ctid is not null'],
  ['a qualified system column compared to itself', 'orders.ctid = orders.ctid'],
  ['= ANY of an array of the same column', 'id = any (array(select id from orders))'],
  ['a CASE whose every outcome is true', 'case when id > 10 then true else 1 = 1 end'],
  ['NOT IN a subquery that returns nothing', 'id not in (select id from orders where false)'],
  ['<> ALL of a subquery limited to nothing', 'id <> all (select id from orders limit 0)'],
  ['NOT EXISTS of nothing, correlated', 'not exists (select 1 from customers c where false and c.id = orders.customer_id)'],
  ['IS NOT NULL of a nullable column (it excludes only NULLs)', 'status is not null'],
  ['x = x on a nullable column (compares the row with itself)', 'status = status'],
  ['IN over another table nothing restricts (a NOT NULL foreign key reaches every row)', 'customer_id in (select id from customers)'],
  ['IN over the same table, another column', 'id in (select customer_id from orders)'],
  ['IN over ONLY the same table (without children it is the table)', 'id in (select id from only orders)'],
  ['a correlated EXISTS over a table nothing restricts', 'exists (select 1 from customers c where c.id = orders.customer_id)'],
  ['a function of the row', "lower(status) = 'x'"],
  ['a whole-row test', 'orders is not null'],
  ['a nullable p OR NOT p (NOT = is <>, which never restricts)', "status = 'x' or not status = 'x'"],
  ['a function of the row on both sides', 'lower(status) = lower(status)'],
  ["LIKE '%' on a nullable column (a pattern beginning with a wildcard)", "status like '%'"],
  ['a nullable expression compared to itself', "status || 'x' = status || 'x'"],
  ['NOT IN never restricts (even of an aggregate over nothing)', 'id not in (select max(id) from orders where false)'],
  ['= ANY of an array of another column', 'id = any (array(select customer_id from orders))'],
  // Not recognised as restricting, so unbounded (the check fails closed).
  ['a whole-row comparison with itself', 'orders = orders'],
  ['a row comparison with itself', '(id, status) = (id, status)'],
  ['a row IN itself', '(id, status) in ((id, status))'],
  ["SIMILAR TO '%'", "status similar to '%'"],
  ['arithmetic of a column', 'id % 1 = 0'],
  ['arithmetic of a column folding to a constant', 'id * 0 = 0'],
  ['a cast of a column', "id::text = '5'"],
  ['a function of a column that is always true', "starts_with(status, '')"],
  ['a CASE whose condition compares the row with itself', 'case when id = id then true end'],
  ['IN a UNION with an unrestricted arm', 'id in (select id from orders union select -1)'],
  ['<> a constant', "status <> 'x'"],
  ['!= a constant', "status != 'x'"],
  ['NOT IN a list', 'id not in (1, 2)'],
  ['NOT LIKE', "status not like 'a%'"],
  ["LIKE a pattern beginning with '_'", "status like '_%'"],
  ['LIKE a parameter (it may be %)', 'status like $1'],
  ['LIKE with ESCAPE (the pattern is a call)', "status like 'a%' escape 'x'"],
  ['NOT of an equality', 'not (id = 5)'],
  ['an OR with a branch that never restricts', 'id = 5 or status is not null'],
  ['an OR with a parameter branch next to a range', 'id > 5 or $1'],
  ['a range bounded by a subquery over the table', 'id >= (select min(id) from orders)'],
  ['BETWEEN a subquery and a constant', 'id between (select min(id) from orders) and 100'],
  ['a value reading the row itself', 'id = id + 0'],
  ['a scalar subquery of the row itself', 'id = (select orders.id)'],
  ['IN a list holding the column', 'id in (id, 5)'],
  ['= ANY of an array holding the column', 'id = any (array[id, 5])'],
  ['= ANY of an aggregate of every id', 'id = any ((select array_agg(id) from orders))'],
  ['= ALL of an empty array (vacuously true)', "id = all ('{}')"],
  ['IN a set-returning function without FROM', 'id in (select generate_series(1, 1000000))'],
  ['IN a correlated subquery of the same row', 'id in (select id from orders where id = orders.id)'],
  ['EXISTS of an aggregate (one row over none)', "exists (select count(*) from customers c where c.id = orders.customer_id and c.name = 'x')"],
  ['EXISTS over another table, LIMIT does not restrict', 'exists (select 1 from customers c where c.id = orders.customer_id limit 1)'],
  ['IN with FETCH … WITH TIES (ties can be every row)', 'id in (select id from orders order by true fetch first 1 rows with ties)'],
  ["a regular expression that may match nothing at its anchor", "status ~ '^a*'"],
  ['a regular expression with an alternative', "status ~ '^a|'"],
  ['a constant IN list holding it', '1 in (1)'],
  ['a column compared to another column of the row', 'id = customer_id'],
];

/** WHERE clauses with a restricting predicate (a range's size is the blast-radius rule's business). */
const BOUNDED: [string, string][] = [
  ['an equality on the key', 'id = 5'],
  ['a range', 'id > 10'],
  ['false', 'false'],
  ['a constant false comparison', '1 = 2'],
  ['NULL', 'null'],
  ['NOT true', 'not true'],
  ['x <> x on a NOT NULL column', 'id <> id'],
  ['an AND with a selective branch', 'true and id = 5'],
  ['an OR of selective branches', 'id = 5 or id = 6'],
  ['IN over the same table, filtered', 'id in (select id from orders where id < 10)'],
  ['IN over the same table, limited', 'id in (select id from orders limit 1)'],
  ['WHERE CURRENT OF', 'current of c1'],
  ['a parameter compared to the key', 'id = $1'],
  ["LIKE with a real pattern", "status like 'a%'"],
  ['NOT LIKE anything', "id not like '%'"],
  ['a regular expression with a real pattern', "status ~ '^a'"],
  ['BETWEEN two other values', 'id between 1 and 10'],
  ['IN a subquery that returns nothing', 'id in (select id from orders where false)'],
  ['a CASE with a false outcome', 'case when id > 10 then true else false end'],
  ['a system column compared to a constant', "ctid = '(0,1)'"],
  ['a parameter compared to a column', 'status = $1'],
  ['IN a list of constants', 'id in (1, 2, 3)'],
  ['= ANY of a parameter', 'id = any ($1)'],
  ['= ANY of an array literal', "id = any ('{1,2}'::int[])"],
  ['= ANY of ARRAY[…] of constants', 'id = any (array[1, 2])'],
  ['IS NULL of a nullable column', 'status is null'],
  ['ILIKE a pattern beginning with a letter', "status ilike 'A%'"],
  ['a range to a row-independent expression', "total > now() - interval '1 day'"],
  ['an equality with a scalar subquery not reading the row', 'id = (select max(id) from customers)'],
  ['a row comparison with constants', "(id, status) = (1, 'a')"],
  ['a row comparison with one restricting position', '(id, status) = (5, status)'],
  ['a row IN a list of constant rows', "(id, status) in ((1, 'a'), (2, 'b'))"],
  ['NOT of <>', 'not (id <> 5)'],
  ['NOT of IS NOT NULL', 'not (status is not null)'],
  ['NOT NOT of an equality', 'not not (id = 5)'],
  ['NOT of an OR of negations', "not (id <> 5 or status <> 'a')"],
  ['an AND with a restricting part and a tautology', "id = 5 and status <> 'x'"],
  ['an OR of ANDs, each restricting', "(id = 5 and status = 'a') or id = 6"],
  ['an equality IS TRUE', '(id = 5) is true'],
  ['an inequality IS FALSE', '(id <> 5) is false'],
  ['a CASE whose only true outcome has a restricting condition', 'case when id = 5 then true end'],
  ['a simple CASE', "case status when 'a' then true end"],
  ['a CASE whose outcome restricts', "case when status is null then id = 5 else false end"],
  ['IN a restricted subquery of another table', "customer_id in (select id from customers where name = 'x')"],
  ['EXISTS restricted through a restricted row of another table', "exists (select 1 from customers c where c.id = orders.customer_id and c.name = 'x')"],
  ['IN a subquery restricted through an inner join', "customer_id in (select c.id from customers c join customers d on d.id = c.id where d.name = 'x')"],
  ['IN a UNION of constants', 'id in (select 1 union select 2)'],
  ['IN VALUES', 'id in (values (1), (2))'],
  ['IN a constant from a table', 'id in (select 1 from customers)'],
  ["a regular expression anchored on a letter", "status ~* '^ab'"],
  ['a restricting part next to a subquery', 'id = 5 and exists (select 1 from customers)'],
];

describe('DELETE … WHERE judged by effect', () => {
  for (const [name, where] of UNBOUNDED) {
    test(`unbounded: ${name}`, () => {
      const sql = `delete from orders${where ? ` where ${where}` : ''}`;
      assert.ok(specials(sql).includes('delete_without_where'), sql);
    });
  }
  for (const [name, where] of BOUNDED) {
    test(`bounded: ${name}`, () => {
      const sql = `delete from orders where ${where}`;
      assert.ok(!specials(sql).includes('delete_without_where'), sql);
    });
  }
});

describe('UPDATE … WHERE judged by effect', () => {
  for (const [name, where] of UNBOUNDED) {
    test(`unbounded: ${name}`, () => {
      const sql = `update orders set status = 'x'${where ? ` where ${where}` : ''}`;
      assert.ok(specials(sql).includes('update_without_where'), sql);
    });
  }
  for (const [name, where] of BOUNDED) {
    test(`bounded: ${name}`, () => {
      const sql = `update orders set status = 'x' where ${where}`;
      assert.ok(!specials(sql).includes('update_without_where'), sql);
    });
  }
});

describe('USING / FROM / MERGE sources', () => {
  const cases: [string, string, 'delete_without_where' | 'update_without_where' | null][] = [
    ['DELETE USING the table itself joined on the key', 'delete from orders using orders o2 where orders.id = o2.id', 'delete_without_where'],
    ['DELETE USING another table, predicate on it only', 'delete from orders using customers c where c.id = 1', 'delete_without_where'],
    ['DELETE USING another table nothing restricts, joined to the target', 'delete from orders using customers c where c.id = orders.customer_id', 'delete_without_where'],
    ['DELETE USING another table restricted on its own, joined to the target', "delete from orders using customers c where c.id = orders.customer_id and c.name = 'x'", null],
    ['DELETE USING the table itself, restricted, joined on the key', 'delete from orders using orders o2 where orders.id = o2.id and o2.id = 5', null],
    ['DELETE USING an inner join whose condition restricts', "delete from orders using customers c join customers d on d.id = c.id and d.name = 'x' where orders.customer_id = c.id", null],
    ["a LEFT JOIN's condition does not restrict", "delete from orders using customers c left join customers d on d.name = 'x' where orders.customer_id = c.id", 'delete_without_where'],
    ['DELETE USING VALUES joined to the target', 'delete from orders using (values (1), (2)) v(id) where orders.id = v.id', null],
    ['DELETE USING unnest of a parameter joined to the target', 'delete from orders using unnest($1::int[]) u where orders.id = u', null],
    ['USING a LATERAL subquery reading another item is not a restricted set', 'delete from orders using customers c, lateral (select c.id as k) s where orders.customer_id = s.k', 'delete_without_where'],
    ['MERGE from another table nothing restricts, on the key', 'merge into orders o using customers c on o.customer_id = c.id when matched then delete', 'delete_without_where'],
    ['MERGE from a restricted subquery', "merge into orders o using (select id from customers where name = 'x') c on o.customer_id = c.id when matched then delete", null],
    ['UPDATE FROM a subquery of a set-returning function', "update orders set status = 'x' from (select generate_series(1, 100) as k) s where orders.id = s.k", 'update_without_where'],
    ["DELETE through a view: the view's WHERE does not count", 'delete from customer_emails where id is not null', 'delete_without_where'],
    ['DELETE through a view: its whole row is not a column', 'delete from customer_emails where customer_emails is not null', 'delete_without_where'],
    ["DELETE through a view: an equality on the view's column restricts", 'delete from customer_emails where id = 5', null],
    ['a plain boolean column restricts', 'delete from pg_catalog.pg_subscription where subenabled', null],
    ['NOT of a plain boolean column restricts', 'delete from pg_catalog.pg_subscription where not subenabled', null],
    ['DELETE USING the table itself, filtered on the copy', 'delete from orders using orders o2 where o2.id = 5', 'delete_without_where'],
    ['UPDATE FROM the table itself joined on the key', "update orders set status = 'x' from orders o2 where orders.id = o2.id", 'update_without_where'],
    ['UPDATE FROM another table, filtered by the target', "update orders set status = 'x' from customers c where orders.customer_id = c.id and c.name = 'x'", null],
    ['MERGE … ON true THEN DELETE', 'merge into orders o using customers c on true when matched then delete', 'delete_without_where'],
    ['MERGE … ON a constant THEN DELETE', 'merge into orders o using (select 1 as k) s on 1 = 1 when matched then delete', 'delete_without_where'],
    ['MERGE with the table itself on the key THEN DELETE', 'merge into orders t using orders s on t.id = s.id when matched then delete', 'delete_without_where'],
    ['MERGE with a condition not reading the row THEN DELETE', 'merge into orders t using customers c on c.id = 1 when matched then delete', 'delete_without_where'],
    ['MERGE … ON true THEN UPDATE', "merge into orders o using customers c on true when matched then update set status = 'x'", 'update_without_where'],
    ['MERGE on the key from a one-row source', 'merge into orders o using (select 1 as id) s on o.id = s.id when matched then delete', null],
    ['MERGE ON true with a selective action condition', 'merge into orders o using customers c on true when matched and o.id = 5 then delete', null],
    ['MERGE WHEN NOT MATCHED BY SOURCE THEN DELETE', 'merge into orders o using (select 1 as id) s on o.id = s.id when not matched by source then delete', 'delete_without_where'],
    ['DELETE USING a subquery over the table itself joined on the key', 'delete from orders using (select id from orders) s where orders.id = s.id', 'delete_without_where'],
    ['DELETE USING a renaming subquery over the table itself', 'delete from orders using (select o.id as k from orders o) s where orders.id = s.k', 'delete_without_where'],
    ['MERGE with SELECT * of the table itself on the key THEN DELETE', 'merge into orders t using (select * from orders) s on t.id = s.id when matched then delete', 'delete_without_where'],
    ['DELETE USING a filtered subquery over the table itself', 'delete from orders using (select id from orders where id < 5) s where orders.id = s.id', null],
    ['DELETE USING a subquery over the table itself on another column', 'delete from orders using (select customer_id as id from orders) s where orders.id = s.id', 'delete_without_where'],
    ['DELETE USING a function: a name only the target is known to have is the target', 'delete from orders using generate_series(1, 3) g where id is not null', 'delete_without_where'],
    ['DELETE USING a function joined to the target', 'delete from orders using generate_series(1, 3) g where orders.id = g', null],
    ['MERGE that only inserts', "merge into orders o using customers c on true when not matched then insert (status) values ('x')", null],
  ];
  for (const [name, sql, marker] of cases) {
    test(name, () => {
      const s = specials(sql);
      if (marker) assert.ok(s.includes(marker), `${sql}: ${s.join(', ')}`);
      else assert.ok(!s.includes('delete_without_where') && !s.includes('update_without_where'), `${sql}: ${s.join(', ')}`);
    });
  }
  test('a CTE is not looked into: IN over it does not restrict', () => {
    assert.ok(specials('with orders2 as (select 1 as id) delete from orders where id in (select id from orders2)').includes('delete_without_where'), 'IN a CTE');
  });
  test('a CTE named like the target does not hide the target (a write never targets a CTE)', () => {
    assert.ok(specials('with orders as (select 1 as x) delete from orders where id is not null').includes('delete_without_where'), 'IS NOT NULL');
    assert.ok(specials("with orders as (select 1 as x) update orders set status = 'x' where id = id").includes('update_without_where'), 'id = id');
    assert.ok(!specials('with orders as (select 1 as x) delete from orders where id = 5').includes('delete_without_where'), "the table's column restricts");
  });
  test('a DELETE inside a CTE is judged too', () => {
    assert.ok(specials('with d as (delete from orders where 1 = 1 returning id) select * from d').includes('delete_without_where'), '1 = 1');
  });
  test('an OR of 5 000 key equalities is bounded', () => {
    const where = Array.from({ length: 5000 }, (_, i) => `id = ${i}`).join(' or ');
    assert.ok(!specials(`delete from orders where ${where}`).includes('delete_without_where'), 'OR of equalities');
  });
  test('ORs nested 14 deep, each branch restricting, are judged in time and bounded', () => {
    let where = 'id = 1';
    for (let i = 0; i < 14; i++) where = `(${where} or ${where})`;
    const started = Date.now();
    assert.ok(!specials(`delete from orders where ${where}`).includes('delete_without_where'), 'nested ORs');
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  });
});

describe("PostgreSQL's boolean input", () => {
  const table: [string, boolean | undefined][] = [
    ['t', true], ['TRUE', true], ['  yes ', true], ['on', true], ['1', true], ['y', true],
    ['f', false], ['no', false], ['off', false], ['of', false], ['0', false], ['n', false],
    ['o', undefined], ['', undefined], ['2', undefined], ['truex', undefined],
  ];
  for (const [text, expected] of table) test(`'${text}'`, () => assert.equal(parseBool(text), expected));
});
