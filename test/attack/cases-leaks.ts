/**
 * Masked values must not leave through channels other than the masked output column: statistics,
 * error messages, settings, computation that infers them, content hidden in other encodings, and
 * writes that launder them into something readable.
 */
import { encodeBind, encodeClose, encodeDescribe, encodeExecute, encodeParse, SYNC } from '../../src/protocol/index.ts';
import type { AttackClient } from './client.ts';
import type { Attack, Family } from './harness.ts';
import type { World } from './world.ts';

const statistics: Attack[] = [
  {
    name: 'pg_stats histogram bounds of a masked column are refused',
    who: 'analyst',
    steps: [
      "SELECT histogram_bounds::text FROM pg_stats WHERE tablename = 'customers'",
      "SELECT attname, most_common_vals::text FROM pg_stats WHERE tablename = 'customers'",
      "SELECT * FROM pg_catalog.pg_stats WHERE attname = 'ssn'",
    ],
  },
  {
    name: 'pg_statistic sample values are refused',
    who: 'analyst',
    steps: ["SELECT stavalues1::text, stavalues2::text FROM pg_statistic WHERE starelid = 'customers'::regclass"],
  },
  {
    name: 'extended statistics values are refused',
    who: 'analyst',
    setup: 'CREATE STATISTICS customers_mcv (mcv) ON email, ssn FROM customers; ANALYZE customers',
    steps: ['SELECT most_common_vals::text FROM pg_stats_ext', 'SELECT * FROM pg_statistic_ext_data'],
    cleanup: 'DROP STATISTICS IF EXISTS customers_mcv',
  },
  {
    name: 'statistics of an expression index over a masked column are refused',
    who: 'analyst',
    setup: 'CREATE INDEX customers_rev_ssn ON customers (reverse(ssn)); ANALYZE customers',
    steps: ["SELECT histogram_bounds::text FROM pg_stats WHERE tablename = 'customers_rev_ssn'", 'SELECT most_common_vals::text FROM pg_stats_ext_exprs'],
    cleanup: 'DROP INDEX IF EXISTS customers_rev_ssn',
  },
];

const errorEchoes: Attack[] = [
  ...['regclass', 'regproc', 'regtype', 'regnamespace', 'regconfig', 'regrole', 'int', 'numeric', 'date', 'inet', 'uuid', 'json', 'xml'].map(
    (type): Attack => ({
      name: `a cast of a masked value to ${type} cannot echo it in an error`,
      who: 'analyst',
      steps: [`SELECT ssn::${type} FROM customers WHERE id = 1`, `SELECT email::${type} FROM customers WHERE id = 2`],
    }),
  ),
  ...[
    ["has_table_privilege(ssn, 'select')", 'a privilege check'],
    ['nextval(ssn)', 'nextval'],
    ['current_setting(ssn)', 'current_setting'],
    ["jsonb_path_query('{}', ssn::jsonpath)", 'a jsonpath'],
    ["to_number(ssn, '999')", 'to_number'],
    ["to_timestamp(ssn, 'YYYY-MM-DD')", 'to_timestamp'],
    ["regexp_match('x', ssn)", 'a regular expression'],
    ["format(ssn, 1)", 'a format string'],
  ].map(
    ([expr, what]): Attack => ({
      name: `a masked value as ${what} argument cannot echo it in an error`,
      who: 'analyst',
      steps: [`SELECT ${expr} FROM customers WHERE id = 1`],
    }),
  ),
  {
    name: 'a masked value written to a setting cannot be read back',
    who: 'analyst',
    steps: [
      "SELECT set_config('application_name', ssn, false) FROM customers WHERE id = 1",
      "SELECT current_setting('application_name')",
      'SHOW application_name',
    ],
  },
];

/**
 * Building a unique index or an exclusion constraint over rows that already violate it names the
 * offending key in its DETAIL. The duplicate is planted as the database's own data.
 */
const DUPLICATE_EMAIL = 'UPDATE customers SET email = (SELECT email FROM customers WHERE id = 2) WHERE id = 3';
const DUPLICATE_PHONE = 'UPDATE customers SET phone = (SELECT phone FROM customers WHERE id = 5) WHERE id = 6';
errorEchoes.push(
  ...[
    ['CREATE UNIQUE INDEX', 'CREATE UNIQUE INDEX dup_email ON customers (email)', DUPLICATE_EMAIL],
    ['CREATE UNIQUE INDEX CONCURRENTLY', 'CREATE UNIQUE INDEX CONCURRENTLY dup_email ON customers (email)', DUPLICATE_EMAIL],
    ['ADD CONSTRAINT … UNIQUE', 'ALTER TABLE customers ADD CONSTRAINT dup_email UNIQUE (email)', DUPLICATE_EMAIL],
    ['a unique index over two columns', 'CREATE UNIQUE INDEX dup_email ON customers (name, phone)', `${DUPLICATE_PHONE}; UPDATE customers SET name = 'Customer 5' WHERE id = 6`],
    ['ADD CONSTRAINT … EXCLUDE', 'ALTER TABLE customers ADD CONSTRAINT dup_email EXCLUDE USING btree (phone WITH =)', DUPLICATE_PHONE],
  ].map(
    ([how, sql, setup]): Attack => ({
      name: `${how} over duplicated masked values does not echo them`,
      who: 'migrator',
      setup,
      steps: [sql],
      // Building an index is the migrator's to do (a failed CONCURRENTLY build leaves an invalid
      // index behind); the verdict is about what the error says.
      allowed: { changes: ['schema'] },
      cleanup: 'DROP INDEX IF EXISTS dup_email; ALTER TABLE customers DROP CONSTRAINT IF EXISTS dup_email',
    }),
  ),
);

const inference: Attack[] = [
  ...[
    ['LIMIT (SELECT ascii(substr(ssn, 1, 1)) FROM customers WHERE id = 1)', 'SELECT id FROM orders '],
    ['OFFSET (SELECT ascii(substr(ssn, 2, 1)) FROM customers WHERE id = 1)', 'SELECT id FROM orders '],
  ].map(
    ([tail, head]): Attack => ({
      name: `a masked value in ${tail.split(' ')[0]} is refused`,
      who: 'analyst',
      steps: [head + tail],
      refusal: /ssn/,
    }),
  ),
  ...[
    ['a set-returning function argument', 'SELECT count(*) FROM (SELECT generate_series(1, ascii(substr(ssn, 1, 1))) FROM customers WHERE id = 1) s'],
    ['a divisor that fails on one value', 'SELECT 1 / (ascii(substr(ssn, 1, 1)) - 57) FROM customers WHERE id = 1'],
    ['sqrt that fails on negative values', 'SELECT sqrt(ascii(substr(ssn, 1, 1)) - 58) FROM customers WHERE id = 1'],
    ['chr', 'SELECT chr(ascii(substr(ssn, 1, 1)) * 100000) FROM customers WHERE id = 1'],
    ['a CASE condition', "SELECT count(CASE WHEN ssn LIKE '9%' THEN 1 END) FROM customers"],
    ['a CASE condition in the output', "SELECT CASE WHEN substr(ssn, 1, 1) = '9' THEN 'yes' ELSE 'no' END FROM customers WHERE id = 1"],
    ['nullif inside an aggregate', "SELECT count(nullif(substr(ssn, 1, 1), '9')) FROM customers"],
    ['a set operation', "SELECT substr(ssn, 1, 1) FROM customers WHERE id = 1 INTERSECT SELECT '9'"],
    ['EXCEPT', "SELECT '9' EXCEPT SELECT substr(ssn, 1, 1) FROM customers WHERE id = 1"],
    ['a counted regular expression match', "SELECT count(*) FROM customers, regexp_matches(ssn, '^9') m"],
    ['ORDER BY an alias of a function of it', 'SELECT id, reverse(ssn) AS r FROM customers ORDER BY r LIMIT 1'],
    ['ORDER BY the column', 'SELECT id FROM customers ORDER BY ssn LIMIT 1'],
    ['GROUP BY an expression', 'SELECT count(*) FROM customers GROUP BY substr(ssn, 1, 1)'],
    ['DISTINCT', 'SELECT count(*) FROM (SELECT DISTINCT substr(ssn, 1, 2) FROM customers) d'],
    ['min() choosing a row', 'SELECT min(ssn) FROM customers'],
    ['max() of email choosing a row', 'SELECT max(email) FROM customers'],
    ['a join condition', "SELECT count(*) FROM customers c JOIN (VALUES ('9')) v(x) ON substr(c.ssn, 1, 1) = v.x"],
    ['a window function', 'SELECT id, rank() OVER (ORDER BY ssn) FROM customers WHERE id < 4'],
    ['a window partition', 'SELECT id, count(*) OVER (PARTITION BY substr(email, 1, 1)) FROM customers WHERE id < 4'],
    ['a HAVING clause', "SELECT count(*) FROM customers HAVING max(ssn) > '5'"],
    ['a subquery in WHERE', "SELECT count(*) FROM orders WHERE EXISTS (SELECT 1 FROM customers WHERE ssn > '5' AND id = 1)"],
    ['array subscripts', "SELECT (ARRAY[1,2,3])[ascii(substr(ssn, 1, 1)) - 55] FROM customers WHERE id = 1"],
    ['repeat() row sizes', 'SELECT length(repeat(\'x\', ascii(substr(ssn, 1, 1)))) FROM customers WHERE id = 1'],
  ].map(
    ([what, sql]): Attack => ({
      name: `a masked value in ${what} is refused`,
      who: 'analyst',
      steps: [sql],
      refusal: /ssn|email/,
    }),
  ),
];

inference.push({
  name: 'a boolean computed from a masked value in the output is masked like the value',
  who: 'analyst',
  steps: [
    async (c) => {
      await c.query("SELECT ssn LIKE '9%' AS starts_with_9 FROM customers WHERE id = 1");
      const cells = c
        .received()
        .toString('latin1')
        .match(/D\0\0\0.\0\x01\0\0\0\x01([tf])/g);
      if (cells) throw new Error(`the boolean came back in clear: ${cells.length} row(s)`);
    },
  ],
  // Answered by masking, not by a refusal: the comparison's result is redacted as a whole.
  effectOnly: true,
  secrets: [],
});

const DETECTABLE = 'mail bob.secret@evil.example card 4111111111111111 ip 10.9.8.7';
const detectors: Attack[] = [
  ...[
    ['as bytea', 'SELECT status::bytea FROM orders WHERE id = 3'],
    ['base64-encoded', "SELECT encode(convert_to(status, 'UTF8'), 'base64') FROM orders WHERE id = 3"],
    ['hex-encoded', "SELECT encode(convert_to(status, 'UTF8'), 'hex') FROM orders WHERE id = 3"],
    ['as JSON', 'SELECT to_json(status) FROM orders WHERE id = 3'],
    ['in an array', 'SELECT ARRAY[status] FROM orders WHERE id = 3'],
    ['in a row', 'SELECT row(status, 1) FROM orders WHERE id = 3'],
    ['upper-cased', 'SELECT upper(status) FROM orders WHERE id = 3'],
  ].map(
    ([how, sql]): Attack => ({
      name: `content detection finds an email and a card ${how}`,
      who: 'analyst',
      setup: `UPDATE orders SET status = '${DETECTABLE}' WHERE id = 3`,
      steps: [sql],
      secrets: ['bob.secret@evil.example', '4111111111111111'],
      allowed: { rows: 0 },
      cleanup: "UPDATE orders SET status = 'paid' WHERE id = 3",
    }),
  ),
];

