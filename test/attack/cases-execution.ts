/**
 * The server must run exactly what the gateway decided on: lexing settings, names that resolve
 * elsewhere, prepared-statement names re-bound behind the gateway's back, renamed objects, and
 * messages the server reads otherwise than a gateway unaware of COPY would (a Sync it ignores).
 */
import { encodeBind, encodeDescribe, encodeExecute, encodeParse, SYNC } from '../../src/protocol/index.ts';
import type { AttackClient } from './client.ts';
import { frame } from './client.ts';
import type { Attack, Family, Step } from './harness.ts';
import type { World } from './world.ts';

const HIDDEN_UPDATE = 'UPDATE orders SET total = 0 WHERE id = 15';

/** A lead byte of each client-only encoding that can be followed by 0x5c (`\`) as its second byte. */
const LEAD: Record<string, number> = { SJIS: 0x95, BIG5: 0xa4, GBK: 0x81, GB18030: 0x81, UHC: 0x81, JOHAB: 0x8a };

function hiddenQuote(lead: number): Buffer {
  return Buffer.concat([Buffer.from("SELECT E'"), Buffer.from([lead, 0x5c]), Buffer.from(`' AS a; ${HIDDEN_UPDATE}; --'`)]);
}

const encodingCases: Attack[] = Object.entries(LEAD).flatMap(([enc, lead]): Attack[] => [
  {
    name: `client_encoding=${enc} in the startup packet cannot hide a statement inside a literal`,
    who: 'support-bot',
    startup: { client_encoding: enc },
    steps: [hiddenQuote(lead), 'select 1'],
  },
  {
    name: `client_encoding=${enc} in startup options cannot hide a statement inside a literal`,
    who: 'support-bot',
    startup: { options: `-c client_encoding=${enc}` },
    steps: [hiddenQuote(lead)],
  },
  {
    name: `SET client_encoding = ${enc} is refused before it can hide a statement`,
    who: 'support-bot',
    steps: [`SET client_encoding = '${enc}'`, hiddenQuote(lead)],
  },
  {
    name: `set_config('client_encoding', '${enc}') is refused before it can hide a statement`,
    who: 'support-bot',
    steps: [`SELECT set_config('client_encoding', '${enc}', false)`, hiddenQuote(lead)],
  },
]);

const moreEncoding: Attack[] = [
  {
    name: 'SET NAMES of a client-only encoding is refused',
    who: 'support-bot',
    steps: ["SET NAMES 'SJIS'", hiddenQuote(0x95)],
  },
  {
    name: 'client_encoding in the startup packet and options together cannot switch to SJIS',
    who: 'support-bot',
    startup: { client_encoding: 'UTF8', options: '--client-encoding=SJIS' },
    steps: [hiddenQuote(0x95)],
  },
  {
    name: 'set_config of client_encoding with a computed name is refused',
    who: 'support-bot',
    steps: ["SELECT set_config('client_' || 'encoding', 'SJIS', false)", hiddenQuote(0x95)],
  },
  {
    name: 'ALTER ROLE … SET client_encoding cannot change later sessions',
    who: 'migrator',
    steps: ["ALTER ROLE CURRENT_USER SET client_encoding = 'SJIS'"],
    cleanup: 'ALTER ROLE gw_app RESET client_encoding',
  },
  {
    name: 'ALTER DATABASE … SET standard_conforming_strings cannot change later sessions',
    who: 'migrator',
    steps: ['ALTER DATABASE app SET standard_conforming_strings = off'],
    cleanup: 'ALTER DATABASE app RESET standard_conforming_strings',
  },
];

const SCS_UPDATE = `SELECT 'a\\' AS p, '; UPDATE orders SET total = 0 WHERE id = 16; --'`;
const SCS_READ = `SELECT 'a\\' AS p, ' AS q, ssn FROM customers WHERE id < 5 --'`;

