/**
 * Literal keys: which texts share an analysis across their literal values, and which are keyed by
 * their exact text because the analysis (or a decision on it) reads a literal's value.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { analyse, analyseCached, AnalysisCache, literalKey, literalsIrrelevant, loadParser, type StatementAnalysis } from './index.ts';
import { parseStatements } from './parser.ts';
import { literalVariant as variant } from './test-variant.ts';
import { testCatalog } from './fixture.ts';

before(() => loadParser());

const catalog = testCatalog();
const searchPath = ['public'];

/** Whether `text` would be stored under its literal key. */
function keyed(text: string): boolean {
  const key = literalKey(text);
  return key !== null && literalsIrrelevant(parseStatements(text).map((s) => s.stmt), key);
}

/** An analysis without its texts: what a decision reads. */
function withoutText(list: StatementAnalysis[]): string {
  return JSON.stringify(list, (k, v) => (k === 'text' ? undefined : v));
}

describe('literal keys', () => {
  const keyedTexts: { name: string; sql: string }[] = [
    { name: 'pgbench -M simple', sql: 'SELECT abalance FROM pgbench_accounts WHERE aid = 12345;' },
    { name: 'a column compared to literals under AND/OR', sql: "select id, email from customers where id = 5 and name <> 'x' or id >= 7" },
    { name: 'a literal on the left', sql: 'select id from customers where 5 < id' },
    { name: 'a negative literal', sql: 'select id from customers where id = -5' },
    { name: 'a negative literal with a space', sql: 'select id from customers where id = - 5' },
    { name: 'IN list of literals', sql: "select id from customers where id in (1, 2, 3) and name not in ('a', 'b')" },
    { name: 'a decimal and an exponent', sql: 'select id from orders where total > 10.5 and total < 1e6' },
    { name: 'UPDATE SET literal and arithmetic, bounded WHERE', sql: "update orders set total = total + -5, status = 'x' where id = 3" },
    { name: 'DELETE with a bounded WHERE', sql: 'delete from orders where id = 3' },
    { name: 'INSERT VALUES', sql: "insert into orders (id, customer_id, total, status) values (1, 2, 3.5, 'new')" },
    { name: 'an E string', sql: "select id from customers where name = E'a\\tb'" },
  ];
  for (const c of keyedTexts) {
    it(`keyed by literals: ${c.name}`, () => {
      assert.equal(keyed(c.sql), true, c.sql);
      // The claim behind the key: another value of each literal gives the same analysis.
      const other = variant(c.sql);
      assert.notEqual(other, c.sql);
      assert.equal(literalKey(other)?.key, literalKey(c.sql)?.key);
      assert.equal(withoutText(analyse(other, { catalog, searchPath })), withoutText(analyse(c.sql, { catalog, searchPath })));
    });
  }

  // Each position where the analysis, a decision or a review reads a literal's value.
  const exactTexts: { name: string; sql: string }[] = [
    { name: 'a function argument', sql: 'select id from customers where id = abs(5)' },
    { name: 'nextval of a sequence named by a string', sql: "select nextval('orders_id_seq')" },
    { name: 'set_config of search_path', sql: "select set_config('search_path', 'public', false)" },
    { name: 'set_config in a WHERE', sql: "select id from customers where name = set_config('search_path', 'x', false)" },
    { name: 'current_setting', sql: "select id from customers where name = current_setting('application_name')" },
    { name: 'a regclass cast', sql: "select 'customers'::regclass" },
    { name: 'a cast of a literal compared to a column', sql: "select id from customers where id = '5'::int" },
    { name: 'a type modifier', sql: 'select cast(name as varchar(10)) from customers' },
    { name: 'a literal in the select list', sql: "select 'x', id from customers where id = 1" },
    { name: 'SET of a setting', sql: "set search_path = 'public'" },
    { name: 'SET ROLE', sql: "set role 'analyst'" },
    { name: 'a DO body', sql: "do 'begin perform 1; end'" },
    { name: 'EXECUTE of a prepared statement with literals', sql: 'execute s1(5)' },
    { name: 'format with SQL in a string', sql: "select format('select %s', id) from customers where id = 1" },
    { name: 'LIMIT', sql: 'select id from customers where id > 1 limit 10' },
    { name: 'OFFSET', sql: 'select id from customers where id > 1 offset 5' },
    { name: 'ORDER BY position', sql: 'select id, name from customers where id > 1 order by 2' },
    { name: 'WHERE 1=1 (folded: every row)', sql: 'delete from orders where 1=1' },
    { name: 'WHERE 1=2 (folded: no row)', sql: 'delete from orders where 1=2' },
    { name: 'a constant predicate', sql: "delete from orders where 't'" },
    { name: 'p OR NOT p (shapes compared with values)', sql: 'delete from orders where id = 5 or not id = 5' },
    { name: 'LIKE pattern', sql: "delete from orders where status like '%'" },
    { name: 'regular expression', sql: "delete from orders where status ~ '.*'" },
    { name: 'BETWEEN', sql: 'select id from customers where id between 1 and 5' },
    { name: 'CASE', sql: 'select id from customers where case when id = 1 then true else false end' },
    { name: 'a literal in a subquery', sql: 'select id from customers where id in (select customer_id from orders where total > 5)' },
    { name: 'a literal in a CTE', sql: 'with x as (select id from customers where id = 1) select * from x' },
    { name: 'IS DISTINCT FROM', sql: 'select id from customers where id is distinct from 5' },
    { name: 'a qualified operator', sql: 'select id from customers where id OPERATOR(pg_catalog.=) 5' },
    { name: 'double negation', sql: 'select id from customers where id = - - 5' },
    { name: 'a literal in RETURNING', sql: 'update orders set total = 1 where id = 2 returning 3' },
    { name: 'UPDATE of an array element', sql: 'update orders set total[1] = 5 where id = 2' },
    { name: 'INSERT … SELECT', sql: 'insert into orders (id) select 1' },
    { name: 'INSERT … ON CONFLICT', sql: "insert into orders (id, status) values (1, 'a') on conflict (id) do update set status = 'b'" },
    { name: 'DDL', sql: "create table t (a varchar(10) default 'x')" },
    { name: 'DCL', sql: "alter role analyst set search_path = 'x'" },
    { name: 'COPY', sql: "copy orders to stdout with (delimiter ',')" },
    { name: 'a function in a VALUES list', sql: "insert into orders (id, status) values (1, lower('A'))" },
    { name: 'a read of pg_settings pinned by name', sql: "select setting from pg_settings where name = 'max_index_keys'" },
    { name: 'a read of pg_catalog.pg_settings pinned by an IN list', sql: "select name, setting from pg_catalog.pg_settings s where s.name in ('work_mem', 'block_size') and 1 = 1" },
    { name: 'any statement naming pg_settings', sql: "select id from customers where id = 1 and exists (select 1 from pg_settings where name = 'x')" },
  ];
  for (const c of exactTexts) {
    it(`keyed exactly: ${c.name}`, () => {
      assert.equal(keyed(c.sql), false, c.sql);
    });
  }

  it('keeps a literal class in the key: int, string and numeric differ', () => {
    const k = (sql: string) => literalKey(sql)?.key;
    assert.equal(k('select id from customers where id = 1'), k('select id from customers where id = 99999'));
    assert.notEqual(k('select id from customers where id = 1'), k("select id from customers where id = '1'"));
    assert.notEqual(k('select id from customers where id = 1'), k('select id from customers where id = 1.0'));
    // Too large for int4: int8 or numeric by its value, so it stays as written.
    assert.equal(k('select id from customers where id = 5000000000'), undefined);
    assert.notEqual(k('select id from customers where id = 1 and id = 5000000000'), k('select id from customers where id = 1 and id = 5000000001'));
    // A hexadecimal integer too large for int4 is int8, though its digits hold an `e`.
    assert.equal(k('select id from customers where id = 0xFFFFFFFFFE'), undefined);
    assert.equal(k('select id from customers where id = 1_000.5'), undefined);
    assert.equal(k('select id from customers where id = 1.5e3'), k('select id from customers where id = .5'));
  });

  it('keeps parameters, comments, keywords and bit strings as written', () => {
    const k = (sql: string) => literalKey(sql)?.key;
    assert.notEqual(k('select id from customers where id = 1 and name = $1'), k('select id from customers where id = 1 and name = $2'));
    assert.notEqual(k('select id from customers where id = 1 -- a'), k('select id from customers where id = 1 -- b'));
    assert.notEqual(k('select id from customers where id = 1 and true'), k('select id from customers where id = 1 and false'));
    assert.notEqual(k("select id from customers where id = 1 and b'1' = b'1'"), k("select id from customers where id = 1 and b'0' = b'1'"));
    assert.equal(k('select id from customers where id = $1'), undefined);
  });

  it('keys no text outside ASCII, with a NUL, or too long', () => {
    assert.equal(literalKey("select id from customers where name = 'José'"), null);
    assert.equal(literalKey(`select id from customers where id = 1 ${' '.repeat(9000)}`), null);
    assert.equal(literalKey("select 'unterminated"), null);
  });

  it('shares an analysis across literal values, and the exact text is never replaced', () => {
    const cache = new AnalysisCache(16);
    const a = analyseCached(cache, catalog, searchPath, 'select id from customers where id = 1');
    const b = analyseCached(cache, catalog, searchPath, 'select id from customers where id = 2');
    assert.equal(a.byLiteralKey, false);
    assert.equal(b.byLiteralKey, true);
    assert.equal(b.analyses, a.analyses);
    // Sent again: remembered as found by its literal key (not scanned again), same analyses.
    const again = analyseCached(cache, catalog, searchPath, 'select id from customers where id = 2');
    assert.equal(again.byLiteralKey, true);
    assert.equal(again.analyses, a.analyses);
    // Another catalog snapshot or search_path shares nothing.
    assert.notEqual(analyseCached(cache, testCatalog(2), searchPath, 'select id from customers where id = 2').analyses, a.analyses);
    assert.notEqual(analyseCached(cache, catalog, ['app'], 'select id from customers where id = 2').analyses, a.analyses);
    assert.equal(analyseCached(cache, catalog, searchPath, 'select id from customers where id = 2', true).byLiteralKey, false);
    const off = new AnalysisCache(16, undefined, false);
    analyseCached(off, catalog, searchPath, 'select id from customers where id = 1');
    assert.equal(analyseCached(off, catalog, searchPath, 'select id from customers where id = 2').byLiteralKey, false);
  });

  it('remembers at most a quarter of its capacity of texts found by literal key, and evicts no entry for them', () => {
    const cache = new AnalysisCache(8);
    analyseCached(cache, catalog, searchPath, 'select id from customers where id = 1');
    const size = cache.size;
    for (let i = 2; i < 100; i++) assert.equal(analyseCached(cache, catalog, searchPath, `select id from customers where id = ${i}`).byLiteralKey, true);
    assert.equal(cache.size, size);
  });

  it('the analysis of a pinned pg_settings read is never reused for another setting name', () => {
    const allowed = "select setting from pg_catalog.pg_settings where name = 'max_index_keys'";
    for (const other of ["select setting from pg_catalog.pg_settings where name = 'data_directory'", "select setting from pg_catalog.pg_settings where name = 'app.secret'"]) {
      for (const [first, second] of [[allowed, other], [other, allowed]]) {
        const cache = new AnalysisCache(16);
        analyseCached(cache, catalog, searchPath, first);
        const r = analyseCached(cache, catalog, searchPath, second);
        assert.equal(r.byLiteralKey, false, second);
        assert.deepEqual(r.analyses[0].tables[0].settingNames, [/'(.*)'/.exec(second)?.[1]]);
      }
    }
  });

  it('a warmed literal key does not decide a text whose literal matters', () => {
    const cache = new AnalysisCache(16);
    analyseCached(cache, catalog, searchPath, 'delete from orders where id = 5');
    const r = analyseCached(cache, catalog, searchPath, 'delete from orders where 1 = 1');
    assert.equal(r.byLiteralKey, false);
    assert.ok(r.analyses[0].specials.includes('delete_without_where'));
  });
});
