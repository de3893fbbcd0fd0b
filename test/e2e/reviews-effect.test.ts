/**
 * Review rules matched by effect, end to end with a real PostgreSQL: every way around "DELETE
 * without WHERE" and "DROP" that ran without review before (WHERE true, 1 = 1, id IS NOT NULL,
 * id IN (SELECT id FROM t), OR true, NOT false, MERGE … THEN DELETE, ALTER TABLE … DROP COLUMN,
 * rewrites, detached partitions …) is held, and the blast-radius rule (`max_rows`) holds a write
 * over its limit while a small one runs. Judged by effect: checksums of the data and the schema
 * taken on a direct connection, and the server's own statement log.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { pgwarden } from '../helpers/clients.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/wait.ts';

let pgs: TestPostgres;
let t: TestGateway;

function configure(raw: Record<string, any>): void {
  raw.policies = [{ name: 'migrations', match: { groups: ['migrators', 'deferrers', 'radius'] }, allow: [{ tables: ['public.*'], operations: 'all' }, { ddl: { schemas: ['public'] } }] }];
  raw.reviews = {
    store: 'memory',
    rules: [
      // The demo's migrator rule, in both modes.
      { name: 'migrator-wait', when: ['drop', 'truncate', 'delete_without_where', 'update_without_where', 'rewrite'], match: { groups: ['migrators'] }, approvers: { groups: ['dba'] }, mode: 'wait', timeout: '20s' },
      { name: 'migrator-defer', when: ['destructive'], match: { groups: ['deferrers'] }, approvers: { groups: ['dba'] }, mode: 'defer' },
      { name: 'blast-radius', when: ['delete', 'update'], max_rows: 10, match: { groups: ['radius'] }, approvers: { groups: ['dba'] }, mode: 'wait', timeout: '20s' },
    ],
  };
}

const SETUP = `
  drop table if exists orders, customers, events cascade;
  drop domain if exists positive;
  create domain positive as int constraint positive_check check (value > 0) default 1;
  create table customers (id int primary key, name text not null);
  insert into customers select g, 'c' || g from generate_series(1, 10) g;
  create table orders (id int primary key, customer_id int, status text default 'new', total numeric(10,2), qty positive, constraint total_nonneg check (total >= 0));
  insert into orders select g, 1 + g % 10, 'new', g * 1.5, 1 from generate_series(1, 50) g;
  create index orders_status_idx on orders (status);
  create table events (id int, at date) partition by range (at);
  create table events_2024 partition of events for values from ('2024-01-01') to ('2025-01-01');
  insert into events values (1, '2024-05-01'), (2, '2024-06-01');
  alter table orders owner to gw_app; alter table customers owner to gw_app; alter table events owner to gw_app;
  alter table events_2024 owner to gw_app; alter domain positive owner to gw_app;
  analyze orders; analyze customers;`;

/** Data and schema of the database, as one checksum (taken on a direct connection). */
function checksum(): string {
  return pgs.psql(
    `select md5(
      (select coalesce(string_agg(o::text, ',' order by id), '') from orders o) ||
      (select coalesce(string_agg(c::text, ',' order by id), '') from customers c) ||
      (select coalesce(string_agg(e::text, ',' order by id), '') from events e) ||
      (select string_agg(c.relname::text || '.' || a.attname::text || ':' || format_type(a.atttypid, a.atttypmod) || a.attnotnull || coalesce(pg_get_expr(d.adbin, d.adrelid), ''), ',' order by c.relname, a.attnum)
         from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
         left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
         where n.nspname = 'public' and a.attnum > 0 and not a.attisdropped) ||
      (select string_agg(conname::text || pg_get_constraintdef(oid), ',' order by conname) from pg_constraint where connamespace = 'public'::regnamespace) ||
      (select string_agg(inhrelid::regclass::text || inhparent::regclass::text, ',') from pg_inherits) ||
      (select string_agg(relname::text || relpersistence::text || relam::text, ',' order by relname) from pg_class where relnamespace = 'public'::regnamespace)
    )`,
    'app',
  ).trim();
}

const count = (sql: string) => Number(pgs.psql(sql, 'app').trim());

/** Lines where the server logged `statement` as run by a client (not inside an EXPLAIN). */
function logged(statement: string): boolean {
  const log = readFileSync(join(pgs.dataDir, 'log', 'pg.log'), 'utf8');
  return log.split('\n').some((l) => l.includes(`statement: ${statement}`));
}