const conformingStrings: Attack[] = [
  ...[
    ['in the startup packet', { standard_conforming_strings: 'off' }],
    ['in startup options', { options: '-c standard_conforming_strings=off' }],
    ['in startup options with dashes', { options: '--standard-conforming-strings=off' }],
    ['as a startup packet boolean spelling', { standard_conforming_strings: 'false' }],
  ].flatMap(([where, startup]): Attack[] => [
    {
      name: `standard_conforming_strings=off ${where as string} cannot hide a write in a literal`,
      who: 'support-bot',
      startup: startup as Record<string, string>,
      steps: [SCS_UPDATE],
    },
    {
      name: `standard_conforming_strings=off ${where as string} cannot hide a read of ssn in a literal`,
      who: 'analyst',
      startup: startup as Record<string, string>,
      steps: [SCS_READ],
    },
  ]),
  {
    name: 'SET standard_conforming_strings = off is refused',
    who: 'support-bot',
    steps: ['SET standard_conforming_strings = off', SCS_UPDATE],
  },
  {
    name: 'SET LOCAL standard_conforming_strings = off is refused',
    who: 'support-bot',
    steps: ['BEGIN', 'SET LOCAL standard_conforming_strings = off', SCS_UPDATE, 'COMMIT'],
  },
  {
    name: 'set_config of standard_conforming_strings is refused',
    who: 'support-bot',
    steps: ["SELECT set_config('standard_conforming_strings', 'off', false)", SCS_UPDATE],
  },
  {
    name: 'a planted function that turns standard_conforming_strings off cannot change the session',
    who: 'support-bot',
    setup: `CREATE FUNCTION public.scs_off() RETURNS text LANGUAGE sql AS $$ SELECT set_config('standard_conforming_strings', 'off', false) $$;
            GRANT EXECUTE ON FUNCTION public.scs_off() TO PUBLIC`,
    steps: ['SELECT public.scs_off()', SCS_UPDATE],
    cleanup: 'DROP FUNCTION IF EXISTS public.scs_off()',
  },
];

const LEAK_FN = (name: string, arg: string) =>
  `CREATE FUNCTION public.${name}(${arg}) RETURNS text LANGUAGE sql AS $$ SELECT ssn FROM public.customers WHERE id = 1 $$`;

const plantedFunctions: Attack[] = [
  ...[
    ['lower', 'integer', 'SELECT lower(1)'],
    ['upper', 'integer', 'SELECT upper(7) AS u'],
    ['md5', 'integer', 'SELECT md5(3)'],
    ['btrim', 'integer', 'SELECT btrim(5)'],
    ['initcap', 'bigint', 'SELECT initcap(10000000000)'],
    ['length', 'integer', 'SELECT length(42)'],
    ['reverse', 'integer', 'SELECT reverse(1) FROM orders WHERE id = 1'],
    ['to_char', 'integer', 'SELECT to_char(1)'],
  ].map(
    ([fn, arg, sql]): Attack => ({
      name: `a planted ${fn}(${arg}) in public is a call to that function, not to pg_catalog's ${fn}`,
      who: 'analyst',
      plant: [{ who: 'migrator', sql: LEAK_FN(fn, arg) }],
      setup: `${LEAK_FN(fn, arg)}`.replace(/^CREATE FUNCTION/, 'CREATE OR REPLACE FUNCTION'),
      steps: [sql],
      cleanup: `DROP FUNCTION IF EXISTS public.${fn}(${arg})`,
    }),
  ),
  {
    name: 'a planted operator is a call to its function',
    who: 'analyst',
    setup: `CREATE FUNCTION public.leak_op(integer, integer) RETURNS text LANGUAGE sql AS $$ SELECT ssn FROM public.customers WHERE id = $1 $$;
            CREATE OPERATOR public.### (leftarg = integer, rightarg = integer, function = public.leak_op)`,
    steps: ['SELECT 1 ### 2'],
    cleanup: 'DROP OPERATOR IF EXISTS public.### (integer, integer); DROP FUNCTION IF EXISTS public.leak_op(integer, integer)',
  },
  {
    name: 'a planted operator overloading a catalog operator name is a call to its function',
    who: 'analyst',
    setup: `CREATE FUNCTION public.leak_cat(integer, integer) RETURNS text LANGUAGE sql AS $$ SELECT ssn FROM public.customers WHERE id = $1 $$;
            CREATE OPERATOR public.|| (leftarg = integer, rightarg = integer, function = public.leak_cat)`,
    steps: ['SELECT 1 || 2'],
    cleanup: 'DROP OPERATOR IF EXISTS public.|| (integer, integer); DROP FUNCTION IF EXISTS public.leak_cat(integer, integer)',
  },
  {
    name: 'a planted cast from a user type runs its function',
    who: 'analyst',
    setup: `CREATE TYPE public.k AS (id int);
            CREATE FUNCTION public.k_text(public.k) RETURNS text LANGUAGE sql AS $$ SELECT ssn FROM public.customers WHERE id = ($1).id $$;
            CREATE CAST (public.k AS text) WITH FUNCTION public.k_text(public.k)`,
    steps: ['SELECT row(1)::public.k::text', 'SELECT CAST(ROW(2)::public.k AS text)'],
    cleanup: 'DROP CAST IF EXISTS (public.k AS text); DROP FUNCTION IF EXISTS public.k_text(public.k); DROP TYPE IF EXISTS public.k',
  },
];