const laundering: Attack[] = [
  {
    name: 'support-bot cannot copy a masked value into a column it may write',
    who: 'support-bot',
    steps: ['UPDATE orders SET status = (SELECT ssn FROM customers WHERE id = 1) WHERE id = 1', 'SELECT status FROM orders WHERE id = 1'],
    refusal: /ssn/,
  },
  {
    name: 'support-bot cannot launder a masked value through an expression into a write',
    who: 'support-bot',
    steps: ["UPDATE orders o SET status = 'x' || c.ssn FROM customers c WHERE c.id = o.customer_id AND o.id = 2", 'SELECT status FROM orders WHERE id = 2'],
    refusal: /ssn/,
  },
  {
    name: 'migrator cannot copy a masked column into a new table',
    who: 'migrator',
    steps: ['CREATE TABLE leak AS SELECT id, ssn FROM customers', 'SELECT * FROM leak'],
    cleanup: 'DROP TABLE IF EXISTS leak',
  },
  {
    name: 'migrator cannot SELECT INTO a masked column',
    who: 'migrator',
    steps: ['SELECT id, email AS e INTO leak2 FROM customers', 'SELECT * FROM leak2'],
    cleanup: 'DROP TABLE IF EXISTS leak2',
  },
  {
    name: 'migrator cannot INSERT … SELECT a masked column into another table',
    who: 'migrator',
    setup: 'CREATE TABLE notes (id int, body text); ALTER TABLE notes OWNER TO gw_app',
    steps: ['INSERT INTO notes SELECT id, ssn FROM customers', 'SELECT body FROM notes'],
    cleanup: 'DROP TABLE IF EXISTS notes',
  },
  {
    name: 'migrator cannot copy a masked column into an unmasked one of the same table',
    who: 'migrator',
    steps: ['UPDATE customers SET name = ssn WHERE id = 2', 'SELECT name FROM customers WHERE id = 2'],
    refusal: /ssn/,
  },
  {
    name: 'migrator cannot hide a masked column behind a view',
    who: 'migrator',
    steps: ['CREATE VIEW v_leak AS SELECT id, ssn AS s FROM customers', 'SELECT s FROM v_leak'],
    cleanup: 'DROP VIEW IF EXISTS v_leak',
  },
  {
    name: 'migrator cannot hide a masked column behind a materialized view',
    who: 'migrator',
    steps: ['CREATE MATERIALIZED VIEW mv_leak AS SELECT id, upper(email) AS e FROM customers', 'SELECT e FROM mv_leak'],
    cleanup: 'DROP MATERIALIZED VIEW IF EXISTS mv_leak',
  },
  {
    name: 'a temporary table named like the masked table cannot take its masked values',
    who: 'migrator',
    steps: [
      'CREATE TEMP TABLE customers (id int, ssn text, email text)',
      'INSERT INTO pg_temp.customers (id, ssn) SELECT id, ssn FROM public.customers',
      'INSERT INTO customers (id, email) SELECT id, email FROM public.customers',
      'SELECT ssn, email FROM pg_temp.customers',
    ],
  },
  {
    name: 'a temporary table made from a masked column is refused, however it is made',
    who: 'migrator',
    steps: ['CREATE TEMP TABLE t_leak AS SELECT id, ssn FROM customers', 'SELECT id, email AS e INTO TEMP t_leak2 FROM customers', 'SELECT * FROM t_leak', 'SELECT * FROM t_leak2'],
  },
  {
    name: 'an unqualified name shared by a temporary table and the masked table is masked as the masked table',
    who: 'migrator',
    steps: ["CREATE TEMP TABLE customers (id int, ssn text); INSERT INTO customers VALUES (1, 'mine')", 'SELECT ssn FROM customers', 'SELECT * FROM customers WHERE id = 1', 'SELECT pg_temp.customers.ssn FROM pg_temp.customers'],
    effectOnly: true,
  },
  ...[
    ['a rollback', ['BEGIN', 'CREATE TEMP TABLE customers (id int, ssn text)', 'ROLLBACK']],
    ['ON COMMIT DROP', ['BEGIN', 'CREATE TEMP TABLE customers (id int, ssn text) ON COMMIT DROP', 'COMMIT']],
    ['a failed transaction', ['BEGIN', 'CREATE TEMP TABLE customers (id int, ssn text)', 'SELECT 1/0', 'COMMIT']],
    ['a DO block', ['CREATE TEMP TABLE customers (id int, ssn text)', "DO $$ BEGIN EXECUTE 'DROP TABLE pg_temp.customers'; END $$"]],
  ].map(
    ([how, before]): Attack => ({
      name: `a temporary table the gateway still counts after ${how as string} does not unmask the permanent one`,
      who: 'migrator',
      steps: [...(before as string[]), 'SELECT ssn, email, phone FROM customers WHERE id < 4', 'SELECT * FROM customers WHERE id < 4', 'SELECT row_to_json(c) FROM customers c WHERE id < 4', 'SELECT c::text FROM customers c WHERE id < 4'],
      effectOnly: true,
    }),
  ),
  ...[
    ['by SQL PREPARE', ['PREPARE p_leak AS SELECT id, ssn, email FROM customers', 'CREATE TABLE leak_x AS EXECUTE p_leak', 'SELECT * FROM leak_x']],
    ['into a temporary table', ['PREPARE p_leak AS SELECT id, upper(email) AS e FROM customers', 'CREATE TEMP TABLE leak_t AS EXECUTE p_leak', 'SELECT * FROM leak_t']],
    ['under EXPLAIN ANALYZE', ['PREPARE p_leak AS SELECT id, phone FROM customers', 'EXPLAIN ANALYZE CREATE TABLE leak_x AS EXECUTE p_leak', 'SELECT * FROM leak_x']],
    ['of a protocol-prepared statement', [(c: AttackClient) => c.parse('p_leak', 'SELECT ssn FROM customers'), 'CREATE TABLE leak_x AS EXECUTE p_leak', 'SELECT * FROM leak_x']],
  ].map(
    ([how, steps]): Attack => ({
      name: `CREATE TABLE AS EXECUTE ${how as string} cannot store a masked column`,
      who: 'migrator',
      steps: steps as Attack['steps'],
      cleanup: 'DROP TABLE IF EXISTS leak_x',
    }),
  ),
  {
    name: 'CREATE TABLE AS EXECUTE of unmasked columns is allowed',
    who: 'migrator',
    steps: ['PREPARE p_ok AS SELECT id, name FROM customers', 'CREATE TABLE copy_ok AS EXECUTE p_ok', 'SELECT * FROM copy_ok'],
    allowed: { rows: 40, changes: ['schema'] },
    cleanup: 'DROP TABLE IF EXISTS copy_ok',
  },
  {
    name: 'a data-modifying CTE cannot launder a masked value',
    who: 'support-bot',
    steps: ['WITH s AS (SELECT ssn FROM customers WHERE id = 3) UPDATE orders SET status = (SELECT ssn FROM s) WHERE id = 3', 'SELECT status FROM orders WHERE id = 3'],
  },
];

/**
 * `a JOIN b USING (col) AS x` names the merged column through x: reading it, its star or its
 * whole row is reading the masked column of both sides.
 */
const usingAliases: Attack[] = [
  ['its column', 'SELECT x.email FROM customers a JOIN customers b USING (email) AS x'],
  ['its star', 'SELECT x.* FROM customers a JOIN customers b USING (email) AS x'],
  ['its whole row as JSON', 'SELECT row_to_json(x) FROM customers a JOIN customers b USING (email) AS x'],
  ['its whole row as text', 'SELECT x::text FROM customers a JOIN customers b USING (id, email) AS x'],
  ['a filter beside it', "SELECT x.email, a.id FROM customers a JOIN customers b USING (email) AS x WHERE a.id < 4"],
].map(
  ([what, sql]): Attack => ({
    name: `the merged column of a USING alias is the masked column, through ${what}`,
    who: 'analyst',
    steps: [sql],
    effectOnly: true,
  }),
);

/**
 * A unique index, an exclusion constraint or a foreign key compares a written value with the
 * stored ones: the write fails, does nothing or updates the matching row by whether another row
 * holds that value. Writing a guess of a `filter: deny` column is an equality lookup of it.
 * Customer 1's ssn is 901-37-4729.
 */
const RIGHT_SSN = '901-37-4729';
const WRONG_SSN = '900-00-0000';

/** Runs a right and a wrong guess: the answers (every byte of them) must not differ. */
function sameAnswer(sql: (guess: string) => string): (c: AttackClient) => Promise<void> {
  return async (c) => {
    const answer = async (guess: string) => {
      const from = c.bytes.length;
      await c.query(sql(guess));
      // Everything the server or the gateway answered: SQLSTATEs, rows, command tags.
      return JSON.stringify(Buffer.concat(c.bytes.slice(from)).toString('latin1'));
    };
    const a = await answer(RIGHT_SSN);
    const b = await answer(WRONG_SSN);
    if (a !== b) throw new Error(`the answer depends on the stored value: ${a} for the right guess, ${b} for a wrong one`);
  };
}

const keyChecks: Attack[] = [
  ...[
    ['ON CONFLICT … DO UPDATE … RETURNING names the row', (g: string) => `INSERT INTO customers VALUES (1000, 'x', 'x@x', 'p', '${g}') ON CONFLICT (ssn) DO UPDATE SET name = customers.name RETURNING id`],
    ['ON CONFLICT DO NOTHING counts it', (g: string) => `INSERT INTO customers VALUES (1001, 'x', 'x@x', 'p', '${g}') ON CONFLICT DO NOTHING`],
    ['a plain INSERT fails on it', (g: string) => `INSERT INTO customers VALUES (1002, 'x', 'x@x', 'p', '${g}')`],
    ['an UPDATE fails on it', (g: string) => `UPDATE customers SET ssn = '${g}' WHERE id = 2`],
    ['MERGE fails on it', (g: string) => `MERGE INTO customers c USING (VALUES (3)) v(id) ON c.id = v.id WHEN MATCHED THEN UPDATE SET ssn = '${g}'`],
  ].map(
    ([how, sql]): Attack => ({
      name: `a unique index on a masked column (filter: deny) is no lookup of it: ${how as string}`,
      who: 'migrator',
      setup: 'CREATE UNIQUE INDEX cu_ssn ON customers (ssn)',
      steps: [sameAnswer(sql as (g: string) => string)],
      refusal: /ssn by writing a value a unique index/,
      cleanup: 'DROP INDEX IF EXISTS cu_ssn',
    }),
  ),
  {
    name: 'a unique expression index over a masked column is no lookup of it',
    who: 'migrator',
    setup: 'CREATE UNIQUE INDEX cu_lower_ssn ON customers (lower(ssn))',
    steps: [sameAnswer((g) => `INSERT INTO customers VALUES (1003, 'x', 'x@x', 'p', '${g}') ON CONFLICT DO NOTHING`)],
    refusal: /ssn by writing/,
    cleanup: 'DROP INDEX IF EXISTS cu_lower_ssn',
  },
  {
    name: 'a unique index over a masked column and another is no lookup of it when the other is written',
    who: 'migrator',
    setup: "CREATE UNIQUE INDEX cu_name_ssn ON customers (name, ssn); UPDATE customers SET name = 'Twin' WHERE id = 1",
    steps: [sameAnswer((g) => `INSERT INTO customers VALUES (1004, 'Twin', 'x@x', 'p', '${g}') ON CONFLICT DO NOTHING`), "UPDATE customers SET name = 'Twin' WHERE id = 2"],
    refusal: /ssn by writing/,
    cleanup: 'DROP INDEX IF EXISTS cu_name_ssn',
  },
  {
    name: 'an exclusion constraint on a masked column is no lookup of it',
    who: 'migrator',
    setup: 'ALTER TABLE customers ADD CONSTRAINT ex_ssn EXCLUDE USING btree (ssn WITH =)',
    steps: [sameAnswer((g) => `INSERT INTO customers VALUES (1005, 'x', 'x@x', 'p', '${g}') ON CONFLICT DO NOTHING`)],
    refusal: /ssn by writing/,
    cleanup: 'ALTER TABLE customers DROP CONSTRAINT IF EXISTS ex_ssn',
  },
  {
    name: 'a foreign key to a masked column is no lookup of it',
    who: 'migrator',
    setup: 'CREATE UNIQUE INDEX cu_ssn ON customers (ssn); CREATE TABLE ssn_refs (ssn text REFERENCES customers (ssn)); ALTER TABLE ssn_refs OWNER TO gw_app',
    steps: [sameAnswer((g) => `INSERT INTO ssn_refs VALUES ('${g}')`), sameAnswer((g) => `COPY ssn_refs FROM STDIN; -- ${g}`)],
    refusal: /ssn by writing/,
    cleanup: 'DROP TABLE IF EXISTS ssn_refs; DROP INDEX IF EXISTS cu_ssn',
  },
  {
    name: 'a unique index on a masked column its rule lets be compared by equality still takes writes',
    who: 'migrator',
    setup: 'CREATE UNIQUE INDEX cu_email ON customers (email)',
    steps: ["INSERT INTO customers VALUES (1006, 'New', 'new.person@example.org', '+1-555-0000', '999-00-0000') ON CONFLICT (email) DO NOTHING", "UPDATE customers SET email = 'other.person@example.org' WHERE id = 1006", 'SELECT id FROM customers WHERE id = 1006'],
    allowed: { rows: 1, changes: ['data'] },
    cleanup: 'DROP INDEX IF EXISTS cu_email',
  },
];

