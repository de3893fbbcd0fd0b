/**
 * Output-column provenance: for every shape a query can give a column, the label PostgreSQL gives
 * it, the base columns whose values flow into it and how (`column`, `expression`, `aggregate`,
 * `opaque`), as the masking engine reads them. Each output is written `name: derivation sources…`
 * with the sources sorted; `null` means the statement has no outputs.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { testCatalog } from './fixture.ts';
import { analyse, loadParser, type StatementAnalysis } from './index.ts';
import type { OutputColumn } from './types.ts';

before(async () => {
  await loadParser();
});

const catalog = testCatalog();

/** `name: derivation schema.table.column …` (sources sorted). */
function fmt(o: OutputColumn): string {
  const src = o.sources.map((s) => `${s.schema}.${s.table}.${s.column}`).sort();
  return `${o.name}: ${o.derivation}${src.length > 0 ? ` ${src.join(' ')}` : ''}`;
}

function fmtAll(outs: OutputColumn[] | undefined): string[] | null {
  return outs === undefined ? null : outs.map(fmt);
}

interface Case {
  name: string;
  sql: string;
  path?: string[];
  /** The statement's outputs; null: none. */
  outputs: string[] | null;
  /** The contained statement's outputs (PREPARE, DECLARE, EXPLAIN, CREATE TABLE AS). */
  inner?: string[] | null;
}

const C = 'public.customers';
const O = 'public.orders';
const A = 'public.audit';
const ALL = `${C}.email ${C}.id ${C}.name ${C}.phone ${C}.ssn`;
/** The source of a value computed by user code. */
const ANY = '*.*.*';
const STAR = [`id: column ${C}.id`, `name: column ${C}.name`, `email: column ${C}.email`, `phone: column ${C}.phone`, `ssn: column ${C}.ssn`];

