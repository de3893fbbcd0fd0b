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

/** WHERE clauses of `DELETE FROM orders WHERE …` that select every row. */
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
];

/** WHERE clauses that are bounded (or not provably unbounded: the blast-radius rule's business). */
const BOUNDED: [string, string][] = [
  ['an equality on the key', 'id = 5'],
  ['a range', 'id > 10'],
  ['false', 'false'],
  ['a constant false comparison', '1 = 2'],
  ['NULL', 'null'],
  ['NOT true', 'not true'],
  ['a nullable column IS NOT NULL', 'status is not null'],
  ['x = x on a nullable column', 'status = status'],
  ['x <> x on a NOT NULL column', 'id <> id'],
  ['an AND with a selective branch', 'true and id = 5'],
  ['an OR of selective branches', 'id = 5 or id = 6'],
  ['IN over another table', 'customer_id in (select id from customers)'],
  ['IN over the same table, filtered', 'id in (select id from orders where id < 10)'],
  ['IN over the same table, limited', 'id in (select id from orders limit 1)'],
  ['IN over the same table, another column', 'id in (select customer_id from orders)'],
  ['IN over ONLY the same table (children differ)', 'id in (select id from only orders)'],
  ['a correlated EXISTS', 'exists (select 1 from customers c where c.id = orders.customer_id)'],
  ['WHERE CURRENT OF', 'current of c1'],
  ['a parameter compared to the key', 'id = $1'],
  ['a function of the row', "lower(status) = 'x'"],
  ['a whole-row test', 'orders is not null'],
  ['a nullable p OR NOT p', "status = 'x' or not status = 'x'"],
  ['a function of the row on both sides (not known to be the same value)', 'lower(status) = lower(status)'],
  ["LIKE '%' on a nullable column", "status like '%'"],
  ["LIKE with a real pattern", "status like 'a%'"],
  ['NOT LIKE anything', "id not like '%'"],
  ['a regular expression with a real pattern', "status ~ '^a'"],
  ['BETWEEN two other values', 'id between 1 and 10'],
  ['a nullable expression compared to itself', "status || 'x' = status || 'x'"],
  ['IN a subquery that returns nothing', 'id in (select id from orders where false)'],
  ['NOT IN an aggregate over nothing (one NULL row)', 'id not in (select max(id) from orders where false)'],
  ['a CASE with a false outcome', 'case when id > 10 then true else false end'],
  ['a system column compared to a constant', "ctid = '(0,1)'"],
  ['= ANY of an array of another column', 'id = any (array(select customer_id from orders))'],
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
    ['DELETE USING another table joined to the target', 'delete from orders using customers c where c.id = orders.customer_id', null],
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
    ['DELETE USING a subquery over the table itself on another column', 'delete from orders using (select customer_id as id from orders) s where orders.id = s.id', null],
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
  test('a CTE named like the target is not a mirror of it', () => {
    assert.ok(!specials('with orders2 as (select 1 as id) delete from orders where id in (select id from orders2)').includes('delete_without_where'));
  });
  test('a CTE named like the target does not hide the target (a write never targets a CTE)', () => {
    assert.ok(specials('with orders as (select 1 as x) delete from orders where id is not null').includes('delete_without_where'));
    assert.ok(specials("with orders as (select 1 as x) update orders set status = 'x' where id = id").includes('update_without_where'));
    assert.ok(!specials('with orders as (select 1 as id) delete from orders using orders o2 where orders.id = o2.id').includes('delete_without_where'), 'but the CTE in USING is not the table');
  });
  test('a DELETE inside a CTE is judged too', () => {
    assert.ok(specials('with d as (delete from orders where 1 = 1 returning id) select * from d').includes('delete_without_where'));
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
