/**
 * Names that run code or reach data the statement does not spell out, judged by effect against a
 * real PostgreSQL: an overload, operator or cast planted by one identity does not run for another
 * (every byte the client receives is searched for the values it would leak); statistics,
 * secret-bearing catalogs and settings are refused by the gateway itself (its message, and the
 * statement never reaches the upstream's statement log); a sequence named at run time is not
 * advanced (its value read directly); and psql's \d commands keep working on the safe catalogs.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import postgres from 'postgres';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { psql } from '../helpers/clients.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { encodeBind, encodeExecute, encodeParse, encodeQuery, SYNC } from '../../src/protocol/index.ts';

let t: TestGateway;
const SSNS: string[] = [];
for (let g = 1; g <= 30; g++) SSNS.push(`9${String(g).padStart(2, '0')}-37-${4700 + g}`);

const POLICIES = [
  {
    name: 'analysts',
    match: { groups: ['analysts'] },
    allow: [{ tables: ['public.customers', 'public.orders'], operations: ['select'] }],
    limits: { read_only: true },
  },
  {
    name: 'support',
    match: { groups: ['support'] },
    allow: [
      { tables: ['public.orders'], operations: ['select', 'update'] },
      { tables: ['public.order_seq'], operations: ['select', 'update'] },
    ],
  },
  {
    name: 'migrators',
    match: { groups: ['migrators'] },
    allow: [{ tables: ['public.*'], operations: 'all' }, { ddl: { schemas: ['public'] } }],
  },
  {
    name: 'trusting',
    match: { groups: ['trusting'] },
    allow: [{ tables: ['public.customers'], operations: ['select'] }, { functions: ['public.*'] }],
  },
];

before(async () => {
  t = await startTestGateway({
    postgres: { conf: ['logging_collector = on', "log_directory = 'log'", "log_filename = 'pg.log'", "log_statement = 'all'"] },
    config: (raw) => {
      raw.policies = POLICIES;
      raw.masking = { hash_key: 'test-mask-key-0123456789abcdef', rules: [{ column: 'public.customers.ssn', with: 'redact' }] };
    },
  });
  t.pg.psql(
    `create table customers (id int primary key, name text, email text, ssn text);
     create table orders (id int primary key, customer_id int, status text);
     insert into customers select g, 'name ' || g, 'c' || g || '@example.com', '9' || lpad(g::text, 2, '0') || '-37-' || (4700 + g) from generate_series(1, 30) g;
     insert into orders select g, g % 30 + 1, 'new' from generate_series(1, 60) g;
     create sequence order_seq; create sequence atk_seq;
     alter table customers owner to gw_app; alter table orders owner to gw_app;
     alter sequence order_seq owner to gw_app; alter sequence atk_seq owner to gw_app;`,
    'app',
  );
});
after(async () => {
  await t?.stop();
});

const token = (group: string) => t.issuer.sign({ sub: group === 'analysts' ? 'analyst' : group, groups: [group] });

interface Received {
  /** Every byte the gateway sent after the query was written. */
  bytes: Buffer;
  error?: Record<string, string>;
  rows: number;
}

/** Runs one simple Query as `group`, keeping every byte received; checks the session stays usable. */
async function raw(group: string, sql: string): Promise<Received> {
  const c = await RawClient.connect(t.port, await token(group));
  try {
    const chunks: Buffer[] = [];
    c.socket.on('data', (d: Buffer) => chunks.push(d));
    c.send(encodeQuery(sql));
    const msgs = await c.until('Z');
    const error = msgs.find((m) => m.tag === 'E')?.fields;
    const rows = msgs.filter((m) => m.tag === 'D').length;
    c.send(encodeQuery('select 1 as still_usable'));
    const after = await c.until('Z');
    assert.ok(after.some((m) => m.tag === 'D'), 'the session stays usable after the statement');
    return { bytes: Buffer.concat(chunks), rows, ...(error && { error }) };
  } finally {
    c.end();
  }
}

function assertNoSsn(bytes: Buffer, what: string): void {
  const text = bytes.toString('latin1');
  for (const s of SSNS) assert.ok(!text.includes(s), `${what}: a clear ssn (${s}) reached the client`);
}