const cases: Case[] = [
  // ── columns, as they are ─────────────────────────────────────────────────────────────────────
  { name: 'a column is itself', sql: 'SELECT ssn FROM customers', outputs: [`ssn: column ${C}.ssn`] },
  { name: 'an alias renames, the source stays', sql: 'SELECT ssn AS x FROM customers', outputs: [`x: column ${C}.ssn`] },
  { name: 'a qualified column', sql: 'SELECT c.ssn, c.id FROM customers c', outputs: [`ssn: column ${C}.ssn`, `id: column ${C}.id`] },
  { name: 'a schema-qualified column', sql: 'SELECT public.customers.ssn FROM public.customers', outputs: [`ssn: column ${C}.ssn`] },
  { name: 'search_path decides which customers', sql: 'SELECT api_key, name FROM customers', path: ['app', 'public'], outputs: ['api_key: column app.customers.api_key', 'name: column app.customers.name'] },
  { name: 'a quoted mixed-case table', sql: 'SELECT secret FROM "Customers"', outputs: [`secret: column public.Customers.secret`] },
  { name: 'a view is its own source', sql: 'SELECT email FROM customer_emails', outputs: ['email: column public.customer_emails.email'] },
  { name: 'a column under COLLATE stays a column', sql: 'SELECT ssn COLLATE "C" FROM customers', outputs: [`ssn: column ${C}.ssn`] },
  { name: 'joined tables each give their columns', sql: 'SELECT c.email, o.total FROM customers c JOIN orders o ON o.customer_id = c.id', outputs: [`email: column ${C}.email`, `total: column ${O}.total`] },
  { name: 'a column from FOR UPDATE', sql: 'SELECT ssn FROM customers FOR UPDATE', outputs: [`ssn: column ${C}.ssn`] },

  // ── stars ────────────────────────────────────────────────────────────────────────────────────
  { name: '* is every column, one output each', sql: 'SELECT * FROM customers', outputs: STAR },
  { name: 'TABLE t is every column', sql: 'TABLE customers', outputs: STAR },
  { name: 't.* is t\'s columns only', sql: 'SELECT o.*, c.ssn FROM customers c JOIN orders o ON o.customer_id = c.id', outputs: [`id: column ${O}.id`, `customer_id: column ${O}.customer_id`, `status: column ${O}.status`, `total: column ${O}.total`, `ssn: column ${C}.ssn`] },
  { name: '* and a column', sql: 'SELECT *, lower(ssn) FROM customers', outputs: [...STAR, `lower: expression ${C}.ssn`] },
  { name: 'alias column names rename by position', sql: 'SELECT * FROM customers AS c(a, b)', outputs: [`a: column ${C}.id`, `b: column ${C}.name`, ...STAR.slice(2)] },
  { name: 'JOIN USING lists the merged column once, first', sql: 'SELECT * FROM customers JOIN orders USING (id)', outputs: [`id: column ${C}.id ${O}.id`, ...STAR.slice(1), `customer_id: column ${O}.customer_id`, `status: column ${O}.status`, `total: column ${O}.total`] },
  { name: 'NATURAL JOIN merges the common columns', sql: 'SELECT * FROM customers NATURAL JOIN orders', outputs: [`id: column ${C}.id ${O}.id`, ...STAR.slice(1), `customer_id: column ${O}.customer_id`, `status: column ${O}.status`, `total: column ${O}.total`] },
  { name: 'an XMLTABLE without an alias is named xmltable', sql: "SELECT xmltable.* FROM customers c, XMLTABLE('/r' PASSING (c.email::xml) COLUMNS v text PATH 'v')", outputs: [`v: expression ${C}.email`] },
  { name: 'a USING alias names the merged column', sql: 'SELECT x.id, c.email FROM customers c JOIN orders o USING (id) AS x', outputs: [`id: column ${C}.id ${O}.id`, `email: column ${C}.email`] },
  { name: 'a USING alias\'s star lists only the merged columns', sql: 'SELECT x.* FROM customers c JOIN customers d USING (email, ssn) AS x', outputs: [`email: column ${C}.email`, `ssn: column ${C}.ssn`] },
  { name: 'a USING alias as a whole row holds the merged columns', sql: 'SELECT row_to_json(x) FROM customers c JOIN customers d USING (ssn) AS x', outputs: [`row_to_json: opaque ${C}.ssn`] },
  { name: 'a USING alias leaves the joined tables visible', sql: 'SELECT customers.name, x.id FROM customers JOIN orders USING (id) AS x WHERE x.id = 1', outputs: [`name: column ${C}.name`, `id: column ${C}.id ${O}.id`] },
  { name: 'an aliased join\'s star', sql: 'SELECT j.* FROM (customers JOIN orders USING (id)) j', outputs: [`id: column ${C}.id ${O}.id`, ...STAR.slice(1), `customer_id: column ${O}.customer_id`, `status: column ${O}.status`, `total: column ${O}.total`] },
  { name: 'a view\'s star', sql: 'SELECT * FROM customer_emails', outputs: ['id: column public.customer_emails.id', 'email: column public.customer_emails.email'] },
  { name: 'an unknown relation\'s star stands for all its columns', sql: 'SELECT * FROM nosuch', outputs: ['*: opaque public.nosuch.*'] },
  { name: 'an unknown relation\'s star beside known columns', sql: 'SELECT * FROM nosuch n, orders', outputs: ['*: opaque public.nosuch.*', `id: column ${O}.id`, `customer_id: column ${O}.customer_id`, `status: column ${O}.status`, `total: column ${O}.total`] },

  // ── expressions ──────────────────────────────────────────────────────────────────────────────
  { name: 'lower(email) is computed from email', sql: 'SELECT lower(email) FROM customers', outputs: [`lower: expression ${C}.email`] },
  { name: "email || '' is computed", sql: "SELECT email || '' FROM customers", outputs: [`?column?: expression ${C}.email`] },
  { name: 'substr(ssn, 1, 3) is computed', sql: 'SELECT substr(ssn, 1, 3) FROM customers', outputs: [`substr: expression ${C}.ssn`] },
  { name: 'nested functions', sql: 'SELECT upper(lower(email)) AS e FROM customers', outputs: [`e: expression ${C}.email`] },
  { name: 'concat of two columns', sql: 'SELECT concat(name, phone) FROM customers', outputs: [`concat: expression ${C}.name ${C}.phone`] },
  { name: 'arithmetic and unary minus', sql: 'SELECT total * 2, -total FROM orders', outputs: [`?column?: expression ${O}.total`, `?column?: expression ${O}.total`] },
  { name: 'a comparison reveals its column', sql: "SELECT ssn LIKE '1%', ssn IS NULL, NOT (id > 1) FROM customers", outputs: [`?column?: expression ${C}.ssn`, `?column?: expression ${C}.ssn`, `?column?: expression ${C}.id`] },
  { name: 'a user function of a column is computed', sql: 'SELECT mask_ssn(ssn), public.mask_ssn(ssn) FROM customers', outputs: [`mask_ssn: expression ${ANY} ${C}.ssn`, `mask_ssn: expression ${ANY} ${C}.ssn`] },
  { name: 'constants, parameters and session values hold no data', sql: "SELECT 1, 'a' || 'b', $1, current_user, now()", outputs: ['?column?: expression', '?column?: expression', '?column?: expression', 'current_user: expression', 'now: expression'] },
  { name: 'a composite field of a column is computed from it', sql: 'SELECT (c.ssn).part FROM customers c', outputs: [`part: expression ${C}.ssn`] },
  { name: 'a subscript is computed', sql: 'SELECT (string_to_array(ssn, \'-\'))[1] FROM customers', outputs: [`string_to_array: expression ${C}.ssn`] },

  // ── casts ────────────────────────────────────────────────────────────────────────────────────
  { name: 'a cast of a column to text is the column, named after it', sql: 'SELECT ssn::text, CAST(email AS varchar), phone::bpchar FROM customers', outputs: [`ssn: column ${C}.ssn`, `email: column ${C}.email`, `phone: column ${C}.phone`] },
  {
    name: 'a cast that can change the value is computed from the column (a length cuts it, a type modifier rounds it, another type converts it)',
    sql: 'SELECT CAST(email AS varchar(3)), phone::char(4), phone::char, ssn::character(2), ssn::"char", ssn::name, ssn::bit(2), ssn::numeric(3, 1), ssn::timestamp(0), ssn::interval hour, ssn::int, ssn::varchar[] FROM customers',
    outputs: [`email: expression ${C}.email`, `phone: expression ${C}.phone`, `phone: expression ${C}.phone`, ...['ssn', 'ssn', 'ssn', 'ssn', 'ssn', 'ssn', 'ssn', 'ssn', 'ssn'].map((x) => `${x}: expression ${C}.ssn`)],
  },
  { name: 'a cast of a constant is named after the type', sql: "SELECT '1'::int, $1::text", outputs: ['int4: expression', 'text: expression'] },
  { name: 'a cast of an expression stays an expression', sql: 'SELECT lower(ssn)::text FROM customers', outputs: [`lower: expression ${C}.ssn`] },
  { name: 'a whole row cast to text is opaque', sql: 'SELECT c::text FROM customers c', outputs: [`c: opaque ${ALL}`] },
  { name: 'c.*::text is the row as one value', sql: 'SELECT c.*::text FROM customers c', outputs: [`c: opaque ${ALL}`] },

  // ── CASE, COALESCE, NULLIF, GREATEST, LEAST ─────────────────────────────────────────────────
  { name: 'CASE over columns with data-free conditions is those columns', sql: 'SELECT CASE WHEN $1 THEN ssn ELSE email END FROM customers', outputs: [`email: column ${C}.email ${C}.ssn`] },
  { name: 'CASE without ELSE is named case', sql: 'SELECT CASE WHEN $1 THEN ssn END FROM customers', outputs: [`case: column ${C}.ssn`] },
  { name: 'CASE whose condition reads a column is an expression of it', sql: 'SELECT CASE WHEN id > 1 THEN ssn ELSE email END AS v FROM customers', outputs: [`v: expression ${C}.email ${C}.id ${C}.ssn`] },
  { name: 'CASE over a sensitive condition reveals it', sql: "SELECT CASE WHEN ssn LIKE '1%' THEN 'a' ELSE 'b' END FROM customers", outputs: [`case: expression ${C}.ssn`] },
  { name: 'simple CASE compares its operand', sql: "SELECT CASE status WHEN 'open' THEN 1 END FROM orders", outputs: [`case: expression ${O}.status`] },
  { name: 'CASE on an aggregate condition picks columns', sql: 'SELECT CASE WHEN count(*) > 1 THEN max(ssn) END FROM customers', outputs: [`case: column ${C}.ssn`] },
  { name: 'COALESCE of columns is those columns', sql: 'SELECT coalesce(ssn, email), coalesce(ssn, \'none\') FROM customers', outputs: [`coalesce: column ${C}.email ${C}.ssn`, `coalesce: column ${C}.ssn`] },
  { name: 'COALESCE of an expression is an expression', sql: 'SELECT coalesce(lower(ssn), email) FROM customers', outputs: [`coalesce: expression ${C}.email ${C}.ssn`] },
  { name: 'NULLIF against a constant is the column', sql: "SELECT nullif(ssn, '') FROM customers", outputs: [`nullif: column ${C}.ssn`] },
  { name: 'NULLIF against a column compares them', sql: 'SELECT nullif(ssn, email) FROM customers', outputs: [`nullif: expression ${C}.email ${C}.ssn`] },
  { name: 'GREATEST and LEAST pick a column', sql: 'SELECT greatest(ssn, email), least(phone, \'z\') FROM customers', outputs: [`greatest: column ${C}.email ${C}.ssn`, `least: column ${C}.phone`] },

  // ── whole rows, records, JSON, arrays, strings ───────────────────────────────────────────────
  { name: 'SELECT c FROM customers c is the whole row, opaque', sql: 'SELECT c FROM customers c', outputs: [`c: opaque ${ALL}`] },
  { name: 'a table name as a value is its row', sql: 'SELECT customers FROM customers', outputs: [`customers: opaque ${ALL}`] },
  { name: 'row_to_json(c)', sql: 'SELECT row_to_json(c) FROM customers c', outputs: [`row_to_json: opaque ${ALL}`] },
  { name: 'to_jsonb(c.*)', sql: 'SELECT to_jsonb(c.*) FROM customers c', outputs: [`to_jsonb: opaque ${ALL}`] },
  { name: 'to_json of one column packs it', sql: 'SELECT to_json(ssn) FROM customers', outputs: [`to_json: opaque ${C}.ssn`] },
  { name: 'json_agg(c)', sql: 'SELECT json_agg(c) FROM customers c', outputs: [`json_agg: opaque ${ALL}`] },
  { name: 'jsonb_agg of a column', sql: 'SELECT jsonb_agg(ssn ORDER BY id) FROM customers', outputs: [`jsonb_agg: opaque ${C}.ssn`] },
  { name: "string_agg(ssn, ',')", sql: "SELECT string_agg(ssn, ',') FROM customers", outputs: [`string_agg: opaque ${C}.ssn`] },
  { name: 'array_agg(ssn)', sql: 'SELECT array_agg(ssn) FROM customers', outputs: [`array_agg: opaque ${C}.ssn`] },
  { name: 'json_build_object and json_object_agg', sql: "SELECT json_build_object('s', ssn), json_object_agg(id, email) FROM customers GROUP BY ssn", outputs: [`json_build_object: opaque ${C}.ssn`, `json_object_agg: opaque ${C}.email ${C}.id`] },
  { name: 'SQL/JSON constructors and aggregates', sql: 'SELECT json_array(ssn), json_arrayagg(ssn), json_objectagg(id : email) FROM customers', outputs: [`json_array: opaque ${C}.ssn`, `json_arrayagg: opaque ${C}.ssn`, `json_objectagg: opaque ${C}.email ${C}.id`] },
  { name: 'xmlagg and xmlforest', sql: 'SELECT xmlagg(xmlforest(ssn)) FROM customers', outputs: [`xmlagg: opaque ${C}.ssn`] },
  { name: 'ROW(...) and ARRAY[...] pack their values', sql: 'SELECT ROW(ssn, id), ARRAY[ssn, phone] FROM customers', outputs: [`row: opaque ${C}.id ${C}.ssn`, `array: opaque ${C}.phone ${C}.ssn`] },
  { name: 'hstore(c) and format of a row', sql: "SELECT hstore(c), format('%s', c) FROM customers c", outputs: [`hstore: opaque ${ALL}`, `format: opaque ${ALL}`] },
  { name: 'a function taking a whole row is opaque', sql: 'SELECT customer_tier(c) FROM customers c', outputs: [`customer_tier: opaque ${ANY} ${ALL}`] },
  { name: 'functional notation c.f is f(c)', sql: 'SELECT c.customer_tier FROM customers c', outputs: [`customer_tier: opaque ${ANY} ${ALL}`] },
  { name: 'text of packed JSON stays opaque', sql: 'SELECT row_to_json(c)::text, lower(to_json(c)::text) FROM customers c', outputs: [`row_to_json: opaque ${ALL}`, `lower: opaque ${ALL}`] },
  { name: '(c).ssn is the column ssn', sql: 'SELECT (c).ssn FROM customers c', outputs: [`ssn: column ${C}.ssn`] },
  { name: '(c).* expands to the columns', sql: 'SELECT (c).* FROM customers c', outputs: STAR },
  { name: 'c.* in a target list expands', sql: 'SELECT c.* FROM customers c', outputs: STAR },
  { name: 'a subquery\'s row is its outputs packed', sql: 'SELECT s FROM (SELECT ssn, lower(email) AS e FROM customers) s', outputs: [`s: opaque ${C}.email ${C}.ssn`] },
  { name: 'a field of a subquery\'s row', sql: 'SELECT (s).e FROM (SELECT ssn, lower(email) AS e FROM customers) s', outputs: [`e: expression ${C}.email`] },

  // ── aggregates ───────────────────────────────────────────────────────────────────────────────
  { name: 'count(ssn), count(*), count(distinct ssn) reveal no value', sql: 'SELECT count(ssn), count(*), count(DISTINCT ssn) FROM customers', outputs: [`count: aggregate ${C}.ssn`, 'count: aggregate', `count: aggregate ${C}.ssn`] },
  { name: 'count of a whole row', sql: 'SELECT count(c.*) FROM customers c', outputs: [`count: aggregate ${ALL}`] },
  { name: 'arithmetic on counts is still an aggregate', sql: 'SELECT count(ssn) + 1 AS n FROM customers', outputs: [`n: aggregate ${C}.ssn`] },
  { name: 'min / max return a source value', sql: 'SELECT min(ssn), max(email) FROM customers', outputs: [`min: column ${C}.ssn`, `max: column ${C}.email`] },
  { name: 'max of an expression is the expression', sql: 'SELECT max(lower(ssn)) FROM customers', outputs: [`max: expression ${C}.ssn`] },
  { name: 'sum / avg compute from the column', sql: 'SELECT sum(total), avg(total), stddev(total) FROM orders', outputs: [`sum: expression ${O}.total`, `avg: expression ${O}.total`, `stddev: expression ${O}.total`] },
  { name: 'GROUP BY with HAVING', sql: 'SELECT ssn, count(*) FROM customers GROUP BY ssn HAVING count(*) > 1', outputs: [`ssn: column ${C}.ssn`, 'count: aggregate'] },
  { name: 'ordered-set aggregates', sql: 'SELECT mode() WITHIN GROUP (ORDER BY email), percentile_disc(0.5) WITHIN GROUP (ORDER BY ssn), percentile_cont(0.5) WITHIN GROUP (ORDER BY total) FROM customers, orders', outputs: [`mode: column ${C}.email`, `percentile_disc: column ${C}.ssn`, `percentile_cont: expression ${O}.total`] },
  { name: 'GROUPING() holds no data', sql: 'SELECT grouping(ssn) FROM customers GROUP BY ROLLUP (ssn)', outputs: ['grouping: expression'] },

  // ── window functions ─────────────────────────────────────────────────────────────────────────
  { name: 'row_number() and rank() hold no data', sql: 'SELECT row_number() OVER (), rank() OVER (ORDER BY ssn) FROM customers', outputs: ['row_number: expression', 'rank: expression'] },
  { name: 'lag / lead / first_value return their argument', sql: 'SELECT lag(ssn) OVER w, lead(ssn, 1, email) OVER w, first_value(phone) OVER w, nth_value(name, 2) OVER w FROM customers WINDOW w AS (ORDER BY id)', outputs: [`lag: column ${C}.ssn`, `lead: column ${C}.email ${C}.ssn`, `first_value: column ${C}.phone`, `nth_value: column ${C}.name`] },
  { name: 'aggregates over a window', sql: 'SELECT count(ssn) OVER (), sum(total) OVER (PARTITION BY status) FROM orders, customers', outputs: [`count: aggregate ${C}.ssn`, `sum: expression ${O}.total`] },

  // ── subqueries ───────────────────────────────────────────────────────────────────────────────
  { name: 'a scalar subquery returning a column is that column', sql: 'SELECT (SELECT ssn FROM customers LIMIT 1)', outputs: [`ssn: column ${C}.ssn`] },
  { name: 'a scalar subquery is named after its output', sql: 'SELECT (SELECT lower(email) AS e FROM customers LIMIT 1)', outputs: [`e: expression ${C}.email`] },
  { name: 'a correlated scalar subquery', sql: 'SELECT o.id, (SELECT c.ssn FROM customers c WHERE c.id = o.customer_id) FROM orders o', outputs: [`id: column ${O}.id`, `ssn: column ${C}.ssn`] },
  { name: 'EXISTS holds no data', sql: 'SELECT EXISTS (SELECT 1 FROM customers WHERE ssn = $1)', outputs: ['exists: expression'] },
  { name: 'IN (subquery) compares values', sql: 'SELECT id IN (SELECT customer_id FROM orders) FROM customers', outputs: [`?column?: expression ${C}.id ${O}.customer_id`] },
  { name: 'ARRAY(subquery) packs', sql: 'SELECT ARRAY(SELECT ssn FROM customers)', outputs: [`array: opaque ${C}.ssn`] },
  { name: 'a subquery in FROM passes its provenance through', sql: 'SELECT s.x, s.n FROM (SELECT ssn AS x, count(*) AS n FROM customers GROUP BY ssn) s', outputs: [`x: column ${C}.ssn`, 'n: aggregate'] },
  { name: 'a subquery in FROM renamed by alias columns', sql: 'SELECT * FROM (SELECT ssn, lower(email) FROM customers) s(a, b)', outputs: [`a: column ${C}.ssn`, `b: expression ${C}.email`] },
  { name: 'LATERAL subquery over the outer row', sql: 'SELECT l.* FROM customers c, LATERAL (SELECT c.ssn, upper(c.email) AS u) l', outputs: [`ssn: column ${C}.ssn`, `u: expression ${C}.email`] },
  { name: 'nested derived tables', sql: 'SELECT y FROM (SELECT x AS y FROM (SELECT ssn AS x FROM customers) a) b', outputs: [`y: column ${C}.ssn`] },

  // ── CTEs ─────────────────────────────────────────────────────────────────────────────────────
  { name: 'a CTE passes its provenance through', sql: 'WITH x AS (SELECT ssn, lower(email) AS e FROM customers) SELECT * FROM x', outputs: [`ssn: column ${C}.ssn`, `e: expression ${C}.email`] },
  { name: 'a CTE with column names, and its whole row', sql: 'WITH x(a, b) AS (SELECT ssn, phone FROM customers) SELECT b, x FROM x', outputs: [`b: column ${C}.phone`, `x: opaque ${C}.phone ${C}.ssn`] },
  { name: 'a CTE used twice', sql: 'WITH x AS (SELECT ssn FROM customers) SELECT a.ssn, b.ssn FROM x a, x b', outputs: [`ssn: column ${C}.ssn`, `ssn: column ${C}.ssn`] },
  { name: 'a recursive CTE carries the base branch', sql: 'WITH RECURSIVE r(n, s) AS (SELECT 1, ssn FROM customers UNION ALL SELECT n + 1, s FROM r WHERE n < 3) SELECT s FROM r', outputs: [`s: column ${C}.ssn`] },
  { name: 'SEARCH DEPTH FIRST: the sequence column packs the BY columns', sql: 'WITH RECURSIVE r(x) AS (SELECT ssn FROM customers UNION ALL SELECT x FROM r WHERE false) SEARCH DEPTH FIRST BY x SET o SELECT o FROM r', outputs: [`o: opaque ${C}.ssn`] },
  { name: 'CYCLE: the mark is computed from the cycle columns, the path packs them', sql: 'WITH RECURSIVE r(x) AS (SELECT phone FROM customers UNION ALL SELECT x FROM r WHERE false) CYCLE x SET cyc USING p SELECT * FROM r', outputs: [`x: column ${C}.phone`, `cyc: expression ${C}.phone`, `p: opaque ${C}.phone`] },
  { name: 'SEARCH and CYCLE columns follow the CTE\'s own, in that order', sql: "WITH RECURSIVE r AS (SELECT ssn AS x FROM customers UNION ALL SELECT x FROM r) SEARCH BREADTH FIRST BY x SET o CYCLE x SET cyc TO 'y' DEFAULT 'n' USING p SELECT * FROM r", outputs: [`x: column ${C}.ssn`, `o: opaque ${C}.ssn`, `cyc: expression ${C}.ssn`, `p: opaque ${C}.ssn`] },
  { name: 'the recursive branch reads the path column of the rows fed back', sql: 'WITH RECURSIVE r(x) AS (SELECT ssn FROM customers UNION ALL SELECT p::text FROM r WHERE false) CYCLE x SET cyc USING p SELECT x FROM r', outputs: [`x: opaque ${C}.ssn`] },
  { name: 'COPY of the path column', sql: 'COPY (WITH RECURSIVE r(x) AS (SELECT ssn FROM customers UNION ALL SELECT x FROM r WHERE false) CYCLE x SET cyc USING p SELECT p FROM r) TO STDOUT', outputs: [`p: opaque ${C}.ssn`] },
  { name: 'a recursive CTE: a fed-back column may hold any base value', sql: 'WITH RECURSIVE r AS (SELECT id, ssn FROM customers UNION ALL SELECT id + 1, ssn FROM r WHERE id < 3) SELECT id FROM r', outputs: [`id: expression ${C}.id ${C}.ssn`] },

  // ── set operations ───────────────────────────────────────────────────────────────────────────
  { name: 'UNION: sources of both branches, names of the left', sql: 'SELECT ssn FROM customers UNION SELECT email FROM customers', outputs: [`ssn: column ${C}.email ${C}.ssn`] },
  { name: 'UNION ALL: the worst derivation wins', sql: 'SELECT ssn, id FROM customers UNION ALL SELECT lower(email), count(*) FROM customers', outputs: [`ssn: expression ${C}.email ${C}.ssn`, `id: column ${C}.id`] },
  { name: 'INTERSECT and EXCEPT with a constant branch', sql: "SELECT ssn FROM customers INTERSECT SELECT phone FROM customers EXCEPT SELECT 'x'", outputs: [`ssn: column ${C}.phone ${C}.ssn`] },
  { name: 'a set operation in a subquery', sql: 'SELECT u.v FROM (SELECT ssn AS v FROM customers UNION SELECT status FROM orders) u', outputs: [`v: column ${C}.ssn ${O}.status`] },
  { name: 'UNION with an unknown star cannot pair columns', sql: 'SELECT * FROM nosuch UNION SELECT ssn FROM customers', outputs: [`*: opaque ${C}.ssn public.nosuch.*`] },

  // ── VALUES and functions in FROM ─────────────────────────────────────────────────────────────
  { name: 'VALUES columns', sql: "VALUES (1, 'a'), (2, (SELECT ssn FROM customers LIMIT 1))", outputs: ['column1: expression', `column2: column ${C}.ssn`] },
  { name: 'VALUES in FROM with aliases', sql: 'SELECT v.a FROM (VALUES (1), (2)) v(a)', outputs: ['a: expression'] },
  { name: 'generate_series in FROM', sql: 'SELECT * FROM generate_series(1, 3)', outputs: ['generate_series: expression'] },
  { name: 'a function in FROM named by its alias', sql: 'SELECT * FROM generate_series(1, 3) AS g', outputs: ['g: expression'] },
  { name: 'a function in FROM with column aliases and ordinality', sql: 'SELECT * FROM generate_series(1, 3) WITH ORDINALITY AS g(v, n)', outputs: ['v: expression', 'n: expression'] },
  { name: 'a function over a whole row in FROM', sql: 'SELECT x.* FROM customers c, json_to_record(to_json(c)) AS x(ssn text, email text)', outputs: [`ssn: opaque ${ALL}`, `email: opaque ${ALL}`] },
  { name: 'unnest of a column', sql: 'SELECT u FROM customers c, unnest(ARRAY[c.ssn]) AS u', outputs: [`u: opaque ${C}.ssn`] },

  // ── DML with RETURNING ───────────────────────────────────────────────────────────────────────
  { name: 'DELETE RETURNING', sql: 'DELETE FROM customers WHERE id = 1 RETURNING ssn, lower(email) AS e', outputs: [`ssn: column ${C}.ssn`, `e: expression ${C}.email`] },
  { name: 'INSERT RETURNING * expands the target', sql: "INSERT INTO customers (id) VALUES (1) RETURNING *", outputs: STAR },
  { name: 'UPDATE … FROM RETURNING * lists the target and FROM items', sql: "UPDATE customers c SET name = 'x' FROM orders o WHERE o.customer_id = c.id RETURNING *", outputs: [...STAR, `id: column ${O}.id`, `customer_id: column ${O}.customer_id`, `status: column ${O}.status`, `total: column ${O}.total`] },
  { name: 'UPDATE RETURNING what it wrote', sql: 'UPDATE customers SET name = ssn WHERE id = 1 RETURNING name, id', outputs: [`name: column ${C}.name ${C}.ssn`, `id: column ${C}.id`] },
  { name: 'UPDATE SET (a, b) = (SELECT …) RETURNING', sql: 'UPDATE customers SET (name, phone) = (SELECT ssn, lower(email) FROM customers LIMIT 1) WHERE id = 1 RETURNING name, phone', outputs: [`name: column ${C}.name ${C}.ssn`, `phone: expression ${C}.email ${C}.phone`] },
  { name: 'INSERT … SELECT RETURNING shows the inserted values', sql: 'INSERT INTO audit (detail) SELECT ssn FROM customers RETURNING detail, id', outputs: [`detail: column ${A}.detail ${C}.ssn`, `id: column ${A}.id`] },
  { name: 'ON CONFLICT DO UPDATE RETURNING', sql: "INSERT INTO customers (id, name) VALUES (1, 'a') ON CONFLICT (id) DO UPDATE SET name = customers.ssn RETURNING name", outputs: [`name: column ${C}.name ${C}.ssn`] },
  { name: 'MERGE RETURNING', sql: 'MERGE INTO audit a USING customers c ON a.id = c.id WHEN MATCHED THEN UPDATE SET detail = c.ssn WHEN NOT MATCHED THEN INSERT (id, detail) VALUES (c.id, c.email) RETURNING a.detail, c.phone', outputs: [`detail: column ${A}.detail ${C}.email ${C}.ssn`, `phone: column ${C}.phone`] },
  { name: 'MERGE RETURNING * lists the source, then the target', sql: 'MERGE INTO audit a USING orders o ON a.id = o.id WHEN MATCHED THEN DELETE RETURNING *', outputs: [`id: column ${O}.id`, `customer_id: column ${O}.customer_id`, `status: column ${O}.status`, `total: column ${O}.total`, `id: column ${A}.id`, `at: column ${A}.at`, `actor: column ${A}.actor`, `detail: column ${A}.detail`] },
  { name: 'RETURNING a whole row', sql: 'DELETE FROM orders o RETURNING o', outputs: [`o: opaque ${O}.customer_id ${O}.id ${O}.status ${O}.total`] },
  { name: 'a data-modifying CTE\'s RETURNING flows out', sql: 'WITH u AS (UPDATE customers SET name = ssn RETURNING name) SELECT * FROM u', outputs: [`name: column ${C}.name ${C}.ssn`] },
  { name: 'DML without RETURNING returns no rows', sql: "UPDATE customers SET name = 'x' WHERE id = 1", outputs: null },
  { name: 'INSERT without RETURNING returns no rows', sql: 'INSERT INTO audit (detail) SELECT ssn FROM customers', outputs: null },

  // ── COPY ─────────────────────────────────────────────────────────────────────────────────────
  { name: 'COPY table TO STDOUT copies every column', sql: 'COPY customers TO STDOUT', outputs: STAR },
  { name: 'COPY table (cols) TO STDOUT', sql: 'COPY customers (ssn, email) TO STDOUT WITH (FORMAT csv)', outputs: [`ssn: column ${C}.ssn`, `email: column ${C}.email`] },
  { name: 'COPY (query) TO STDOUT', sql: 'COPY (SELECT lower(email), ssn FROM customers) TO STDOUT', outputs: [`lower: expression ${C}.email`, `ssn: column ${C}.ssn`] },
  { name: 'COPY of an unknown table', sql: 'COPY nosuch TO STDOUT', outputs: ['*: opaque public.nosuch.*'] },
  { name: 'COPY TO a file returns nothing to the client', sql: "COPY customers TO '/tmp/x'", outputs: null },
  { name: 'COPY FROM STDIN returns no rows', sql: 'COPY customers FROM STDIN', outputs: null },

  // ── statements around queries ────────────────────────────────────────────────────────────────
  { name: 'DECLARE CURSOR: the cursor\'s rows', sql: 'DECLARE cur CURSOR FOR SELECT ssn, count(*) FROM customers GROUP BY ssn', outputs: [`ssn: column ${C}.ssn`, 'count: aggregate'], inner: [`ssn: column ${C}.ssn`, 'count: aggregate'] },
  { name: 'PREPARE: on the inner statement and the outer', sql: 'PREPARE p AS SELECT email FROM customers WHERE id = $1', outputs: [`email: column ${C}.email`], inner: [`email: column ${C}.email`] },
  { name: 'PREPARE of DML with RETURNING', sql: 'PREPARE p AS DELETE FROM customers WHERE id = $1 RETURNING ssn', outputs: [`ssn: column ${C}.ssn`], inner: [`ssn: column ${C}.ssn`] },
  { name: 'EXPLAIN returns a plan, not table data', sql: 'EXPLAIN SELECT ssn FROM customers', outputs: null },
  { name: 'SELECT INTO returns no rows', sql: 'SELECT ssn INTO newt FROM customers', outputs: null },
  { name: 'CREATE TABLE AS returns no rows', sql: 'CREATE TABLE newt AS SELECT ssn FROM customers', outputs: null },
  { name: 'SHOW holds no table data', sql: 'SHOW search_path', outputs: null },
  { name: 'FETCH is left to the cursor', sql: 'FETCH 10 FROM cur', outputs: null },
  { name: 'EXECUTE is left to the prepared statement', sql: 'EXECUTE p(1)', outputs: null },
  { name: 'SET returns no rows', sql: 'SET search_path = public', outputs: null },

  // ── labels ───────────────────────────────────────────────────────────────────────────────────
  {
    name: 'labels as PostgreSQL gives them',
    sql: "SELECT 1 + 1, coalesce(1), nullif(1, 2), greatest(1), least(1), ARRAY[1], ROW(1), EXISTS (SELECT 1), ARRAY(SELECT 1), (SELECT 1), current_date, session_user, 'x'::varchar(3), CASE WHEN true THEN 1 END",
    outputs: ['?column?: expression', 'coalesce: expression', 'nullif: expression', 'greatest: expression', 'least: expression', 'array: expression', 'row: expression', 'exists: expression', 'array: expression', '?column?: expression', 'current_date: expression', 'session_user: expression', 'varchar: expression', 'case: expression'],
  },
  { name: 'a cast keeps the column label, a CASE takes its ELSE label', sql: 'SELECT (ssn)::text, CASE WHEN $1 THEN phone ELSE email END FROM customers', outputs: [`ssn: column ${C}.ssn`, `email: column ${C}.email ${C}.phone`] },
];

