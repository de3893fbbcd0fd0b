/**
 * statementRefusal, table-driven over real analyses (fixture catalog): which flows of masked
 * columns are refused for which identity, what `allow_flows` and `filter: allow` open, and that
 * ordinary queries on masked columns still pass.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { analyse, loadParser } from '../sql/index.ts';
import { testCatalog } from '../sql/fixture.ts';
import { flowRefusal, statementRefusal } from './flows.ts';
import { identity, scopeOf } from './test-builders.ts';
import type { MaskingScope } from './types.ts';

const catalog = testCatalog();

before(async () => {
  await loadParser();
});

/** The demo's rules, plus a rule that opens some flows and one that applies only to analysts. */
const RULES = {
  rules: [
    { column: 'public.customers.email', with: 'email' as const, except: { groups: ['support'] } },
    { column: 'public.customers.phone', with: 'partial' as const, options: { keep_last: 2 } },
    { column: 'public.customers.ssn', with: 'redact' as const, filter: 'deny' as const },
    { column: 'public.customers.name', with: 'redact' as const, allow_flows: ['order' as const, 'aggregate' as const, 'limit' as const, 'write' as const] },
    { column: 'public.orders.status', with: 'redact' as const, filter: 'allow' as const, only: { groups: ['analysts'] } },
  ],
};
const analyst = scopeOf(RULES, identity('analyst', ['analysts']));
const support = scopeOf(RULES, identity('support-bot', ['support']));

function verdict(scope: MaskingScope, sql: string): string | null {
  for (const a of analyse(sql, { catalog, searchPath: ['public'] })) {
    const r = statementRefusal(scope, a);
    if (r) return r;
  }
  return null;
}