/** The gateway's own refusal: 42501, a message naming what and why, not the upstream's. */
function assertGatewayRefusal(r: Received, reason: RegExp, what: string): void {
  assert.ok(r.error, `${what}: expected a refusal, got ${r.rows} rows`);
  assert.equal(r.error.C, '42501', `${what}: ${r.error.C} ${r.error.M}`);
  assert.match(r.error.M, /^pgwarden: /, `${what}: the refusal comes from the gateway, not the upstream: ${r.error.M}`);
  assert.match(r.error.M, reason, what);
  assert.ok(r.error.H, `${what}: a hint says what is allowed instead`);
}

const LOG = () => join(t.pg.dataDir, 'log', 'pg.log');
let probe = 0;

/**
 * Runs `sql` (which must contain the marker it is given) as `group`, then an allowed statement
 * with a second marker on the same session; once the second is in the upstream's statement log,
 * the first must not be.
 */
async function neverReachesUpstream(group: string, make: (marker: string) => string, reason: RegExp): Promise<Received> {
  const marker = `probe_${++probe}_${Date.now()}`;
  const sql = make(marker);
  assert.ok(sql.includes(marker), 'the statement carries its marker');
  const c = await RawClient.connect(t.port, await token(group));
  let refused: Received;
  try {
    const chunks: Buffer[] = [];
    c.socket.on('data', (d: Buffer) => chunks.push(d));
    c.send(encodeQuery(sql));
    const msgs = await c.until('Z');
    refused = { bytes: Buffer.concat(chunks), rows: msgs.filter((m) => m.tag === 'D').length, error: msgs.find((m) => m.tag === 'E')?.fields };
    c.send(encodeQuery(`select 'after_${marker}' as marker`));
    await c.until('Z');
  } finally {
    c.end();
  }
  assertGatewayRefusal(refused, reason, sql);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const log = existsSync(LOG()) ? readFileSync(LOG(), 'utf8') : '';
    if (log.includes(`after_${marker}`)) {
      assert.ok(!log.replace(`after_${marker}`, '').includes(marker), `the refused statement reached the upstream: ${sql}`);
      return refused;
    }
    if (Date.now() > deadline) throw new Error('the allowed marker statement never reached the upstream log');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('psql and drivers read the catalogs they need', () => {
  const commands = ['\\d', '\\dt', '\\d customers', '\\d+ customers', '\\df', '\\dn', '\\du', '\\l', '\\dv', '\\di', '\\ds', '\\dx', '\\dT', '\\dp', '\\dD', '\\dn+', '\\dt+', '\\do', '\\dc', '\\dy', '\\dF', '\\dm', '\\dX', '\\dA', '\\da', '\\db'];
  it(`psql ${commands.join(' ')} all work for the analyst`, async () => {
    const url = t.url(await token('analysts'));
    for (const cmd of commands) {
      const r = await psql(url, cmd);
      assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /pgwarden|ERROR/, cmd);
    }
    const d = await psql(url, '\\d+ customers');
    assert.match(d.stdout, /ssn/, '\\d+ customers describes the table');
  });

  it('psql \\dconfig (pg_settings) is refused by the gateway', async () => {
    const r = await psql(t.url(await token('analysts')), '\\dconfig');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /pgwarden: analyst may not read pg_catalog\.pg_settings/);
  });

  it('postgres.js (which reads pg_type on connect) and information_schema work', async () => {
    const sql = postgres(t.url(await token('analysts')), { max: 1 });
    try {
      const cols = await sql`select column_name from information_schema.columns where table_name = 'customers' order by ordinal_position`;
      assert.deepEqual(cols.map((r) => r.column_name), ['id', 'name', 'email', 'ssn']);
      const v = await sql`select current_setting('server_version_num') as v, current_setting('TimeZone') as tz`;
      assert.ok(Number(v[0].v) >= 150000);
    } finally {
      await sql.end();
    }
  });
});

