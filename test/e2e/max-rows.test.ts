/**
 * A policy's `max_rows` on the wire: a statement whose result is longer than the limit is ended
 * with ERROR 54000 naming the limit and the identity, and no row past the limit reaches the
 * client (judged on every byte the client received). Results at or under the limit, paging with
 * LIMIT or a cursor, and identities without a limit are untouched; the session stays usable.
 * With pg (simple and extended protocol), postgres.js and psql.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import postgres from 'postgres';
import { psql } from '../helpers/clients.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { Writer } from '../../src/protocol/writer.ts';

let t: TestGateway;

before(async () => {
  t = await startTestGateway({
    config: (raw) => {
      raw.policies = [
        { name: 'capped', match: { groups: ['capped'] }, allow: [{ tables: ['public.*'], operations: ['select'] }], limits: { max_rows: 5 } },
        { name: 'uncapped', match: { groups: ['uncapped'] }, allow: [{ tables: ['public.*'], operations: ['select'] }] },
      ];
    },
  });
  t.pg.psql("create table rows10 (id int primary key, v text); insert into rows10 select g, 'row-value-' || g || '-end' from generate_series(1, 10) g; alter table rows10 owner to gw_app;", 'app');
  await t.gw.reloadCatalogs();
});
after(async () => {
  await t?.stop();
});

const LATE = [6, 7, 8, 9, 10].map((n) => `row-value-${n}-end`);

/** A pg client whose every received byte is kept. */
async function capped(groups = ['capped']): Promise<{ c: pg.Client; received: () => string }> {
  const c = new pg.Client(t.client(await t.issuer.sign({ sub: 'report-job', groups })));
  await c.connect();
  const chunks: Buffer[] = [];
  (c as any).connection.stream.on('data', (b: Buffer) => chunks.push(b));
  return { c, received: () => Buffer.concat(chunks).toString('latin1') };
}

function overLimit(e: any): boolean {
  assert.equal(e.code, '54000', e.message);
  assert.match(e.message, /^pgwarden: result exceeds max_rows 5 for report-job/);
  assert.match(e.hint ?? '', /LIMIT 5/);
  return true;
}

describe('max_rows is enforced for wire clients', () => {
  it('pg, simple and extended protocol: a longer result is an error, and no row past the limit is sent', async () => {
    const { c, received } = await capped();
    try {
      await assert.rejects(c.query('select id, v from rows10 order by id'), overLimit);
      await assert.rejects(c.query('select id, v from rows10 where id > $1 order by id', [0]), overLimit);
      await assert.rejects(c.query({ name: 'all-rows', text: 'select v from rows10' }), overLimit);
      await assert.rejects(c.query('select v from rows10 cross join generate_series(1, 3)'), overLimit);
      const bytes = received();
      for (const v of LATE) assert.ok(!bytes.includes(v), `${v} never reached the client`);
      assert.equal((await c.query('select 1 as n')).rows[0].n, 1, 'the session stays usable');
      assert.equal((await c.query('select v from rows10 order by id limit 5')).rowCount, 5, 'exactly the limit is fine');
      assert.equal((await c.query('select v from rows10 where id > $1 order by id limit 5', [5])).rows[4].v, 'row-value-10-end', 'paging with LIMIT works');
      assert.equal((await c.query('select count(*)::int as n from rows10')).rows[0].n, 10);
    } finally {
      await c.end();
    }
  });

  it('a cursor fetched within the limit pages through; a FETCH over it is refused', async () => {
    const { c } = await capped();
    try {
      await c.query('begin');
      await c.query('declare cur cursor for select v from rows10 order by id');
      assert.equal((await c.query('fetch 5 from cur')).rowCount, 5);
      assert.equal((await c.query('fetch 5 from cur')).rows[4].v, 'row-value-10-end');
      await c.query('move absolute 0 in cur');
      await assert.rejects(c.query('fetch all from cur'), overLimit);
      await c.query('rollback');
    } finally {
      await c.end();
    }
  });

  it('postgres.js (pipelined, described first) gets the same error', async () => {
    // postgres.js reads every array type from pg_type when it connects: hundreds of rows, over
    // this limit, so it connects without that here (README: Policies, limits).
    const sql = postgres({ ...t.client(await t.issuer.sign({ sub: 'report-job', groups: ['capped'] })), username: 'report-job', max: 1, onnotice: () => {}, fetch_types: false });
    try {
      assert.equal((await sql`select v from rows10 order by id limit ${5}`).length, 5);
      // Last: after an error in the middle of a result, postgres.js adds the rows it had to the
      // next query's result (it does so with PostgreSQL's own errors too, e.g. 22012 at row 6).
      await assert.rejects(async () => await sql`select v from rows10`, overLimit);
    } finally {
      await sql.end();
    }
  });

  it('psql prints the error and none of the rows past the limit', async () => {
    const r = await psql(t.url(await t.issuer.sign({ sub: 'report-job', groups: ['capped'] })), 'select v from rows10 order by id');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /ERROR: {2}pgwarden: result exceeds max_rows 5 for report-job/);
    for (const v of LATE) assert.ok(!r.stdout.includes(v) && !r.stderr.includes(v), `psql did not print ${v}`);
    const ok = await psql(t.url(await t.issuer.sign({ sub: 'report-job', groups: ['capped'] })), 'select v from rows10 order by id limit 5');
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.trim().split('\n').length, 5);
  });

  it('an identity without max_rows gets every row', async () => {
    const { c } = await capped(['uncapped']);
    try {
      assert.equal((await c.query('select v from rows10')).rowCount, 10);
    } finally {
      await c.end();
    }
  });

  it('a portal executed in pipelined batches stops at the limit: rows counted across batches and reads', async () => {
    const c = await RawClient.connect(t.port, await t.issuer.sign({ sub: 'report-job', groups: ['capped'] }));
    try {
      const parse = new Writer().message(0x50).cstring('').cstring('select v from rows10 order by id').int16(0).end();
      const bind = new Writer().message(0x42).cstring('p').cstring('').int16(0).int16(0).int16(0).end();
      const executes = [1, 2, 3].map(() => new Writer().message(0x45).cstring('p').int32(2).end());
      c.send(Buffer.concat([parse, bind, ...executes, new Writer().message(0x53).end()]));
      const got = await c.until('Z');
      const rows = got.filter((m) => m.tag === 'D');
      assert.equal(rows.length, 5, `rows delivered: ${got.map((m) => m.tag).join('')}`);
      const err = got.find((m) => m.tag === 'E');
      assert.equal(err?.fields?.C, '54000');
      const bytes = Buffer.concat(got.map((m) => m.frame)).toString('latin1');
      for (const v of LATE) assert.ok(!bytes.includes(v), `${v} never reached the client`);
    } finally {
      c.end();
    }
  });
});