async function rebindSteps(c: AttackClient, rebind: string): Promise<void> {
  await c.parse('s1', 'SELECT id FROM orders WHERE id = 1');
  await c.query(rebind);
  await c.extended('s1', null);
}

/** A SQL function that re-binds the statement name x (no EXECUTE, no set_config in it), run by a row security policy. */
const SWAP_SETUP = `CREATE FUNCTION public.swap() RETURNS boolean LANGUAGE sql AS $f$ DEALLOCATE ALL; PREPARE x AS SELECT upper(ssn) AS a FROM public.customers; SELECT true $f$;
  GRANT EXECUTE ON FUNCTION public.swap() TO PUBLIC;
  ALTER TABLE customers ENABLE ROW LEVEL SECURITY; ALTER TABLE customers FORCE ROW LEVEL SECURITY;
  CREATE POLICY swap_p ON customers USING (public.swap())`;
const SWAP_CLEANUP = 'DROP POLICY IF EXISTS swap_p ON customers; ALTER TABLE customers NO FORCE ROW LEVEL SECURITY; ALTER TABLE customers DISABLE ROW LEVEL SECURITY; DROP FUNCTION IF EXISTS public.swap()';
const HARMLESS_SETUP = `CREATE FUNCTION public.always() RETURNS boolean LANGUAGE sql AS $f$ SELECT true $f$;
  GRANT EXECUTE ON FUNCTION public.always() TO PUBLIC;
  ALTER TABLE customers ENABLE ROW LEVEL SECURITY; ALTER TABLE customers FORCE ROW LEVEL SECURITY;
  CREATE POLICY always_p ON customers USING (public.always())`;
const HARMLESS_CLEANUP = 'DROP POLICY IF EXISTS always_p ON customers; ALTER TABLE customers NO FORCE ROW LEVEL SECURITY; ALTER TABLE customers DISABLE ROW LEVEL SECURITY; DROP FUNCTION IF EXISTS public.always()';

const codeRebinds: Attack[] = [
  {
    name: 'a prepared statement re-bound by a function a row security policy runs is not run as what the gateway decided',
    who: 'analyst',
    effectOnly: true,
    setup: SWAP_SETUP,
    steps: [(c) => c.parse('x', "SELECT 'abc'::text AS a"), 'SELECT id FROM customers WHERE id = 1', (c) => c.extended('x', null)],
    cleanup: SWAP_CLEANUP,
  },
  {
    name: 'the same through a prepared read of the table: the names are uncertain after each Execute of it',
    who: 'analyst',
    effectOnly: true,
    setup: SWAP_SETUP,
    steps: [(c) => c.parse('x', "SELECT 'abc'::text AS a"), (c) => c.extended('q', 'SELECT id FROM customers WHERE id = 1'), (c) => c.extended('x', null), (c) => c.extended('q', null), (c) => c.extended('x', null)],
    cleanup: SWAP_CLEANUP,
  },
  {
    name: 'the same through SQL EXECUTE of a statement that reads the table',
    who: 'analyst',
    effectOnly: true,
    setup: SWAP_SETUP,
    steps: [(c) => c.parse('x', "SELECT 'abc'::text AS a"), 'PREPARE q AS SELECT id FROM customers WHERE id = 1', 'EXECUTE q', (c) => c.extended('x', null)],
    cleanup: SWAP_CLEANUP,
  },
  {
    name: 'legitimate: a policy function that prepares nothing leaves prepared statements usable',
    who: 'analyst',
    setup: HARMLESS_SETUP,
    steps: [(c) => c.parse('x', "SELECT 'abc'::text AS a"), 'SELECT id FROM customers WHERE id = 1', (c) => c.extended('x', null), (c) => c.extended('q', 'SELECT id FROM customers WHERE id = 2'), (c) => c.extended('x', null)],
    allowed: { rows: 4 },
    cleanup: HARMLESS_CLEANUP,
  },
];

