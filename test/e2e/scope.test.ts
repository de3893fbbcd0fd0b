/**
 * Scope enforcement against a real PostgreSQL, proving the effect and not just the decision:
 * after each refused statement the data and the schema are unchanged, the client reads a 42501
 * naming what it may not do, and the session (and its transaction state) stays consistent with
 * the upstream's.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import postgres from 'postgres';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { RawClient, message } from '../helpers/raw-client.ts';
import { encodeBind, encodeExecute, encodeParse, SYNC } from '../../src/protocol/index.ts';

let t: TestGateway;

const POLICIES = [
  {
    name: 'analysts',
    match: { groups: ['analysts'] },
    allow: [{ tables: ['public.orders', 'public.customers'], operations: ['select'] }],
    deny: [{ columns: ['public.customers.ssn'] }],
    limits: { read_only: true, statement_timeout: '5s' },
  },
  {
    name: 'support',
    match: { groups: ['support'] },
    allow: [
      { tables: ['public.customers', 'public.orders'], operations: ['select'] },
      { tables: ['public.orders'], operations: ['update'], write_columns: ['status'] },
    ],
  },
  {
    name: 'migrators',
    match: { groups: ['migrators'] },
    allow: [
      { tables: ['public.*'], operations: 'all' },
      { ddl: { schemas: ['public'] } },
    ],
  },
];

function snapshot(): string {
  return t.pg.psql(
    "select (select count(*) from orders) || '/' || (select sum(total) from orders) || '/' || (select count(*) from customers) || '/' || (select string_agg(tablename, ',' order by tablename) from pg_tables where schemaname = 'public') || '/' || (select string_agg(status, ',' order by id) from orders)",
    'app',
  ).trim();
}

before(async () => {
  t = await startTestGateway({ config: (raw) => (raw.policies = POLICIES) });
  t.pg.psql(
    `create table customers (id int primary key, name text, email text, ssn text);
     create table orders (id int primary key, customer_id int, status text, total numeric);
     create table secrets (id int, value text);
     insert into customers select g, 'name ' || g, 'c' || g || '@example.com', '123-45-' || g from generate_series(1, 20) g;
     insert into orders select g, g % 20 + 1, 'new', g * 10 from generate_series(1, 50) g;
     insert into secrets values (1, 'hunter2');
     alter table customers owner to gw_app; alter table orders owner to gw_app; alter table secrets owner to gw_app;`,
    'app',
  );
});
after(async () => {
  await t?.stop();
});

async function as(groups: string[], sub = groups[0]): Promise<pg.Client> {
  const c = new pg.Client(t.client(await t.issuer.sign({ sub, groups })));
  await c.connect();
  return c;
}

describe('an identity no policy matches', () => {
  it('cannot connect at all', async () => {
    const c = new pg.Client(t.client(await t.issuer.sign({ sub: 'stranger', groups: ['nobody'] })));
    await assert.rejects(c.connect(), (e: any) => e.code === '28000' && /no policy grants stranger access to database app/.test(e.message));
    await c.end().catch(() => {});
  });
});

describe('refused statements change nothing', () => {
  const refused: [string, string, RegExp][] = [
    ['reading a denied column', 'select ssn from customers', /may not read column public\.customers\.ssn/],
    ['star over a denied column', 'select * from customers', /ssn/],
    ['a whole-row reference', 'select c from customers c', /ssn/],
    ['TABLE of a table with a denied column', 'table customers', /ssn/],
    ['a Unicode-escaped identifier', 'select U&"\\0073sn" from customers', /ssn/],
    ['a table not granted', 'select * from secrets', /secrets/],
    ['a delete', 'delete from orders', /orders/],
    ['an update', "update orders set status = 'x'", /orders/],
    ['DDL', 'drop table orders', /orders|drop/],
    ['truncate', 'truncate orders', /orders|truncate/],
    ['a multi-statement string with one refused part', 'select 1; delete from orders', /orders/],
    ['DML in a CTE', 'with d as (delete from orders returning *) select count(*) from d', /orders/],
    ['EXPLAIN ANALYZE of DML', 'explain analyze delete from orders', /orders/],
    ['SELECT INTO', 'select * into stolen from orders', /select into|read-only/],
    ['COPY to a program', "copy orders to program 'cat > /tmp/x'", /program|COPY/i],
    ['a DO block', 'do $$ begin delete from orders; end $$', /DO|do block/i],
    ['PREPARE of a write', 'prepare p as delete from orders', /orders/],
    ['SET ROLE', 'set role pgwarden_test', /role/i],
    ['changing search_path', 'set search_path = pg_temp, public', /search_path/],
    ['a dangerous function', "select pg_read_file('/etc/passwd')", /pg_read_file/],
    ['set_config of a protected setting', "select set_config('default_transaction_read_only', 'off', false)", /set_config|default_transaction_read_only/],
  ];
  for (const [name, sql, reason] of refused) {
    it(`${name}: ${sql}`, async () => {
      const before = snapshot();
      const c = await as(['analysts'], 'analyst');
      try {
        await assert.rejects(c.query(sql), (e: any) => {
          assert.equal(e.code, '42501', `${e.code} ${e.message}`);
          assert.match(e.message, reason);
          return true;
        });
        assert.equal((await c.query('select 1 as ok')).rows[0].ok, 1, 'the session stays usable');
      } finally {
        await c.end();
      }
      assert.equal(snapshot(), before, 'data and schema unchanged');
    });
  }

  it('allowed reads work and return the same rows as a direct connection', async () => {
    const c = await as(['analysts'], 'analyst');
    try {
      const r = await c.query('select o.id, c.name, o.total from orders o join customers c on c.id = o.customer_id where o.total > $1 order by o.id', [400]);
      assert.equal(r.rows.length, 10);
      assert.deepEqual(r.rows[0], { id: 41, name: 'name 2', total: '410' });
      assert.equal((await c.query('show default_transaction_read_only')).rows[0].default_transaction_read_only, 'on');
      assert.equal((await c.query('show statement_timeout')).rows[0].statement_timeout, '5s');
    } finally {
      await c.end();
    }
  });

  it('the message names the identity, and a hint comes with it', async () => {
    const c = await as(['analysts'], 'analyst');
    try {
      await assert.rejects(c.query('select ssn from customers'), (e: any) => /^pgwarden: analyst may not read column public\.customers\.ssn/.test(e.message) && typeof e.hint === 'string' && e.hint.length > 0);
    } finally {
      await c.end();
    }
  });
});

describe('column-level write grants', () => {
  it('support may update orders.status but no other column', async () => {
    const c = await as(['support'], 'support-bot');
    try {
      const r = await c.query("update orders set status = 'shipped' where id = 1");
      assert.equal(r.rowCount, 1);
      const before = snapshot();
      await assert.rejects(c.query('update orders set total = 0 where id = 2'), (e: any) => e.code === '42501' && /total/.test(e.message));
      assert.equal(snapshot(), before);
    } finally {
      await c.end();
    }
  });
});

describe('transactions stay consistent with the upstream', () => {
  it('a refusal inside a transaction aborts it, as an error in PostgreSQL would', async () => {
    const c = await as(['support'], 'support-bot');
    try {
      await c.query('begin');
      await c.query("update orders set status = 'in-tx' where id = 3");
      await assert.rejects(c.query('delete from orders where id = 3'), (e: any) => e.code === '42501');
      await assert.rejects(c.query('select 1'), (e: any) => e.code === '25P02');
      const commit = await c.query('commit');
      assert.equal(commit.command, 'ROLLBACK');
      assert.equal(t.pg.psql('select status from orders where id = 3', 'app').trim(), 'new', 'the update before the refusal was rolled back');
      assert.equal((await c.query('select 2 as n')).rows[0].n, 2);
    } finally {
      await c.end();
    }
  });

  it('a refusal in a pipelined extended batch rolls back the implicit transaction', async () => {
    const c = await RawClient.connect(t.port, await t.issuer.sign({ sub: 'support-bot', groups: ['support'] }));
    c.send(
      Buffer.concat([
        encodeParse('', "update orders set status = 'batch' where id = 4"),
        encodeBind('', '', []),
        encodeExecute(''),
        encodeParse('', 'delete from orders where id = 4'),
        encodeBind('', '', []),
        encodeExecute(''),
        SYNC,
      ]),
    );
    const got = await c.until('Z');
    const errors = got.filter((m) => m.tag === 'E');
    assert.equal(errors.length, 1, got.map((m) => m.tag).join(''));
    assert.equal(errors[0].fields?.C, '42501');
    assert.match(errors[0].fields?.M ?? '', /delete from public\.orders|orders/);
    assert.equal(t.pg.psql('select status from orders where id = 4', 'app').trim(), 'new');
    c.send(message('Q', Buffer.from('select 1\0')));
    await c.until('Z');
    c.end();
  });

  it('a refused first statement of a batch is answered without the upstream', async () => {
    const c = await RawClient.connect(t.port, await t.issuer.sign({ sub: 'analyst', groups: ['analysts'] }));
    c.send(Buffer.concat([encodeParse('s1', 'delete from orders'), encodeBind('', 's1', []), encodeExecute(''), SYNC]));
    const got = await c.until('Z');
    assert.deepEqual(got.map((m) => m.tag), ['E', 'Z']);
    assert.equal(got[1].frame[5], 'I'.charCodeAt(0));
    c.end();
  });
});

describe('DDL through the gateway', () => {
  it('a migrator creates a table and uses it at once (the catalog reloads)', async () => {
    const c = await as(['migrators'], 'migrator');
    try {
      await c.query('create table fresh_table (a int, b text)');
      await c.query("insert into fresh_table values (1, 'x')");
      const r = await c.query('select * from fresh_table');
      assert.deepEqual(r.rows, [{ a: 1, b: 'x' }]);
      await c.query('drop table fresh_table');
    } finally {
      await c.end();
    }
  });
});

describe('drivers', () => {
  it('postgres.js gets refusals as errors and goes on', async () => {
    const sql = postgres(t.url(await t.issuer.sign({ sub: 'analyst', groups: ['analysts'] })), { max: 1 });
    try {
      await assert.rejects(sql`select ssn from customers where id = ${1}`, (e: any) => e.code === '42501');
      const rows = await sql`select name from customers where id = ${1}`;
      assert.equal(rows[0].name, 'name 1');
    } finally {
      await sql.end();
    }
  });
});
