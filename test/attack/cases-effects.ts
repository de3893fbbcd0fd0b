/**
 * Side effects and privileged reads: review rules matched by effect, sequences named at run time,
 * secret-bearing catalogs and settings, protocol tricks, held statements.
 */
import { encodeParse } from '../../src/protocol/index.ts';
import { frame, type AttackClient } from './client.ts';
import type { Attack, Family, Step } from './harness.ts';
import type { World } from './world.ts';

const SYNC = frame('S', Buffer.alloc(0));

/** An approver of the world's review rule approves the review the client's last error named. */
async function approveLast(c: AttackClient, world: World): Promise<void> {
  const id = [...c.errors].reverse().map((e) => /review (\S+) was requested/.exec(e.M ?? '')?.[1]).find((x) => x !== undefined);
  if (!id) throw new Error(`no review was requested: ${c.errors.map((e) => e.M).join(' | ')}`);
  const token = await world.gw.issuer.sign({ sub: 'alice-dba', groups: ['dba'] });
  const res = await fetch(`http://${world.gw.config.listen.http}/api/reviews/${id}/approve`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ comment: 'approved by the attack corpus' }),
  });
  if (res.status !== 200) throw new Error(`approving ${id} failed: ${res.status} ${await res.text()}`);
}
const closeStatement = (name: string) => frame('C', Buffer.from(`S${name}\0`));

/** An approval binds what the statement runs: an EXECUTE is approved for the prepared statement it ran. */
const approvalBinding: Attack[] = [
  {
    name: 'an approval of EXECUTE d is not used by EXECUTE d after d was prepared again as another statement of the same table',
    who: 'migrator',
    steps: [
      (c) => c.parse('d', 'UPDATE orders SET status = status WHERE true'),
      'EXECUTE d',
      approveLast,
      (c) => c.cycle(Buffer.concat([closeStatement('d'), encodeParse('d', 'DELETE FROM orders WHERE true'), SYNC])),
      'EXECUTE d',
    ],
    serverNever: [/DELETE FROM orders WHERE true/i],
    refusal: /review/i,
  },
  {
    name: 'an approval of EXECUTE d is not used after SQL PREPARE made d another statement',
    who: 'migrator',
    steps: ['PREPARE d AS UPDATE orders SET status = status WHERE true', 'EXECUTE d', approveLast, 'DEALLOCATE d', 'PREPARE d AS DELETE FROM orders WHERE true', 'EXECUTE d'],
    serverNever: [/DELETE FROM orders WHERE true/i],
    refusal: /review/i,
  },
  {
    name: 'legitimate: an approved EXECUTE d runs once, as approved',
    who: 'migrator',
    // Its own text: an approval of the first case's statement may still be waiting to be used.
    steps: [(c) => c.parse('d', 'UPDATE orders SET status = status WHERE total IS NOT NULL'), 'EXECUTE d', approveLast, 'EXECUTE d', 'EXECUTE d'],
    refusal: /review/i,
  },
];