const preparedNames: Attack[] = [
  ...[
    ['DEALLOCATE s1; PREPARE s1 AS SELECT ssn FROM customers', 'in one query string'],
    ['DEALLOCATE ALL; PREPARE s1 AS SELECT ssn FROM customers', 'after DEALLOCATE ALL'],
    ['DEALLOCATE PREPARE s1; PREPARE s1 (int) AS SELECT ssn, email FROM customers', 'with DEALLOCATE PREPARE'],
  ].map(
    ([rebind, how]): Attack => ({
      name: `a protocol statement re-bound by SQL PREPARE ${how} is decided as what it now is`,
      who: 'analyst',
      effectOnly: true,
      steps: [(c) => rebindSteps(c, rebind)],
    }),
  ),
  {
    name: 'a protocol statement re-bound by SQL PREPARE in separate queries is decided as what it now is',
    effectOnly: true,
    who: 'analyst',
    steps: [
      (c) => c.parse('s1', 'SELECT id FROM orders WHERE id = 1'),
      'DEALLOCATE s1',
      'PREPARE s1 AS SELECT ssn FROM customers',
      (c) => c.extended('s1', null),
    ],
  },
  {
    name: 'a protocol statement re-bound inside a transaction block is decided as what it now is',
    effectOnly: true,
    who: 'analyst',
    steps: [
      (c) => c.parse('s1', 'SELECT id FROM orders WHERE id = 1'),
      'BEGIN',
      'DEALLOCATE s1',
      'PREPARE s1 AS SELECT ssn FROM customers',
      (c) => c.extended('s1', null),
      'COMMIT',
    ],
  },
  {
    name: 'a SQL-prepared statement bound over the protocol is masked like its SQL EXECUTE',
    effectOnly: true,
    who: 'analyst',
    steps: ['PREPARE s2 AS SELECT ssn, email FROM customers', (c) => c.extended('s2', null)],
  },
  {
    name: 'a protocol-prepared statement run by SQL EXECUTE is masked',
    effectOnly: true,
    who: 'analyst',
    steps: [(c) => c.parse('s3', 'SELECT ssn, phone FROM customers'), 'EXECUTE s3'],
  },
  {
    name: 'a protocol Close followed by SQL PREPARE of the same name is decided as the new statement',
    effectOnly: true,
    who: 'analyst',
    steps: [
      (c) => c.parse('s4', 'SELECT id FROM orders'),
      (c) => c.cycle(Buffer.concat([frame('C', Buffer.from('Ss4\0')), frame('S', Buffer.alloc(0))])),
      'PREPARE s4 AS SELECT ssn FROM customers',
      (c) => c.extended('s4', null),
    ],
  },
  {
    name: 'a PREPARE in a failed transaction does not re-bind the name in the gateway either',
    effectOnly: true,
    who: 'analyst',
    steps: [
      'PREPARE s5 AS SELECT ssn FROM customers',
      'BEGIN',
      'SELECT 1/0',
      'DEALLOCATE s5',
      'ROLLBACK',
      (c) => c.extended('s5', null),
    ],
  },
];

/**
 * search_path divergence: the gateway must resolve names with the path the server will use. A
 * table planted in public under the name of an information_schema table the analyst may read
 * (public.sql_features, not granted) holds a secret; every attempt leaves the server resolving
 * `sql_features` to public while trying to make the gateway believe information_schema comes first.
 */
