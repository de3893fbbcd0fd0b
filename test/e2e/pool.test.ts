/**
 * The upstream pool against a real PostgreSQL: a released connection is reused only after a reset
 * that leaves nothing of the last session behind (settings, prepared statements, temporary
 * tables, listeners, advisory locks, role), a connection that is not provably clean is closed,
 * sessions wait in line for at most max_client_wait, different startup settings never share a
 * connection, and connections the server ends leave the pool.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/wait.ts';
import { BE, MessageFramer, encodeQuery } from '../../src/protocol/index.ts';
import { ScramKeyCache, connectUpstream, targetFromUrl, type UpstreamConnection } from '../../src/upstream/index.ts';
import { UpstreamPool, type PoolConfig } from '../../src/upstream/pool.ts';
import { GatewayError } from '../../src/errors.ts';

let pg: TestPostgres;
const PASSWORD = 'pool-test-secret';
const pools: UpstreamPool[] = [];

before(async () => {
  pg = await startPostgres();
  pg.psql(`create role gw_app login password '${PASSWORD}'`);
  pg.psql('create database app owner gw_app');
  pg.psql('create role other_role; grant other_role to gw_app');
});
after(async () => {
  for (const p of pools) await p.close();
  await pg?.stop();
});

const BASE = { client_encoding: 'UTF8', standard_conforming_strings: 'on' };

/** `onConfig` gets the settings the pool reads, to change them as a reload would. */
function makePool(cfg: Partial<PoolConfig> = {}, capacity = 100, onConfig?: (config: PoolConfig) => void): UpstreamPool {
  const target = targetFromUrl('app', `postgres://gw_app@127.0.0.1:${pg.port}/app`, { password: PASSWORD, tls: { mode: 'disable' }, connectTimeoutMs: 5000 });
  const scram = new ScramKeyCache();
  const config: PoolConfig = { mode: 'session', size: 2, min_idle: 0, idle_timeout: 60_000, max_client_wait: 500, ...cfg };
  onConfig?.(config);
  const pool = new UpstreamPool({
    name: 'app',
    connect: (params) => connectUpstream(target, params, scram),
    config: () => config,
    capacity: async () => capacity,
    logger: pino({ level: 'silent' }),
  });
  pools.push(pool);
  return pool;
}

/** Run a simple query on a leased connection; rows as text. */
function run(conn: UpstreamConnection, sql: string): Promise<(string | null)[][]> {
  const sock = conn.socket;
  return new Promise((resolve, reject) => {
    const framer = new MessageFramer(1 << 20);
    const rows: (string | null)[][] = [];
    let err: string | undefined;
    const onData = (chunk: Buffer) =>
      framer.push(chunk, (t, f) => {
        if (t === BE.DataRow) {
          const n = f.readUInt16BE(5);
          let at = 7;
          const row: (string | null)[] = [];
          for (let i = 0; i < n; i++) {
            const len = f.readInt32BE(at);
            at += 4;
            row.push(len < 0 ? null : f.toString('utf8', at, at + len));
            if (len > 0) at += len;
          }
          rows.push(row);
        } else if (t === BE.ErrorResponse) err = f.toString('utf8', 5).split('\0').find((x) => x.startsWith('M'))?.slice(1);
        else if (t === BE.ReadyForQuery) {
          conn.txStatus = String.fromCharCode(f[5]) as never;
          sock.off('data', onData);
          sock.pause();
          if (err) reject(new Error(err));
          else resolve(rows);
        }
      });
    sock.on('data', onData);
    sock.resume();
    sock.write(encodeQuery(sql));
  });
}

const pidOf = async (c: UpstreamConnection) => Number((await run(c, 'select pg_backend_pid()'))[0][0]);


