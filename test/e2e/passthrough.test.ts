/**
 * The gateway relays the PostgreSQL protocol faithfully: psql, pg (extended protocol), and
 * postgres.js (pipelined, describe-first) get the same results through it as directly, including
 * COPY in both directions, LISTEN/NOTIFY, notices and errors, and the session stays usable after
 * an error.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import postgres from 'postgres';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { psql } from '../helpers/clients.ts';

let t: TestGateway;
let token: string;

before(async () => {
  t = await startTestGateway();
  token = await t.issuer.sign({ sub: 'agent-1', groups: ['analysts'] });
  t.pg.psql(
    `create table items (id int primary key, name text, price numeric(10,2), tags text[], data jsonb, raw bytea, at timestamptz default '2024-01-02 03:04:05+00');
     insert into items select g, 'item ' || g, g * 1.5, array['a','b'], jsonb_build_object('n', g), decode('00ff', 'hex') from generate_series(1, 500) g;
     alter table items owner to gw_app;`,
    'app',
  );
});
after(async () => {
  await t?.stop();
});

describe('psql', () => {
  it('returns the same rows as a direct connection', async () => {
    const sql = 'select id, name, price, tags, data, raw, at from items order by id';
    const via = await psql(t.url(token), sql);
    const direct = await psql(t.directUrl(), sql);
    assert.equal(via.code, 0, via.stderr);
    assert.equal(via.stdout, direct.stdout);
    assert.equal(via.stdout.trim().split('\n').length, 500);
  });

  it('runs a multi-statement string and reports errors without ending the session', async () => {
    const r = await psql(t.url(token), null, ['-v', 'ON_ERROR_STOP=0'], "select 1;\nselect * from no_such_table;\nselect 'still here';\n");
    assert.match(r.stderr, /relation "no_such_table" does not exist/);
    assert.match(r.stdout, /still here/);
  });

  it('copies from stdin and to stdout', async () => {
    const r = await psql(t.url(token), null, ['-q'], 'create table copied (a int, b text);\n\\copy copied from stdin\n1\tone\n2\ttwo\n\\.\n\\copy (select * from copied order by a) to stdout\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '1\tone\n2\ttwo\n');
    assert.equal(t.pg.psql('select count(*) from copied', 'app').trim(), '2');
  });

  it('shows notices', async () => {
    const r = await psql(t.url(token), "do $$ begin raise notice 'hello %', 42; end $$");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /NOTICE:\s+hello 42/);
  });
});

describe('pg (node-postgres)', () => {
  it('runs parameterised and prepared statements through the extended protocol', async () => {
    const c = new pg.Client(t.client(token));
    await c.connect();
    try {
      const r = await c.query('select id, name, price from items where id = $1', [7]);
      assert.deepEqual(r.rows, [{ id: 7, name: 'item 7', price: '10.50' }]);
      for (let i = 1; i <= 3; i++) {
        const p = await c.query({ name: 'by-id', text: 'select name from items where id = $1', values: [i] });
        assert.equal(p.rows[0].name, `item ${i}`);
      }
      const bin = await c.query({ text: 'select raw, data from items where id = 1' });
      assert.deepEqual(bin.rows[0].raw, Buffer.from([0, 255]));
      assert.deepEqual(bin.rows[0].data, { n: 1 });
    } finally {
      await c.end();
    }
  });

  it('keeps a transaction consistent and reports errors inside it', async () => {
    const c = new pg.Client(t.client(token));
    await c.connect();
    try {
      await c.query('create table tx_test (v int)');
      await c.query('begin');
      await c.query('insert into tx_test values (1)');
      await assert.rejects(c.query('select 1/0'), /division by zero/);
      await assert.rejects(c.query('select 1'), (e: any) => e.code === '25P02');
      await c.query('rollback');
      const r = await c.query('select count(*)::int as n from tx_test');
      assert.equal(r.rows[0].n, 0);
    } finally {
      await c.end();
    }
  });

  it('delivers LISTEN/NOTIFY notifications', async () => {
    const listener = new pg.Client(t.client(token));
    const sender = new pg.Client(t.client(token));
    await listener.connect();
    await sender.connect();
    try {
      const got = new Promise<pg.Notification>((resolve) => listener.on('notification', resolve));
      await listener.query('listen pgwarden_test');
      await sender.query("select pg_notify('pgwarden_test', 'payload-1')");
      const n = await got;
      assert.equal(n.channel, 'pgwarden_test');
      assert.equal(n.payload, 'payload-1');
    } finally {
      await listener.end();
      await sender.end();
    }
  });

  it('never shows the upstream password in parameters or results', async () => {
    const c = new pg.Client(t.client(token));
    await c.connect();
    try {
      const r = await c.query("select current_user, current_setting('application_name') as app");
      assert.equal(r.rows[0].current_user, 'gw_app');
      const all = JSON.stringify((c as any).connectionParameters) + JSON.stringify(r.rows);
      assert.ok(!all.includes(t.upstreamPassword), '!all.includes(t.upstreamPassword)');
    } finally {
      await c.end();
    }
  });
});

describe('postgres.js', () => {
  it('pipelines queries and describes statements first', async () => {
    const sql = postgres(t.url(token), { max: 1, onnotice: () => {} });
    try {
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => sql`select ${i + 1}::int as n, name from items where id = ${i + 1}`));
      results.forEach((rows, i) => assert.deepEqual([...rows], [{ n: i + 1, name: `item ${i + 1}` }]));
      const [{ count }] = await sql`select count(*)::int as count from items`;
      assert.equal(count, 500);
      await assert.rejects(sql`select * from missing_table`, /does not exist/);
      const [{ ok }] = await sql`select true as ok`;
      assert.equal(ok, true);
    } finally {
      await sql.end();
    }
  });

  it('runs transactions and COPY through its own API', async () => {
    // One connection: the count below queues behind the COPY on the same session.
    const sql = postgres(t.url(token), { max: 1 });
    try {
      await sql`create table pjs (id int, v text)`;
      await sql.begin(async (tx) => {
        await tx`insert into pjs values (1, 'a')`;
        await tx`insert into pjs values (2, 'b')`;
      });
      const rows = await sql`select * from pjs order by id`;
      assert.deepEqual([...rows], [{ id: 1, v: 'a' }, { id: 2, v: 'b' }]);
      const writable = await sql`copy pjs from stdin`.writable();
      await new Promise<void>((resolve, reject) => {
        writable.on('error', reject);
        writable.write('3\tc\n');
        writable.end('4\td\n', () => resolve());
      });
      const [{ n }] = await sql`select count(*)::int as n from pjs`;
      assert.equal(n, 4);
    } finally {
      await sql.end();
    }
  });
});