const SHADOW_SECRET = 'shadow-secret-4471-ZQ';
const shadowSetup = `CREATE TABLE public.sql_features (feature_id text, feature_name text, sub_feature_id text, sub_feature_name text, is_supported text, is_verified_by text, comments text);
  INSERT INTO public.sql_features VALUES ('${SHADOW_SECRET}', '${SHADOW_SECRET}', '', '', 'YES', '', '${SHADOW_SECRET}');
  GRANT SELECT ON public.sql_features TO gw_app`;
const shadowCleanup = 'DROP TABLE IF EXISTS public.sql_features';
const SHADOWED = 'SELECT * FROM sql_features';
const INFO_FIRST = 'information_schema, public';

function divergence(name: string, steps: Attack['steps']): Attack {
  return { name, effectOnly: true, who: 'analyst', setup: shadowSetup, steps: [...steps, SHADOWED, 'SELECT feature_name FROM sql_features WHERE feature_id LIKE \'shadow%\''], secrets: [SHADOW_SECRET], cleanup: shadowCleanup };
}

const searchPath: Attack[] = [
  divergence('a SET search_path in a rolled-back transaction does not move the path the gateway decides with', ['BEGIN', `SET search_path = ${INFO_FIRST}`, 'ROLLBACK']),
  divergence('a SET LOCAL search_path ends with its transaction for the gateway too', ['BEGIN', `SET LOCAL search_path = ${INFO_FIRST}`, 'COMMIT']),
  divergence('a SET LOCAL search_path outside a transaction block ends with its statement', [`SET LOCAL search_path = ${INFO_FIRST}`]),
  divergence('ROLLBACK TO SAVEPOINT reverts a search_path set after the savepoint', ['BEGIN', 'SAVEPOINT s', `SET search_path = ${INFO_FIRST}`, 'ROLLBACK TO SAVEPOINT s', 'COMMIT']),
  divergence('a failed transaction block reverts its search_path on ROLLBACK', ['BEGIN', `SET search_path = ${INFO_FIRST}`, 'SELECT 1/0', 'ROLLBACK']),
  divergence('COMMIT of a failed block reverts its search_path', ['BEGIN', `SET search_path = ${INFO_FIRST}`, 'SELECT 1/0', 'COMMIT']),
  divergence('a query string that fails after its SET search_path reverts it', [`SET search_path = ${INFO_FIRST}; SELECT 1/0`]),
  divergence('the read in the same failing transaction never sees the reverted path', ['BEGIN', `SET search_path = ${INFO_FIRST}`, 'SELECT 1/0', SHADOWED, 'ROLLBACK']),
  divergence("set_config('search_path', …, true) outside a transaction ends with its statement", [`SELECT set_config('search_path', '${INFO_FIRST}', true)`]),
  divergence('a set_config that never runs (WHERE false) is not taken as run', [`SELECT set_config('search_path', '${INFO_FIRST}', false) FROM orders WHERE false`]),
  divergence('SET then COMMIT then a failure in one string: the gateway does not guess which ran', [`SET search_path = ${INFO_FIRST}; COMMIT; SELECT 1/0`, `SET search_path = public; SET search_path = ${INFO_FIRST}; SELECT 1/0`]),
  divergence('RESET search_path returns the gateway to the startup path', [`SET search_path = ${INFO_FIRST}`, 'RESET search_path']),
  divergence('RESET ALL returns the gateway to the startup path', [`SET search_path = ${INFO_FIRST}`, 'RESET ALL']),
  divergence('DISCARD ALL returns the gateway to the startup path', [`SET search_path = ${INFO_FIRST}`, 'DISCARD ALL']),
  divergence('a SET search_path in a failed extended-protocol pipeline reverts with it', [
    (c) => c.cycle(Buffer.concat([frame('P', Buffer.from(`\0SET search_path = ${INFO_FIRST}\0\0\0`)), frame('B', Buffer.from('\0\0\0\0\0\0\0\0')), frame('E', Buffer.from('\0\0\0\0\0')), frame('P', Buffer.from('\0SELECT 1/0\0\0\0')), frame('B', Buffer.from('\0\0\0\0\0\0\0\0')), frame('E', Buffer.from('\0\0\0\0\0')), frame('S', Buffer.alloc(0))])),
  ]),
  {
    name: 'SET LOCAL search_path inside a transaction is followed for the statements after it',
    who: 'analyst',
    steps: ['BEGIN', 'SET LOCAL search_path = public', 'SELECT id FROM orders', 'COMMIT', 'SELECT id FROM orders'],
    allowed: { rows: 2 },
  },
];