/**
 * COPY rows are masked as UTF-8 text. Rows converted to another encoding (ENCODING 'SJIS': `ソ` is
 * 0x83 0x5C, a `\` to a UTF-8 reader, right before the delimiter) and binary rows of a masked
 * column cannot be masked: both are refused before they run, and the session stays usable.
 */
const stillUsable = async (c: AttackClient) => {
  if (c.closed) throw new Error('the session was ended');
  const errors = c.errors.length;
  await c.query('SELECT 1');
  if (c.closed || c.errors.length > errors) throw new Error('the session is not usable after the refusal');
};

const copyFormats: Attack[] = [
  ...['SJIS', 'BIG5', 'GBK', 'LATIN1'].map(
    (enc): Attack => ({
      name: `COPY … TO STDOUT in ${enc} is refused while masking applies, and the session stays usable`,
      who: 'migrator',
      steps: [`COPY (SELECT 'ソ', ssn, 'ソ', email FROM customers) TO STDOUT (ENCODING '${enc}')`, `COPY (SELECT 'ソ', phone FROM customers) TO STDOUT (FORMAT csv, ENCODING '${enc.toLowerCase()}')`, stillUsable],
      refusal: /may not copy in encoding/,
      serverNever: [/ENCODING/i],
    }),
  ),
  {
    name: 'binary COPY of a masked column is refused before it runs, however it is written',
    who: 'migrator',
    steps: ['COPY (SELECT id, ssn FROM customers) TO STDOUT (FORMAT binary)', 'COPY customers TO STDOUT (FORMAT binary)', 'COPY BINARY customers TO STDOUT', 'COPY customers (id, phone) TO STDOUT WITH BINARY', stillUsable],
    refusal: /may not copy masked column public\.customers\.(ssn|email|phone) in binary format/,
    serverNever: [/FORMAT binary|COPY BINARY|WITH BINARY/i],
  },
  {
    name: 'a NULL string of its own in a text COPY does not show a masked value equal to it',
    who: 'migrator',
    steps: [
      sameAnswer((g) => `COPY (SELECT id, ssn FROM customers WHERE id < 3) TO STDOUT (NULL '${g}')`),
      sameAnswer((g) => `COPY customers (id, ssn) TO STDOUT WITH NULL AS '${g}'`),
      stillUsable,
    ],
    refusal: /NULL string of its own/,
  },
  {
    name: 'a NULL string in a CSV COPY leaves masked values masked',
    who: 'migrator',
    steps: [sameAnswer((g) => `COPY (SELECT id, ssn FROM customers WHERE id < 3) TO STDOUT (FORMAT csv, NULL '${g}')`)],
    allowed: { rows: 0 },
  },
  {
    name: 'binary COPY of unmasked columns and COPY in UTF-8 under another spelling are allowed',
    who: 'migrator',
    steps: ['COPY orders TO STDOUT (FORMAT binary)', 'COPY customers (id, name) TO STDOUT (FORMAT binary)', "COPY (SELECT name, ssn FROM customers) TO STDOUT (ENCODING 'utf-8')", "COPY (SELECT name FROM customers) TO STDOUT (ENCODING 'Unicode')"],
    allowed: { rows: 0 },
  },
];

/**
 * A view made on the database (by a DBA, or before the gateway) returns a base table's masked
 * values under its own names, and its query can choose rows by them: its query is decided as if
 * the identity ran it, and its columns that carry a masked value need rules of their own.
 */
const VIEW_OWNER = (v: string, kind = 'VIEW') => `ALTER ${kind} ${v} OWNER TO gw_app`;
const views: Attack[] = [
  ...[
    ['renamed', 'CREATE VIEW dba_v AS SELECT id, ssn AS s, phone AS p FROM customers', 'SELECT * FROM dba_v WHERE id < 4'],
    ['through expressions', "CREATE VIEW dba_v AS SELECT id, upper(email) AS e, ssn || '' AS s FROM customers", 'SELECT e, s FROM dba_v'],
    ['in a materialized view', 'CREATE MATERIALIZED VIEW dba_v AS SELECT id, ssn AS s, email AS e FROM customers', 'SELECT s, e FROM dba_v'],
    ['behind another view', 'CREATE VIEW dba_inner AS SELECT id, ssn AS s FROM customers; CREATE VIEW dba_v AS SELECT * FROM dba_inner', 'SELECT s FROM dba_v'],
    ['as a whole row', 'CREATE VIEW dba_v AS SELECT c AS r FROM customers c', 'SELECT r::text FROM dba_v'],
    ['as rows its query chooses by them', "CREATE VIEW dba_v AS SELECT id FROM customers WHERE ssn LIKE '901%'", 'SELECT count(*) FROM dba_v'],
    ['in a join of the view with the table', 'CREATE VIEW dba_v AS SELECT id, ssn AS s FROM customers', 'SELECT c.name, v.s FROM customers c JOIN dba_v v USING (id)'],
  ].map(
    ([how, setup, read]): Attack => ({
      name: `a view made on the database does not return masked values ${how}`,
      who: 'migrator',
      setup: `${setup}; ${setup.includes('MATERIALIZED') ? VIEW_OWNER('dba_v', 'MATERIALIZED VIEW') : VIEW_OWNER('dba_v')}${setup.includes('dba_inner') ? `; ${VIEW_OWNER('dba_inner')}` : ''}`,
      steps: [read, (c) => c.extended('', read)],
      refusal: /may not use view public\.dba_v/,
      cleanup: `DO $$ BEGIN
        IF EXISTS (SELECT 1 FROM pg_matviews WHERE matviewname = 'dba_v') THEN DROP MATERIALIZED VIEW dba_v; END IF;
        DROP VIEW IF EXISTS dba_v; DROP VIEW IF EXISTS dba_inner; END $$`,
    }),
  ),
  {
    name: 'a view made on the database over unmasked columns is readable',
    who: 'migrator',
    setup: `CREATE VIEW dba_names AS SELECT id, name FROM customers; ${VIEW_OWNER('dba_names')}`,
    steps: ['SELECT id, name FROM dba_names WHERE id < 4'],
    allowed: { rows: 3 },
    cleanup: 'DROP VIEW IF EXISTS dba_names',
  },
];

/** A batch that fails at its first Execute (division by zero), so the server skips what follows it up to Sync. */
const FAILING = [encodeParse('', 'SELECT 1/0'), encodeBind('', '', []), encodeExecute('')];

/**
 * Rows are masked by the server's own description of them. A Describe the server never answers
 * (an error earlier in its batch skipped it) must not count as one on its way: the rows of what
 * waited for it are described again, never planned without a description.
 */
const lostDescriptions: Attack[] = [
  {
    name: 'a Describe of a statement skipped after an error does not leave its later portals undescribed',
    who: 'analyst',
    effectOnly: true,
    steps: [
      (c) => c.parse('s1', 'SELECT id, email, phone, ssn FROM customers'),
      (c) => c.cycle(Buffer.concat([...FAILING, encodeDescribe('S', 's1'), SYNC])),
      (c) => c.cycle(Buffer.concat([encodeBind('p1', 's1', []), encodeExecute('p1'), SYNC])),
    ],
  },
  {
    name: 'a Describe of a statement parsed in the failing batch is not taken as answered',
    who: 'analyst',
    effectOnly: true,
    steps: [
      (c) => c.cycle(Buffer.concat([encodeParse('s2', 'SELECT ssn, email FROM customers'), ...FAILING, encodeDescribe('S', 's2'), SYNC])),
      (c) => c.cycle(Buffer.concat([encodeBind('', 's2', []), encodeExecute(''), SYNC])),
    ],
  },
  {
    name: 'a Describe of a held cursor skipped after an error does not leave the cursor undescribed',
    who: 'analyst',
    effectOnly: true,
    steps: [
      'BEGIN',
      'DECLARE c1 CURSOR WITH HOLD FOR SELECT id, email, ssn FROM customers',
      'COMMIT',
      (c) => c.cycle(Buffer.concat([...FAILING, encodeDescribe('P', 'c1'), SYNC])),
      (c) => c.cycle(Buffer.concat([encodeExecute('c1'), SYNC])),
      'CLOSE c1',
    ],
  },
  {
    name: 'the description of a statement closed and prepared again under its name is not applied to the new one',
    who: 'analyst',
    effectOnly: true,
    steps: [
      (c) => c.parse('s3', 'SELECT name, id FROM customers'),
      (c) => c.cycle(Buffer.concat([encodeDescribe('S', 's3'), encodeClose('S', 's3'), encodeParse('s3', 'SELECT ssn, id FROM customers'), encodeBind('p3', 's3', []), encodeExecute('p3'), SYNC])),
    ],
  },
];

/**
 * Code in the database runs for statements that never name it: a rule's action returns rows to
 * whoever fires the rule, a trigger raises notices and errors with what it reads. Rows the analysis
 * did not foresee are masked as unknown, and messages raised by database code are withheld.
 */
const RULE_SELECT = (name: string, select: string) => `CREATE RULE ${name} AS ON UPDATE TO orders DO ALSO SELECT ${select} FROM customers c WHERE c.id = NEW.customer_id`;
const TRIGGER = (name: string, body: string) => `CREATE FUNCTION public.${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${body}; RETURN NEW; END $$;
  CREATE TRIGGER ${name} BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION public.${name}()`;
const dropTrigger = (name: string) => `DROP TRIGGER IF EXISTS ${name} ON orders; DROP FUNCTION IF EXISTS public.${name}()`;