const reviewBypass: Attack[] = [
  ...[
    'DELETE FROM orders WHERE true',
    'DELETE FROM orders WHERE 1 = 1',
    "DELETE FROM orders WHERE 'a' = 'a'",
    'DELETE FROM orders WHERE NOT false',
    'DELETE FROM orders WHERE id > 0 OR true',
    'DELETE FROM orders WHERE id IS NOT NULL',
    'DELETE FROM orders WHERE id IN (SELECT id FROM orders)',
    'DELETE FROM orders WHERE EXISTS (SELECT 1)',
    'DELETE FROM orders WHERE (1 < 2)',
    'DELETE FROM orders o USING orders p WHERE o.id = p.id',
    'WITH d AS (DELETE FROM orders WHERE true RETURNING 1) SELECT count(*) FROM d',
    'UPDATE orders SET total = 0 WHERE true',
    'UPDATE orders SET total = 0 WHERE id = id',
    'UPDATE orders SET total = 0 WHERE total IS NOT NULL',
  ].map(
    (sql): Attack => ({
      name: `an unbounded write is held for review: ${sql}`,
      who: 'migrator',
      steps: [sql],
      refusal: /review/i,
    }),
  ),
  {
    name: 'MERGE with a DELETE action is held for review like the DELETE it is',
    who: 'migrator',
    steps: ['MERGE INTO orders o USING orders s ON o.id = s.id WHEN MATCHED THEN DELETE'],
    refusal: /review/i,
  },
  {
    name: 'MERGE updating every row is held for review',
    who: 'migrator',
    steps: ['MERGE INTO orders o USING (SELECT id FROM orders) s ON true WHEN MATCHED THEN UPDATE SET total = 0'],
    refusal: /review/i,
  },
  ...[
    'ALTER TABLE orders DROP COLUMN total',
    'ALTER TABLE orders DROP CONSTRAINT orders_pkey',
    'ALTER TABLE orders ALTER COLUMN total TYPE integer',
    'ALTER TABLE orders ALTER COLUMN status DROP NOT NULL, DROP COLUMN total',
    'DROP INDEX IF EXISTS orders_pkey',
    'DROP SEQUENCE audit_seq',
    'ALTER SEQUENCE audit_seq RESTART',
  ].map(
    (sql): Attack => ({
      name: `destructive DDL is held for review: ${sql}`,
      who: 'migrator',
      steps: [sql],
      refusal: /review/i,
    }),
  ),
  // Tautologies the unbounded check does not know by name: the selection is bounded only when a
  // predicate it recognises restricts the target, so each of these is held.
  ...[
    'DELETE FROM orders WHERE orders IS NOT NULL',
    'DELETE FROM orders WHERE (id, status) = (id, status)',
    'DELETE FROM orders WHERE NOT (id <> id)',
    'DELETE FROM orders WHERE id >= id',
    "DELETE FROM orders WHERE status ILIKE '%'",
    "DELETE FROM orders WHERE status SIMILAR TO '%'",
    'DELETE FROM orders WHERE id % 1 = 0',
    'DELETE FROM orders WHERE id * 0 = 0',
    'DELETE FROM orders WHERE ctid = ctid',
    'DELETE FROM orders WHERE id::text = id::text',
    'EXPLAIN ANALYZE DELETE FROM orders',
    "DELETE FROM orders WHERE starts_with(status, '')",
    'DELETE FROM orders WHERE id IN (SELECT id FROM orders WHERE true)',
    'DELETE FROM orders WHERE id IN (SELECT id FROM (SELECT * FROM orders) s)',
    'DELETE FROM orders WHERE id = ANY (ARRAY(SELECT id FROM orders))',
    'DELETE FROM orders WHERE (id = id) IS TRUE',
    'DELETE FROM orders WHERE CASE WHEN id = id THEN true END',
    'DELETE FROM orders WHERE id IN (SELECT id FROM orders UNION SELECT -1)',
    'UPDATE orders SET total = 0 WHERE orders = orders',
  ].map(
    (sql): Attack => ({
      name: `a predicate not recognised as restricting leaves the write unbounded, held for review: ${sql}`,
      who: 'migrator',
      steps: [sql],
      refusal: /review/i,
    }),
  ),
  ...[
    'DELETE FROM orders WHERE customer_id IN (SELECT id FROM customers)',
    'DELETE FROM orders o WHERE EXISTS (SELECT 1 FROM customers c WHERE c.id = o.customer_id)',
  ].map(
    (sql): Attack => ({
      name: `a semi-join over a table nothing restricts reaches every row through a NOT NULL foreign key, held for review: ${sql}`,
      who: 'migrator',
      steps: [sql],
      refusal: /review/i,
    }),
  ),
  ...['DELETE FROM public.ov WHERE id IS NOT NULL', 'DELETE FROM public.ov WHERE ov IS NOT NULL'].map(
    (sql): Attack => ({
      name: `a view's own WHERE does not bound a write through it, held for review: ${sql}`,
      who: 'migrator',
      setup: 'CREATE VIEW public.ov AS SELECT * FROM public.orders WHERE id > 0; ALTER VIEW public.ov OWNER TO gw_app',
      steps: [sql],
      refusal: /review/i,
      cleanup: 'DROP VIEW IF EXISTS public.ov',
    }),
  ),
  {
    name: 'a held DELETE sent over the extended protocol never reaches the server',
    who: 'migrator',
    steps: [(c) => c.extended('', 'DELETE FROM orders WHERE true')],
    serverNever: [/DELETE FROM orders WHERE true/],
    refusal: /review/i,
  },
];