const renames: Attack[] = [
  {
    name: 'renaming a masked column through the gateway does not unmask it',
    effectOnly: true,
    who: 'analyst',
    plant: [{ who: 'migrator', sql: 'ALTER TABLE customers RENAME COLUMN ssn TO x' }],
    steps: ['SELECT * FROM customers', 'SELECT x FROM customers'],
    cleanup: "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'customers'::regclass AND attname = 'x') THEN ALTER TABLE customers RENAME COLUMN x TO ssn; END IF; END $$",
  },
  {
    name: 'a masked column renamed directly on the database stays masked',
    effectOnly: true,
    reloadAfterSetup: false,
    who: 'analyst',
    setup: 'ALTER TABLE customers RENAME COLUMN ssn TO tax_id',
    steps: ['SELECT * FROM customers', 'SELECT tax_id FROM customers', 'SELECT tax_id AS s FROM customers WHERE id < 3'],
    cleanup: 'ALTER TABLE customers RENAME COLUMN tax_id TO ssn',
  },
  {
    name: 'a masked column renamed directly on the database stays masked once the gateway has reloaded',
    effectOnly: true,
    who: 'analyst',
    setup: 'ALTER TABLE customers RENAME COLUMN ssn TO national_id',
    steps: ['SELECT * FROM customers', 'SELECT national_id FROM customers WHERE id < 3'],
    cleanup: 'ALTER TABLE customers RENAME COLUMN national_id TO ssn',
  },
  {
    name: 'a table with masked columns renamed directly on the database stays masked',
    effectOnly: true,
    who: 'support-bot',
    setup: 'ALTER TABLE customers RENAME TO clients',
    steps: ['SELECT * FROM clients', 'SELECT ssn, phone FROM clients'],
    cleanup: 'ALTER TABLE clients RENAME TO customers',
  },
  {
    name: 'a table with masked columns moved to another schema directly stays masked',
    effectOnly: true,
    who: 'analyst',
    setup: 'CREATE SCHEMA archive; GRANT USAGE ON SCHEMA archive TO gw_app; ALTER TABLE customers SET SCHEMA archive',
    steps: ['SELECT ssn FROM archive.customers', 'SELECT * FROM archive.customers'],
    cleanup: 'ALTER TABLE archive.customers SET SCHEMA public; DROP SCHEMA archive',
  },
  {
    name: 'renaming a table with masked columns through the gateway is refused',
    who: 'migrator',
    steps: ['ALTER TABLE customers RENAME TO clients', 'SELECT ssn FROM clients'],
    cleanup: "DO $$ BEGIN IF to_regclass('public.clients') IS NOT NULL THEN ALTER TABLE clients RENAME TO customers; END IF; END $$",
  },
  {
    name: 'moving a table with masked columns to another schema through the gateway is refused',
    who: 'migrator',
    steps: ['CREATE SCHEMA IF NOT EXISTS public_copy', 'ALTER TABLE customers SET SCHEMA public_copy', 'SELECT ssn FROM public_copy.customers'],
    cleanup: "DO $$ BEGIN IF to_regclass('public_copy.customers') IS NOT NULL THEN ALTER TABLE public_copy.customers SET SCHEMA public; END IF; END $$; DROP SCHEMA IF EXISTS public_copy",
  },
];


/**
 * A prepared statement is planned again by the server whenever its plan is invalidated (a change
 * of a relation it reads, an ANALYZE, autovacuum), and PostgreSQL then resolves its text anew: a
 * relation created since in a schema earlier on the search_path ("$user" comes before public),
 * or one dropped so that a name falls through to another schema, changes what it reads. The
 * decision made at PREPARE must not carry over to objects it never saw.
 */
const PLANTED_SECRET = 'planted-secret-5521';
const SHADOW = (what: string) => `CREATE SCHEMA gw_app AUTHORIZATION gw_app;
  ${what};
  ANALYZE public.orders; ANALYZE public.customers`;