async function api(path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const token = await t.issuer.sign({ sub: 'alice-dba', groups: ['dba'] });
  const res = await fetch(`http://${t.config.listen.http}/api/reviews${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

async function client(sub: string, groups: string[]): Promise<pg.Client & { notices: string[] }> {
  const c = new pg.Client(t.client(await t.issuer.sign({ sub, groups }))) as pg.Client & { notices: string[] };
  c.notices = [];
  c.on('notice', (n) => c.notices.push(n.message ?? ''));
  c.on('error', () => {});
  await c.connect();
  return c;
}

async function heldId(c: { notices: string[] }, from = 0): Promise<string> {
  const notice = await waitFor('the review notice', () => c.notices.slice(from).find((n) => /held for review/.test(n)), 10_000);
  return /review (\S+) under/.exec(notice)![1];
}

before(async () => {
  pgs = await startPostgres({ conf: ['logging_collector = on', "log_directory = 'log'", "log_filename = 'pg.log'", 'log_file_mode = 0644', "log_statement = 'all'"] });
  pgs.psql("create role gw_app login password 'x'");
  pgs.psql('create database app owner gw_app');
  t = await startTestGateway({ pg: pgs, config: configure });
});
after(async () => {
  await t?.stop();
  await pgs?.stop();
});

/** Statements that ran without review when matched by syntax; each must now be held. */
const BYPASSES: string[] = [
  'DELETE FROM orders WHERE true',
  'DELETE FROM orders WHERE 1 = 1',
  'DELETE FROM orders WHERE 2 > 1',
  'DELETE FROM orders WHERE id IS NOT NULL',
  'DELETE FROM orders WHERE id IN (SELECT id FROM orders)',
  'DELETE FROM orders WHERE id = ANY (SELECT o.id FROM public.orders o)',
  "DELETE FROM orders WHERE status = 'x' OR true",
  'DELETE FROM orders WHERE NOT false',
  "DELETE FROM orders WHERE 't'",
  'DELETE FROM orders WHERE id = id',
  'DELETE FROM orders WHERE status IS NULL OR status IS NOT NULL',
  'DELETE FROM orders WHERE current_user = current_user',
  'DELETE FROM orders WHERE EXISTS (SELECT 1 FROM customers)',
  'DELETE FROM orders WHERE EXISTS (SELECT 1 FROM orders o2 WHERE o2.id = orders.id)',
  'DELETE FROM orders USING orders o2 WHERE orders.id = o2.id',
  'DELETE FROM orders USING customers c WHERE c.id = 1',
  'DELETE FROM orders USING (SELECT id FROM orders) s WHERE orders.id = s.id',
  'DELETE FROM orders WHERE ctid IS NOT NULL',
  'DELETE FROM orders WHERE id = ANY (ARRAY(SELECT id FROM orders))',
  "DELETE FROM orders WHERE coalesce(status, '') = coalesce(status, '')",
  "DELETE FROM orders WHERE id::text LIKE '%'",
  'DELETE FROM orders WHERE id NOT IN (SELECT id FROM orders WHERE false)',
  'DELETE FROM orders WHERE CASE WHEN id > 10 THEN true ELSE true END',
  'UPDATE orders SET total = 0 WHERE 1 = 1',
  "UPDATE orders SET status = 'gone' WHERE id IS NOT NULL",
  'MERGE INTO orders o USING customers c ON true WHEN MATCHED THEN DELETE',
  'MERGE INTO orders o USING orders s ON o.id = s.id WHEN MATCHED THEN DELETE',
  'MERGE INTO orders o USING (SELECT 1 AS k) s ON 1 = 1 WHEN MATCHED THEN UPDATE SET total = 0',
  'WITH d AS (DELETE FROM orders WHERE true RETURNING id) SELECT count(*) FROM d',
  'EXPLAIN ANALYZE DELETE FROM orders WHERE 1 = 1',
  'ALTER TABLE orders DROP COLUMN status',
  'ALTER TABLE orders ADD COLUMN note text, DROP COLUMN total',
  'ALTER TABLE orders DROP CONSTRAINT total_nonneg',
  'ALTER TABLE orders ALTER COLUMN status DROP DEFAULT',
  'ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL, ALTER COLUMN customer_id DROP NOT NULL',
  'ALTER TABLE orders ALTER COLUMN total TYPE int',
  'ALTER TABLE orders ALTER COLUMN total SET DATA TYPE numeric(4,0) USING 0',
  'ALTER TABLE orders SET UNLOGGED',
  'ALTER TABLE events DETACH PARTITION events_2024',
  'ALTER DOMAIN public.positive DROP CONSTRAINT positive_check',
  'ALTER DOMAIN public.positive DROP DEFAULT',
  'DROP INDEX orders_status_idx',
  'TRUNCATE orders',
];

describe('review rules match by effect (defer mode: refused at once, nothing runs)', () => {
  before(() => pgs.psql(SETUP, 'app'));

  it('every bypass variant is refused with a review id; data and schema are unchanged and the statement never reached the server', async () => {
    const c = await client('deferrer', ['deferrers']);
    try {
      const before = checksum();
      for (const sql of BYPASSES) {
        await assert.rejects(c.query(sql), (e: any) => {
          assert.ok(e.code === '42501' && /needs approval under rule "migrator-defer": review \S+ was requested/.test(e.message), `${sql}: ${e.code} ${e.message}`);
          return true;
        });
        assert.equal(checksum(), before, `${sql}: nothing changed`);
        assert.ok(!logged(sql), `${sql}: not in the server's statement log`);
      }
      // The session stays usable, and bounded statements still run without review.
      assert.equal((await c.query('SELECT count(*)::int AS n FROM orders')).rows[0].n, 50);
      assert.equal((await c.query('DELETE FROM orders WHERE id = 5')).rowCount, 1);
      assert.equal((await c.query("UPDATE orders SET status = 'paid' WHERE id IN (1, 2)")).rowCount, 2);
      assert.equal((await c.query('ALTER TABLE orders ADD COLUMN note text')).command, 'ALTER');
      assert.equal(count('select count(*) from orders'), 49);
    } finally {
      await c.end();
    }
  });

  it('a parameter that makes the WHERE true is held (extended protocol)', async () => {
    pgs.psql(SETUP, 'app');
    const c = await client('deferrer', ['deferrers']);
    try {
      const before = checksum();
      await assert.rejects(c.query('DELETE FROM orders WHERE $1', [true]), (e: any) => e.code === '42501' && /needs approval/.test(e.message));
      await assert.rejects(c.query('DELETE FROM orders WHERE id = $1 OR $2', [5, true]), (e: any) => e.code === '42501' && /needs approval/.test(e.message));
      assert.equal(checksum(), before);
      assert.equal((await c.query('DELETE FROM orders WHERE id = $1', [5])).rowCount, 1, 'a parameter compared to the key bounds the DELETE');
    } finally {
      await c.end();
    }
  });

  it('inside a transaction block the refusal aborts the block like an error, and nothing of it runs', async () => {
    pgs.psql(SETUP, 'app');
    const c = await client('deferrer', ['deferrers']);
    try {
      const before = checksum();
      await c.query('BEGIN');
      await c.query('DELETE FROM orders WHERE id = 7');
      await assert.rejects(c.query('DELETE FROM orders WHERE 1 = 1'), (e: any) => e.code === '42501');
      await assert.rejects(c.query('SELECT 1'), (e: any) => e.code === '25P02', 'the block is aborted, as after any error');
      await c.query('ROLLBACK');
      assert.equal(checksum(), before, 'the whole block rolled back');
      assert.equal((await c.query('SELECT 1 AS n')).rows[0].n, 1);
    } finally {
      await c.end();
    }
  });
});

