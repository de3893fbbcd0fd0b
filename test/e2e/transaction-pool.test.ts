/**
 * Transaction pooling through the gateway, on a pool of ONE server connection, with real clients
 * (pg, postgres.js, pgbench): sessions of two identities share the backend between transactions;
 * each keeps its own settings and prepared statements and sees nothing of the other's; a
 * transaction holds the connection until it ends; state that cannot move pins the session (or is
 * refused, as configured); cancel reaches the statement running, never another session's.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import postgres from 'postgres';
import { gatewayClients, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { pgbench, psql } from '../helpers/clients.ts';
import { waitFor } from '../helpers/wait.ts';
import { RawClient, message as rawMessage } from '../helpers/raw-client.ts';
import { SYNC, encodeBind, encodeExecute, encodeParse, encodeQuery } from '../../src/protocol/index.ts';
import { sendCancel } from '../helpers/cancel.ts';

let t: TestGateway;

before(async () => {
  t = await startTestGateway({
    config: (raw) => {
      raw.upstreams.app.pool = { mode: 'transaction', size: 1, max_client_wait: '2s' };
    },
  });
  t.pg.psql('create table acct (id int primary key, owner text, balance int); insert into acct values (1, $$a$$, 100), (2, $$b$$, 200)', 'app');
  t.pg.psql('alter table acct owner to gw_app', 'app');
});
after(async () => {
  await t?.stop();
});

const clients = gatewayClients(() => t);
after(() => clients.endAll());
const client = clients.connect;

/** The cancel key the gateway gave a pg client. */
const keyOf = (c: pg.Client): [number, number] => [(c as unknown as { processID: number }).processID, (c as unknown as { secretKey: number }).secretKey];

const pid = async (c: pg.Client) => (await c.query('select pg_backend_pid() as p')).rows[0].p as number;
const one = async (c: pg.Client, sql: string, values?: unknown[]) => Object.values((await c.query(sql, values)).rows[0])[0];