const shadowing = (what: string): Step => async (_c: AttackClient, w: World) => {
  w.direct(SHADOW(what));
  await w.gw.gw.reloadCatalogs();
};
const runBoth: Step[] = ['EXECUTE s_orders', (c) => c.cycle(Buffer.concat([encodeBind('', 'p_orders', []), encodeExecute(''), SYNC]))];
const prepareBoth: Step[] = ['PREPARE s_orders AS SELECT status FROM orders WHERE id = 1', (c) => c.parse('p_orders', 'SELECT status FROM orders WHERE id = 1'), ...runBoth];

const catalogChanges: Attack[] = [
  {
    name: 'a prepared statement does not read a table created since in a schema earlier on the search_path',
    who: 'analyst',
    steps: [...prepareBoth, shadowing(`CREATE TABLE gw_app.orders (id int, status text); INSERT INTO gw_app.orders VALUES (1, '${PLANTED_SECRET}'); ALTER TABLE gw_app.orders OWNER TO gw_app`), ...runBoth],
    secrets: [PLANTED_SECRET],
    refusal: /prepared statement "(s|p)_orders" now resolve to other objects/,
    worldChanges: ['schema'],
    cleanup: 'DROP SCHEMA IF EXISTS gw_app CASCADE',
  },
  {
    name: 'a prepared statement does not read a view created since in a schema earlier on the search_path',
    who: 'analyst',
    steps: [...prepareBoth, shadowing(`CREATE VIEW gw_app.orders AS SELECT 1 AS id, '${PLANTED_SECRET}'::text AS status; ALTER VIEW gw_app.orders OWNER TO gw_app`), ...runBoth],
    secrets: [PLANTED_SECRET],
    refusal: /now resolve to other objects/,
    worldChanges: ['schema'],
    cleanup: 'DROP SCHEMA IF EXISTS gw_app CASCADE',
  },
  {
    name: 'a prepared read of a masked column does not read a clear copy created since earlier on the search_path',
    who: 'migrator',
    steps: [
      'PREPARE s_c AS SELECT upper(ssn) AS x, email FROM customers WHERE id < 3',
      (c) => c.parse('p_c', 'SELECT upper(ssn) AS x, email FROM customers WHERE id < 3'),
      shadowing('CREATE TABLE gw_app.customers AS SELECT * FROM public.customers; ALTER TABLE gw_app.customers OWNER TO gw_app'),
      'EXECUTE s_c',
      (c) => c.cycle(Buffer.concat([encodeBind('', 'p_c', []), encodeExecute(''), SYNC])),
    ],
    refusal: /now resolve to other objects/,
    worldChanges: ['schema'],
    cleanup: 'DROP SCHEMA IF EXISTS gw_app CASCADE',
  },
  {
    name: 'a prepared statement stays usable after a catalog change that does not touch what it names',
    who: 'analyst',
    steps: [...prepareBoth, shadowing('CREATE TABLE gw_app.unrelated (x int)'), ...runBoth, 'DEALLOCATE s_orders', 'PREPARE s_orders AS SELECT status FROM orders WHERE id = 1', 'EXECUTE s_orders'],
    allowed: { rows: 5, changes: ['schema'] },
    cleanup: 'DROP SCHEMA IF EXISTS gw_app CASCADE',
  },
];

const COPY_DONE = frame('c', Buffer.alloc(0));
const queryFrame = (text: string) => frame('Q', Buffer.concat([Buffer.from(text), Buffer.from([0])]));