describe('review rules match by effect (wait mode: held until approved)', () => {
  before(() => pgs.psql(SETUP, 'app'));

  it('a DELETE with an always-true WHERE waits, changes nothing while waiting, and runs once approved', async () => {
    const c = await client('migrator', ['migrators']);
    try {
      const before = checksum();
      const running = c.query('DELETE FROM orders WHERE id IN (SELECT id FROM orders)');
      running.catch(() => {});
      const id = await heldId(c);
      assert.equal(checksum(), before, 'nothing runs before approval');
      assert.ok(!logged('DELETE FROM orders WHERE id IN (SELECT id FROM orders)'));
      assert.equal((await api(`/${id}/approve`, { comment: 'cleanup' })).status, 200);
      assert.equal((await running).rowCount, 50);
      assert.equal(count('select count(*) from orders'), 0);
    } finally {
      await c.end();
    }
  });

  it('MERGE … THEN DELETE and ALTER TABLE … DROP COLUMN wait; rejected, they never run', async () => {
    pgs.psql(SETUP, 'app');
    const c = await client('migrator', ['migrators']);
    try {
      const before = checksum();
      for (const sql of ['MERGE INTO orders o USING customers c ON true WHEN MATCHED THEN DELETE', 'ALTER TABLE orders DROP COLUMN total']) {
        const from = c.notices.length;
        const running = c.query(sql);
        running.catch(() => {});
        const id = await heldId(c, from);
        assert.equal(checksum(), before, `${sql}: nothing runs while held`);
        assert.equal((await api(`/${id}/reject`, { comment: 'no' })).status, 200);
        await assert.rejects(running, (e: any) => e.code === '42501' && /rejected/.test(e.message));
        assert.equal(checksum(), before, `${sql}: nothing ran`);
        assert.ok(!logged(sql), `${sql}: never reached the server`);
      }
    } finally {
      await c.end();
    }
  });
});

