/**
 * Temporary tables are the session's own (its pg_temp), decided by the policy as
 * `pg_temp.<name>`, with no wait for a catalog reload. A temporary table with the name of a
 * permanent one never lets a statement slip past the permanent one's rules: an unqualified name
 * that may mean either is refused until qualified, and masked values cannot be copied into a
 * temporary table (attacks judged by what the client received and what the tables hold).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import postgres from 'postgres';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { encodeQuery } from '../../src/protocol/index.ts';

let t: TestGateway;
const EMAILS = ['ada@example.com', 'bob@example.org'];

before(async () => {
  t = await startTestGateway({
    config: (raw) => {
      const issuer = raw.identity.issuers[0].issuer;
      raw.policies = [
        {
          name: 'with-temp',
          match: { issuers: [issuer], subjects: ['temp-ok'] },
          allow: [{ tables: ['public.*', 'pg_temp.*'], operations: 'all' }, { ddl: { schemas: ['pg_temp'] } }],
        },
        {
          name: 'no-temp-tables',
          match: { issuers: [issuer], subjects: ['temp-no'] },
          allow: [{ tables: ['public.*'], operations: 'all' }, { ddl: { schemas: ['pg_temp'] } }],
        },
      ];
      raw.masking = { hash_key: 'temp-tables-mask-key-0123456789abcdef', rules: [{ column: 'public.customers.email', with: 'email' }] };
    },
  });
  t.pg.psql(`create table customers (id int, email text); insert into customers values (1, '${EMAILS[0]}'), (2, '${EMAILS[1]}'); grant all on customers to gw_app`, 'app');
});
after(async () => {
  await t?.stop();
});

const client = async (sub: string) => {
  const c = new pg.Client(t.client(await t.issuer.sign({ sub })));
  await c.connect();
  return c;
};

describe('temporary tables', () => {
  it('are decided as pg_temp.<name> and used at once, with no catalog reload (pg, simple and extended; one string)', async () => {
    const c = await client('temp-ok');
    try {
      await c.query('create temp table s1 (a int)');
      const took: number[] = [];
      for (let i = 0; i < 10; i++) {
        const started = performance.now();
        await c.query({ text: 'insert into s1 values ($1)', values: [i] });
        took.push(performance.now() - started);
      }
      const r = await c.query('select count(*)::int as n from s1');
      assert.deepEqual(r.rows, [{ n: 10 }]);
      // No catalog reload per statement: each would wait at least 250 ms.
      took.sort((a, b) => a - b);
      assert.ok(took[5] < 200, `median ${took[5].toFixed(0)} ms`);
      const multi = await c.query('create temp table s2 (a int); insert into s2 values (7); select a from s2');
      assert.deepEqual((multi as unknown as pg.QueryResult[])[2].rows, [{ a: 7 }]);
      await c.query('drop table s1');
      await assert.rejects(c.query('select * from s1'), (e: any) => e.code === '42P01');
    } finally {
      await c.end();
    }
  });

  it('postgres.js: a temporary table in a transaction', async () => {
    const sql = postgres({ ...t.client(await t.issuer.sign({ sub: 'temp-ok' })), username: 'agent', max: 1, onnotice: () => {} });
    try {
      const n = await sql.begin(async (tx) => {
        await tx`create temp table s3 (a int) on commit drop`;
        await tx`insert into s3 values (1), (2)`;
        return tx`select count(*)::int as n from s3`;
      });
      assert.deepEqual([...n], [{ n: 2 }]);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  it('a scope that does not grant pg_temp.* may not use them, and is told the name', async () => {
    const c = await client('temp-no');
    try {
      await c.query('create temp table s4 (a int)');
      await assert.rejects(c.query('insert into s4 values (1)'), (e: any) => e.code === '42501' && /pg_temp\.s4/.test(e.message));
      await assert.rejects(c.query('select * from s4'), (e: any) => e.code === '42501' && /pg_temp\.s4/.test(e.message));
    } finally {
      await c.end();
    }
  });
});

describe('a temporary table named like a masked table', () => {
  it('never carries a masked value to the client: copying is refused, the shared name is decided as both, the qualified names keep their rules', async () => {
    const c = await RawClient.connect(t.port, await t.issuer.sign({ sub: 'temp-ok' }));
    const run = async (sql: string) => {
      c.send(encodeQuery(sql));
      const got = await c.until('Z');
      const err = got.find((m) => m.tag === 'E');
      return { err: err ? `${err.fields?.C} ${err.fields?.M}` : null, bytes: Buffer.concat(got.map((m) => m.frame)) };
    };
    const received: Buffer[] = [];
    const step = async (sql: string, expect: 'ok' | RegExp) => {
      const r = await run(sql);
      received.push(r.bytes);
      if (expect === 'ok') assert.equal(r.err, null, `${sql}: ${r.err}`);
      else assert.match(r.err ?? 'no error', expect, sql);
      return r;
    };
    await step('create temp table customers (id int, email text)', 'ok');
    // Laundering the masked column into the temporary table, by every form of write.
    await step('insert into pg_temp.customers select id, email from public.customers', /^42501 .*masked column public\.customers\.email/);
    await step('insert into customers select id, email from public.customers', /^42501 /);
    await step('create temp table c2 as select id, email from public.customers', /^42501 .*masked column public\.customers\.email/);
    await step('select id, email into temp c3 from public.customers', /^42501 .*masked column public\.customers\.email/);
    await step('with x as (select email from public.customers) insert into pg_temp.customers (email) select email from x', /^42501 /);
    // The unqualified name may mean either table: decided as both (the permanent one's grant
    // and masks, the temporary one's grant), whichever the server takes. It takes the temporary
    // one, which is empty.
    const either = await step('select * from customers', 'ok');
    assert.match(either.bytes.toString('utf8'), /SELECT 0/);
    await step('select email from customers where id = 1', 'ok');
    // DDL on the shared name is DDL on both: this scope has ddl in pg_temp only.
    await step('drop table customers', /^42501 .*may not drop table public\.customers/);
    // Once the temporary one is dropped, the same name is the permanent table, masked.
    await step('drop table pg_temp.customers', 'ok');
    const permanent = await step('select email from customers order by id', 'ok');
    assert.match(permanent.bytes.toString('utf8'), /@example\./, 'the masked form keeps the domain');
    await step('create temp table customers (id int, email text)', 'ok');
    // Qualified, each keeps its own rules: the permanent one masked, the temporary one empty.
    const masked = await step('select email from public.customers order by id', 'ok');
    assert.match(masked.bytes.toString('utf8'), /@example\./, 'the masked form keeps the domain');
    const mine = await step("select count(*) || ' rows' from pg_temp.customers", 'ok');
    assert.match(mine.bytes.toString('utf8'), /0 rows/);
    for (const e of EMAILS) for (const b of received) assert.ok(!b.includes(e), `${e} reached the client`);
    c.end();
  });
});

describe('with masking on', () => {
  it('a refused PREPARE TRANSACTION still ends the block (rolled back, ReadyForQuery I), and masked results stay masked after it', async () => {
    const c = await RawClient.connect(t.port, await t.issuer.sign({ sub: 'temp-ok' }));
    const status = async (sql: string) => {
      c.send(encodeQuery(sql));
      const got = await c.until('Z');
      const err = got.find((m) => m.tag === 'E');
      return { line: `${err ? `${err.fields?.C} ` : ''}${String.fromCharCode(got[got.length - 1].frame[5])}`, bytes: Buffer.concat(got.map((m) => m.frame)) };
    };
    assert.equal((await status('begin')).line, 'T');
    assert.equal((await status("insert into customers values (3, 'carol@example.net')")).line, 'T');
    assert.equal((await status("prepare transaction 'm1'")).line, '42501 I');
    const after = await status('select id, email from public.customers order by id');
    assert.equal(after.line, 'I');
    for (const e of [...EMAILS, 'carol@example.net']) assert.ok(!after.bytes.includes(e), `${e} in the result`);
    assert.equal(t.pg.psql('select count(*) from customers', 'app').trim(), '2');
    c.end();
  });
});