/** A lease of a full pool: it must time out with pool.wait_timeout (53300). */
async function timedOutLease(pool: UpstreamPool): Promise<GatewayError> {
  const refused = await pool.acquire(BASE).then(
    () => assert.fail('a second lease of a pool of one'),
    (e: unknown) => e,
  );
  assert.ok(refused instanceof GatewayError);
  assert.equal(refused.code, 'pool.wait_timeout');
  return refused;
}

describe('the upstream pool', () => {
  it('reuses a clean connection, and the next session finds nothing of the last one', async () => {
    const pool = makePool();
    const a = await pool.acquire({ ...BASE, application_name: 'first' });
    assert.equal(a.reused, false);
    const pid = await pidOf(a.connection);
    await run(
      a.connection,
      [
        "set work_mem = '1MB'",
        "select set_config('search_path', 'pg_catalog', false)",
        'prepare leaked as select 1',
        'create temp table leftover (a int)',
        'listen somewhere',
        'select pg_advisory_lock(4242)',
        'set role other_role',
        'declare c cursor with hold for select 1',
      ].join('; '),
    );
    a.release('clean');
    const b = await waitFor('the connection back in the pool', async () => {
      if (pool.stats().idle !== 1) return null;
      return pool.acquire({ ...BASE, application_name: 'second' });
    });
    assert.equal(b.reused, true);
    assert.equal(await pidOf(b.connection), pid, 'the same backend');
    const [[workMem, path, prepared, temp, listening, locks, role, cursors, app]] = await run(
      b.connection,
      `select current_setting('work_mem'), current_setting('search_path'), (select count(*) from pg_prepared_statements),
              (select count(*) from pg_class where relname = 'leftover'), (select count(*) from pg_listening_channels()),
              (select count(*) from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()), current_user,
              (select count(*) from pg_cursors), current_setting('application_name')`,
    );
    assert.deepEqual({ workMem, path, prepared, temp, listening, locks, role, cursors, app }, {
      workMem: '4MB',
      path: '"$user", public',
      prepared: '0',
      temp: '0',
      listening: '0',
      locks: '0',
      role: 'gw_app',
      cursors: '0',
      app: 'second',
    });
    assert.equal(b.connection.parameters.get('application_name'), 'second');
    b.release('clean');
    assert.deepEqual({ ...pool.stats(), idle: undefined }, { open: 1, idle: undefined, leased: 0, opening: 0, waiting: 0, reused: 1, opened: 1 });
  });

  it('closes a connection released dirty, and one whose reset fails', async () => {
    const pool = makePool();
    const a = await pool.acquire(BASE);
    const pidA = await pidOf(a.connection);
    await run(a.connection, 'begin');
    a.release('dirty');
    await waitFor('the backend gone', () => pg.psql(`select count(*) from pg_stat_activity where pid = ${pidA}`).trim() === '0');
    // Said to be clean while a transaction is open: DISCARD ALL is refused, so it is closed.
    const b = await pool.acquire(BASE);
    const pidB = await pidOf(b.connection);
    await run(b.connection, 'begin');
    b.release('clean');
    await waitFor('the backend gone', () => pg.psql(`select count(*) from pg_stat_activity where pid = ${pidB}`).trim() === '0');
    assert.equal(pool.stats().open, 0);
    const c = await pool.acquire(BASE);
    assert.equal(c.reused, false);
    c.release('broken');
    assert.equal(c.connection.socket.destroyed, true);
  });

  it('a session waits for a free connection, at most max_client_wait', async () => {
    const pool = makePool({ size: 1, max_client_wait: 300 });
    const a = await pool.acquire(BASE);
    const waiting = pool.acquire(BASE);
    await waitFor('one waiting', () => pool.stats().waiting === 1);
    a.release('clean');
    const b = await waiting;
    assert.equal(b.reused, true);
    const started = Date.now();
    await timedOutLease(pool);
    assert.ok(Date.now() - started >= 290);
    assert.equal(pool.stats().waiting, 0);
    b.release('clean');
    // The lease that timed out took nothing: the pool is whole.
    const c = await waitFor('a lease after the timeout', () => pool.acquire(BASE));
    assert.equal(c.reused, true);
    c.release('clean');
  });

  it('each waiter waits its own max_client_wait, the one in force when it began, and keeps its place in line', async () => {
    let config!: PoolConfig;
    const pool = makePool({ size: 1, max_client_wait: 5000 }, 100, (c) => (config = c));
    const a = await pool.acquire(BASE);
    const patient = pool.acquire(BASE);
    await waitFor('one waiting', () => pool.stats().waiting === 1);
    // A reload shortens the wait: a session that begins waiting now gets the shorter one.
    config.max_client_wait = 200;
    const started = Date.now();
    const refused = await timedOutLease(pool);
    assert.match(refused.message, /within 200 ms/);
    const waited = Date.now() - started;
    assert.ok(waited >= 190 && waited < 4000, `waited ${waited} ms`);
    // The first waiter is still in line, and gets the connection when it is freed.
    assert.equal(pool.stats().waiting, 1);
    a.release('keep');
    const b = await patient;
    assert.equal(b.reused, true);
    assert.equal(pool.stats().waiting, 0);
    b.release('clean');
  });

  it('never shares a connection between different startup settings', async () => {
    const pool = makePool({ size: 1 });
    const a = await pool.acquire({ ...BASE, statement_timeout: '5s' });
    const pidA = await pidOf(a.connection);
    a.release('clean');
    await waitFor('idle', () => pool.stats().idle === 1);
    // Other settings: the idle connection is closed to make room, and a new one opened.
    const b = await pool.acquire({ ...BASE, statement_timeout: '0' });
    assert.equal(b.reused, false);
    assert.notEqual(await pidOf(b.connection), pidA);
    assert.equal((await run(b.connection, 'show statement_timeout'))[0][0], '0');
    b.release('clean');
  });

  it('a connection the server ends while idle leaves the pool', async () => {
    const pool = makePool();
    const a = await pool.acquire(BASE);
    const pid = await pidOf(a.connection);
    a.release('clean');
    await waitFor('idle', () => pool.stats().idle === 1);
    pg.psql(`select pg_terminate_backend(${pid})`);
    await waitFor('the pool to drop it', () => pool.stats().idle === 0);
    const b = await pool.acquire(BASE);
    assert.equal(b.reused, false);
    assert.notEqual(await pidOf(b.connection), pid);
    b.release('clean');
  });

  it('idle connections beyond min_idle close after idle_timeout; min_idle are kept open', async () => {
    let now = Date.now();
    const target = targetFromUrl('app', `postgres://gw_app@127.0.0.1:${pg.port}/app`, { password: PASSWORD, tls: { mode: 'disable' }, connectTimeoutMs: 5000 });
    const scram = new ScramKeyCache();
    const pool = new UpstreamPool({
      name: 'app',
      connect: (params) => connectUpstream(target, params, scram),
      config: () => ({ mode: 'session', size: 3, min_idle: 1, idle_timeout: 10_000, max_client_wait: 500 }),
      capacity: async () => 100,
      logger: pino({ level: 'silent' }),
      now: () => now,
    });
    pools.push(pool);
    const leases = [await pool.acquire(BASE), await pool.acquire(BASE), await pool.acquire(BASE)];
    for (const l of leases) l.release('clean');
    await waitFor('all idle', () => pool.stats().idle === 3);
    now += 11_000;
    await waitFor('down to min_idle', () => pool.stats().idle === 1, 3000);
    assert.equal(pool.stats().open, 1);
  });

  it('never opens more than the upstream takes', async () => {
    const pool = makePool({ size: 10, max_client_wait: 200 }, 1);
    const a = await pool.acquire(BASE);
    const e = await pool.acquire(BASE).catch((x: unknown) => x);
    assert.ok(e instanceof GatewayError && e.code === 'pool.wait_timeout', String(e));
    a.release('clean');
  });
});