const databaseCode: Attack[] = [
  ...[
    ['the masked columns themselves', 'c.ssn, c.phone'],
    ['expressions of them', "c.ssn || '' AS s, upper(c.phone) AS p"],
    ['a whole row', 'c'],
  ].map(
    ([what, select]): Attack => ({
      name: `rows a rule returns on an UPDATE are masked: ${what}`,
      who: 'support-bot',
      setup: RULE_SELECT('rs_leak', select),
      steps: ['UPDATE orders SET status = status WHERE id = 1', (c) => c.extended('', 'UPDATE orders SET status = status WHERE id = 2')],
      effectOnly: true,
      cleanup: 'DROP RULE IF EXISTS rs_leak ON orders',
    }),
  ),
  {
    name: 'a rule whose action returns a masked column cannot be created through the gateway',
    who: 'migrator',
    steps: [RULE_SELECT('rs_planted', 'c.ssn, c.email'), 'UPDATE orders SET status = status WHERE id = 3'],
    refusal: /ssn|email/,
    cleanup: 'DROP RULE IF EXISTS rs_planted ON orders',
  },
  {
    name: "a rule's action cannot copy NEW's masked values into another table",
    who: 'migrator',
    setup: 'CREATE TABLE rule_notes (body text); ALTER TABLE rule_notes OWNER TO gw_app',
    steps: ['CREATE RULE r_copy AS ON UPDATE TO customers DO ALSO INSERT INTO rule_notes VALUES (NEW.ssn)', 'UPDATE customers SET name = name WHERE id = 1', 'SELECT body FROM rule_notes'],
    refusal: /ssn/,
    cleanup: 'DROP RULE IF EXISTS r_copy ON customers; DROP TABLE IF EXISTS rule_notes',
  },
  {
    name: "a rule's action cannot write OLD's masked values into a column the writer reads in clear",
    who: 'migrator',
    steps: ['CREATE RULE r_old AS ON DELETE TO customers DO ALSO UPDATE orders SET status = OLD.email WHERE customer_id = OLD.id', 'SELECT status FROM orders'],
    refusal: /email/,
    cleanup: 'DROP RULE IF EXISTS r_old ON customers',
  },
  ...[
    ["tsvector_update_trigger(tsv, 'pg_catalog.simple', email, ssn)", 'copying them into a tsvector'],
    ["tsvector_update_trigger_column(tsv, 'pg_catalog.simple', phone)", 'copying one into a tsvector (config from a column)'],
  ].map(
    ([fn, how]): Attack => ({
      name: `a trigger cannot be handed masked columns by name: ${how}`,
      who: 'migrator',
      setup: 'ALTER TABLE customers ADD COLUMN tsv tsvector',
      steps: [`CREATE TRIGGER tsv_leak BEFORE UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION ${fn}`, 'UPDATE customers SET name = name WHERE id < 4', 'SELECT tsv::text FROM customers WHERE id < 4'],
      refusal: /email|ssn|phone/,
      cleanup: 'DROP TRIGGER IF EXISTS tsv_leak ON customers; ALTER TABLE customers DROP COLUMN IF EXISTS tsv',
    }),
  ),
  {
    name: 'a notice a trigger raises with a masked value is withheld',
    who: 'support-bot',
    setup: TRIGGER('tg_notice', "RAISE NOTICE 'customer %', (SELECT ssn || ' ' || phone FROM customers WHERE id = NEW.customer_id)"),
    steps: ['UPDATE orders SET status = status WHERE id = 4', (c) => c.extended('', 'UPDATE orders SET status = status WHERE id = 5')],
    effectOnly: true,
    cleanup: dropTrigger('tg_notice'),
  },
  {
    name: 'an exception a trigger raises with masked values in its message, detail and hint is withheld',
    who: 'support-bot',
    setup: TRIGGER('tg_raise', "RAISE EXCEPTION 'no %', (SELECT ssn FROM customers WHERE id = NEW.customer_id) USING DETAIL = (SELECT phone FROM customers WHERE id = NEW.customer_id), HINT = (SELECT ssn FROM customers WHERE id = 1)"),
    steps: ['UPDATE orders SET status = status WHERE id = 6', 'SELECT 1'],
    effectOnly: true,
    cleanup: dropTrigger('tg_raise'),
  },
  {
    name: 'dynamic SQL a trigger builds from a masked value is not quoted back in the error context',
    who: 'support-bot',
    setup: TRIGGER('tg_dyn', "EXECUTE format('SELECT %L FROM no_such_table', (SELECT ssn FROM customers WHERE id = NEW.customer_id))"),
    steps: ['UPDATE orders SET status = status WHERE id = 7'],
    effectOnly: true,
    cleanup: dropTrigger('tg_dyn'),
  },
  {
    name: 'a data exception in a trigger casting a masked value does not echo it',
    who: 'support-bot',
    setup: TRIGGER('tg_cast', 'PERFORM (SELECT ssn FROM customers WHERE id = NEW.customer_id)::int'),
    steps: ['UPDATE orders SET status = status WHERE id = 8'],
    effectOnly: true,
    cleanup: dropTrigger('tg_cast'),
  },
];

/**
 * INHERIT and ATTACH PARTITION make a scan of the parent return the child's rows under the
 * parent's names, which no masking rule names: linking a governed table under another is refused.
 */
const PARENT = 'CREATE TABLE link_parent (id int, name text, email text, phone text, ssn text); ALTER TABLE link_parent OWNER TO gw_app';
const PARTITIONED = 'CREATE TABLE link_parts (id int, name text, email text, phone text, ssn text) PARTITION BY RANGE (id); ALTER TABLE link_parts OWNER TO gw_app';
const UNLINK = `DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = 'public.customers'::regclass) THEN
    IF to_regclass('public.link_parts') IS NOT NULL AND EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = 'public.customers'::regclass AND inhparent = 'public.link_parts'::regclass) THEN ALTER TABLE link_parts DETACH PARTITION customers;
    ELSE ALTER TABLE customers NO INHERIT link_parent; END IF;
  END IF; END $$; DROP TABLE IF EXISTS link_parent, link_parts`;

const links: Attack[] = [
  {
    name: 'a table with masked columns cannot be made to INHERIT another, whose scan would return its rows',
    who: 'migrator',
    setup: PARENT,
    steps: ['ALTER TABLE customers INHERIT link_parent', 'SELECT email, ssn FROM link_parent', 'SELECT * FROM link_parent'],
    refusal: /INHERIT/,
    cleanup: UNLINK,
  },
  {
    name: 'a table with masked columns cannot be attached as a partition of another',
    who: 'migrator',
    setup: PARTITIONED,
    steps: ['ALTER TABLE link_parts ATTACH PARTITION customers FOR VALUES FROM (0) TO (100000)', 'SELECT email, ssn FROM link_parts'],
    refusal: /ATTACH PARTITION/,
    cleanup: UNLINK,
  },
  {
    name: 'INHERIT hidden among other commands of one ALTER TABLE, with qualified quoted names, is refused',
    who: 'migrator',
    setup: PARENT,
    steps: ['ALTER TABLE public."customers" ALTER COLUMN name SET DEFAULT \'x\', INHERIT public."link_parent"', 'SELECT ssn FROM link_parent'],
    refusal: /INHERIT/,
    cleanup: `${UNLINK}; ALTER TABLE customers ALTER COLUMN name DROP DEFAULT`,
  },
  {
    name: 'a link made in the same string as the parent is refused',
    who: 'migrator',
    steps: ['CREATE TABLE link_parent (id int, email text, ssn text); ALTER TABLE customers INHERIT link_parent', 'SELECT email FROM link_parent'],
    refusal: /INHERIT/,
    cleanup: UNLINK,
  },
  ...[
    ['SELECT ssn, email, phone FROM customers_archive', 'read by name'],
    ['SELECT * FROM customers_archive', 'read with *'],
    ['SELECT upper(email), ssn || \'\' FROM customers_archive', 'read through expressions'],
  ].map(
    ([sql, how]): Attack => ({
      name: `an inheritance child of a table with masked columns is masked like it: ${how}`,
      who: 'migrator',
      setup: `CREATE TABLE customers_archive () INHERITS (customers); ALTER TABLE customers_archive OWNER TO gw_app;
              INSERT INTO customers_archive VALUES (1001, 'Old', 'old.secret@example.org', '+1-555-7777', '977-77-7777')`,
      steps: [sql],
      secrets: ['old.secret@example.org', '977-77-7777', '+1-555-7777'],
      effectOnly: true,
      cleanup: 'DROP TABLE IF EXISTS customers_archive',
    }),
  ),
  {
    name: 'filtering on a masked column through an inheritance child is refused like on the table',
    who: 'migrator',
    setup: 'CREATE TABLE customers_archive () INHERITS (customers); ALTER TABLE customers_archive OWNER TO gw_app',
    steps: ["SELECT id FROM customers_archive WHERE ssn > '5'", 'SELECT id FROM customers_archive ORDER BY ssn'],
    refusal: /ssn/,
    cleanup: 'DROP TABLE IF EXISTS customers_archive',
  },
  {
    name: 'a parent the table with masked columns was made to inherit on the database is masked like it',
    who: 'migrator',
    setup: 'CREATE TABLE person_base (id int, name text, email text, phone text, ssn text); ALTER TABLE person_base OWNER TO gw_app; ALTER TABLE customers INHERIT person_base',
    steps: ['SELECT email, ssn, phone FROM person_base', 'SELECT * FROM person_base WHERE id < 5'],
    effectOnly: true,
    cleanup: 'ALTER TABLE customers NO INHERIT person_base; DROP TABLE IF EXISTS person_base',
  },
  {
    name: 'a partitioned table the table with masked columns was attached to on the database is masked like it',
    who: 'migrator',
    setup: 'CREATE TABLE customers_all (id int, name text, email text, phone text, ssn text) PARTITION BY RANGE (id); ALTER TABLE customers_all OWNER TO gw_app; ALTER TABLE customers_all ATTACH PARTITION customers FOR VALUES FROM (0) TO (100000)',
    steps: ['SELECT email, ssn FROM customers_all', (c) => c.extended('', 'SELECT phone, email FROM customers_all WHERE id < $1', ['9'])],
    effectOnly: true,
    cleanup: 'ALTER TABLE customers_all DETACH PARTITION customers; DROP TABLE IF EXISTS customers_all',
  },
  {
    name: 'tables no rule governs can still be linked',
    who: 'migrator',
    steps: ['CREATE TABLE link_a (x int)', 'CREATE TABLE link_b (x int)', 'ALTER TABLE link_b INHERIT link_a', 'SELECT x FROM link_a'],
    allowed: { rows: 0, changes: ['schema'] },
    cleanup: 'DROP TABLE IF EXISTS link_b, link_a',
  },
];

/** The DataRows (text cells, null for NULL) and the error messages of one simple query. */
async function rowsOf(c: AttackClient, sql: string): Promise<{ rows: (string | null)[][]; errors: string[] }> {
  const from = c.bytes.length;
  const errs = c.errors.length;
  await c.query(sql);
  const buf = Buffer.concat(c.bytes.slice(from));
  const rows: (string | null)[][] = [];
  for (let i = 0; i + 5 <= buf.length; i += 1 + buf.readInt32BE(i + 1)) {
    if (buf[i] !== 0x44) continue; // 'D' DataRow
    let p = i + 7;
    const row: (string | null)[] = [];
    for (let k = buf.readInt16BE(i + 5); k > 0; k--) {
      const len = buf.readInt32BE(p);
      p += 4;
      row.push(len < 0 ? null : buf.subarray(p, p + len).toString('utf8'));
      if (len > 0) p += len;
    }
    rows.push(row);
  }
  return { rows, errors: c.errors.slice(errs).map((e) => e.M ?? '') };
}

const storedValue = (world: World, col: string, id: number) => world.direct(`select ${col} from customers where id = ${id}`).trim();
const sqlText = (s: string) => `'${s.replace(/'/g, "''")}'`;
const candidates = (cands: string[]) => `(VALUES ${cands.map((x, i) => `(${sqlText(x)}, ${i})`).join(', ')}) v(x, i)`;

/**
 * Recovers `col` of customer `id` character by character: `query(k, candidates)` answers with the
 * index of the candidate (the prefix so far plus one character) that matched, in its last cell.
 * Stops at a refusal (the harness judges it); five characters recovered is a leak.
 */
async function extractByPrefix(c: AttackClient, world: World, col: string, id: number, query: (k: number, cands: string[]) => string, charset = 'abcdefghijklmnopqrstuvwxyz0123456789.@-+ '): Promise<void> {
  let known = '';
  for (let k = 1; k <= 40; k++) {
    const cands = [...charset].map((ch) => known + ch);
    const r = await rowsOf(c, query(k, cands));
    if (r.errors.length) break;
    const hit = r.rows.map((x) => Number(x[x.length - 1])).find((x) => Number.isInteger(x) && x >= 0 && x < cands.length);
    if (hit === undefined) break;
    known = cands[hit];
  }
  if (known.length >= 5) throw new Error(`recovered ${col} of customer ${id} as ${JSON.stringify(known)} (stored: ${JSON.stringify(storedValue(world, col, id))})`);
}

