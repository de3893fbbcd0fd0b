/**
 * Session pooling through the gateway: two identities alternating on a pool of one server
 * connection share the backend and nothing of each other's session state; a client that leaves
 * mid-transaction does not hand its transaction on; a session waiting past max_client_wait gets
 * 53300 and others go on; cancel reaches the backend running the client's statement; pgbench -C
 * runs through the pool.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { pgbench } from '../helpers/clients.ts';
import { waitFor } from '../helpers/wait.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sendCancel } from '../helpers/cancel.ts';

let t: TestGateway;

before(async () => {
  t = await startTestGateway({
    config: (raw) => {
      raw.upstreams.app.pool = { size: 1, max_client_wait: '1s' };
    },
  });
  t.pg.psql('create table shared_t (id int primary key, v text); insert into shared_t values (1, $$one$$)', 'app');
  t.pg.psql('grant all on shared_t to gw_app', 'app');
});
after(async () => {
  await t?.stop();
});

async function client(sub: string): Promise<pg.Client> {
  const c = new pg.Client(t.client(await t.issuer.sign({ sub })));
  await c.connect();
  return c;
}

const pid = async (c: pg.Client) => (await c.query('select pg_backend_pid() as p')).rows[0].p as number;

describe('session pooling', () => {
  it('two identities alternate on one server connection and see nothing of each other', async () => {
    const a = await client('alice');
    const pidA = await pid(a);
    await a.query("set work_mem = '1MB'");
    await a.query('create temp table alice_notes (secret text)');
    await a.query("insert into alice_notes values ('alice-private')");
    await a.query({ name: 'alice_stmt', text: 'select v from shared_t where id = $1', values: [1] });
    await a.query('prepare alice_sql as select 42');
    await a.query('listen alice_channel');
    await a.query('select pg_advisory_lock(777)');
    await a.end();

    const b = await client('bob');
    after(() => b.end().catch(() => {}));
    assert.equal(await pid(b), pidA, 'the pool of one hands bob the same backend');
    const r = (
      await b.query(`select current_setting('work_mem') as wm,
                            (select count(*)::int from pg_class where relname = 'alice_notes') as temp,
                            (select count(*)::int from pg_prepared_statements) as prepared,
                            (select count(*)::int from pg_listening_channels()) as listening`)
    ).rows[0];
    assert.deepEqual(r, { wm: '4MB', temp: 0, prepared: 0, listening: 0 });
    // Alice's session advisory lock went with her session (pg_locks, as the superuser).
    assert.equal(t.pg.psql(`select count(*) from pg_locks where locktype = 'advisory' and pid = ${pidA}`, 'app').trim(), '0');
    // The gateway's ledger (per session) does not know it either.
    await assert.rejects(b.query('execute alice_sql'), /unknown to the gateway|does not exist/);
    await b.end();

    const a2 = await client('alice');
    assert.equal(await pid(a2), pidA);
    assert.equal((await a2.query("select count(*)::int as n from pg_class where relname = 'alice_notes'")).rows[0].n, 0);
    await a2.end();
  });

  it('a client that leaves inside a transaction takes it with it', async () => {
    const a = await client('leaver');
    const pidA = await pid(a);
    await a.query('begin');
    await a.query("update shared_t set v = 'uncommitted' where id = 1");
    await a.end();
    const b = await client('after-leaver');
    // The connection was not idle: it was closed, not reset, and the update is gone.
    assert.notEqual(await pid(b), pidA);
    assert.equal((await b.query('select v from shared_t where id = 1')).rows[0].v, 'one');
    await b.end();
    await waitFor('the old backend gone', () => t.pg.psql(`select count(*) from pg_stat_activity where pid = ${pidA}`).trim() === '0');
  });

  it('past max_client_wait a session gets 53300, and the holder goes on', async () => {
    const holder = await client('holder');
    const waitingMetric = async () => {
      const body = await fetch(`http://127.0.0.1:${t.gw.http.port}/metrics`).then((r) => r.text());
      return Number(/^pgwarden_pool_waiting_sessions\{upstream="app"\} (\d+)$/m.exec(body)?.[1] ?? -1);
    };
    const started = Date.now();
    const waiting = client('waiter');
    await waitFor('the waiter counted in /metrics', async () => (await waitingMetric()) === 1);
    const err = await waiting.then(
      async (c) => {
        await c.end();
        assert.fail('a second session on a pool of one');
      },
      (e: { code?: string; message: string }) => e,
    );
    assert.equal(err.code, '53300');
    assert.match(err.message, /no connection to upstream app became free within 1000 ms/);
    assert.ok(Date.now() - started >= 900);
    assert.equal((await holder.query('select 1 as one')).rows[0].one, 1);
    assert.equal(await waitingMetric(), 0);
    await holder.end();
    const next = await waitFor('a session after the holder left', () => client('next').catch(() => null));
    await next.end();
  });

  it('cancel reaches the backend running the statement', async () => {
    const c = await client('sleeper');
    const sleeping = c.query('select pg_sleep(30)').then(
      () => null,
      (e: { code?: string }) => e,
    );
    await waitFor('the sleep running', () => t.pg.psql("select count(*) from pg_stat_activity where query like 'select pg_sleep(30)%' and state = 'active'").trim() === '1');
    await sendCancel(t.port, (c as unknown as { processID: number }).processID, (c as unknown as { secretKey: number }).secretKey);
    const e = await sleeping;
    assert.equal(e?.code, '57014');
    assert.equal((await c.query('select 2 as two')).rows[0].two, 2);
    await c.end();
  });

  it('pgbench -C runs through the pool, reusing its connection', async () => {
    const env = { PGPASSWORD: await t.issuer.sign({ sub: 'bench', exp: Math.floor(Date.now() / 1000) + 3600 }) };
    const conn = ['-h', '127.0.0.1', '-p', String(t.port), '-U', 'agent'];
    t.pg.psql('create table if not exists pc (n int); grant all on pc to gw_app', 'app');
    const script = join(mkdtempSync(join(tmpdir(), 'pgwarden-pool-')), 'insert.sql');
    writeFileSync(script, 'insert into pc values (1);\n');
    const r = await pgbench(['-C', '-c', '1', '-t', '30', '-n', '-f', script, ...conn, 'app'], env);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(Number(t.pg.psql('select count(*) from pc', 'app')), 30);
    // Thirty sessions, and the pool of one never held more than one backend of the gateway's role.
    const backends = Number(t.pg.psql("select count(*) from pg_stat_activity where usename = 'gw_app' and application_name <> 'pgwarden-catalog' and backend_type = 'client backend' and query not like '%pg_stat_activity%'", 'app'));
    assert.ok(backends <= 2, `backends: ${backends}`);
  });
});