const sequences: Attack[] = [
  {
    name: 'nextval of a sequence named by a computed string is a write the identity needs a grant for',
    who: 'support-bot',
    steps: ["SELECT nextval(s::regclass) FROM (VALUES ('public.audit' || '_seq')) v(s)"],
  },
  {
    name: 'nextval of a sequence found in the catalog at run time is refused',
    who: 'support-bot',
    steps: ["SELECT nextval((SELECT oid FROM pg_class WHERE relname = 'audit_seq')::regclass)"],
  },
  {
    name: 'nextval of a constant sequence name needs a grant on that sequence',
    who: 'support-bot',
    steps: ["SELECT nextval('audit_seq')", "SELECT nextval('public.audit_seq'::regclass)"],
  },
  {
    name: 'setval through a computed name is refused',
    who: 'support-bot',
    steps: ["SELECT setval(lower('AUDIT_SEQ'), 100)"],
  },
  {
    name: 'nextval through a parameter is refused',
    who: 'support-bot',
    steps: [(c) => c.extended('', 'SELECT nextval($1)', ['audit_seq'])],
  },
];

const secrets: Attack[] = [
  ...['pg_authid', 'pg_shadow', 'pg_hba_file_rules', 'pg_largeobject', 'pg_user_mappings', 'pg_file_settings', 'pg_ident_file_mappings', 'pg_stat_activity'].map(
    (rel): Attack => ({
      name: `${rel} is refused at the gateway`,
      who: 'analyst',
      steps: [`SELECT * FROM ${rel}`, `SELECT count(*) FROM pg_catalog.${rel}`],
      serverNever: [new RegExp(`FROM (pg_catalog\\.)?${rel}`)],
    }),
  ),
  {
    // pg_dump counts subscriptions; the connection string (which can hold a password) stays hidden.
    name: "pg_subscription's connection strings are refused at the gateway, however the row is read",
    who: 'analyst',
    steps: ['SELECT * FROM pg_subscription', 'SELECT subconninfo FROM pg_catalog.pg_subscription', 'SELECT to_json(s) FROM pg_subscription s', 'SELECT (s).subconninfo FROM pg_subscription s'],
    serverNever: [/subconninfo/, /SELECT \* FROM pg_subscription/, /to_json\(s\)/],
  },
  ...['data_directory', 'config_file', 'hba_file', 'ident_file', 'ssl_key_file', 'archive_command', 'log_directory'].map(
    (setting): Attack => ({
      name: `the setting ${setting} is not readable`,
      who: 'analyst',
      steps: [`SELECT current_setting('${setting}')`, `SHOW ${setting}`, `SELECT setting FROM pg_settings WHERE name = '${setting}'`],
      serverNever: [new RegExp(`current_setting\\('${setting}'\\)|SHOW ${setting}`)],
    }),
  ),
  {
    name: "other sessions' query texts are not readable through the backend status functions",
    who: 'analyst',
    plant: [{ who: 'support-bot', sql: "SELECT 'support-secret-7781' AS marker, pg_sleep(0)" }],
    steps: [
      'SELECT pg_stat_get_backend_activity(s) FROM pg_stat_get_backend_idset() s',
      'SELECT pg_catalog.pg_stat_get_activity(NULL)',
      "SELECT query FROM pg_catalog.pg_stat_activity WHERE query LIKE '%secret%'",
    ],
    secrets: ['support-secret-7781'],
    serverNever: [/pg_stat_get_backend_activity|pg_stat_get_activity/],
  },
  {
    name: 'settings are not readable through the functions behind pg_settings and pg_file_settings',
    who: 'analyst',
    steps: ["SELECT setting FROM pg_show_all_settings() WHERE name = 'data_directory'", 'SELECT * FROM pg_catalog.pg_show_all_file_settings()', 'SELECT * FROM pg_hba_file_rules()'],
    serverNever: [/pg_show_all_settings|pg_show_all_file_settings|pg_hba_file_rules/],
  },
  {
    name: 'SQL in strings and cursors cannot be read as XML around the masking',
    who: 'analyst',
    steps: [
      "SELECT query_to_xml('select ssn, email from customers', true, false, '')",
      "SELECT table_to_xml('customers', true, false, '')",
      'BEGIN',
      'DECLARE xc CURSOR FOR SELECT ssn, email FROM customers',
      "SELECT cursor_to_xml('xc', 40, true, false, '')",
      'ROLLBACK',
    ],
    serverNever: [/query_to_xml|table_to_xml|cursor_to_xml/],
  },
  {
    name: 'the statement_timeout limit holds against startup options and RESET',
    who: 'analyst',
    startup: { options: '-c statement_timeout=0' },
    steps: [
      'RESET statement_timeout',
      'SET statement_timeout TO DEFAULT',
      "SELECT set_config('statement_timeout', '0', false)",
      'BEGIN',
      'SET LOCAL statement_timeout = 0',
      'ROLLBACK',
      'RESET ALL',
      async (c) => {
        const before = c.received().length;
        await c.query('SHOW statement_timeout');
        // The DataRow of SHOW: one column, the value in text.
        if (!c.received().subarray(before).includes(Buffer.from('\x00\x00\x00\x0330s'))) throw new Error('statement_timeout is not the scope\'s 30s');
      },
    ],
    refusal: /statement_timeout/,
  },
  {
    name: 'a setting named by a computed string is not readable',
    who: 'analyst',
    steps: ["SELECT current_setting('data_' || 'directory')"],
  },
  {
    name: 'a Parse of several statements is refused at the gateway as PostgreSQL would',
    who: 'support-bot',
    steps: [(c) => c.cycle(Buffer.concat([encodeParse('', "SELECT 1; UPDATE orders SET total = 0 WHERE id = 17"), SYNC]))],
    serverNever: [/UPDATE orders SET total = 0 WHERE id = 17/],
    refusal: /cannot insert multiple commands into a prepared statement/,
    refusedAsPostgres: true,
  },
];