/**
 * Recovers `col` of customer `id` one character at a time: `found(guess)` asks whether a guess
 * (the known part grown by one character, at its end or its start) holds. Stops at a refusal.
 */
async function extractByGuess(c: AttackClient, world: World, col: string, id: number, sql: (guess: string) => string, grow: (known: string, ch: string) => string, charset: string, last = false): Promise<void> {
  let known = '';
  for (let k = 0; k < 30; k++) {
    let next = '';
    for (const ch of charset) {
      const r = await rowsOf(c, sql(grow(known, ch)));
      if (r.errors.length) return;
      if (r.rows.length > 0 && r.rows[0][0] !== '0') {
        next = grow(known, ch);
        // A range test holds for every character up to the right one: the last that holds wins.
        if (!last) break;
      }
    }
    if (!next) break;
    known = next;
  }
  if (known.length >= 5) throw new Error(`recovered ${col} of customer ${id} as ${JSON.stringify(known)} (stored: ${JSON.stringify(storedValue(world, col, id))})`);
}

const MASKED_COLUMN = /customers\.(email|phone|ssn)/;

/**
 * A whole row (`c`, `c.*`, a derived table's row) or a field of one (`(c).ssn`) in a predicate
 * uses every column it holds, as the column written alone would be used: each is decided by its
 * own masking rule's filter mode.
 */
const wholeRows: Attack[] = [
  {
    name: 'a whole row cast to text in WHERE is no pattern oracle of a masked column',
    who: 'analyst',
    steps: [(c, world) => extractByGuess(c, world, 'ssn', 1, (suf) => `SELECT count(*) FROM customers c WHERE id = 1 AND c::text LIKE ${sqlText('%' + suf + ')')}`, (k, ch) => ch + k, '0123456789-')],
    refusal: MASKED_COLUMN,
  },
  {
    name: 'a derived table\'s whole row compared as a record is no range oracle of the masked column in it',
    who: 'analyst',
    steps: [(c, world) => extractByGuess(c, world, 'ssn', 2, (g) => `SELECT count(*) FROM (SELECT ssn FROM customers WHERE id = 2) d WHERE d >= ROW(${sqlText(g)}::text)`, (k, ch) => k + ch, '-0123456789', true)],
    refusal: /customers\.ssn with >=/,
  },
  {
    name: 'a whole row of the table compared with a row value is no range oracle of a masked column',
    who: 'analyst',
    steps: [(c, world) => extractByGuess(c, world, 'email', 5, (g) => `SELECT count(*) FROM customers c WHERE id = 5 AND c >= ROW(5, 'Customer 5', ${sqlText(g)}, '', '')::customers`, (k, ch) => k + ch, [...'+-.0123456789@abcdefghijklmnopqrstuvwxyz'].sort().join(''), true)],
    refusal: /customers\.(email|phone|ssn) with >=/,
  },
  {
    name: 'a field of a whole row in WHERE is used as the column: no pattern oracle of ssn (filter: deny)',
    who: 'analyst',
    steps: [(c, world) => extractByGuess(c, world, 'ssn', 7, (suf) => `SELECT count(*) FROM customers c WHERE id = 7 AND (c).ssn LIKE ${sqlText('%' + suf)}`, (k, ch) => ch + k, '0123456789-')],
    refusal: /customers\.ssn with LIKE/,
  },
  ...[
    ['a whole row compared with a row value', "SELECT id FROM customers c WHERE c > ROW(1, 'a', 'm', 'x', 'y')::customers"],
    ['a whole row of a derived table compared in a join', "SELECT v.x FROM (SELECT ssn FROM customers WHERE id = 1) d JOIN (VALUES ('5'), ('95')) v(x) ON d > ROW(v.x::text)"],
    ['a whole row of a derived table IN a subquery of rows', "SELECT count(*) FROM (SELECT ssn FROM customers) d WHERE d IN (SELECT ROW('901-37-4729'::text))"],
    ['strpos of a whole row as text', "SELECT id FROM customers c WHERE strpos(c::text, '-37-') > 0"],
    ['a whole row matched inside a CASE in WHERE', "SELECT id FROM customers c WHERE CASE WHEN c::text LIKE '%9)' THEN true ELSE false END"],
    ['a whole-row star matched with a regular expression', "SELECT id FROM customers c WHERE (c.*)::text ~ '4729'"],
    ['a field of a whole row with LIKE', "SELECT count(*) FROM customers c WHERE (c).ssn LIKE '901%'"],
    ['a field of a whole-row star compared by range', "SELECT count(*) FROM customers c WHERE (c.*).email > 'm'"],
    ['a function of a field of a whole row in a join', "SELECT v.x FROM customers c JOIN (VALUES ('9')) v(x) ON substr((c).ssn, 1, 1) = v.x"],
    ['concat of a whole row', "SELECT count(*) FROM customers c WHERE concat(c) LIKE '%4729)'"],
    ['the length of a whole row as text', 'SELECT count(*) FROM customers c WHERE length(c::text) > 70'],
    ['a whole row in the condition of a write', "UPDATE orders SET status = status WHERE id = 1 AND EXISTS (SELECT 1 FROM customers c WHERE c.id = 1 AND c::text LIKE '%9)')"],
    ['a COPY query filtering on a whole row', "COPY (SELECT id FROM customers c WHERE c::text LIKE '%9)') TO STDOUT"],
    ['a correlated EXISTS matching a whole row', "SELECT count(*) FROM orders o WHERE EXISTS (SELECT 1 FROM customers c WHERE c.id = o.customer_id AND c::text LIKE '%1)')"],
    ['an aggregate FILTER on a whole row', "SELECT count(*) FILTER (WHERE c::text LIKE '%9)') FROM customers c"],
    ['a HAVING on a whole row', "SELECT count(*) FROM customers c GROUP BY c.id HAVING bool_and(c::text LIKE '%9)')"],
    ['ORDER BY a derived whole row', 'SELECT id FROM (SELECT ssn, id FROM customers) d ORDER BY d'],
    ['GROUP BY a derived whole row', 'SELECT count(*) FROM (SELECT substr(ssn, 1, 1) AS s FROM customers) d GROUP BY d'],
    ['a window ordered by a whole row', 'SELECT id, rank() OVER (ORDER BY d) FROM (SELECT email, id FROM customers) d'],
    ['count(DISTINCT whole row)', 'SELECT count(DISTINCT d) FROM (SELECT substr(ssn, 1, 2) FROM customers) d'],
    ['ORDER BY a field of a whole row', 'SELECT id FROM customers c ORDER BY (c).ssn'],
    ['functional notation in WHERE', "SELECT count(*) FROM customers c WHERE ssn(c) LIKE '9%'"],
    ['functional notation compared by equality under filter: deny', "SELECT count(*) FROM customers c WHERE ssn(c) = '901-37-4729'"],
    ['->> of to_jsonb of a whole row', "SELECT count(*) FROM customers c WHERE to_jsonb(c) ->> 'ssn' LIKE '9%'"],
    ['row_to_json of a whole row as text', "SELECT count(*) FROM customers c WHERE row_to_json(c)::text LIKE '%4729%'"],
    ['format() of a whole row', "SELECT count(*) FROM customers c WHERE format('%s', c) LIKE '%4729)'"],
    ['a cast of a field of a whole row to int', 'SELECT (c).ssn::int FROM customers c WHERE id = 1'],
    ['a cast of a whole row as text to int', 'SELECT c::text::int FROM customers c WHERE id = 1'],
    ['regexp_matches over a whole row', "SELECT count(*) FROM customers c, regexp_matches(c::text, '-37-') m"],
    ['string_to_table over a whole row', "SELECT count(*) FROM customers c, string_to_table(c::text, '9') t WHERE c.id = 1"],
    ['LIMIT from the length of a whole row', 'SELECT id FROM orders LIMIT (SELECT length(c::text) FROM customers c WHERE c.id = 1)'],
    ['a CASE on a whole row in the output', "SELECT CASE WHEN c::text LIKE '%9)' THEN 1 ELSE 0 END FROM customers c"],
    ['bool_or over a whole row', "SELECT bool_or(c::text LIKE '%9)') FROM customers c"],
    ['a division by a function of a whole row', "SELECT 1 / strpos(c::text, '-37-') FROM customers c WHERE id = 1"],
  ].map(
    ([what, sql]): Attack => ({
      name: `a masked value in ${what} is refused`,
      who: sql.startsWith('UPDATE') ? 'support-bot' : 'analyst',
      steps: [sql],
      refusal: /customers\.(email|phone|ssn)|function ssn/,
    }),
  ),
  {
    name: 'a whole row copied by a write is refused',
    who: 'support-bot',
    steps: ['UPDATE orders SET status = (SELECT c::text FROM customers c WHERE c.id = 1) WHERE id = 1', 'UPDATE orders SET status = (SELECT (c).ssn FROM customers c WHERE c.id = 1) WHERE id = 1'],
    refusal: MASKED_COLUMN,
  },
  { name: 'a field of a whole row compared by equality is a lookup, as the column is', who: 'analyst', steps: ["SELECT id FROM customers c WHERE (c).email = 'person1.x919@example.org'"], allowed: { rows: 1 } },
  { name: 'a field of a whole row that no rule masks filters freely', who: 'analyst', steps: ["SELECT id FROM customers c WHERE (c).id < 4 AND (c.*).name LIKE 'Customer %'"], allowed: { rows: 3 } },
];

/**
 * A cast that can change a value (a length, a type modifier, another type) gives a value computed
 * from the column, not the column: masked as such in outputs, and never equality of the column in
 * a predicate. Only text, varchar and bpchar without a modifier keep the column.
 */
const cuttingCasts: Attack[] = [
  {
    name: 'a cast to varchar(n) of a partly masked column is masked whole, so the lengths do not rebuild it',
    who: 'analyst',
    steps: [
      async (c, world) => {
        const real = storedValue(world, 'phone', 1);
        const got: string[] = [];
        for (let k = 1; k <= real.length; k++) {
          const r = await rowsOf(c, `SELECT phone::varchar(${k}) FROM customers WHERE id = 1`);
          if (r.errors.length) throw new Error(`refused: ${r.errors[0]}`);
          got.push(String(r.rows[0]?.[0]));
        }
        // The partial masker keeps the last two characters: each cut would add one.
        const rebuilt = got.map((m, i) => (i === 0 ? (m.includes('*') ? '?' : m) : m.at(-1) === '*' ? '?' : m.at(-1))).join('');
        if (rebuilt.replace(/\?/g, '').length >= 6) throw new Error(`rebuilt phone ${JSON.stringify(rebuilt)} from ${JSON.stringify(got)} (stored ${JSON.stringify(real)})`);
      },
    ],
    effectOnly: true,
  },
  {
    name: 'a cast to char(n) in COPY output of a partly masked column is masked whole',
    who: 'migrator',
    steps: [
      async (c, world) => {
        const real = storedValue(world, 'phone', 2);
        const from = c.bytes.length;
        for (let k = 4; k <= real.length; k++) await c.query(`COPY (SELECT phone::char(${k}) FROM customers WHERE id = 2) TO STDOUT`);
        const text = Buffer.concat(c.bytes.slice(from)).toString('latin1');
        const tails = [...text.matchAll(/d\0\0\0.([^\n]*)\n/g)].map((m) => m[1]);
        const rebuilt = tails.map((t) => t.at(-1)).join('');
        if (rebuilt.length && !rebuilt.includes('*')) throw new Error(`COPY tails ${JSON.stringify(tails)} rebuild ${JSON.stringify(rebuilt)} (stored ${JSON.stringify(real)})`);
      },
    ],
    effectOnly: true,
  },
  {
    name: 'equality with a derived column that cuts a masked value is no prefix oracle',
    who: 'analyst',
    steps: [(c, world) => extractByPrefix(c, world, 'email', 1, (k, cands) => `SELECT v.i FROM (SELECT id, email::varchar(${k}) AS p FROM customers WHERE id = 1) d JOIN ${candidates(cands)} ON d.p = v.x`)],
    refusal: /customers\.email inside an expression/,
  },
  {
    name: 'equality with a scalar subquery that cuts a masked value is no prefix oracle',
    who: 'analyst',
    steps: [(c, world) => extractByGuess(c, world, 'email', 3, (g) => `SELECT count(*) FROM customers c WHERE c.id = 3 AND (SELECT c.email::char(${g.length})) = ${sqlText(g)}`, (k, ch) => k + ch, 'abcdefghijklmnopqrstuvwxyz0123456789.@')],
    refusal: /customers\.email inside an expression/,
  },
  {
    name: 'IN a CTE column that cuts a masked value is no prefix oracle',
    who: 'support-bot',
    steps: [(c, world) => extractByPrefix(c, world, 'phone', 4, (k, cands) => `WITH d AS (SELECT id, CAST(phone AS varchar(${k})) AS p FROM customers WHERE id = 4) SELECT i FROM ${candidates(cands)} WHERE x IN (SELECT p FROM d)`, '0123456789+-')],
    refusal: /customers\.phone inside an expression/,
  },
  ...[
    ['a cast cutting it, compared directly', "SELECT id FROM customers WHERE email::varchar(3) = 'per'"],
    ['ORDER BY a cast cutting it', 'SELECT id FROM customers ORDER BY email::varchar(3)'],
    ['a join on a derived column cast to name', "SELECT count(*) FROM (SELECT email::name AS e FROM customers) d JOIN (VALUES ('x')) v(x) ON d.e = v.x"],
  ].map(
    ([what, sql]): Attack => ({ name: `a masked value in ${what} is refused`, who: 'analyst', steps: [sql], refusal: /customers\.email/ }),
  ),
  { name: 'a cast to text without a length is the column: masked by its own masker, compared as the column', who: 'analyst', steps: ["SELECT d.id, d.e FROM (SELECT id, email::varchar AS e, phone::text FROM customers) d WHERE d.e = 'person1.x919@example.org'"], allowed: { rows: 1 } },
];