/** Messages up to and including the next one with `tag` (false when the connection ended first). */
async function until(c: AttackClient, tag: string, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const i = c.messages.findIndex((m) => m.tag === tag);
    if (i >= 0) {
      c.messages.splice(0, i + 1);
      return true;
    }
    if (c.closed || Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A COPY FROM STDIN of no rows with a Sync inside it, which the server ignores (no ReadyForQuery). */
async function syncInsideCopy(c: AttackClient): Promise<void> {
  c.socket.write(queryFrame('COPY orders FROM STDIN'));
  if (!(await until(c, 'G'))) throw new Error('no CopyInResponse');
  c.socket.write(SYNC);
  await new Promise((r) => setTimeout(r, 100));
  c.socket.write(COPY_DONE);
  await until(c, 'Z');
}

/** The same over the extended protocol, with the Sync right behind the Execute, as libpq sends it. */
async function extendedCopyWithSync(c: AttackClient): Promise<void> {
  c.socket.write(Buffer.concat([encodeParse('', 'COPY orders FROM STDIN'), encodeBind('', '', []), encodeExecute(''), SYNC]));
  if (!(await until(c, 'G'))) throw new Error('no CopyInResponse');
  c.socket.write(Buffer.concat([COPY_DONE, SYNC]));
  await until(c, 'Z');
}

/** A statement prepared as `d` before; the server gets a Parse of `d` while it reads COPY data. */
async function parseInsideCopy(c: AttackClient, text: string): Promise<void> {
  c.socket.write(queryFrame('COPY orders FROM STDIN'));
  if (!(await until(c, 'G'))) throw new Error('no CopyInResponse');
  c.socket.write(Buffer.concat([encodeParse('d', text), encodeBind('', 'd', []), encodeDescribe('P', ''), encodeExecute(''), SYNC]));
  await until(c, 'Z');
  await until(c, 'Z', 1000);
}

const REBIND_AFTER_FAILURE = 'SELECT 1/0; DEALLOCATE d; PREPARE d AS DELETE FROM orders WHERE id = -1';
const copyIn: Attack[] = [
  ...(
    [
      [syncInsideCopy, 'a Sync inside a simple COPY FROM STDIN'],
      [extendedCopyWithSync, 'the Sync libpq sends behind an extended-protocol COPY'],
    ] as const
  ).map(
    ([copy, what]): Attack => ({
      name: `${what} opens no cycle: a failed re-PREPARE after it cannot pass for a success`,
      who: 'migrator',
      // The unbounded DELETE is prepared (held for review only when executed), the COPY's stray
      // Sync would have shifted every answer by one, making the failed string look like it ran.
      steps: [(c) => c.parse('d', 'DELETE FROM orders WHERE true'), copy, REBIND_AFTER_FAILURE, 'SELECT 1', 'EXECUTE d'],
      refusal: /may have been changed|review/,
    }),
  ),
  {
    name: 'after a Sync inside COPY FROM STDIN each result is masked by its own description',
    who: 'migrator',
    effectOnly: true,
    steps: [syncInsideCopy, "SELECT 'abc'::text AS a", 'SELECT upper(ssn) AS a FROM customers WHERE id < 5', "SELECT 'abc'::text AS a", 'SELECT email AS a FROM customers WHERE id < 5'],
  },
  {
    name: 'after the Sync behind an extended COPY each result is masked by its own description',
    who: 'migrator',
    effectOnly: true,
    steps: [extendedCopyWithSync, "SELECT 'abc'::text AS a", 'SELECT upper(ssn) AS a FROM customers WHERE id < 5'],
  },
  {
    name: 'a Parse sent while the server reads COPY data ends the session: the older statement of its name never runs',
    who: 'migrator',
    effectOnly: true,
    steps: [(c) => c.parse('d', 'DELETE FROM orders WHERE true'), (c) => parseInsideCopy(c, 'DELETE FROM orders WHERE id = -1')],
  },
  {
    name: 'a Parse sent while the server reads COPY data cannot make the older statement return unmasked rows',
    who: 'migrator',
    effectOnly: true,
    steps: [(c) => c.parse('d', 'SELECT upper(ssn) AS a, upper(email) AS b FROM customers WHERE id < 5'), (c) => parseInsideCopy(c, "SELECT 'abc'::text AS a, 'def'::text AS b")],
  },
];

export const executionFamilies: Family[] = [
  { family: 'COPY FROM STDIN and the messages around it', cases: copyIn },
  { family: 'client encodings', cases: [...encodingCases, ...moreEncoding] },
  { family: 'standard_conforming_strings', cases: conformingStrings },
  { family: 'planted functions, operators and casts', cases: plantedFunctions },
  { family: 'prepared statement names', cases: preparedNames },
  { family: 'prepared statement names re-bound by code in the database', cases: codeRebinds },
  { family: 'prepared statements after the catalog changed', cases: catalogChanges },
  { family: 'renamed objects', cases: renames },
  { family: 'search_path divergence', cases: searchPath },
];