describe('blast radius (max_rows)', () => {
  before(() => pgs.psql(SETUP, 'app'));

  it('a DELETE estimated over the limit is held until approved, then runs once; a small one runs at once', async () => {
    const c = await client('radius', ['radius']);
    try {
      assert.equal((await c.query('DELETE FROM orders WHERE id = 5')).rowCount, 1, 'one row: under the limit, no review');
      assert.equal(c.notices.length, 0);
      const before = checksum();
      const running = c.query('DELETE FROM orders WHERE id > 10');
      running.catch(() => {});
      const id = await heldId(c);
      assert.match(c.notices.at(-1)!, /rule "blast-radius" \(about \d+ rows estimated, over the limit of 10\)/);
      assert.equal(checksum(), before, 'nothing runs before approval');
      assert.ok(!logged('DELETE FROM orders WHERE id > 10'), 'only its plan was asked for');
      assert.ok(logged('EXPLAIN (FORMAT JSON) DELETE FROM orders WHERE id > 10'), 'the estimate came from EXPLAIN');
      const shown = await api(`/${id}`);
      assert.ok(shown.json.analysis.estimatedRows > 10, JSON.stringify(shown.json.analysis));
      const cli = await pgwarden(['reviews', 'show', id, '--url', `http://${t.config.listen.http}`], { PGWARDEN_TOKEN: await t.issuer.sign({ sub: 'alice-dba', groups: ['dba'] }) });
      assert.match(cli.stdout, /rows\s+about \d+ \(planner's estimate\)/, cli.stdout + cli.stderr);
      assert.equal((await api(`/${id}/approve`, {})).status, 200);
      assert.equal((await running).rowCount, 40);
      assert.equal(count('select count(*) from orders'), 9);
    } finally {
      await c.end();
    }
  });

  it('with parameters (extended protocol) the estimate uses their values', async () => {
    pgs.psql(SETUP, 'app');
    const c = await client('radius', ['radius']);
    try {
      assert.equal((await c.query('DELETE FROM orders WHERE id = $1', [6])).rowCount, 1);
      assert.equal((await c.query('UPDATE orders SET total = $1 WHERE id < $2', [0, 4])).rowCount, 3);
      const before = checksum();
      const running = c.query('UPDATE orders SET total = $1 WHERE id > $2', [0, 10]);
      running.catch(() => {});
      const id = await heldId(c);
      assert.match(c.notices.at(-1)!, /about \d+ rows estimated, over the limit of 10/);
      assert.ok(logged("EXPLAIN (FORMAT JSON) EXECUTE pgwarden_estimate('0', '10')"), 'planned with the bound values');
      assert.equal(checksum(), before);
      assert.equal((await api(`/${id}/reject`, {})).status, 200);
      await assert.rejects(running, (e: any) => e.code === '42501');
      assert.equal(checksum(), before);
    } finally {
      await c.end();
    }
  });

  it("inside the client's transaction block: the block is not disturbed while the statement is held", async () => {
    pgs.psql(SETUP, 'app');
    const c = await client('radius', ['radius']);
    try {
      const before = checksum();
      await c.query('BEGIN');
      await c.query('DELETE FROM orders WHERE id = 7');
      const running = c.query('DELETE FROM orders WHERE id > 10');
      running.catch(() => {});
      const id = await heldId(c);
      // The client's upstream session sits idle in its transaction: the held DELETE is not running.
      const state = pgs.psql("select state || '|' || query from pg_stat_activity where usename = 'gw_app' and application_name <> 'pgwarden-catalog' and state <> 'idle'", 'app').trim();
      assert.equal(state, 'idle in transaction|DELETE FROM orders WHERE id = 7');
      assert.equal(checksum(), before);
      assert.equal((await api(`/${id}/approve`, {})).status, 200);
      assert.equal((await running).rowCount, 40);
      await c.query('ROLLBACK');
      assert.equal(checksum(), before, 'the rollback undid both: the block stayed one transaction');
      await c.query('BEGIN');
      await c.query('DELETE FROM orders WHERE id = 8');
      await c.query('COMMIT');
      assert.equal(count('select count(*) from orders'), 49);
    } finally {
      await c.end();
    }
  });

  it('a write that cannot be estimated counts as over the limit', async () => {
    pgs.psql(SETUP, 'app');
    const c = await client('radius', ['radius']);
    try {
      // A table made in this session's open transaction: the estimate's own connection cannot see it.
      await c.query('BEGIN');
      await c.query('CREATE TABLE public.scratch (a int)');
      await c.query('INSERT INTO public.scratch VALUES (1), (2)');
      const running = c.query('DELETE FROM public.scratch WHERE a = 1');
      running.catch(() => {});
      const id = await heldId(c);
      assert.match(c.notices.at(-1)!, /could not be estimated/);
      assert.equal((await api(`/${id}/approve`, {})).status, 200);
      assert.equal((await running).rowCount, 1);
      await c.query('ROLLBACK');
    } finally {
      await c.end();
    }
  });
});