/** Predicate and ordering forms beyond plain comparisons, each decided by the column's filter mode. */
const predicateForms: Attack[] = [
  ...[
    ['an aggregate FILTER clause', "SELECT count(*) FILTER (WHERE ssn > '5') FROM customers"],
    ['percentile_disc', 'SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY email) FROM customers'],
    ['mode()', 'SELECT mode() WITHIN GROUP (ORDER BY phone) FROM customers'],
    ['a row comparison', "SELECT id FROM customers WHERE (email, id) > ('m', 0)"],
    ['< ANY', "SELECT id FROM customers WHERE email < ANY (ARRAY['m'])"],
    ['LIKE ANY', "SELECT id FROM customers WHERE email LIKE ANY (ARRAY['p%'])"],
    ['^@', "SELECT id FROM customers WHERE email ^@ 'p'"],
    ['position()', "SELECT id FROM customers WHERE position('@' in email) > 3"],
    ['a COLLATE range', "SELECT id FROM customers WHERE email COLLATE \"C\" > 'm'"],
    ['a correlated EXISTS with a range', "SELECT id FROM customers c WHERE EXISTS (SELECT 1 FROM (VALUES ('p')) v(x) WHERE c.email >= v.x)"],
    ['a LATERAL condition', "SELECT c.id, l.x FROM customers c, LATERAL (SELECT 1 AS x WHERE c.email > 'm') l"],
    ['a join on a range', "SELECT c.id FROM customers c JOIN (VALUES ('m')) v(x) ON c.email > v.x"],
    ['a join on its length', 'SELECT c.id, g FROM customers c JOIN generate_series(1, 40) g ON length(c.email) = g'],
    ['IN a subquery with a range inside', "SELECT id FROM customers WHERE email IN (SELECT email FROM customers WHERE email > 'm')"],
    ['a scalar subquery compared by range', "SELECT id FROM customers c WHERE (SELECT c.email) > 'm'"],
    ['= ALL', "SELECT id FROM customers WHERE email = ALL (ARRAY['a'])"],
    ['a materialized CTE column compared by range', "WITH d AS MATERIALIZED (SELECT id, email e FROM customers) SELECT id FROM d WHERE e > 'm'"],
    ['GROUPING SETS', 'SELECT count(*) FROM customers GROUP BY GROUPING SETS ((email), ())'],
    ['DISTINCT ON', 'SELECT DISTINCT ON (email) id FROM customers'],
    ['TABLESAMPLE REPEATABLE', 'SELECT count(*) FROM orders TABLESAMPLE BERNOULLI (50) REPEATABLE ((SELECT length(ssn) FROM customers WHERE id = 1))'],
    ['octet_length in WHERE', 'SELECT id FROM customers WHERE octet_length(email) = 24'],
    ['a containment test on to_jsonb of the row', 'SELECT id FROM customers c WHERE to_jsonb(c) @> \'{"email": "x"}\''],
    ['a jsonpath over to_jsonb', "SELECT jsonb_path_exists(to_jsonb(email), '$ ? (@ starts with \"p\")') FROM customers"],
    ['an array overlap', "SELECT id FROM customers WHERE ARRAY[email] && ARRAY['x']"],
    ['an array range comparison', "SELECT id FROM customers WHERE ARRAY[email] > ARRAY['m']"],
    ['first_value ordered by another column', 'SELECT first_value(phone) OVER (ORDER BY id) FROM customers'],
    ['a recursive CTE walking its characters', "WITH RECURSIVE r(i, ch) AS (SELECT 1, substr((SELECT email FROM customers WHERE id = 1), 1, 1) UNION ALL SELECT i + 1, substr((SELECT email FROM customers WHERE id = 1), i + 1, 1) FROM r WHERE i < 30) SELECT i FROM r WHERE ch = 'p'"],
  ].map(([what, sql]): Attack => ({ name: `a masked value in ${what} is refused`, who: 'analyst', steps: [sql], refusal: MASKED_COLUMN })),
];

/** Ways of fetching a result other than one simple query: each returns the values masked. */
const resultForms: Attack[] = [
  {
    name: 'a scroll cursor with hold, fetched backward and absolute, returns masked values',
    who: 'analyst',
    effectOnly: true,
    steps: ['BEGIN', 'DECLARE sc SCROLL CURSOR WITH HOLD FOR SELECT id, email, phone, ssn, phone::text AS p2 FROM customers', 'COMMIT', 'FETCH ALL FROM sc', 'FETCH BACKWARD 5 FROM sc', 'MOVE ABSOLUTE 3 IN sc', 'FETCH RELATIVE 2 FROM sc', 'FETCH PRIOR FROM sc', 'CLOSE sc'],
  },
  {
    name: 'the binary result format of masked columns and of expressions of them is masked',
    who: 'analyst',
    effectOnly: true,
    steps: [(c) => c.extended('', 'SELECT id, email, phone, ssn, upper(email), ssn::varchar, ssn::bpchar FROM customers', [], [1]), (c) => c.extended('', 'SELECT email, phone, ssn FROM customers WHERE id = $1', ['1'], [1, 0, 1])],
  },
  {
    name: 'a portal executed in parts with row limits stays masked',
    who: 'analyst',
    effectOnly: true,
    steps: [(c) => c.cycle(Buffer.concat([encodeParse('ps', 'SELECT id, ssn, email, phone FROM customers'), encodeBind('pp', 'ps', [], [1]), encodeExecute('pp', 3), encodeExecute('pp', 5), encodeExecute('pp', 0), SYNC]))],
  },
  {
    name: 'SQL EXECUTE of a prepared statement and a cursor over it return masked values',
    who: 'support-bot',
    effectOnly: true,
    steps: ['PREPARE pq(int) AS SELECT phone, ssn, email FROM customers WHERE id > $1', 'EXECUTE pq(0)', 'BEGIN', 'DECLARE pc CURSOR FOR EXECUTE pq(1)', 'FETCH 10 FROM pc', 'ROLLBACK'],
  },
  {
    name: 'COPY in CSV with odd quote, escape, delimiter and FORCE_QUOTE keeps values masked',
    who: 'migrator',
    effectOnly: true,
    steps: [
      "COPY (SELECT id, email, phone, ssn FROM customers) TO STDOUT (FORMAT csv, QUOTE '9', ESCAPE '-', DELIMITER '.', FORCE_QUOTE *)",
      "COPY (SELECT phone, ssn, email FROM customers) TO STDOUT (FORMAT csv, DELIMITER '@', QUOTE '5', HEADER)",
      "COPY customers TO STDOUT (DELIMITER '-', HEADER)",
      "COPY customers (ssn, phone) TO STDOUT WITH CSV DELIMITER AS '9' QUOTE AS '-' FORCE QUOTE ssn",
    ],
  },
];

const legitimate: Attack[] = [
  { name: 'the analyst reads masked columns, masked', who: 'analyst', steps: ['SELECT id, name, email, phone, ssn FROM customers'], allowed: { rows: 40 } },
  { name: 'the analyst counts a masked column', who: 'analyst', steps: ['SELECT count(ssn) FROM customers'], allowed: { rows: 1 } },
  { name: 'the analyst looks up by email equality', who: 'analyst', steps: ["SELECT id FROM customers WHERE email = 'person1.x919@example.org'"], allowed: { rows: 1 } },
  { name: 'the analyst joins on unmasked keys', who: 'analyst', steps: ['SELECT c.name, o.total FROM orders o JOIN customers c ON c.id = o.customer_id ORDER BY o.id LIMIT 5'], allowed: { rows: 5 } },
  { name: 'the analyst uses a masked column through a function in the output', who: 'analyst', steps: ['SELECT lower(email), substr(ssn, 1, 3) FROM customers WHERE id < 6'], allowed: { rows: 5 } },
  { name: 'support-bot reads emails in clear and updates a status', who: 'support-bot', steps: ["UPDATE orders SET status = 'shipped' WHERE id = 7", 'SELECT email FROM customers WHERE id = 1'], allowed: { rows: 1, changes: ['data'] } },
  { name: 'support-bot uses the extended protocol with parameters', who: 'support-bot', steps: [(c) => c.extended('', 'SELECT id, status FROM orders WHERE id = $1', ['5'])], allowed: { rows: 1 } },
  { name: 'the analyst prepares and executes a masked query by SQL', who: 'analyst', steps: ['PREPARE p AS SELECT ssn FROM customers WHERE id = $1', 'EXECUTE p(1)'], allowed: { rows: 1 } },
  { name: 'the analyst reads the catalog like psql does', who: 'analyst', steps: ["SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'", 'SHOW server_version'], allowed: { rows: 2 } },
];

/**
 * current_setting($1): the setting is named by the Bind's parameter, so the gateway decides each
 * Bind on its value; every other way of running such a call (a simple Query, SQL PREPARE and
 * EXECUTE, EXPLAIN, a parameter of a type converted to text by code the gateway cannot follow,
 * a named argument) is refused. A secret stored for the upstream role must not come out.
 */
const BIND_SECRET = 'bindset-secret-3318';
const BIND_SETUP = `GRANT pg_read_all_settings TO gw_app;
  ALTER ROLE gw_app SET dynamic_library_path = '$libdir:/${BIND_SECRET}';
  ALTER ROLE gw_app SET app.bind_secret = '${BIND_SECRET}'`;
const BIND_CLEANUP = 'ALTER ROLE gw_app RESET dynamic_library_path; ALTER ROLE gw_app RESET app.bind_secret; REVOKE pg_read_all_settings FROM gw_app';
/** Parse with declared parameter types, Bind, Describe, Execute, Sync. */
const typedRead = (text: string, types: number[], params: string[]) => (c: AttackClient) =>
  c.cycle(Buffer.concat([encodeParse('', text, types), encodeBind('', '', params), encodeDescribe('P', ''), encodeExecute(''), SYNC]));