/**
 * Texts that differ only in literals share one analysis where the values cannot matter; a text
 * whose decision depends on a literal's value is decided on its own, whatever variant came first
 * (from this identity or another: the analysis cache is shared by every session).
 */
const literalKeys: Attack[] = [
  {
    name: 'an unbounded DELETE is held for review after bounded variants were decided',
    who: 'migrator',
    plant: [
      { who: 'migrator', sql: 'DELETE FROM orders WHERE id = -1' },
      { who: 'migrator', sql: 'DELETE FROM orders WHERE id = -1 OR NOT id = -2' },
    ],
    steps: ['DELETE FROM orders WHERE 1 = 1', 'DELETE FROM orders WHERE id = 7 OR NOT id = 7', 'DELETE FROM orders WHERE id = -1 OR 1 = 1'],
    refusal: /review/i,
  },
  {
    name: 'an unbounded UPDATE is held for review after a bounded variant was decided',
    who: 'migrator',
    plant: [{ who: 'migrator', sql: 'UPDATE orders SET total = total + 1 WHERE id = -1' }],
    steps: ['UPDATE orders SET total = total + 1 WHERE 1 = 1', 'UPDATE orders SET total = total + 1 WHERE id = id'],
    refusal: /review/i,
  },
  {
    name: "set_config('search_path', …) is decided on its own value after an allowed value",
    who: 'analyst',
    plant: [{ who: 'analyst', sql: "SELECT set_config('search_path', 'public', false)" }],
    steps: ["SELECT set_config('search_path', 'pristine', false)"],
    refusal: /pristine/,
  },
  {
    name: 'a column another identity reads in clear is masked for this one, whatever literal came first',
    who: 'analyst',
    plant: [{ who: 'support-bot', sql: 'SELECT id, email, phone FROM customers WHERE id = 2' }],
    steps: ['SELECT id, email, phone FROM customers WHERE id = 3', 'SELECT id, email, phone FROM customers WHERE id IN (4, 5)'],
    allowed: { rows: 3 },
  },
];

