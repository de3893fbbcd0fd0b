/**
 * Value flows, table-driven: for each statement, where the stored values go besides outputs and
 * predicates (`flows`, as `column sink detail`), and the predicate uses the analysis now finds
 * through derived tables, subqueries, aliases and positions. Against the fixture catalog.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { analyse, loadParser } from './index.ts';
import { testCatalog } from './fixture.ts';

const catalog = testCatalog();

before(async () => {
  await loadParser();
});

function flowsOf(sql: string, searchPath = ['public']): string[] {
  const [a] = analyse(sql, { catalog, searchPath });
  assert.equal(a.unsupported, undefined, `${sql}: ${a.unsupported}`);
  const out: string[] = [];
  for (let cur: typeof a | undefined = a; cur; cur = cur.inner) {
    for (const f of cur.flows ?? []) out.push([f.source.table === 'customers' ? f.source.column : `${f.source.table}.${f.source.column}`, f.sink, f.detail].filter((x) => x !== undefined).join(' '));
  }
  return [...new Set(out)];
}

function usesOf(sql: string): string[] {
  const [a] = analyse(sql, { catalog, searchPath: ['public'] });
  return a.columnUses.map((u) => [u.use, `${u.relation.name}.${u.column}`, u.operator].filter((x) => x !== undefined).join(' '));
}

describe('flows: positions that count rows', () => {
  const cases: [string, string, string[]][] = [
    ['LIMIT of a scalar subquery over a column', 'SELECT 1 LIMIT (SELECT ascii(substr(ssn, 1, 1)) FROM customers WHERE id = 1)', ['ssn limit LIMIT']],
    ['OFFSET of a column', 'SELECT id FROM orders OFFSET (SELECT length(email) FROM customers WHERE id = 1)', ['email limit OFFSET']],
    ['LIMIT of a set operation', 'SELECT 1 UNION ALL SELECT 2 LIMIT (SELECT ascii(ssn) FROM customers LIMIT 1)', ['ssn limit LIMIT']],
    ['LIMIT of VALUES', 'VALUES (1), (2) LIMIT (SELECT ascii(ssn) FROM customers LIMIT 1)', ['ssn limit LIMIT']],
    ['LIMIT inside a LATERAL subquery over an outer column', 'SELECT c.id FROM customers c, LATERAL (SELECT 1 FROM generate_series(1, 9) LIMIT ascii(c.ssn)) x', ['ssn limit LIMIT']],
    ['TABLESAMPLE size', 'SELECT id FROM orders TABLESAMPLE BERNOULLI ((SELECT ascii(ssn) FROM customers LIMIT 1))', ['ssn limit TABLESAMPLE']],
    ['a constant LIMIT is no flow', 'SELECT ssn FROM customers LIMIT 5', []],
  ];
  for (const [name, sql, want] of cases) it(name, () => assert.deepEqual(flowsOf(sql), want));
});

describe('flows: set-returning functions, aggregates, windows, CASE, DISTINCT, set operations', () => {
  const cases: [string, string, string[]][] = [
    ['generate_series in the target list', 'SELECT generate_series(1, ascii(substr(ssn, 1, 1))) FROM customers', ['ssn set_returning generate_series()']],
    ['generate_series in FROM', 'SELECT count(*) FROM customers c, generate_series(1, ascii(c.ssn)) g', ['ssn set_returning generate_series()']],
    ['regexp_matches', "SELECT regexp_matches(ssn, '^9') FROM customers", ['ssn set_returning regexp_matches()']],
    ['unnest of an array of the column', 'SELECT unnest(string_to_array(ssn, \'-\')) FROM customers', ['ssn set_returning unnest()']],
    ['min and max', 'SELECT min(ssn), max(email) FROM customers', ['ssn aggregate min()', 'email aggregate max()']],
    ['sum of a computed value', 'SELECT sum(length(ssn)) FROM customers', ['ssn aggregate sum()']],
    ['count of the plain column is no flow', 'SELECT count(ssn), count(DISTINCT email), count(*) FROM customers', []],
    ['count of a computed value is an aggregate flow', "SELECT count(nullif(substr(ssn, 1, 1), '9')) FROM customers", ['ssn aggregate count()']],
    ['percentile over the column', 'SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ssn) FROM customers', ['ssn aggregate percentile_disc()']],
    ['a window function over the column', 'SELECT lag(ssn) OVER (ORDER BY id) FROM customers', ['id window ORDER BY', 'ssn window lag()']],
    ['a window partitioned by the column', 'SELECT row_number() OVER (PARTITION BY email) FROM customers', ['email window PARTITION BY']],
    ['a CASE condition', "SELECT count(CASE WHEN ssn LIKE '9%' THEN 1 END) FROM customers", ['ssn case CASE WHEN', 'ssn aggregate count()']],
    ['a simple CASE operand', "SELECT CASE ssn WHEN '1' THEN 1 END FROM customers", ['ssn case CASE WHEN']],
    ['a CASE result is an output, not a condition', 'SELECT CASE WHEN id > 1 THEN ssn END FROM customers', ['id case CASE WHEN']],
    ['AND decides whether its other arguments run', "SELECT (ssn = '1') AND 1 / (id - id) = 1 FROM customers", ['id function operator -', 'id function operator /', 'ssn case AND', 'id case AND']],
    ['OR in the output too', "SELECT email LIKE 'a%' OR false FROM customers", ['email case OR']],
    ['AND in WHERE is a predicate for the filter mode', "SELECT id FROM customers WHERE ssn = '1' AND id > 1", []],
    ['CASE in WHERE is a predicate for the filter mode', "SELECT id FROM customers WHERE CASE WHEN ssn = '1' THEN true END", []],
    ['SELECT DISTINCT', 'SELECT DISTINCT email FROM customers', ['email distinct']],
    ['INTERSECT with a constant', "SELECT substr(ssn, 1, 1) FROM customers INTERSECT SELECT '9'", ['ssn set_operation INTERSECT']],
    ['EXCEPT', 'SELECT email FROM customers EXCEPT SELECT name FROM customers', ['email set_operation EXCEPT', 'name set_operation EXCEPT']],
    ['UNION (distinct) compares', 'SELECT email FROM customers UNION SELECT status FROM orders', ['email set_operation UNION', 'orders.status set_operation UNION']],
    ['UNION ALL appends only', 'SELECT email FROM customers UNION ALL SELECT status FROM orders', []],
  ];
  for (const [name, sql, want] of cases) it(name, () => assert.deepEqual(flowsOf(sql), want));
});

describe('flows: functions, operators and casts that can fail on the value', () => {
  const cases: [string, string, string[], string[]?][] = [
    ['division by a computed value', 'SELECT 1 / (ascii(substr(ssn, 1, 1)) - 57) FROM customers', ['ssn function operator -', 'ssn function operator /']],
    ['the dividend is no safer', 'SELECT length(ssn) / 2 FROM customers', ['ssn function operator /']],
    ['a regular expression\'s start position taken from the value', "SELECT regexp_count('abc', 'b', length(ssn)) FROM customers", ['ssn function regexp_count()']],
    ['sqrt, ln, chr, to_number', "SELECT sqrt(ascii(ssn)), ln(ascii(ssn)), chr(ascii(ssn)), to_number(ssn, '999') FROM customers", ['ssn function sqrt()', 'ssn function ln()', 'ssn function chr()', 'ssn function to_number()']],
    ['cast to regclass', 'SELECT ssn::regclass FROM customers', ['ssn function cast to regclass']],
    ['casts to regproc, regtype, regnamespace, regconfig, int', 'SELECT ssn::regproc, ssn::regtype, ssn::regnamespace, ssn::regconfig, CAST(ssn AS integer) FROM customers', ['ssn function cast to regproc', 'ssn function cast to regtype', 'ssn function cast to regnamespace', 'ssn function cast to regconfig', 'ssn function cast to int4']],
    ['a cast to an array type', 'SELECT ssn::text[] FROM customers', ['ssn function cast to text']],
    ['has_table_privilege', "SELECT has_table_privilege(ssn, 'select') FROM customers", ['ssn function has_table_privilege()']],
    ['nextval and current_setting', 'SELECT nextval(ssn), current_setting(email) FROM customers', ['ssn function nextval()', 'email function current_setting()']],
    ['set_config is a setting', "SELECT set_config('application_name', ssn, false) FROM customers", ['ssn setting set_config()']],
    ['a jsonpath built from the value', "SELECT jsonb_path_query('{}', ('$.' || ssn)::jsonpath) FROM customers", ['ssn function cast to jsonpath', 'ssn set_returning jsonb_path_query()']],
    ['a LIKE pattern taken from the value', "SELECT 'x' LIKE ssn FROM customers", ['ssn function operator ~~']],
    ['a regular expression taken from the value', "SELECT 'x' ~ email FROM customers", ['email function operator ~']],
    ['LIKE against a pattern ending in an escape fails only on a match so far', "SELECT ssn LIKE '9\\' FROM customers", ['ssn function operator ~~']],
    ['LIKE against a parameter (it may end in an escape)', 'SELECT ssn ILIKE $1 FROM customers', ['ssn function operator ~~*']],
    ['LIKE in a predicate is the filter mode\'s to decide', "SELECT id FROM customers WHERE ssn LIKE $1", []],
    ['JSON parsing of the value', "SELECT JSON_VALUE(ssn::jsonb, '$') FROM customers", ['ssn function cast to jsonb', 'ssn function JSON_VALUE()']],
    ['XMLPARSE of the value', 'SELECT xmlparse(document ssn) FROM customers', ['ssn function XML parsing']],
    ['a schema-qualified user function', 'SELECT public.mask_ssn(ssn) FROM customers', ['ssn function mask_ssn()']],
    ['a name a planted function on the path could take', 'SELECT lower(ssn) FROM customers', ['ssn function lower()'], ['app', 'public']],
    ['in WHERE too (the error echoes from any position)', 'SELECT id FROM customers WHERE ssn::regclass IS NOT NULL', ['ssn function cast to regclass']],
    ['a function in an UPDATE', 'UPDATE orders SET total = 1 WHERE status = current_setting(status)', ['orders.status function current_setting()']],
  ];
  for (const [name, sql, want, path] of cases) it(name, () => assert.deepEqual(flowsOf(sql, path), want));

  const safe: [string, string][] = [
    ['case and trimming', "SELECT lower(ssn), upper(email), initcap(name), btrim(ssn), trim(both ' ' from ssn) FROM customers"],
    ['lengths, substrings, concatenation', "SELECT length(ssn), substr(ssn, 1, 3), substring(ssn from 2 for 2), substring(ssn, 1), left(ssn, 2), right(ssn, 2), ssn || '-', concat(ssn, email) FROM customers"],
    // md5 and reverse are written with their schema: the fixture plants overloads of both in public.
    ['hashing, quoting, reversing, replacing', "SELECT pg_catalog.md5(ssn), quote_literal(ssn), pg_catalog.reverse(ssn), replace(ssn, '-', ''), ascii(ssn) FROM customers"],
    ['the subject of a regular expression, splitting, rounding', "SELECT regexp_replace(ssn, '[0-9]', 'x', 'g'), regexp_count(email, '@'), string_to_array(ssn, '-'), round(length(ssn)), floor(length(email)) FROM customers"],
  ];
  for (const [name, sql] of safe) it(`no flow: ${name}`, () => assert.deepEqual(flowsOf(sql), []));

  const nullOnSome: [string, string, string[]][] = [
    ['substring FROM a pattern is NULL when it does not match', "SELECT substring(ssn from '^9') FROM customers", ['ssn function substring()']],
    ['regexp_substr is NULL when it does not match', "SELECT regexp_substr(ssn, '^9') FROM customers", ['ssn function regexp_substr()']],
    ['->> of a missing key is NULL', "SELECT (ssn::text)::json ->> 'a' FROM customers", ['ssn function cast to json', 'ssn function operator ->>']],
    ['a subscript past the end is NULL', "SELECT (string_to_array(ssn, '-'))[4] FROM customers", ['ssn function a subscript']],
    ['to_char of infinity is NULL', "SELECT to_char(length(ssn), '999') FROM customers", ['ssn function to_char()']],
  ];
  for (const [name, sql, want] of nullOnSome) it(`a function that is NULL for some values: ${name}`, () => assert.deepEqual(flowsOf(sql), want));
  const rest: [string, string][] = [
    ['casts to text types', 'SELECT ssn::text, ssn::varchar(20), CAST(email AS character varying), ssn::name, ssn::bpchar FROM customers'],
    ['comparisons and the matched side of LIKE and regular expressions', "SELECT ssn = 'x', ssn < 'x', ssn LIKE '9%', ssn LIKE '9\\%%', ssn ~ '^9', ssn IS NULL, ssn IN ('a', 'b') FROM customers"],
    ['COALESCE', 'SELECT coalesce(phone, email) FROM customers'],
    ['a count, cast or computed (it reveals no value)', 'SELECT count(ssn)::int, count(DISTINCT email) + 1, sqrt(count(ssn)) FROM customers'],
    ['ordering by a count', 'SELECT phone, count(ssn) AS n FROM customers GROUP BY phone ORDER BY n'],
  ];
  for (const [name, sql] of rest) it(`no flow: ${name}`, () => assert.deepEqual(flowsOf(sql), []));
});

describe('flows: writes', () => {
  const cases: [string, string, string[]][] = [
    ['UPDATE … SET another table\'s column from a subquery', 'UPDATE orders SET status = (SELECT ssn FROM customers WHERE id = 1)', ['ssn write public.orders.status']],
    ['UPDATE … SET another column of the same row', 'UPDATE customers SET name = ssn', ['ssn write public.customers.name']],
    ['UPDATE … SET (a, b) = (SELECT …)', 'UPDATE orders SET (status, total) = (SELECT ssn, 1 FROM customers LIMIT 1)', ['ssn write public.orders.status']],
    ['UPDATE … FROM', 'UPDATE orders o SET status = c.email FROM customers c WHERE c.id = o.customer_id', ['email write public.orders.status']],
    ['INSERT … SELECT by position', 'INSERT INTO orders (status) SELECT ssn FROM customers', ['ssn write public.orders.status']],
    ['INSERT … VALUES with a subquery', 'INSERT INTO orders (id, status) VALUES (1, (SELECT email FROM customers LIMIT 1))', ['email write public.orders.status']],
    ['INSERT … SELECT * pairs columns by position', 'INSERT INTO audit SELECT id, name, email, ssn FROM customers', ['id write public.audit.id', 'name write public.audit.at', 'email write public.audit.actor', 'ssn write public.audit.detail']],
    ['INSERT … ON CONFLICT DO UPDATE', "INSERT INTO orders (id, status) VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET status = (SELECT ssn FROM customers LIMIT 1)", ['ssn write public.orders.status']],
    ['a data-modifying CTE', 'WITH x AS (UPDATE orders SET status = (SELECT ssn FROM customers LIMIT 1) RETURNING id) SELECT * FROM x', ['ssn write public.orders.status']],
    ['MERGE … UPDATE and INSERT', 'MERGE INTO orders o USING customers c ON o.customer_id = c.id WHEN MATCHED THEN UPDATE SET status = c.ssn WHEN NOT MATCHED THEN INSERT (id, status) VALUES (c.id, c.email)', ['ssn write public.orders.status', 'id write public.orders.id', 'email write public.orders.status']],
    ['CREATE TABLE AS', 'CREATE TABLE copy AS SELECT id, ssn FROM customers', ['id write public.copy.id', 'ssn write public.copy.ssn']],
    ['CREATE MATERIALIZED VIEW', 'CREATE MATERIALIZED VIEW mv (a) AS SELECT email FROM customers', ['email write public.mv.a']],
    ['SELECT INTO', 'SELECT ssn INTO TEMP t FROM customers', ['ssn write public.t.ssn']],
    ['CREATE VIEW', 'CREATE VIEW v AS SELECT lower(ssn) AS s FROM customers', ['ssn write public.v.s']],
    ['a generated column stores its expression', "ALTER TABLE customers ADD COLUMN leak text GENERATED ALWAYS AS (ssn || '') STORED", ['ssn write public.customers.leak']],
    ['a CHECK constraint is evaluated on the stored values', "ALTER TABLE customers ADD CONSTRAINT c CHECK (ssn NOT LIKE '9%')", ['ssn write the definition of public.customers']],
    ['an expression index and a partial index', "CREATE INDEX ON customers (lower(email)) WHERE phone LIKE '+1%'", ['email write the definition of public.customers', 'phone write the definition of public.customers']],
    ['a row-level security policy', "CREATE POLICY p ON customers USING (ssn LIKE '9%')", ['ssn write the definition of public.customers']],
    ['an index on a plain column stores nothing new', 'CREATE INDEX ON customers (email)', []],
    ['a change of column type converts every stored value', 'ALTER TABLE customers ALTER COLUMN ssn TYPE int', ['ssn function a change of column type to int4']],
    ['a change of column type USING an expression stores and converts it', 'ALTER TABLE customers ALTER COLUMN email TYPE varchar(3) USING lower(email)', ['email write public.customers.email', 'email function a change of column type to varchar']],
    ['a change of column type to text cannot fail', 'ALTER TABLE customers ALTER COLUMN phone TYPE text', []],
    ['writing the column back into itself', 'UPDATE customers SET ssn = upper(ssn) WHERE id = 1', ['ssn write public.customers.ssn']],
    ['a parameter of EXECUTE goes where the analysis cannot see', 'EXECUTE p((SELECT ssn FROM customers LIMIT 1))', ['ssn parameter EXECUTE']],
  ];
  for (const [name, sql, want] of cases) it(name, () => assert.deepEqual(flowsOf(sql), want));
});

describe('predicate uses follow values, not only direct columns', () => {
  const C = 'customers';
  const cases: [string, string, string[]][] = [
    ['a filter on a derived table\'s column is a filter on its source', "SELECT * FROM (SELECT ssn AS s FROM customers) x WHERE s LIKE '9%'", [`filter ${C}.ssn like`]],
    ['a filter on a CTE column', "WITH x AS (SELECT lower(ssn) AS s FROM customers) SELECT 1 FROM x WHERE s = 'a'", [`filter ${C}.ssn`]],
    ['a scalar subquery compared in WHERE', "SELECT 1 WHERE (SELECT ssn FROM customers WHERE id = 1) LIKE '9%'", [`filter ${C}.id =`, `filter ${C}.ssn like`]],
    ['IN (SELECT col) compares with the subquery\'s values', "SELECT 1 WHERE '1' IN (SELECT ssn FROM customers)", [`filter ${C}.ssn in`]],
    ['ORDER BY an alias of an expression', 'SELECT id, upper(ssn) AS r FROM customers ORDER BY r', [`order ${C}.ssn`]],
    ['ORDER BY a position', 'SELECT id, ssn FROM customers ORDER BY 2', [`order ${C}.ssn`]],
    ['GROUP BY a position', 'SELECT substr(ssn, 1, 1) FROM customers GROUP BY 1', [`group ${C}.ssn`]],
    ['ORDER BY of a set operation', 'SELECT email FROM customers UNION ALL SELECT name FROM customers ORDER BY 1', [`order ${C}.email`, `order ${C}.name`]],
    ['an aggregate\'s ORDER BY', 'SELECT array_agg(id ORDER BY ssn) FROM customers', [`order ${C}.ssn`]],
    ['GREATEST compares its arguments', "SELECT greatest(ssn, '5') FROM customers", [`order ${C}.ssn`]],
    ['NULLIF compares with =', "SELECT nullif(email, '') FROM customers", [`filter ${C}.email =`]],
    ['a join on a derived column', 'SELECT 1 FROM orders o JOIN (SELECT ssn AS s FROM customers) x ON x.s = o.status', [`join ${C}.ssn =`, 'join orders.status =']],
    ['a derived column cast to text without a length is still the column', "SELECT 1 FROM (SELECT email::varchar AS e FROM customers) x WHERE e = 'a'", [`filter ${C}.email =`]],
    ['equality with a derived column cut by a cast is no equality of the column (a prefix test)', "SELECT 1 FROM (SELECT email::varchar(3) AS e FROM customers) x WHERE e = 'per'", [`filter ${C}.email`]],
    ['equality with a scalar subquery of a cut value', "SELECT 1 FROM customers c WHERE (SELECT c.email::char(3)) = 'per'", [`filter ${C}.email`]],
    ['IN a CTE column of a value rounded by a type modifier', "WITH d AS (SELECT ssn::numeric(3, 1) AS n FROM customers) SELECT 1 WHERE 1 IN (SELECT n FROM d)", [`filter ${C}.ssn`]],
  ];
  for (const [name, sql, want] of cases) it(name, () => assert.deepEqual(usesOf(sql), want));
});

describe('DISTINCT inside an aggregate compares its arguments with =', () => {
  const C = 'customers';
  const cases: [string, string, string[]][] = [
    ['count(DISTINCT col)', 'SELECT count(DISTINCT ssn) FROM customers', [`filter ${C}.ssn =`]],
    ['count(DISTINCT) of a derived column over the stored value and a guess', "SELECT count(DISTINCT s) FROM (SELECT ssn AS s FROM customers WHERE id = 1 UNION ALL SELECT '900-00-0000') d", [`filter ${C}.id =`, `filter ${C}.ssn =`]],
    ['count(DISTINCT) in LIMIT', 'SELECT id FROM orders LIMIT (SELECT count(DISTINCT email) FROM customers)', [`filter ${C}.email =`]],
    ['array_agg(DISTINCT … ORDER BY …)', 'SELECT array_agg(DISTINCT email ORDER BY email) FROM customers', [`filter ${C}.email =`, `order ${C}.email`]],
    ['string_agg(DISTINCT …)', "SELECT string_agg(DISTINCT phone, ',') FROM customers", [`filter ${C}.phone =`]],
    ['sum(DISTINCT) of a computed value: inside an expression', 'SELECT sum(DISTINCT length(ssn)) FROM customers', [`filter ${C}.ssn`]],
    ['count of the plain column compares nothing', 'SELECT count(ssn), count(*) FROM customers', []],
  ];
  for (const [name, sql, want] of cases) it(name, () => assert.deepEqual(usesOf(sql).sort(), [...want].sort()));
});

describe('pattern and search functions and operators are predicates wherever they stand', () => {
  const C = 'customers';
  const cases: [string, string, string[]][] = [
    ['regexp_replace grown by replace, in the output list', "SELECT length(replace(regexp_replace(ssn, '^901', repeat('Q', 3000)), 'Q', repeat('Q', 3000))) FROM customers", [`filter ${C}.ssn regexp_replace`, `filter ${C}.ssn replace`]],
    ['the regular-expression functions', "SELECT regexp_like(ssn, '^9'), regexp_count(email, 'a'), regexp_instr(phone, '5') FROM customers", [`filter ${C}.ssn regexp_like`, `filter ${C}.email regexp_count`, `filter ${C}.phone regexp_instr`]],
    ['the value as the searched-for string', "SELECT strpos('901-37-4729 900-00-0000', ssn) FROM customers", [`filter ${C}.ssn strpos`]],
    ['POSITION … IN', "SELECT position('-37-' IN ssn) FROM customers", [`filter ${C}.ssn position`]],
    ['translate, split_part, starts_with, string_to_array', "SELECT translate(ssn, '9', 'x'), split_part(email, '@', 2), starts_with(phone, '+1'), string_to_array(ssn, '-') FROM customers", [`filter ${C}.ssn translate`, `filter ${C}.email split_part`, `filter ${C}.phone starts_with`, `filter ${C}.ssn string_to_array`]],
    ['a trim of chosen characters', "SELECT btrim(ssn, '9'), trim(leading '0' from email) FROM customers", [`filter ${C}.ssn btrim`, `filter ${C}.email ltrim`]],
    ['substring by pattern, not by position', "SELECT substring(ssn from '^9'), substring(email, 1, 3) FROM customers", [`filter ${C}.ssn substring`]],
    ['a value computed from the column: each source under the function', "SELECT replace(lower(email) || ssn, 'a', 'b') FROM customers", [`filter ${C}.email replace`, `filter ${C}.ssn replace`]],
    ['through a derived table', "SELECT regexp_replace(s, '^9', 'x') FROM (SELECT ssn AS s FROM customers) d", [`filter ${C}.ssn regexp_replace`]],
    ['LIKE, a regular expression, SIMILAR TO and ^@ in the output list', "SELECT email LIKE 'a%', ssn ~ '^9', phone SIMILAR TO '+1%', name ^@ 'A' FROM customers", [`filter ${C}.email like`, `filter ${C}.ssn ~`, `filter ${C}.phone similar to`, `filter ${C}.name ^@`]],
    ['LIKE ANY', "SELECT ssn LIKE ANY (ARRAY['9%', '8%']) FROM customers", [`filter ${C}.ssn ~~ any`]],
    ['in a join condition: a join use', "SELECT 1 FROM customers c JOIN orders o ON regexp_like(c.email, o.status)", [`join ${C}.email regexp_like`, 'join orders.status regexp_like']],
    ['value-preserving functions and equality in the output list are no predicate', "SELECT lower(ssn), upper(email), length(phone), substr(ssn, 1, 3), overlay(ssn placing 'x' from 2), btrim(email), ssn = 'x' FROM customers", []],
    ['the replacement text is not matched', "SELECT replace('abc', 'b', ssn), regexp_replace('abc', 'b', email) FROM customers", []],
  ];
  for (const [name, sql, want] of cases) it(name, () => assert.deepEqual(usesOf(sql).sort(), [...want].sort()));
});

describe('SEARCH and CYCLE clauses of a recursive CTE', () => {
  const C = 'customers';
  const R = (clause: string, main: string) => `WITH RECURSIVE r(x) AS (SELECT ssn FROM customers WHERE id = 1 UNION ALL SELECT x FROM r WHERE false) ${clause} ${main}`;
  it('SEARCH orders by its columns', () => assert.deepEqual(usesOf(R('SEARCH DEPTH FIRST BY x SET o', 'SELECT 1 FROM r')).sort(), [`filter ${C}.id =`, `order ${C}.ssn`]));
  it('CYCLE compares its columns with =', () => assert.deepEqual(usesOf(R('CYCLE x SET cyc USING p', 'SELECT count(*) FROM r')).sort(), [`filter ${C}.id =`, `filter ${C}.ssn =`]));
  it('the path column written elsewhere is a write of its columns', () => {
    assert.deepEqual(flowsOf(R('CYCLE x SET cyc USING p', 'UPDATE orders SET status = (SELECT p::text FROM r) WHERE id = 1')), ['ssn write public.orders.status']);
  });
  it('the search column in CREATE TABLE AS is a write of its columns', () => {
    assert.deepEqual(flowsOf(`CREATE TABLE t AS ${R('SEARCH BREADTH FIRST BY x SET o', 'SELECT o FROM r')}`), ['ssn write public.t.o']);
  });
  it('a column the gateway cannot follow makes the statement unsupported', () => {
    for (const sql of [
      'WITH RECURSIVE r AS (SELECT * FROM nosuch UNION ALL SELECT * FROM r) CYCLE x SET cyc USING p SELECT 1 FROM r',
      'WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x FROM r) SEARCH DEPTH FIRST BY y SET o SELECT 1 FROM r',
    ]) {
      const [a] = analyse(sql, { catalog, searchPath: ['public'] });
      assert.match(a.unsupported ?? '', /clause of WITH query r names column [xy], whose values the gateway cannot follow/, sql);
    }
  });
});

describe('a whole row in a predicate is a use of each of its columns', () => {
  const C = 'customers';
  const every = (how: string) => ['id', 'name', 'email', 'phone', 'ssn'].map((x) => `${how.split(' ')[0]} ${C}.${x}${how.includes(' ') ? how.slice(how.indexOf(' ')) : ''}`);
  const cases: [string, string, string[]][] = [
    ['cast to text and matched with LIKE: each column inside an expression, and matched by LIKE', "SELECT id FROM customers c WHERE c::text LIKE '%9)'", [...every('filter'), ...every('filter like')]],
    ['a whole-row star cast to text', "SELECT id FROM customers c WHERE (c.*)::text ~ '4729'", [...every('filter'), ...every('filter ~')]],
    ['compared with a row value: each column under the comparison', "SELECT id FROM customers c WHERE c >= ROW(5, 'a', 'b', 'c', 'd')::customers", every('filter >=')],
    ['compared by equality: each column by equality', "SELECT id FROM customers c WHERE c = ROW(5, 'a', 'b', 'c', 'd')::customers", every('filter =')],
    ['a derived table\'s row compared as a record: its column under the comparison', "SELECT count(*) FROM (SELECT ssn FROM customers WHERE id = 2) d WHERE d >= ROW('9'::text)", [`filter ${C}.id =`, `filter ${C}.ssn >=`]],
    ['a derived row of computed columns: each source inside an expression', "SELECT 1 FROM (SELECT substr(ssn, 1, 1) AS s FROM customers) d WHERE d = ROW('9'::text)", [`filter ${C}.ssn`]],
    ['a derived row IN a subquery', "SELECT count(*) FROM (SELECT ssn FROM customers) d WHERE d IN (SELECT ROW('901-37-4729'::text))", [`filter ${C}.ssn in`]],
    ['passed to a function: each column inside it', "SELECT id FROM customers c WHERE concat(c) LIKE '%9)'", [...every('filter concat'), ...every('filter like')]],
    ['a function of the row as text', "SELECT id FROM customers c WHERE strpos(c::text, '-37-') > 0", [...every('filter'), ...every('filter strpos')]],
    ['its length', 'SELECT id FROM customers c WHERE length(c::text) > 70', every('filter')],
    ['in a join condition', "SELECT 1 FROM customers c JOIN (VALUES ('x')) v(x) ON c::text LIKE v.x", [...every('join'), ...every('join like')]],
    ['in a CASE inside WHERE', "SELECT id FROM customers c WHERE CASE WHEN c::text LIKE '%9)' THEN true ELSE false END", [...every('filter'), ...every('filter like')]],
    ['in an aggregate FILTER', "SELECT count(*) FILTER (WHERE c::text LIKE '%9)') FROM customers c", [...every('filter'), ...every('filter like')]],
    ['in EXISTS', "SELECT 1 FROM orders o WHERE EXISTS (SELECT 1 FROM customers c WHERE c.id = o.customer_id AND c::text LIKE '%1)')", [`filter ${C}.id =`, 'filter orders.customer_id =', ...every('filter'), ...every('filter like')]],
    ['IS NULL of a row: each column IS NULL', 'SELECT 1 FROM customers c WHERE c IS NULL', every('filter is null')],
    ['a relation the catalog does not know: all of its columns (`*`)', "SELECT 1 FROM nosuch u WHERE u::text LIKE 'x'", ['filter nosuch.u', 'filter nosuch.*', 'filter nosuch.u like', 'filter nosuch.* like']],
  ];
  for (const [name, sql, want] of cases) it(name, () => assert.deepEqual(usesOf(sql).sort(), [...want].sort()));
});

describe('a field of a whole row is used as the column it selects', () => {
  const C = 'customers';
  const cases: [string, string, string[]][] = [
    ['(c).ssn LIKE is ssn with LIKE', "SELECT count(*) FROM customers c WHERE (c).ssn LIKE '901%'", [`filter ${C}.ssn like`]],
    ['(c.*).email > is email with >', "SELECT count(*) FROM customers c WHERE (c.*).email > 'm'", [`filter ${C}.email >`]],
    ['(c).email = is email with =, as c.email = is', "SELECT id FROM customers c WHERE (c).email = 'x' AND c.email = 'x'", [`filter ${C}.email =`]],
    ['(c).id = uses no other column of the row', 'SELECT id FROM customers c WHERE (c).id = 1', [`filter ${C}.id =`]],
    ['a function of a field is the column inside that function', "SELECT v.x FROM customers c JOIN (VALUES ('9')) v(x) ON substr((c).ssn, 1, 1) = v.x", [`join ${C}.ssn substr`]],
    ['a field of a derived row', "SELECT 1 FROM (SELECT ssn AS s FROM customers) d WHERE (d).s LIKE '9%'", [`filter ${C}.ssn like`]],
  ];
  for (const [name, sql, want] of cases) it(name, () => assert.deepEqual(usesOf(sql).sort(), [...want].sort()));
});