const settingParameters: Attack[] = [
  ...['app.bind_secret', 'dynamic_library_path', '  APP.Bind_Secret ', 'DYNAMIC_LIBRARY_PATH'].map(
    (name): Attack => ({
      name: `current_setting($1) bound to ${JSON.stringify(name)} is refused at Bind`,
      who: 'analyst',
      setup: BIND_SETUP,
      steps: [(c) => c.extended('', 'SELECT current_setting($1)', [name]), (c) => c.extended('', 'SELECT current_setting($1, true) AS v', [name])],
      secrets: [BIND_SECRET],
      serverNever: [/app\.bind_secret|dynamic_library_path/i],
      cleanup: BIND_CLEANUP,
    }),
  ),
  {
    name: 'a prepared current_setting($1) bound first to a readable setting, then to a secret one, is refused the second time',
    who: 'analyst',
    setup: BIND_SETUP,
    steps: [
      (c) => c.extended('s1', 'SELECT current_setting($1) AS v', ['work_mem']),
      (c) => c.extended('s1', null, ['app.bind_secret']),
      (c) => c.extended('s1', null, ['dynamic_library_path']),
      (c) => c.extended('s2', 'SELECT current_setting($1) AS a, current_setting($2) AS b', ['work_mem', 'app.bind_secret']),
      (c) => c.extended('s3', "SELECT current_setting($1) AS v WHERE $1 <> 'x'", ['app.bind_secret']),
    ],
    secrets: [BIND_SECRET],
    cleanup: BIND_CLEANUP,
  },
  {
    name: 'current_setting($1) outside a protocol Parse of a plain statement is refused, whatever the value',
    who: 'analyst',
    setup: BIND_SETUP,
    steps: [
      'PREPARE p(text) AS SELECT current_setting($1)',
      "EXECUTE p('app.bind_secret')",
      'SELECT current_setting($1)',
      (c) => c.parse('p2', 'PREPARE p3(text) AS SELECT current_setting($1)'),
      (c) => c.extended('', 'EXPLAIN (ANALYZE, VERBOSE) SELECT current_setting($1)', ['app.bind_secret']),
      (c) => c.extended('', 'SELECT current_setting(setting_name => $1)', ['app.bind_secret']),
      (c) => c.extended('', 'DECLARE c CURSOR FOR SELECT current_setting($1)', ['app.bind_secret']),
    ],
    secrets: [BIND_SECRET],
    serverNever: [/app\.bind_secret/],
    cleanup: BIND_CLEANUP,
  },
  {
    name: 'current_setting($1) with the parameter declared of a type other than text, or used elsewhere, is refused at Parse',
    who: 'analyst',
    setup: BIND_SETUP,
    steps: [
      // int4, cstring, json: the server converts the value to text by the type's own code.
      typedRead('SELECT current_setting($1)', [23], ['1']),
      typedRead('SELECT current_setting($1)', [2275], ['app.bind_secret']),
      typedRead('SELECT current_setting($1)', [114], ['"app.bind_secret"']),
      // Of no declared type but used elsewhere too, the server types it by its first use.
      (c) => c.extended('', 'SELECT current_setting($1) FROM orders WHERE status = $1', ['work_mem']),
      (c) => c.extended('', "SELECT current_setting($1) WHERE $1 IS NOT NULL", ['app.bind_secret']),
    ],
    secrets: [BIND_SECRET],
    cleanup: BIND_CLEANUP,
  },
];

const settingParametersAllowed: Attack[] = [
  {
    name: 'legitimate: current_setting($1) of readable settings, as drivers send it',
    who: 'analyst',
    setup: BIND_SETUP,
    steps: [
      (c) => c.extended('', 'SELECT current_setting($1) AS v', ['transaction_isolation']),
      (c) => c.extended('t1', 'SELECT current_setting($1) AS a, current_setting($2) AS b', ['transaction_read_only', 'default_transaction_read_only']),
      typedRead('SELECT current_setting($1) AS v', [25], ['work_mem']),
    ],
    allowed: { rows: 3 },
    secrets: [BIND_SECRET],
    cleanup: BIND_CLEANUP,
  },
];

/**
 * A recursive CTE's SEARCH and CYCLE clauses add columns: the search sequence (an array of rows,
 * or a row, of the BY columns, made to be ordered by), the cycle mark (set when a row's cycle
 * columns equal, by =, those of a row on its path; the recursion stops there) and the path (an
 * array of rows of the cycle columns). Each holds copies of the values it is built from.
 */
const RECURSIVE = (select: string, id: number | string, tail = 'SELECT x FROM r WHERE false') => `WITH RECURSIVE r(x) AS (SELECT ${select} FROM customers WHERE id ${typeof id === 'number' ? `= ${id}` : id} UNION ALL ${tail})`;
const searchCycle: Attack[] = [
  {
    name: 'the SEARCH sequence column of a recursive CTE over a masked column never comes back in clear',
    who: 'analyst',
    steps: [`${RECURSIVE('ssn', 2)} SEARCH DEPTH FIRST BY x SET o SELECT o FROM r`, `${RECURSIVE('ssn', 3)} SEARCH BREADTH FIRST BY x SET o SELECT o::text FROM r`],
    effectOnly: true,
  },
  {
    name: 'the CYCLE path column of a recursive CTE over a masked column never comes back in clear',
    who: 'analyst',
    steps: [`${RECURSIVE('ssn', 1)} CYCLE x SET cyc USING p SELECT p FROM r`, `${RECURSIVE('ssn', 1, 'SELECT p::text FROM r WHERE false')} CYCLE x SET cyc USING p SELECT x FROM r`],
    effectOnly: true,
  },
  {
    name: 'the CYCLE path column over phone (a partial masker) never comes back in clear',
    who: 'support-bot',
    steps: [`${RECURSIVE('phone', '< 4')} CYCLE x SET cyc USING p SELECT p::text FROM r`],
    effectOnly: true,
  },
  {
    name: 'COPY of a CYCLE path column over a masked column never copies it out in clear',
    who: 'migrator',
    steps: [`COPY (${RECURSIVE('ssn', 5)} CYCLE x SET cyc USING p SELECT p FROM r) TO STDOUT`],
    effectOnly: true,
  },
  {
    name: 'a CYCLE path column over a masked column is a write of it into orders.status',
    who: 'support-bot',
    steps: [`${RECURSIVE('ssn', 4)} CYCLE x SET cyc USING p UPDATE orders SET status = (SELECT p::text FROM r) WHERE id = 1`, 'SELECT status FROM orders WHERE id = 1'],
    refusal: /ssn/,
  },
  {
    name: 'a CYCLE path column over a masked column is a write of it into a new table',
    who: 'migrator',
    steps: [`CREATE TABLE leak_cycle AS ${RECURSIVE('ssn', 6)} CYCLE x SET cyc USING p SELECT p::text AS v FROM r`, 'SELECT * FROM leak_cycle'],
    refusal: /ssn/,
    cleanup: 'DROP TABLE IF EXISTS leak_cycle',
  },
  {
    name: 'CYCLE detection compares a filter: deny column with =: no equality oracle',
    who: 'analyst',
    steps: [sameAnswer((g) => `${RECURSIVE('ssn', 1, `SELECT '${g}' FROM r`)} CYCLE x SET cyc USING p SELECT count(*) FROM r`)],
    refusal: /ssn/,
  },
  {
    name: 'SEARCH ordering of a filter: deny column is an ordering: no range oracle',
    who: 'analyst',
    steps: [
      async (c, world) => {
        // Customer 7's ssn against a planted guess, read from which row the SEARCH order puts first.
        let known = '';
        for (let k = 0; k < 11; k++) {
          let found = '';
          for (const ch of '-0123456789') {
            const g = known + ch;
            const r = await rowsOf(c, `WITH RECURSIVE r(x, n) AS (SELECT x, n FROM (SELECT ssn AS x, 0 AS n FROM customers WHERE id = 7 UNION ALL SELECT '${g}', 1) b UNION ALL SELECT x, n FROM r WHERE false) SEARCH DEPTH FIRST BY x SET o SELECT o::text FROM r ORDER BY o`);
            if (r.errors.length) return;
            const first = r.rows[0]?.[0] ?? '';
            if (first.includes(`"${g}"`) || first === `{(${g})}`) found = g;
          }
          if (!found) break;
          known = found;
        }
        if (known.length >= 5) throw new Error(`recovered ssn of customer 7 as ${JSON.stringify(known)} (stored ${JSON.stringify(storedValue(world, 'ssn', 7))})`);
      },
    ],
    effectOnly: true,
  },
  {
    name: 'legitimate: CYCLE detection over an equality column, its values masked',
    who: 'analyst',
    steps: [`${RECURSIVE('email', '< 4')} CYCLE x SET cyc USING p SELECT x, cyc FROM r`],
    allowed: { rows: 3 },
  },
];

/**
 * DISTINCT inside an aggregate compares its arguments with =: `count(DISTINCT s)` over the stored
 * value and a guess is 1 or 2. It is an equality use of the column, as in WHERE: refused for ssn
 * (filter: deny), allowed for email and phone (filter: equality).
 */
const guessed = (g: string) => `(SELECT ssn AS s FROM customers WHERE id = 1 UNION ALL SELECT '${g}') d`;
const distinctAggregates: Attack[] = [
  {
    name: 'count(DISTINCT) over a UNION ALL of ssn and a guess is no equality oracle (filter: deny)',
    who: 'analyst',
    steps: [sameAnswer((g) => `SELECT count(DISTINCT s) FROM ${guessed(g)}`)],
    refusal: /ssn/,
  },
  {
    name: 'count(DISTINCT) of ssn in LIMIT is no equality oracle',
    who: 'analyst',
    steps: [sameAnswer((g) => `SELECT id FROM orders LIMIT (SELECT count(DISTINCT s) FROM ${guessed(g)})`)],
    refusal: /ssn/,
  },
  {
    name: 'count(DISTINCT) over many guesses does not recover ssn by group testing',
    who: 'analyst',
    steps: [
      async (c, world) => {
        const real = storedValue(world, 'ssn', 1);
        const head = real.slice(0, 7);
        let lo = 0;
        let hi = 9999;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          const values = Array.from({ length: mid - lo + 1 }, (_, i) => `('${head}${String(lo + i).padStart(4, '0')}')`).join(', ');
          const r = await rowsOf(c, `SELECT count(DISTINCT s) FROM (SELECT ssn AS s FROM customers WHERE id = 1 UNION ALL VALUES ${values}) d`);
          if (r.errors.length) return;
          if (Number(r.rows[0]?.[0]) === mid - lo + 1) hi = mid;
          else lo = mid + 1;
        }
        const got = head + String(lo).padStart(4, '0');
        if (got === real) throw new Error(`recovered ssn of customer 1 as ${got} by group testing with count(DISTINCT)`);
      },
    ],
    refusal: /ssn/,
  },
  {
    name: 'count(DISTINCT ssn) of two stored rows is no equality test between them',
    who: 'analyst',
    setup: 'UPDATE customers SET ssn = (SELECT ssn FROM customers WHERE id = 2) WHERE id = 3',
    steps: [
      async (c) => {
        const a = await rowsOf(c, 'SELECT count(DISTINCT ssn) FROM customers WHERE id IN (2, 3)');
        const b = await rowsOf(c, 'SELECT count(DISTINCT ssn) FROM customers WHERE id IN (2, 4)');
        if (!a.errors.length && !b.errors.length && a.rows[0]?.[0] !== b.rows[0]?.[0]) throw new Error(`count(DISTINCT ssn) tells equal ssns: ${a.rows[0]?.[0]} vs ${b.rows[0]?.[0]}`);
      },
    ],
    refusal: /ssn/,
  },
  {
    name: 'support-bot: count(DISTINCT) of ssn in an UPDATE condition is no equality oracle',
    who: 'support-bot',
    steps: [sameAnswer((g) => `UPDATE orders SET status = status WHERE id = 1 AND (SELECT count(DISTINCT s) FROM ${guessed(g)}) = 1`)],
    refusal: /ssn/,
    worldChanges: ['data'],
  },
  {
    name: 'migrator: count(DISTINCT) of ssn written into a table is no equality oracle',
    who: 'migrator',
    setup: 'CREATE TABLE cd_notes (g text, n text); ALTER TABLE cd_notes OWNER TO gw_app',
    steps: [
      `INSERT INTO cd_notes SELECT '${RIGHT_SSN}', count(DISTINCT s)::text FROM ${guessed(RIGHT_SSN)}`,
      async (c) => {
        const r = await rowsOf(c, 'SELECT n FROM cd_notes');
        if (r.rows[0]?.[0] === '1') throw new Error('the stored count says the guess equals the stored ssn');
      },
    ],
    refusal: /ssn/,
    cleanup: 'DROP TABLE IF EXISTS cd_notes',
  },
  {
    name: 'count(DISTINCT) of ssn in HAVING is no equality oracle',
    who: 'analyst',
    steps: [`SELECT count(DISTINCT s) FROM ${guessed(RIGHT_SSN)} HAVING count(DISTINCT s) = 1`],
    refusal: /ssn/,
  },
  {
    name: 'array_agg and string_agg with DISTINCT of ssn are equality uses of it',
    who: 'analyst',
    steps: [`SELECT cardinality(array_agg(DISTINCT s)) FROM ${guessed(RIGHT_SSN)}`, `SELECT length(string_agg(DISTINCT s, '')) FROM ${guessed(RIGHT_SSN)}`],
    refusal: /ssn/,
  },
  {
    name: 'legitimate: count(DISTINCT) of columns whose rule allows equality lookups',
    who: 'analyst',
    steps: ['SELECT count(DISTINCT email), count(DISTINCT phone) FROM customers'],
    allowed: { rows: 1 },
  },
];