describe('an overload, operator or cast planted by one identity does not run for another', () => {
  before(async () => {
    const m = new pg.Client(t.client(await token('migrators')));
    await m.connect();
    try {
      await m.query('create function public.lower(integer) returns text language sql as $$ select ssn from public.customers where id = $1 $$');
      await m.query('create function public.btrim(integer, integer) returns text language sql as $$ select ssn from public.customers where id = $1 + $2 $$');
      await m.query('create function public.abs(variadic integer[]) returns text language sql as $$ select ssn from public.customers where id = $1[1] $$');
      await m.query('create function public.leak_plus(integer, text) returns text language sql as $$ select ssn from public.customers where id = $1 $$');
      await m.query('create type public.secretive as (v text)');
      await m.query('create function public.to_secretive(text) returns public.secretive language sql as $$ select row(ssn)::public.secretive from public.customers where id = $1::int $$');
    } finally {
      await m.end();
    }
    // CREATE CAST is database-wide and CREATE OPERATOR names a function the migrator is not
    // granted, so the gateway refuses both: someone with the upstream's credentials plants them,
    // and a later DDL through the gateway reloads the catalog.
    t.pg.psql(
      `create operator public.+ (leftarg = integer, rightarg = text, function = public.leak_plus);
       create cast (text as public.secretive) with function public.to_secretive(text);`,
      'app',
    );
    const m2 = new pg.Client(t.client(await token('migrators')));
    await m2.connect();
    await m2.query('create table public.reload_marker (x int)');
    await m2.end();
  });

  it('on the upstream, the planted objects do leak (the attack is real)', async () => {
    const direct = new pg.Client(t.directUrl());
    await direct.connect();
    try {
      assert.equal((await direct.query('select lower(1) as v')).rows[0].v, SSNS[0]);
      assert.equal((await direct.query('select btrim(1, 1) as v')).rows[0].v, SSNS[1]);
      assert.equal((await direct.query('select abs(3, 4) as v')).rows[0].v, SSNS[2]);
      assert.equal((await direct.query("select 4 + 'x'::text as v")).rows[0].v, SSNS[3]);
      assert.equal((await direct.query("select ('5'::text::public.secretive).v as v")).rows[0].v, SSNS[4]);
    } finally {
      await direct.end();
    }
  });

  const attacks: [string, string, RegExp][] = [
    ['an unqualified call with a planted overload', 'select lower(1)', /may not call function public\.lower \(reached through lower\(…\) written without a schema\)/],
    ['the planted overload over a column', 'select lower(id) from customers', /public\.lower/],
    ['the planted overload in FROM', 'select * from lower(1)', /public\.lower/],
    ['the planted overload in a scalar subquery', 'select (select lower(1)) as x', /public\.lower/],
    ['the planted overload in WHERE', "select id from orders where lower(id) like '9%'", /public\.lower/],
    ['the planted overload in a CTE', 'with x as (select lower(1) as v) select v from x', /public\.lower/],
    ['a planted two-argument overload', 'select btrim(1, 1)', /public\.btrim/],
    ['a planted VARIADIC overload', 'select abs(3, 4)', /public\.abs/],
    ['a planted operator', "select 4 + 'x'::text", /may not call function public\.leak_plus \(reached through operator public\.\+\)/],
    ['a planted operator in WHERE', "select id from orders where customer_id + status is not null", /public\.leak_plus/],
    ['a planted cast', "select ('5'::text::public.secretive).v", /may not call function public\.to_secretive \(reached through the cast from pg_catalog\.text to public\.secretive/],
    ['a planted cast written CAST(… AS …)', "select (cast('5'::text as secretive)).v", /public\.to_secretive/],
  ];
  for (const [name, sql, reason] of attacks) {
    it(`${name} is refused, and no ssn reaches the client: ${sql}`, async () => {
      const r = await raw('analysts', sql);
      assertGatewayRefusal(r, reason, sql);
      assertNoSsn(r.bytes, sql);
    });
  }

  it('over the extended protocol (pg) too', async () => {
    const c = new pg.Client(t.client(await token('analysts')));
    await c.connect();
    try {
      await assert.rejects(c.query('select lower($1::int) as v', [1]), (e: any) => e.code === '42501' && /public\.lower/.test(e.message));
      await assert.rejects(c.query({ text: 'select abs($1, $2) as v', values: [3, 4] }), (e: any) => e.code === '42501' && /public\.abs/.test(e.message));
      assert.equal((await c.query("select pg_catalog.lower('ABC') as v")).rows[0].v, 'abc', 'a qualified built-in stays callable');
    } finally {
      await c.end();
    }
  });

  it('the statement never reaches the upstream', async () => {
    await neverReachesUpstream('analysts', (m) => `select lower(1) as ${m}`, /public\.lower/);
  });

  it("psql's \\d commands still work with the planted objects in place (they qualify what they call)", async () => {
    const url = t.url(await token('analysts'));
    for (const cmd of ['\\d', '\\d+ customers', '\\df', '\\do', '\\dT', '\\dC', '\\dn']) {
      const r = await psql(url, cmd);
      assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
    }
  });

  it('an identity trusted with the planted functions gets their values masked where masking applies', async () => {
    for (const sql of ['select lower(1) as v', 'select btrim(1, 1) as v', "select ('5'::text::public.secretive).v"]) {
      const r = await raw('trusting', sql);
      assert.equal(r.error, undefined, `${sql}: ${r.error?.M}`);
      assert.equal(r.rows, 1, sql);
      assertNoSsn(r.bytes, sql);
    }
  });
});

describe('statistics, secret-bearing catalogs and settings are refused by the gateway', () => {
  before(() => {
    t.pg.psql(
      `create index customers_rev on customers (reverse(ssn));
       create statistics customers_mcv (mcv) on name, ssn from customers;
       create statistics customers_expr on (reverse(ssn)) from customers;
       analyze customers;`,
      'app',
    );
  });

  it('on the upstream, the statistics do hold the ssns (the attack is real)', () => {
    const stats = t.pg.psql("select histogram_bounds::text from pg_stats where tablename = 'customers' and attname = 'ssn'", 'app');
    assert.ok(SSNS.some((s) => stats.includes(s)), 'pg_stats has ssn values');
    const rev = t.pg.psql("select histogram_bounds::text from pg_stats where tablename = 'customers_rev'", 'app');
    assert.ok(SSNS.some((s) => rev.includes([...s].reverse().join(''))), 'the expression index has reversed ssns');
  });

  const refused: [string, (m: string) => string, RegExp][] = [
    ['pg_stats histogram bounds', (m) => `select histogram_bounds::text as ${m} from pg_stats where tablename = 'customers'`, /may not read pg_catalog\.pg_stats$/],
    ['pg_stats of an expression index', (m) => `select histogram_bounds::text as ${m} from pg_catalog.pg_stats where tablename = 'customers_rev'`, /pg_catalog\.pg_stats$/],
    ['pg_stats most common values', (m) => `select most_common_vals::text as ${m} from pg_stats`, /pg_catalog\.pg_stats$/],
    ['pg_statistic', (m) => `select stavalues1::text as ${m} from pg_statistic`, /pg_catalog\.pg_statistic$/],
    ['pg_stats_ext', (m) => `select most_common_vals::text as ${m} from pg_stats_ext`, /pg_catalog\.pg_stats_ext$/],
    ['pg_stats_ext_exprs', (m) => `select histogram_bounds::text as ${m} from pg_stats_ext_exprs`, /pg_catalog\.pg_stats_ext_exprs$/],
    ['pg_statistic_ext_data', (m) => `select stxdmcv::text as ${m} from pg_statistic_ext_data`, /pg_catalog\.pg_statistic_ext_data$/],
    ['statistics in a subquery', (m) => `select name as ${m} from customers where name in (select attname from pg_stats)`, /pg_catalog\.pg_stats$/],
    ['pg_authid', (m) => `select rolpassword as ${m} from pg_authid`, /may not read pg_catalog\.pg_authid$/],
    ['pg_shadow', (m) => `select passwd as ${m} from pg_shadow`, /pg_catalog\.pg_shadow$/],
    ['pg_user_mappings', (m) => `select umoptions as ${m} from pg_user_mappings`, /pg_catalog\.pg_user_mappings$/],
    ['pg_user_mapping', (m) => `select umoptions as ${m} from pg_user_mapping`, /pg_catalog\.pg_user_mapping$/],
    ['pg_hba_file_rules', (m) => `select * from pg_hba_file_rules as ${m}`, /pg_catalog\.pg_hba_file_rules$/],
    ['pg_ident_file_mappings', (m) => `select * from pg_ident_file_mappings as ${m}`, /pg_catalog\.pg_ident_file_mappings$/],
    ['pg_file_settings', (m) => `select * from pg_file_settings as ${m}`, /pg_catalog\.pg_file_settings$/],
    ['pg_settings', (m) => `select setting as ${m} from pg_settings where name = 'data_directory'`, /pg_catalog\.pg_settings$/],
    ['pg_largeobject', (m) => `select data as ${m} from pg_largeobject`, /pg_catalog\.pg_largeobject$/],
    ['pg_subscription connection strings', (m) => `select subconninfo as ${m} from pg_subscription`, /may not read column pg_catalog\.pg_subscription\.subconninfo$/],
    ['pg_subscription connection strings through *', (m) => `select * from pg_subscription as ${m}`, /may not read column pg_catalog\.pg_subscription\.subconninfo$/],
    ['pg_stat_activity', (m) => `select query as ${m} from pg_stat_activity`, /pg_catalog\.pg_stat_activity$/],
    ['pg_replication_slots', (m) => `select * from pg_replication_slots as ${m}`, /pg_catalog\.pg_replication_slots$/],
    ['per-role settings in pg_roles', (m) => `select rolconfig as ${m} from pg_roles`, /may not read column pg_catalog\.pg_roles\.rolconfig$/],
    ['information_schema.user_mapping_options', (m) => `select option_value as ${m} from information_schema.user_mapping_options`, /information_schema\.user_mapping_options$/],
    ['current_setting(data_directory)', (m) => `select current_setting('data_directory') as ${m}`, /may not read setting data_directory$/],
    ['current_setting(hba_file)', (m) => `select current_setting('hba_file') as ${m}`, /may not read setting hba_file$/],
    ['current_setting(config_file)', (m) => `select current_setting('config_file') as ${m}`, /may not read setting config_file$/],
    ['current_setting(ssl_key_file)', (m) => `select current_setting('ssl_key_file') as ${m}`, /may not read setting ssl_key_file$/],
    ['current_setting(archive_command)', (m) => `select current_setting('archive_command') as ${m}`, /may not read setting archive_command$/],
    ['current_setting(log_directory)', (m) => `select current_setting('log_directory') as ${m}`, /may not read setting log_directory$/],
    ['a computed setting name', (m) => `select current_setting('data_' || 'directory') as ${m}`, /may not read a setting whose name is not a constant/],
    ['pg_show_all_settings()', (m) => `select setting as ${m} from pg_show_all_settings() where name = 'data_directory'`, /pg_show_all_settings/],
  ];
  for (const [name, make, reason] of refused) {
    it(`${name} is refused by the gateway and never reaches the upstream`, async () => {
      const r = await neverReachesUpstream('analysts', make, reason);
      assertNoSsn(r.bytes, name);
      assert.ok(!r.bytes.toString('latin1').includes(t.pg.dataDir), `${name}: the data directory reached the client`);
    });
  }

  it('SHOW of a secret-bearing setting is refused too; SHOW of a client setting works', async () => {
    const c = new pg.Client(t.client(await token('analysts')));
    await c.connect();
    try {
      for (const s of ['data_directory', 'hba_file', 'config_file', 'all']) {
        await assert.rejects(c.query(`show ${s}`), (e: any) => e.code === '42501' && /^pgwarden: analyst may not read/.test(e.message), s);
      }
      assert.match((await c.query('show server_version')).rows[0].server_version, /^\d+/);
      assert.ok((await c.query('show transaction isolation level')).rows[0].transaction_isolation);
    } finally {
      await c.end();
    }
  });
});

describe('a sequence named at run time is not advanced', () => {
  const atk = () => t.pg.psql('select last_value || \'/\' || is_called from atk_seq', 'app').trim();

  it('nextval of a computed name, an OID lookup, a parameter or an ungranted OID leaves atk_seq unchanged', async () => {
    const before = atk();
    const oid = t.pg.psql("select 'public.atk_seq'::regclass::oid", 'app').trim();
    const attacks: [string, RegExp][] = [
      ["select nextval(s::regclass) from (values ('public.atk' || '_seq')) v(s)", /may not call nextval with a sequence computed at run time: it could name public\.atk_seq/],
      ["select nextval((select oid from pg_class where relname = 'atk_seq')::regclass)", /computed at run time/],
      ["select nextval('public.' || 'atk_seq')", /computed at run time/],
      [`select nextval(${oid})`, /may not update public\.atk_seq/],
      ["select nextval('atk_seq'::regclass)", /may not update public\.atk_seq/],
      ["select currval(s) from (values ('atk_seq')) v(s)", /may not call currval with a sequence computed at run time/],
    ];
    for (const [sql, reason] of attacks) {
      const r = await raw('support', sql);
      assertGatewayRefusal(r, reason, sql);
    }
    const c = new pg.Client(t.client(await token('support')));
    await c.connect();
    try {
      await assert.rejects(c.query('select nextval($1)', ['atk_seq']), (e: any) => e.code === '42501' && /computed at run time/.test(e.message));
      const n1 = Number((await c.query("select nextval('order_seq') as n")).rows[0].n);
      const n2 = Number((await c.query("select nextval('public.order_seq') as n")).rows[0].n);
      assert.equal(n2, n1 + 1, 'a granted sequence named as a constant advances');
    } finally {
      await c.end();
    }
    assert.equal(atk(), before, 'atk_seq was not advanced');
  });
});

describe('an implicit cast created in the database is a call of its function', () => {
  before(async () => {
    t.pg.psql(
      `create type public.mood as enum ('happy', 'sad');
       create table public.moods (id int, feeling public.mood);
       insert into public.moods values (1, 'happy');
       alter type public.mood owner to gw_app; alter table public.moods owner to gw_app;
       create function public.mood_text(public.mood) returns text language sql as $$ select ssn from public.customers where id = 7 $$;
       alter function public.mood_text(public.mood) owner to gw_app;
       create cast (public.mood as text) with function public.mood_text(public.mood) as implicit;`,
      'app',
    );
    const m = new pg.Client(t.client(await token('migrators')));
    await m.connect();
    await m.query('create table public.reload_marker_2 (x int)');
    await m.end();
  });

  it('on the upstream, a parameter typed as the user type runs the cast (the attack is real)', () => {
    const out = t.pg.psql("prepare p (public.mood) as select upper($1); execute p('happy')", 'app');
    assert.ok(out.includes(SSNS[6]), out);
  });

  it('a parameter the client types as the user type is refused, and no ssn reaches the client', async () => {
    const moodOid = Number(t.pg.psql("select 'public.mood'::regtype::oid", 'app').trim());
    const c = await RawClient.connect(t.port, await token('analysts'));
    try {
      const chunks: Buffer[] = [];
      c.socket.on('data', (d: Buffer) => chunks.push(d));
      c.send(Buffer.concat([encodeParse('', 'select upper($1) as v', [moodOid]), encodeBind('', '', ['happy']), encodeExecute(''), SYNC]));
      const msgs = await c.until('Z');
      const error = msgs.find((m) => m.tag === 'E')?.fields;
      assert.ok(error, 'refused');
      assert.equal(error.C, '42501');
      assert.match(error.M, /^pgwarden: analyst may not call function public\.mood_text \(reached through the cast from public\.mood to pg_catalog\.text, which the server applies to a parameter/);
      assertNoSsn(Buffer.concat(chunks), 'typed parameter');
    } finally {
      c.end();
    }
  });

  it('a column of the user type brings the cast (refused for an identity that reads the table)', async () => {
    const r = await raw('migrators', 'select upper(feeling) from moods');
    assertGatewayRefusal(r, /may not call function public\.mood_text/, 'column of the user type');
    assertNoSsn(r.bytes, 'column of the user type');
  });
});