/**
 * pg_settings is readable where the WHERE pins `name` to settings current_setting may read
 * (pgJDBC's `WHERE name='max_index_keys'`). A secret stored for the gateway's upstream role (a
 * path setting the role may see through pg_read_all_settings, and a custom setting, which
 * PostgreSQL 15 hides from pg_settings but a later version or a module's own setting shows) must
 * not come out of it in any shape: widened pins, predicates the server may run on the secret's
 * row first (an error echoing the value), other reads beside the pinned one, a parameter, a planted
 * operator, and the allowed text's analysis reused for another name.
 */
const SETTING_SECRET = 'pgset-secret-6194';
const SETTING_SETUP = `GRANT pg_read_all_settings TO gw_app;
  ALTER ROLE gw_app SET dynamic_library_path = '$libdir:/${SETTING_SECRET}';
  ALTER ROLE gw_app SET app.atk_secret = '${SETTING_SECRET}'`;
const SETTING_CLEANUP = 'ALTER ROLE gw_app RESET dynamic_library_path; ALTER ROLE gw_app RESET app.atk_secret; REVOKE pg_read_all_settings FROM gw_app';

function settingShapes(secret: string, prefix: string): Step[] {
  return [
    `SELECT setting FROM pg_settings WHERE name = '${secret}'`,
    `SELECT setting FROM pg_catalog.pg_settings WHERE name = 'max_index_keys' OR name = '${secret}'`,
    `SELECT setting FROM pg_settings WHERE name IN ('max_index_keys', '${secret}')`,
    "SELECT setting FROM pg_settings WHERE name = 'max_index_keys' OR true",
    `SELECT name, setting FROM pg_settings WHERE name LIKE '${prefix}%'`,
    "SELECT setting FROM pg_settings WHERE name <> 'max_index_keys'",
    "SELECT setting FROM pg_settings WHERE NOT name = 'max_index_keys'",
    `SELECT setting FROM pg_settings WHERE lower(name) = '${secret}'`,
    'SELECT * FROM pg_settings',
    "SELECT setting FROM pg_settings WHERE name = 'max_index_keys' AND setting::int > 0",
    "SELECT setting FROM pg_settings WHERE name = 'max_index_keys' AND (CASE WHEN setting LIKE '%pgset%' THEN 1/0 ELSE 1 END) = 1",
    "SELECT setting FROM pg_settings WHERE name = 'max_index_keys' AND setting::int = 1 OR name = 'work_mem'",
    // Inside an OR, the operands of an AND are evaluated in the order written, on every row.
    // On the secret's row only, a cast whose error echoes the value.
    `SELECT setting FROM pg_settings WHERE ((CASE WHEN name = '${secret}' THEN setting ELSE '1' END)::int > 0 AND name = 'max_index_keys') OR name = 'work_mem'`,
    `SELECT setting FROM pg_settings WHERE (CASE WHEN name = '${secret}' THEN setting ELSE 't' END)::boolean AND name = 'max_index_keys'`,
    `SELECT (SELECT setting FROM pg_settings WHERE name = '${secret}') FROM pg_settings WHERE name = 'max_index_keys'`,
    `SELECT s.setting, t.setting FROM pg_settings s, pg_settings t WHERE s.name = 'max_index_keys' AND t.name LIKE '${prefix}%'`,
    `WITH s AS (SELECT * FROM pg_settings) SELECT setting FROM s WHERE name = '${secret}'`,
    `SELECT setting FROM pg_settings WHERE name = 'max_index_keys' UNION ALL SELECT setting FROM pg_settings WHERE name = '${secret}'`,
    `SELECT setting FROM pg_settings WHERE name = 'max_index_keys' OR name = (SELECT '${secret}')`,
    `SELECT setting FROM (SELECT * FROM pg_settings) s WHERE name = '${secret}'`,
    `SELECT reset_val FROM pg_settings WHERE name = '${secret.toUpperCase()}' OR name = '${secret}'`,
    `SELECT boot_val, reset_val FROM pg_settings WHERE name = '${secret}'::text AND vartype = 'string'`,
    (c) => c.extended('', 'SELECT setting FROM pg_settings WHERE name = $1', [secret]),
    (c) => c.extended('', "SELECT setting FROM pg_settings WHERE name IN ('max_index_keys', $1)", [secret]),
    'PREPARE ps(text) AS SELECT setting FROM pg_settings WHERE name = $1',
    `EXECUTE ps('${secret}')`,
    `SELECT current_setting('${secret}')`,
  ];
}