/**
 * Matching a masked value against a pattern, a search string or a set of characters is a
 * predicate on it, in the output list as in WHERE: the result's size and the time it takes depend
 * on the match, and safe-list functions grow a matched prefix without bound.
 */
const GROWTH = (prefix: string) => `SELECT length(replace(replace(regexp_replace(ssn, '^${prefix}', repeat('Q', 3000)), 'Q', repeat('Q', 3000)), 'Q', 'QQQQQQQQQQ')) FROM customers WHERE id = 1`;
const patternFunctions: Attack[] = [
  {
    name: 'a statement_timeout on value-dependent growth through replace() is no prefix oracle of ssn',
    who: 'analyst',
    steps: [
      "SET statement_timeout = '150ms'",
      async (c, world) => {
        let known = '';
        for (let k = 0; k < 6; k++) {
          let next = '';
          for (const ch of '0123456789-') {
            const r = await rowsOf(c, GROWTH(known + ch));
            if (r.errors.some((e) => e.startsWith('pgwarden:'))) return;
            if (r.errors.some((e) => /statement timeout/.test(e))) {
              next = known + ch;
              break;
            }
          }
          if (!next) break;
          known = next;
        }
        if (known.length >= 5) throw new Error(`recovered ssn of customer 1 as ${JSON.stringify(known)}… by statement timeouts (stored ${JSON.stringify(storedValue(world, 'ssn', 1))})`);
      },
    ],
    effectOnly: true,
  },
  {
    name: 'the run time of value-dependent growth through replace() is no prefix oracle of ssn',
    who: 'analyst',
    steps: [
      async (c) => {
        const time = async (g: string) => {
          const t0 = Date.now();
          await c.query(GROWTH(g));
          return Date.now() - t0;
        };
        const hit = await time('901');
        const miss = await time('902');
        if (hit > 5 * miss + 200) throw new Error(`the right prefix takes ${hit} ms, a wrong one ${miss} ms`);
      },
    ],
    effectOnly: true,
  },
  {
    name: 'EXPLAIN ANALYZE of value-dependent growth is no Sort memory oracle',
    who: 'analyst',
    steps: [
      async (c) => {
        const plan = async (p: string) => (await rowsOf(c, `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT x FROM (SELECT name, regexp_replace(ssn, '^${p}', repeat('x', 300000)) x FROM customers WHERE id = 1) s ORDER BY name`)).rows.map((r) => r[0]).join('\n');
        const a = await plan('9');
        const b = await plan('8');
        if (a !== b) throw new Error(`the plans differ:\n${a}\n--\n${b}`);
      },
    ],
    effectOnly: true,
  },
  ...[
    ['replace', "SELECT length(replace(email, 'a', repeat('Q', 100))) FROM customers WHERE id = 1"],
    ['regexp_replace', "SELECT regexp_replace(phone, '^\\+1', 'x') FROM customers WHERE id = 1"],
    ['strpos with the value as the searched-for string', "SELECT strpos('901-37-4729', ssn) FROM customers WHERE id = 1"],
    ['split_part and translate', "SELECT split_part(email, '@', 2), translate(phone, '0123456789', '') FROM customers WHERE id = 1"],
    ['LIKE in the output list', "SELECT email LIKE 'p%' FROM customers WHERE id = 1"],
    ['a trim of chosen characters', "SELECT length(btrim(ssn, '9')) FROM customers WHERE id = 1"],
  ].map(([what, sql]): Attack => ({ name: `matching a masked value in ${what} is a predicate on it, refused in the output list`, who: 'analyst', steps: [sql], refusal: MASKED_COLUMN })),
  {
    name: 'legitimate: value-preserving functions of masked columns in the output list',
    who: 'analyst',
    steps: ['SELECT lower(email), upper(phone), length(ssn), substr(ssn, 1, 3), btrim(email) FROM customers WHERE id < 4'],
    allowed: { rows: 3 },
  },
];

/** Masked values in positions the analysis already follows: joins, set-returning functions, writes of other kinds. */
const otherPositions: Attack[] = [
  ...[
    ['a NATURAL JOIN with a VALUES column named like it', "SELECT count(*) FROM customers NATURAL JOIN (VALUES ('901-37-4729')) v(ssn)"],
    ['a JOIN … USING with VALUES', "SELECT count(*) FROM customers JOIN (VALUES ('901-37-4729')) v(ssn) USING (ssn)"],
    ['a NATURAL JOIN on a cut of it', "SELECT count(*) FROM (SELECT id, left(email, 1) AS e FROM customers WHERE id = 1) d NATURAL JOIN (VALUES ('p')) v(e)"],
    ['generate_series in FROM', 'SELECT count(*) FROM customers c, generate_series(1, length(c.ssn)) g WHERE c.id = 1'],
    ['unnest of string_to_array in FROM', 'SELECT count(*) FROM customers c, unnest(string_to_array(c.ssn, NULL)) g WHERE c.id = 1'],
    ['NULLIF in the output', "SELECT nullif(ssn, '901-37-4729') FROM customers WHERE id = 1"],
    ['a subscript of string_to_array with a null string', "SELECT (string_to_array(ssn, NULL, '9'))[1] FROM customers WHERE id = 1"],
    ['XMLTABLE over xmlelement', `SELECT count(*) FROM customers c, XMLTABLE('/r[starts-with(., "9")]' PASSING xmlelement(name r, c.ssn) COLUMNS x text PATH '.') t WHERE c.id = 1`],
    ['xmlforest', 'SELECT xmlforest(ssn, email) FROM customers WHERE id = 1'],
    ['to_tsvector', "SELECT to_tsvector('simple', ssn) FROM customers WHERE id = 1"],
    ['format %I', "SELECT format('%I', ssn) FROM customers WHERE id = 1"],
    ['convert_to and sha256', "SELECT encode(sha256(convert_to(ssn, 'UTF8')), 'hex') FROM customers WHERE id = 1"],
    ['pg_notify', "SELECT pg_notify('ch', ssn) FROM customers WHERE id = 1"],
    ['an advisory lock keyed by it', 'SELECT pg_try_advisory_lock(hashtext(ssn)) FROM customers WHERE id = 1'],
    ['lo_from_bytea', "SELECT lo_from_bytea(0, convert_to(ssn, 'UTF8')) FROM customers WHERE id = 1"],
    ['a recursive UNION', "WITH RECURSIVE r(x) AS (SELECT ssn FROM customers WHERE id = 1 UNION SELECT '901-37-4729' FROM r) SELECT count(*) FROM r"],
  ].map(([what, sql]): Attack => ({ name: `a masked value in ${what} is refused`, who: 'analyst', steps: [sql], refusal: /ssn|email|pg_notify|advisory|lo_from_bytea/ })),
  ...[
    ['ON CONFLICT DO UPDATE SET from the stored row', "INSERT INTO customers VALUES (1, 'x', 'x@x', 'p', 's') ON CONFLICT (id) DO UPDATE SET name = customers.ssn RETURNING name"],
    ['ON CONFLICT DO UPDATE … WHERE on the stored row', "INSERT INTO customers VALUES (1, 'x', 'x@x', 'p', 's') ON CONFLICT (id) DO UPDATE SET name = excluded.name WHERE customers.ssn LIKE '9%' RETURNING id"],
    ['a writable CTE feeding an INSERT', 'WITH x AS (UPDATE customers SET name = name WHERE id = 1 RETURNING ssn) INSERT INTO orders (id, customer_id, status, total) SELECT 999, 1, ssn, 0 FROM x'],
    ['setval', "SELECT setval('audit_seq', length(ssn)) FROM customers WHERE id = 1"],
  ].map(([what, sql]): Attack => ({ name: `migrator's ${what} over a masked column is refused`, who: 'migrator', steps: [sql], refusal: /ssn|setval/ })),
  {
    name: 'UPDATE … FROM … RETURNING the other table and a RETURNING subquery in a writable CTE are masked',
    who: 'support-bot',
    steps: [
      "UPDATE orders o SET status = status FROM customers c WHERE c.id = o.customer_id AND o.id = 1 RETURNING c.ssn, c.phone, c.ssn || '' AS s2",
      'WITH u AS (UPDATE orders SET status = status WHERE id = 1 RETURNING (SELECT ssn FROM customers WHERE id = 1) AS s) SELECT s FROM u',
    ],
    allowed: { rows: 2, changes: ['data'] },
  },
  {
    name: 'not-null and check violations on the masked table do not echo the row',
    who: 'migrator',
    steps: ['UPDATE customers SET name = NULL WHERE id = 1', 'ALTER TABLE customers ADD CONSTRAINT ck_neg CHECK (id < 0) NOT VALID', 'UPDATE customers SET name = name WHERE id = 1'],
    effectOnly: true,
    worldChanges: ['schema'],
    cleanup: 'ALTER TABLE customers DROP CONSTRAINT IF EXISTS ck_neg',
  },
];

export const leakFamilies: Family[] = [
  { family: 'settings named by a bind parameter', cases: [...settingParameters, ...settingParametersAllowed] },
  { family: 'statistics', cases: statistics },
  { family: 'error messages', cases: errorEchoes },
  { family: 'inference through computation', cases: inference },
  { family: 'content detectors', cases: detectors },
  { family: 'laundering through writes', cases: laundering },
  { family: 'writes compared with stored values by keys', cases: keyChecks },
  { family: 'COPY formats masking cannot read', cases: copyFormats },
  { family: 'views made on the database', cases: views },
  { family: 'descriptions lost to an error', cases: lostDescriptions },
  { family: 'USING aliases of joins', cases: usingAliases },
  { family: 'code in the database', cases: databaseCode },
  { family: 'inheritance and partition links', cases: links },
  { family: 'whole rows and their fields in predicates', cases: wholeRows },
  { family: 'casts that can change a value', cases: cuttingCasts },
  { family: 'predicate and ordering forms', cases: predicateForms },
  { family: 'result forms', cases: resultForms },
  { family: 'SEARCH and CYCLE columns of recursive CTEs', cases: searchCycle },
  { family: 'DISTINCT inside aggregates', cases: distinctAggregates },
  { family: 'pattern and search functions', cases: patternFunctions },
  { family: 'masked values in other positions', cases: otherPositions },
  { family: 'legitimate use', cases: legitimate },
];