function run(c: Case): StatementAnalysis {
  const a = analyse(c.sql, { catalog, searchPath: c.path ?? ['public'] });
  assert.equal(a.length, 1, `${c.name}: one statement`);
  return a[0];
}

describe('output provenance', () => {
  test('the corpus has a case for every shape', () => {
    assert.ok(cases.length >= 80, `only ${cases.length} cases`);
    assert.equal(new Set(cases.map((c) => c.name)).size, cases.length, 'case names are unique');
  });
  for (const c of cases) {
    test(c.name, () => {
      const a = run(c);
      assert.equal(a.unsupported, undefined, `${c.name}: unexpectedly unsupported`);
      assert.deepEqual(fmtAll(a.outputs), c.outputs, `${c.name}: outputs`);
      if (c.inner !== undefined) {
        assert.ok(a.inner, `${c.name}: expected an inner analysis`);
        assert.deepEqual(fmtAll(a.inner.outputs), c.inner, `${c.name}: inner outputs`);
      }
    });
  }
});

describe('output provenance and the rest of the analysis', () => {
  test('outputs do not change what is recorded as read', () => {
    const a = run({ name: 'reads', sql: 'UPDATE customers c SET name = \'x\' FROM orders o WHERE o.customer_id = c.id RETURNING *', outputs: null });
    const read = a.tables.filter((t) => t.op === 'select').map((t) => `${t.relation.name} [${[...t.columns].sort().join(',')}]`).sort();
    assert.deepEqual(read, ['customers [email,id,name,phone,ssn]', 'orders [customer_id,id,status,total]'], 'RETURNING * reads the FROM items it returns');
  });
  test('a USING alias reads the merged columns of both sides, and only them', () => {
    const a = run({ name: 'using alias', sql: 'SELECT x.* FROM customers c JOIN orders o USING (id) AS x', outputs: null });
    const read = a.tables.filter((t) => t.op === 'select').map((t) => `${t.relation.name} [${[...t.columns].sort().join(',')}]`).sort();
    assert.deepEqual(read, ['customers [id]', 'orders [id]']);
  });
  test('sources are listed once each', () => {
    const a = run({ name: 'dedupe', sql: 'SELECT ssn || ssn || lower(ssn) FROM customers', outputs: null });
    assert.deepEqual(a.outputs?.[0].sources, [{ schema: 'public', table: 'customers', column: 'ssn' }], 'one source');
  });
  test('an output per RowDescription field, in order', () => {
    const a = run({ name: 'count', sql: 'SELECT *, ssn AS again, (c).* FROM customers c JOIN orders o USING (id)', outputs: null });
    // PostgreSQL: 8 columns for * over the USING join, one for again, five for (c).*.
    assert.equal(a.outputs?.length, 14, 'output count');
  });
});