describe('statementRefusal: flows of masked columns are refused, naming the column and the position', () => {
  const refused: [string, string, RegExp][] = [
    ['LIMIT', 'SELECT 1 LIMIT (SELECT ascii(substr(ssn, 1, 1)) FROM customers WHERE id = 1)', /^pgwarden: analyst may not use masked column public\.customers\.ssn in LIMIT: .*allow_flows: \[limit\]/],
    ['a set-returning function', 'SELECT count(*) FROM (SELECT generate_series(1, length(email)) FROM customers) x', /masked column public\.customers\.email in the arguments of set-returning function generate_series\(\)/],
    ['a CASE condition', "SELECT count(CASE WHEN phone = '+1' THEN 1 END) FROM customers", /masked column public\.customers\.phone in a condition \(CASE WHEN\)/],
    ['AND in the output (it decides whether the rest runs)', "SELECT (email = 'x') AND 1 / (id - id) = 1 FROM customers", /masked column public\.customers\.email in a condition \(AND\)/],
    ['an aggregate', 'SELECT max(email) FROM customers', /masked column public\.customers\.email in aggregate max\(\)/],
    ['a window function', 'SELECT first_value(email) OVER (ORDER BY id) FROM customers', /masked column public\.customers\.email in a window function \(first_value\(\)\)/],
    ['DISTINCT', 'SELECT DISTINCT phone FROM customers', /masked column public\.customers\.phone in SELECT DISTINCT/],
    ['INTERSECT', "SELECT substr(email, 1, 1) FROM customers INTERSECT SELECT 'a'", /masked column public\.customers\.email in INTERSECT/],
    ['a cast that fails on the value', 'SELECT email::regclass FROM customers', /masked column public\.customers\.email in cast to regclass, which can fail on the value/],
    ['division', 'SELECT 1 / (ascii(email) - 97) FROM customers', /masked column public\.customers\.email in operator -/],
    ['a setting', "SELECT set_config('application_name', email, false) FROM customers", /masked column public\.customers\.email in a setting/],
    ['a write elsewhere', 'UPDATE orders SET status = (SELECT ssn FROM customers WHERE id = 1)', /masked column public\.customers\.ssn in a write to public\.orders\.status/],
    ['a write back into its own column (it can fail a constraint there)', 'UPDATE customers SET ssn = upper(ssn) WHERE id = 1', /masked column public\.customers\.ssn in a write to public\.customers\.ssn/],
    ['CREATE TABLE AS (checked in the contained query too)', 'CREATE TABLE t AS SELECT email FROM customers', /masked column public\.customers\.email in a write to public\.t\.email/],
    ['PREPARE of a flow', 'PREPARE p AS SELECT sqrt(ascii(ssn)) FROM customers', /masked column public\.customers\.ssn in sqrt\(\)/],
    ['DECLARE of a flow', 'DECLARE c CURSOR FOR SELECT min(ssn) FROM customers', /masked column public\.customers\.ssn in aggregate min\(\)/],
    ['EXPLAIN ANALYZE of a flow', 'EXPLAIN ANALYZE SELECT ssn::int FROM customers', /masked column public\.customers\.ssn in cast to int4/],
    ['a parameter of EXECUTE, whatever the rule', 'EXECUTE p((SELECT name FROM customers LIMIT 1))', /masked column public\.customers\.name as a parameter of EXECUTE$/],
    ['ORDER BY an alias under equality', 'SELECT reverse(email) AS r FROM customers ORDER BY r', /may not order by masked column public\.customers\.email/],
    ['GROUP BY a position under deny', 'SELECT substr(ssn, 1, 1) FROM customers GROUP BY 1', /may not group by masked column public\.customers\.ssn/],
    ['a filter through a derived table', "SELECT 1 FROM (SELECT ssn AS s FROM customers) x WHERE s LIKE '9%'", /may not filter on masked column public\.customers\.ssn with LIKE/],
    ['NULLIF under deny (an equality test)', "SELECT nullif(ssn, '123-45-6789') FROM customers", /may not filter on masked column public\.customers\.ssn with =/],
    ['count of NULLIF of a part', "SELECT count(nullif(substr(ssn, 1, 1), '9')) FROM customers", /masked column public\.customers\.ssn/],
    ['a whole row as text matched in WHERE', "SELECT id FROM customers c WHERE c::text LIKE '%9)'", /may not filter on masked column public\.customers\.(name|email|phone|ssn) inside an expression/],
    ['a whole row compared with a row value (each column under >=)', "SELECT id FROM customers c WHERE c >= ROW(5, 'a', 'm', '', '')::customers", /may not filter on masked column public\.customers\.(name|email|phone|ssn) with >=/],
    ['a derived table\'s row compared as a record', "SELECT count(*) FROM (SELECT email FROM customers) d WHERE d >= ROW('m'::text)", /may not filter on masked column public\.customers\.email with >=/],
    ['a whole row by equality, when one of its columns allows no filter', "SELECT id FROM customers c WHERE c = ROW(5, 'a', 'm', '', '')::customers", /may not filter on masked column public\.customers\.ssn with =/],
    ['a field of a whole row with LIKE, as the column with LIKE', "SELECT count(*) FROM customers c WHERE (c).email LIKE 'p%'", /may not filter on masked column public\.customers\.email with LIKE/],
    ['a field of a whole-row star under deny', "SELECT count(*) FROM customers c WHERE (c.*).ssn = '1'", /may not filter on masked column public\.customers\.ssn with =/],
    ['a whole row passed to a function in a join', "SELECT 1 FROM customers c JOIN (VALUES ('x')) v(x) ON concat(c) = v.x", /may not join on masked column public\.customers\.(name|email|phone|ssn) inside concat\(\)/],
    ['equality with a cut value through a derived table (a prefix test)', "SELECT 1 FROM (SELECT email::varchar(3) AS p FROM customers) d JOIN (VALUES ('per')) v(x) ON d.p = v.x", /may not join on masked column public\.customers\.email inside an expression/],
    ['equality with a cut value in a scalar subquery', "SELECT count(*) FROM customers c WHERE (SELECT c.email::char(3)) = 'per'", /may not filter on masked column public\.customers\.email inside an expression/],
    ['IN a CTE of a cut value', "WITH d AS (SELECT CAST(phone AS varchar(4)) AS p FROM customers) SELECT 1 WHERE '+1-5' IN (SELECT p FROM d)", /may not filter on masked column public\.customers\.phone inside an expression/],
    ['equality with a value cast to another type through a derived table', "SELECT 1 FROM (SELECT email::name AS e FROM customers) d WHERE d.e = 'x'", /may not filter on masked column public\.customers\.email inside an expression/],
  ];
  for (const [name, sql, re] of refused) it(`refused: ${name}`, () => assert.match(verdict(analyst, sql) ?? 'allowed', re, sql));

  const allowed: [string, string][] = [
    ['selecting masked columns (they come back masked)', 'SELECT id, email, phone, ssn FROM customers'],
    ['a field of a whole row compared by equality, as the column would be', "SELECT id FROM customers c WHERE (c).email = 'x' AND (c.*).email IN ('y', 'z')"],
    ['a field of a whole row that is not masked', "SELECT id FROM customers c WHERE (c).id > 3 AND (c).id::text LIKE '1%'"],
    ['a cast to text without a length, compared through a derived table', "SELECT 1 FROM (SELECT email::varchar AS e FROM customers) d WHERE d.e = 'x'"],
    ['an equality lookup under equality', 'SELECT id FROM customers WHERE email = $1'],
    ['count of the plain column', 'SELECT count(ssn), count(DISTINCT email) FROM customers'],
    ['a join on unmasked keys', 'SELECT c.id, o.total FROM customers c JOIN orders o ON o.customer_id = c.id'],
    ['safe functions in the output', "SELECT lower(email), substr(ssn, 1, 3), ssn::varchar(20), email || '' FROM customers"],
    ['UNION ALL', 'SELECT email FROM customers UNION ALL SELECT email FROM customers'],
    ['a constant LIMIT', 'SELECT ssn FROM customers LIMIT 5'],
    ['allow_flows: order, aggregate, limit, write open those', "SELECT max(name) FROM customers; SELECT name FROM customers ORDER BY name; SELECT 1 LIMIT (SELECT length(name) FROM customers LIMIT 1); UPDATE orders SET status = (SELECT name FROM customers LIMIT 1)"],
    ['filter: allow opens predicates and DISTINCT', "SELECT DISTINCT status FROM orders WHERE status LIKE 'o%' ORDER BY status"],
  ];
  for (const [name, sql] of allowed) it(`allowed: ${name}`, () => assert.equal(verdict(analyst, sql), null));

  it('allow_flows opens only what it names', () => {
    assert.match(verdict(analyst, 'SELECT DISTINCT name FROM customers') ?? '', /public\.customers\.name in SELECT DISTINCT/);
    assert.match(verdict(analyst, 'SELECT name::int FROM customers') ?? '', /public\.customers\.name in cast to int4/);
  });

  it('DISTINCT inside an aggregate is an equality use: refused under deny, allowed under equality', () => {
    for (const sql of [
      'SELECT count(DISTINCT ssn) FROM customers WHERE id IN (2, 3)',
      "SELECT count(DISTINCT s) FROM (SELECT ssn AS s FROM customers WHERE id = 1 UNION ALL SELECT '900-00-0000') d",
      "SELECT id FROM orders LIMIT (SELECT count(DISTINCT s) FROM (SELECT ssn AS s FROM customers UNION ALL SELECT 'x') d)",
      'SELECT count(*) FROM (SELECT array_agg(DISTINCT ssn) AS a FROM customers) d',
    ]) assert.match(verdict(analyst, sql) ?? 'allowed', /^pgwarden: analyst may not filter on masked column public\.customers\.ssn with =: its masking rule allows no filtering/, sql);
    assert.equal(verdict(analyst, "SELECT count(DISTINCT email), count(DISTINCT phone) FROM customers"), null);
    assert.equal(verdict(analyst, "SELECT id FROM orders LIMIT (SELECT count(DISTINCT email) FROM customers)"), null);
    assert.match(verdict(analyst, 'SELECT count(DISTINCT lower(email)) FROM customers') ?? 'allowed', /may not filter on masked column public\.customers\.email inside an expression/);
  });

  it('a pattern or search function of a masked value is a predicate on it, in the output list too', () => {
    assert.match(verdict(analyst, "SELECT length(replace(regexp_replace(ssn, '^901', repeat('Q', 3000)), 'Q', repeat('Q', 3000))) FROM customers WHERE id = 1") ?? 'allowed', /may not filter on masked column public\.customers\.ssn inside regexp_replace\(\): its masking rule allows no filtering/);
    assert.match(verdict(analyst, "SELECT replace(email, 'a', 'b') FROM customers") ?? 'allowed', /may not filter on masked column public\.customers\.email inside replace\(\); only equality lookups/);
    assert.match(verdict(analyst, "SELECT strpos(upper(phone), '55') FROM customers") ?? 'allowed', /public\.customers\.phone inside strpos\(\)/);
    assert.match(verdict(analyst, "SELECT email ~ '^a' FROM customers") ?? 'allowed', /may not filter on masked column public\.customers\.email with ~/);
    assert.equal(verdict(analyst, "SELECT lower(email), length(ssn), substr(phone, 1, 3), btrim(email) FROM customers"), null, 'value-preserving functions as before');
    assert.equal(verdict(analyst, "SELECT regexp_replace(status, '^o', 'x') FROM orders"), null, 'filter: allow allows matching');
    assert.equal(verdict(support, "SELECT replace(email, '@', ' at ') FROM customers"), null, 'a column not masked for this identity');
  });

  it('SEARCH and CYCLE clauses use their columns and carry their values', () => {
    const rec = (col: string, clause: string, main: string) => `WITH RECURSIVE r(x) AS (SELECT ${col} FROM customers WHERE id = 1 UNION ALL SELECT x FROM r WHERE false) ${clause} ${main}`;
    assert.match(verdict(analyst, rec('ssn', 'CYCLE x SET cyc USING p', 'SELECT count(*) FROM r')) ?? 'allowed', /may not filter on masked column public\.customers\.ssn with =/);
    assert.match(verdict(analyst, rec('email', 'SEARCH DEPTH FIRST BY x SET o', 'SELECT x FROM r ORDER BY o')) ?? 'allowed', /may not order by masked column public\.customers\.email/);
    assert.match(verdict(analyst, rec('email', 'CYCLE x SET cyc USING p', 'UPDATE orders SET status = (SELECT p::text FROM r) WHERE id = 1')) ?? 'allowed', /masked column public\.customers\.email in a write to public\.orders\.status/);
    assert.match(verdict(analyst, rec('phone', 'CYCLE x SET cyc USING p', 'SELECT p FROM r')) ?? 'allowed', /public\.customers\.phone/, 'the path packs the values: refused as a packed value');
    assert.equal(verdict(analyst, rec('email', 'CYCLE x SET cyc USING p', 'SELECT x, cyc FROM r')), null, 'equality detection of an equality column, its values masked');
  });

  it('filter: allow does not open the error channel', () => {
    assert.match(verdict(analyst, 'SELECT 1 FROM orders WHERE status::regclass IS NOT NULL') ?? '', /public\.orders\.status in cast to regclass/);
  });

  it('masked is per identity: a column a rule does not mask for this identity flows freely', () => {
    assert.equal(verdict(support, 'SELECT max(email) FROM customers'), null);
    assert.equal(verdict(support, 'UPDATE orders SET status = (SELECT email FROM customers WHERE id = 1)'), null);
    assert.equal(verdict(support, 'SELECT 1 FROM orders WHERE status::int > 0'), null, 'the status rule is only for analysts');
    assert.match(verdict(support, 'SELECT max(ssn) FROM customers') ?? '', /^pgwarden: support-bot may not use masked column public\.customers\.ssn in aggregate max\(\)/);
  });

  it('columns the catalog does not know (`*`) of a relation with masked columns are refused', () => {
    const flow = { source: { schema: 'public', table: 'customers', column: '*' }, sink: 'aggregate' as const, detail: 'max()' };
    assert.match(flowRefusal(analyst, [flow]) ?? '', /may not use the columns of public\.customers in aggregate max\(\).*; the gateway does not know its columns/);
    assert.equal(flowRefusal(analyst, [{ ...flow, source: { schema: 'public', table: 'audit', column: '*' } }]), null);
  });

  it('an identity with no rules in force is never refused', () => {
    const none = scopeOf({ rules: [] });
    assert.equal(flowRefusal(none, [{ source: { schema: 'public', table: 'customers', column: 'ssn' }, sink: 'function', detail: 'sqrt()' }]), null);
  });
});