describe('transaction pooling on a pool of one', () => {
  it('sessions of two identities take turns on the one backend', async () => {
    const a = await client('alice');
    const b = await client('bob');
    const pa = await pid(a);
    assert.equal(await pid(b), pa, 'both sessions run on the one backend');
    for (let i = 0; i < 5; i++) {
      assert.equal(await one(a, 'select $1::int + 1 as n', [i]), i + 1);
      assert.equal(await one(b, 'select balance from acct where id = $1', [2]), 200);
    }
  });

  it('each session keeps its own settings, replayed on every transaction; the other never sees them', async () => {
    const a = await client('alice');
    const b = await client('bob');
    await a.query("set work_mem = '1MB'");
    await a.query("set application_name = 'alice-app'");
    assert.equal(await one(b, "select current_setting('work_mem')"), '4MB');
    assert.equal(await one(a, "select current_setting('work_mem')"), '1MB');
    assert.equal(await one(b, "select current_setting('work_mem')"), '4MB');
    assert.equal(await one(a, "select current_setting('application_name')"), 'alice-app');
    await a.query('reset work_mem');
    assert.equal(await one(a, "select current_setting('work_mem')"), '4MB');
    // A failed SET is not replayed.
    await assert.rejects(a.query("set work_mem = 'lots'"), /invalid value/);
    assert.equal(await one(a, "select current_setting('work_mem')"), '4MB');
    // SET LOCAL ends with its transaction.
    await a.query('begin');
    await a.query("set local work_mem = '2MB'");
    assert.equal(await one(a, "select current_setting('work_mem')"), '2MB');
    await a.query('commit');
    assert.equal(await one(a, "select current_setting('work_mem')"), '4MB');
  });

  it('prepared statements work across transactions and sessions (pg named statements)', async () => {
    const a = await client('alice');
    const b = await client('bob');
    const q = { name: 'by_id', text: 'select owner from acct where id = $1' };
    for (let i = 0; i < 3; i++) {
      assert.equal((await a.query({ ...q, values: [1] })).rows[0].owner, 'a');
      // bob's statement of the same name is his own, with another text
      assert.equal((await b.query({ name: 'by_id', text: 'select balance from acct where id = $1', values: [2] })).rows[0].balance, 200);
    }
    // The server holds the gateway's names, not the clients'; and only alice's own (bob's were
    // deallocated when the connection was lent to her: their texts are readable there).
    await a.query('begin');
    assert.equal((await a.query({ ...q, values: [1] })).rows[0].owner, 'a');
    const names = (await a.query('select name from pg_prepared_statements order by name')).rows.map((r) => r.name as string);
    assert.ok(names.length >= 1 && names.every((n) => n.startsWith('pgw_')), names.join(','));
    const texts = (await a.query('select statement from pg_prepared_statements')).rows.map((r) => r.statement as string);
    assert.ok(!texts.some((s) => s.includes('balance')), texts.join(' | '));
    await a.query('commit');
  });

  it('SQL EXECUTE and DEALLOCATE name the statements the client prepared with Parse, as on PostgreSQL (the session is pinned)', async () => {
    const a = await client('alice-sql-names');
    const b = await client('bob');
    try {
      assert.equal((await a.query({ name: 'ps1', text: 'select $1::int + 1 as n', values: [1] })).rows[0].n, 2);
      assert.equal(await one(b, 'select 3 as n'), 3);
      assert.equal((await a.query('execute ps1(10)')).rows[0].n, 11);
      await a.query('deallocate ps1');
      await a.query('prepare ps1 as select 42 as n');
      assert.equal((await a.query('execute ps1')).rows[0].n, 42);
      // The protocol sees the SQL one under the same name (PostgreSQL's one namespace).
      const dup = await a.query('prepare ps1 as select 1').then(() => null, (e: { code?: string }) => e);
      assert.equal(dup?.code, '42P05');
    } finally {
      await a.end();
    }
  });

  it('postgres.js (every statement prepared) runs across sessions', async () => {
    const token = await t.issuer.sign({ sub: 'carol' });
    const sqls = [0, 1].map(() => postgres({ host: '127.0.0.1', port: t.port, user: 'agent', pass: token, database: 'app', max: 1, onnotice: () => {} }));
    try {
      for (let i = 0; i < 4; i++) {
        for (const sql of sqls) {
          const [r] = await sql`select owner, balance from acct where id = ${1 + (i % 2)}`;
          assert.equal(r.owner, i % 2 ? 'b' : 'a');
        }
      }
      const [r] = await sqls[0].begin(async (tx) => {
        await tx`update acct set balance = balance + 1 where id = 1`;
        return tx`select balance from acct where id = 1`;
      });
      assert.equal(r.balance, 101);
      await sqls[1]`update acct set balance = balance - 1 where id = 1`;
    } finally {
      for (const sql of sqls) await sql.end();
    }
  });

  it('a statement whose plan went stale when its table changed is prepared afresh (postgres.js retries it)', async () => {
    const sql = postgres({ host: '127.0.0.1', port: t.port, user: 'agent', pass: await t.issuer.sign({ sub: 'carol' }), database: 'app', max: 1, onnotice: () => {} });
    try {
      await sql`create table stale (name text)`;
      await sql`insert into stale values ('1')`;
      const select = () => sql`select name from stale`;
      assert.equal((await select())[0].name, '1');
      // The result type changes: PostgreSQL says "cached plan must not change result type" and
      // postgres.js prepares again under a new name; the gateway's statement of that text is
      // closed on the server, so the new Parse is not answered from the stale one.
      await sql`alter table stale alter column name type int using name::integer`;
      assert.equal((await select())[0].name, 1);
      const insert = () => sql`insert into stale (name) values (${'2'}) returning name`;
      await sql`alter table stale alter column name type text`;
      assert.equal((await insert())[0].name, '2');
      await sql`alter table stale alter column name type int using name::integer`;
      assert.equal((await insert())[0].name, 2);
    } finally {
      await sql`drop table if exists stale`.catch(() => {});
      await sql.end();
    }
  });

  it('a statement prepared after DDL gets a fresh plan, not one another session prepared before it (pg does not retry)', async () => {
    const a = await client('alice');
    const b = await client('bob');
    try {
      await a.query('create table reshaped (x int)');
      await a.query('insert into reshaped values (1)');
      // Alice's named statement puts a plan of this text on the one backend.
      assert.deepEqual((await a.query({ name: 'before', text: 'select x from reshaped' })).rows, [{ x: 1 }]);
      await a.query('drop table reshaped');
      await a.query('create table reshaped (x text)');
      await a.query("insert into reshaped values ('one')");
      // Bob prepares the same text afresh, as PostgreSQL would plan it now: the text column,
      // never "cached plan must not change result type" from the backend's older plan.
      const r = await b.query({ name: 'after', text: 'select x from reshaped' });
      assert.deepEqual(r.rows, [{ x: 'one' }]);
      assert.equal(r.fields[0].dataTypeID, 25);
      // Alice's own statement was prepared before the change: PostgreSQL refuses it as stale.
      await assert.rejects(a.query({ name: 'before', text: 'select x from reshaped' }), /cached plan must not change result type/);
    } finally {
      await a.query('drop table if exists reshaped').catch(() => {});
    }
  });

  it('an open transaction holds the backend: the other session waits until it ends', async () => {
    const a = await client('alice');
    const b = await client('bob');
    await a.query('begin');
    await a.query('update acct set balance = 0 where id = 2');
    let bDone = false;
    const bRead = b.query('select balance from acct where id = 2').then((r) => {
      bDone = true;
      return r.rows[0].balance as number;
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(bDone, false, 'bob waits for the backend');
    await a.query('rollback');
    assert.equal(await bRead, 200);
  });

  it('a transaction that waits past max_client_wait gets ERROR 53300, and the session goes on', async () => {
    const a = await client('alice');
    const b = await client('bob');
    const sql = postgres({ host: '127.0.0.1', port: t.port, user: 'agent', pass: await t.issuer.sign({ sub: 'carol' }), database: 'app', max: 1, onnotice: () => {} });
    try {
      await sql`select 1`;
      await a.query('begin');
      const started = Date.now();
      const e = await b.query('select 1').then(() => null, (err: { code?: string; message: string }) => err);
      assert.equal(e?.code, '53300');
      assert.match(e!.message, /no connection to upstream app became free within 2000 ms/);
      assert.ok(Date.now() - started >= 1900);
      // The extended protocol too (one batch: Parse, Bind, Describe, Execute, Sync).
      const e2 = await sql`select ${1}::int as n`.then(() => null, (err: { code?: string }) => err);
      assert.equal(e2?.code, '53300');
      await a.query('commit');
      assert.equal(await one(b, 'select 5 as n'), 5);
      assert.equal((await sql`select ${6}::int as n`)[0].n, 6);
    } finally {
      await sql.end();
    }
  });

  it('an error in a batch does not leak the backend or the failed statement', async () => {
    const a = await client('alice');
    const b = await client('bob');
    await assert.rejects(a.query({ name: 'bad', text: 'select 1/0 as x' }), /division by zero/);
    await assert.rejects(a.query({ name: 'nosuch', text: 'select * from no_such_table' }), /does not exist/);
    assert.equal(await one(b, 'select 7 as n'), 7);
    assert.equal(await one(a, 'select 8 as n'), 8);
  });

  it('a temporary table pins the session to its backend (logged and audited); others wait until it ends', async () => {
    const a = await client('alice-temp');
    await a.query('create temp table scratch (v int)');
    await a.query('insert into scratch values (1)');
    assert.equal(await one(a, 'select count(*)::int from scratch'), 1);
    await waitFor('the pin logged', () => t.logs.some((l) => l.includes('session pinned to its server connection') && l.includes('a temporary table')));
    const b = await client('bob').then(
      (c) => c,
      (e: { code?: string }) => e,
    );
    // Connecting takes a backend for a moment: with the one backend pinned, it times out (53300).
    assert.equal((b as { code?: string }).code, '53300');
    await a.end();
    const c = await waitFor('a session after alice left', () => client('bob').catch(() => null));
    // alice's temporary table went with her session (DISCARD ALL).
    assert.equal(await one(c, "select count(*)::int from pg_class where relname = 'scratch'"), 0);
  });

  it('state changed where the analysis cannot see it (inside a function) never reaches another identity', async () => {
    t.pg.psql(
      `create function sneaky() returns int language plpgsql as $$
         begin
           perform set_config('work_mem', '1MB', false);
           perform pg_advisory_lock(4242);
           return 1;
         end $$;
       alter function sneaky() owner to gw_app`,
      'app',
    );
    const a = await client('mallory');
    const b = await client('bob');
    const pa = await pid(a);
    assert.equal(await one(a, 'select sneaky()'), 1);
    // The function's effects are on the one backend, but bob is another identity: reset first.
    assert.equal(await pid(b), pa);
    assert.equal(await one(b, "select current_setting('work_mem')"), '4MB');
    assert.equal(t.pg.psql(`select count(*) from pg_locks where locktype = 'advisory' and pid = ${pa}`, 'app').trim(), '0');
  });

  it('a cancel sent while the session holds no backend cancels nothing of another session', async () => {
    const a = await client('idle-canceller');
    const b = await client('busy');
    await one(a, 'select 1');
    const started = Date.now();
    const sleeping = b.query('select pg_sleep(1) as s');
    await waitFor('the sleep running', () => t.pg.psql("select count(*) from pg_stat_activity where query like 'select pg_sleep(1)%' and state = 'active'").trim() === '1');
    await sendCancel(t.port, ...keyOf(a));
    await sleeping;
    assert.ok(Date.now() - started >= 900, 'bob\'s statement ran to its end');
  });

  it('cancel reaches the statement running, and the session goes on', async () => {
    const a = await client('sleeper');
    const sleeping = a.query('select pg_sleep(30)').then(
      () => null,
      (e: { code?: string }) => e,
    );
    await waitFor('the sleep running', () => t.pg.psql("select count(*) from pg_stat_activity where query like 'select pg_sleep(30)%' and state = 'active'").trim() === '1');
    await sendCancel(t.port, ...keyOf(a));
    assert.equal((await sleeping)?.code, '57014');
    assert.equal(await one(a, 'select 2 as n'), 2);
  });

  it('a message type the server does not know is its FATAL 08P01, and the connection is not handed on', async () => {
    const c = await RawClient.connect(t.port, await t.issuer.sign({ sub: 'junk-sender' }));
    c.send(rawMessage('y', Buffer.from('junk')));
    const got = await c.closedWith();
    const fatal = got.find((m) => m.tag === 'E');
    assert.ok(fatal, `an ErrorResponse before the close: ${got.map((m) => m.tag).join(',')}`);
    assert.match(fatal.frame.toString('latin1'), /08P01/);
    // The backend that said FATAL is gone; the next session gets a working one.
    const b = await client('bob');
    assert.equal(await one(b, 'select 4 as n'), 4);
  });

  it('a Query the server skips after a failed extended message keeps the backend until the Sync, and owes no ReadyForQuery', async () => {
    const b = await client('bob');
    const c = await RawClient.connect(t.port, await t.issuer.sign({ sub: 'skipper' }));
    // The Bind fails (the planner folds 1/0); PostgreSQL then skips everything up to Sync, the Query included.
    c.send(Buffer.concat([encodeParse('', 'select 1/0'), encodeBind('', '', []), encodeExecute(''), encodeQuery('select 2')]));
    assert.deepEqual((await c.until('E')).map((m) => m.tag), ['1', 'E']);
    // The backend is still in that batch (waiting for its Sync): another session waits for it.
    const waiting = one(b, 'select 42 as n');
    await new Promise((r) => setTimeout(r, 300));
    c.send(Buffer.concat([encodeParse('', 'select 3'), encodeBind('', '', []), encodeExecute(''), SYNC]));
    assert.deepEqual((await c.until('Z')).map((m) => m.tag), ['Z']);
    assert.equal(await waiting, 42);
    c.send(encodeQuery('select 4'));
    assert.deepEqual((await c.until('Z')).map((m) => m.tag), ['T', 'D', 'C', 'Z']);
    c.end();
  });

  it('COPY in and out runs through the lent connection (psql)', async () => {
    t.pg.psql('create table if not exists copied (id int, v text); alter table copied owner to gw_app', 'app');
    const url = t.url(await t.issuer.sign({ sub: 'copier' }));
    const rows = Array.from({ length: 2000 }, (_, i) => `${i}\tv${i}`).join('\n') + '\n';
    const into = await psql(url, null, ['-c', '\\copy copied from stdin'], rows);
    assert.equal(into.code, 0, into.stderr);
    const out = await psql(url, null, ['-c', '\\copy (select * from copied order by id) to stdout']);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout, rows);
    // After a COPY FROM STDIN by simple Query, the connection goes back at once: psql stays
    // connected (idle, running a shell command) while another session uses the one backend.
    const idle = psql(url, null, ['-c', '\\copy copied from stdin', '-c', '\\! sleep 3'], rows);
    await waitFor('the second copy done', () => t.pg.psql('select count(*) from copied', 'app').trim() === '4000');
    const other = await client('bob');
    const started = Date.now();
    assert.equal(await one(other, 'select 9 as n'), 9);
    // Held until psql ends would be 3 s (its `sleep 3`); the bound leaves room for a busy machine.
    assert.ok(Date.now() - started < 2500, `waited ${Date.now() - started} ms for the backend`);
    assert.equal((await idle).code, 0);
  });

  it('pgbench: 10 clients over the one backend, simple and prepared, without errors', async () => {
    const env = { PGPASSWORD: await t.issuer.sign({ sub: 'bench', exp: Math.floor(Date.now() / 1000) + 3600 }) };
    const conn = ['-h', '127.0.0.1', '-p', String(t.port), '-U', 'agent', 'app'];
    const init = await pgbench(['-i', '-s', '1', '-q', ...conn], env);
    assert.equal(init.code, 0, init.stderr);
    for (const mode of ['simple', 'extended', 'prepared']) {
      // One thread per client: pgbench prepares with a blocking call, so with fewer threads a
      // client waiting for the backend would stall the thread of the client in a transaction on it.
      const r = await pgbench(['-c', '10', '-j', '10', '-t', '30', '-M', mode, ...conn], env);
      assert.equal(r.code, 0, `${mode}: ${r.stderr}${r.stdout}`);
      assert.match(r.stdout, /number of transactions actually processed: 300\/300/, mode);
    }
  });
});

describe('transaction pooling with on_session_state: refuse', () => {
  let r: TestGateway;
  before(async () => {
    r = await startTestGateway({
      pg: t.pg,
      config: (raw) => {
        raw.upstreams.app.pool = { mode: 'transaction', size: 2, on_session_state: 'refuse' };
        raw.policies = [
          {
            name: 'acct-only',
            match: { issuers: raw.identity.issuers.map((i: { issuer: string }) => i.issuer) },
            allow: [{ tables: ['public.acct', 'pg_temp.*'], operations: 'all' }, { functions: ['*.*'] }, { session: ['listen', 'notify', 'lock', 'custom_settings'] }, { ddl: { schemas: ['*'] } }],
          },
        ];
      },
    });
  });
  after(async () => {
    await r?.stop();
  });

  it('past pool.max_clients a new session gets FATAL 53300 naming that setting', async () => {
    const m = await startTestGateway({
      pg: t.pg,
      config: (raw) => {
        raw.upstreams.app.pool = { mode: 'transaction', size: 1, max_clients: 2 };
      },
    });
    const held: pg.Client[] = [];
    try {
      for (const sub of ['c1', 'c2']) {
        const c = new pg.Client(m.client(await m.issuer.sign({ sub })));
        await c.connect();
        held.push(c);
      }
      const third = new pg.Client(m.client(await m.issuer.sign({ sub: 'c3' })));
      const e = await third.connect().then(() => null, (err: { code?: string; hint?: string }) => err);
      assert.equal(e?.code, '53300');
      assert.match(e!.hint ?? '', /upstreams\.app\.pool\.max_clients/);
    } finally {
      for (const c of held) await c.end();
      await m.stop();
    }
  });

  it('refuses what would pin the session (0A000, with the reason), and the session goes on', async () => {
    const c = new pg.Client(r.client(await r.issuer.sign({ sub: 'dave' })));
    await c.connect();
    try {
      for (const sql of ['create temp table t1 (v int)', 'listen ch', 'select pg_advisory_lock(1)', "select set_config('work_mem', '1MB', false)", 'prepare p1 as select 1']) {
        const e = await c.query(sql).then(
          () => null,
          (err: { code?: string; message: string }) => err,
        );
        assert.equal(e?.code, '0A000', sql);
        assert.match(e!.message, /would tie this session to one server connection/, sql);
      }
      // What does not pin still runs, a transaction-local setting included.
      assert.equal((await c.query("select set_config('work_mem', '1MB', true) as v")).rows[0].v, '1MB');
      assert.equal((await c.query("select count(*)::int as n from pg_class where relname = 't1'")).rows[0].n, 0);
    } finally {
      await c.end();
    }
  });

  it('a policy refusal inside a transaction behaves as on PostgreSQL (pg and postgres.js), and the backend goes back to the pool', async () => {
    r.pg.psql('create table if not exists hidden (v int); alter table hidden owner to gw_app', 'app');
    const c = new pg.Client(r.client(await r.issuer.sign({ sub: 'erin' })));
    await c.connect();
    try {
      await c.query('begin');
      assert.equal((await c.query('select count(*)::int as n from acct')).rows[0].n, 2);
      const e = await c.query('select * from hidden').then(() => null, (err: { code?: string }) => err);
      assert.equal(e?.code, '42501');
      const aborted = await c.query('select 1').then(() => null, (err: { code?: string }) => err);
      assert.equal(aborted?.code, '25P02');
      await c.query('rollback');
      assert.equal((await c.query('select 3 as n')).rows[0].n, 3);
    } finally {
      await c.end();
    }
    const sql = postgres({ host: '127.0.0.1', port: r.port, user: 'agent', pass: await r.issuer.sign({ sub: 'frank' }), database: 'app', max: 1, onnotice: () => {} });
    try {
      const refused = await sql
        .begin(async (tx) => {
          await tx`select 1 from acct`;
          await tx`select * from hidden`;
        })
        .then(() => null, (err: { code?: string }) => err);
      assert.equal(refused?.code, '42501');
      for (let i = 0; i < 3; i++) assert.equal((await sql`select count(*)::int as n from acct`)[0].n, 2);
    } finally {
      await sql.end();
    }
  });
});

describe('transaction pooling: sessions of one identity pinned at once', () => {
  it('past pool.max_pinned_per_identity a pinning statement gets 53400 and the session goes on; other identities still pin; an ended session frees its slot', async () => {
    // A pool of four: by default one identity may pin two of its connections.
    const m = await startTestGateway({
      pg: t.pg,
      config: (raw) => {
        raw.upstreams.app.pool = { mode: 'transaction', size: 4, max_client_wait: '2s' };
      },
    });
    const open: pg.Client[] = [];
    const connect = async (sub: string) => {
      const c = new pg.Client(m.client(await m.issuer.sign({ sub })));
      await c.connect();
      open.push(c);
      return c;
    };
    try {
      const [h1, h2, h3] = [await connect('hog'), await connect('hog'), await connect('hog')];
      await h1.query('create temp table pinned1 (v int)');
      await h2.query('listen hog_channel');
      for (const sql of ['create temp table pinned3 (v int)', 'select pg_advisory_lock(7)', 'prepare p3 as select 1']) {
        const e = await h3.query(sql).then(() => null, (err: { code?: string; message: string }) => err);
        assert.equal(e?.code, '53400', sql);
        assert.match(e!.message, /would tie this session to one server connection: hog already has 2 sessions pinned to connections of upstream app \(upstreams\.app\.pool\.max_pinned_per_identity: 2\)/, sql);
      }
      // Nothing of the refused statements reached the server, and the session goes on.
      assert.equal((await h3.query("select count(*)::int as n from pg_class where relname = 'pinned3'")).rows[0].n, 0);
      assert.equal(t.pg.psql("select count(*) from pg_locks where locktype = 'advisory' and objid = 7", 'app').trim(), '0');
      // Another identity pins one of the two connections left.
      const other = await connect('bystander');
      await other.query('create temp table theirs (v int)');
      assert.equal((await other.query('select count(*)::int as n from theirs')).rows[0].n, 0);
      // The hog ends a pinned session: its slot is free again.
      await h1.end();
      await h3.query('create temp table pinned3 (v int)');
      assert.equal((await h3.query('select count(*)::int as n from pinned3')).rows[0].n, 0);
    } finally {
      for (const c of open) await c.end().catch(() => undefined);
      await m.stop();
    }
  });
});