/** A read pinned to readable names whose harmless range comparisons keep only dynamic_library_path's row. */
const HAVING_ORACLE = `SELECT name FROM pg_settings
  WHERE name IN ('server_version', 'server_encoding', 'DateStyle', 'TimeZone', 'IntervalStyle', 'client_encoding', 'lc_collate', 'max_index_keys')
    AND name >= 'dynamic_library_path' AND name <= 'dynamic_library_path'
  GROUP BY name, setting`;

/** Runs a guess that is right and one that is wrong: the answers (errors and rows) must not differ. */
async function sameAnswer(c: AttackClient, sql: (guess: string) => string, right: string, wrong: string): Promise<void> {
  const answer = async (guess: string) => {
    const errors = c.errors.length;
    const from = c.bytes.length;
    await c.query(sql(guess));
    const rows = Buffer.concat(c.bytes.slice(from)).toString('latin1').match(/D\0\0/g)?.length ?? 0;
    return `${c.errors.slice(errors).map((e) => e.C).join(',')}/${rows}`;
  };
  const a = await answer(right);
  const b = await answer(wrong);
  if (a !== b) throw new Error(`the answer depends on the secret: ${a} for the right guess, ${b} for a wrong one`);
}

const pinned: Attack[] = [
  {
    name: 'a server path setting does not come out of pg_settings, however the WHERE is written',
    who: 'analyst',
    setup: SETTING_SETUP,
    reloadAfterSetup: false,
    steps: settingShapes('dynamic_library_path', 'dynamic'),
    secrets: [SETTING_SECRET],
    serverNever: [/dynamic_library_path|LIKE 'dynamic%'/],
    cleanup: SETTING_CLEANUP,
  },
  {
    name: 'a secret custom setting does not come out of pg_settings, however the WHERE is written',
    who: 'analyst',
    setup: SETTING_SETUP,
    reloadAfterSetup: false,
    steps: settingShapes('app.atk_secret', 'app.'),
    secrets: [SETTING_SECRET],
    serverNever: [/app\.atk_secret|LIKE 'app\.%'/],
    cleanup: SETTING_CLEANUP,
  },
  {
    name: "the analysis of an allowed pg_settings read is not reused for a secret setting's name, in either order",
    who: 'analyst',
    setup: SETTING_SETUP,
    reloadAfterSetup: false,
    plant: [{ who: 'support-bot', sql: "SELECT setting FROM pg_catalog.pg_settings WHERE name = 'max_index_keys'" }],
    steps: [
      "SELECT setting FROM pg_catalog.pg_settings WHERE name = 'max_index_keys'",
      "SELECT setting FROM pg_catalog.pg_settings WHERE name = 'dynamic_library_path'",
      "SELECT setting FROM pg_catalog.pg_settings WHERE name = 'app.atk_secret'",
      "SELECT setting FROM pg_catalog.pg_settings WHERE name = 'server_encoding'",
      (c) => c.extended('', "SELECT setting FROM pg_catalog.pg_settings WHERE name = 'dynamic_library_path'"),
      (c) => c.extended('', "SELECT setting FROM pg_catalog.pg_settings WHERE name = 'server_encoding'"),
      (c) => c.extended('', "SELECT setting FROM pg_catalog.pg_settings WHERE name = 'app.atk_secret'"),
      "SELECT name, setting FROM pg_settings WHERE name IN ('max_identifier_length', 'server_encoding')",
      "SELECT name, setting FROM pg_settings WHERE name IN ('max_identifier_length', 'dynamic_library_path')",
      "SELECT name, setting FROM pg_settings WHERE name IN ('max_identifier_length', 'app.atk_secret')",
    ],
    secrets: [SETTING_SECRET],
    serverNever: [/dynamic_library_path|app\.atk_secret/],
    cleanup: SETTING_CLEANUP,
  },
  {
    name: 'a HAVING without an aggregate, which the planner runs as a filter before a costly pin, cannot test the secret',
    who: 'analyst',
    setup: SETTING_SETUP,
    reloadAfterSetup: false,
    steps: [
      // The planner moves the HAVING into the scan's filter and orders it before the IN list
      // (costlier), so it runs on the secret's row, which the harmless range comparisons keep.
      // A guess that fails (division by zero) or not is a yes/no answer about the value.
      (c) => sameAnswer(c, (guess) => `${HAVING_ORACLE} HAVING 1 / (CASE WHEN setting LIKE '%${guess}%' THEN 0 ELSE 1 END) = 1`, SETTING_SECRET, 'no-such-value'),
      (c) => sameAnswer(c, (guess) => `${HAVING_ORACLE} HAVING count(*) > 0 AND 1 / (CASE WHEN setting LIKE '%${guess}%' THEN 0 ELSE 1 END) = 1`, SETTING_SECRET, 'no-such-value'),
      // A cast that fails echoes the value in its error.
      `${HAVING_ORACLE} HAVING setting::int > 0`,
    ],
    secrets: [SETTING_SECRET],
    serverNever: [/HAVING/],
    cleanup: SETTING_CLEANUP,
  },
  {
    name: "a column alias list cannot rename setting to name and pin the values",
    who: 'analyst',
    setup: SETTING_SETUP,
    reloadAfterSetup: false,
    steps: ["SELECT x, reset_val FROM pg_settings s(x, name) WHERE name = 'TimeZone'", "SELECT x FROM pg_catalog.pg_settings AS s (x, name) WHERE name IN ('work_mem', 'DateStyle')"],
    secrets: [SETTING_SECRET],
    serverNever: [/pg_settings s/i],
    cleanup: SETTING_CLEANUP,
  },
  {
    name: 'an operator planted for text = text does not widen a pin',
    who: 'analyst',
    setup: `${SETTING_SETUP};
      CREATE FUNCTION public.atk_settings_eq(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'select true';
      CREATE OPERATOR public.= (leftarg = text, rightarg = text, function = public.atk_settings_eq)`,
    steps: ["SELECT name, setting FROM pg_settings WHERE name = 'max_index_keys'", 'SET search_path = public, pg_catalog', "SELECT name, setting FROM pg_settings WHERE name = 'max_index_keys'"],
    effectOnly: true,
    secrets: [SETTING_SECRET],
    cleanup: `${SETTING_CLEANUP}; DROP OPERATOR public.= (text, text); DROP FUNCTION public.atk_settings_eq(text, text)`,
  },
  {
    name: "pgJDBC's read of max_index_keys and tools' reads of readable settings answer as PostgreSQL",
    who: 'analyst',
    steps: [
      "SELECT setting FROM pg_catalog.pg_settings WHERE name='max_index_keys'",
      "select name, setting from pg_settings where name = 'server_version_num'",
      "select name, setting from pg_settings where name in ('max_identifier_length', 'server_encoding')",
      (c) => c.extended('', "SELECT setting FROM pg_catalog.pg_settings WHERE name='max_index_keys'"),
    ],
    allowed: { rows: 5 },
  },
];

export const effectFamilies: Family[] = [
  { family: 'pg_settings pinned to readable settings', cases: pinned },
  { family: 'literal keys', cases: literalKeys },
  { family: 'review rules by effect', cases: reviewBypass },
  { family: 'approvals bound to what runs', cases: approvalBinding },
  { family: 'sequences named at run time', cases: sequences },
  { family: 'secret-bearing catalogs and settings', cases: secrets },
];
