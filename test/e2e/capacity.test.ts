/**
 * The database's connections are shared: the gateway counts its sessions on each upstream and
 * refuses beyond the upstream's capacity with 53300 naming the limit, before connecting, and an
 * identity may by default hold only half of that capacity. One identity holding every session it
 * can get leaves room for another, and no client ever sees the server's own "too many clients".
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import postgres from 'postgres';
import { connectRefusal, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { psql } from '../helpers/clients.ts';
import { waitFor } from '../helpers/wait.ts';

async function connect(t: TestGateway, token: string): Promise<pg.Client> {
  const c = new pg.Client(t.client(token));
  await c.connect();
  return c;
}

const refusal = connectRefusal;

/** Client sessions the gateway's upstream role holds on the server (not its catalog reader). */
function upstreamSessions(t: TestGateway): number {
  return Number(t.pg.psql("select count(*) from pg_stat_activity where usename = 'gw_app' and backend_type = 'client backend' and application_name <> 'pgwarden-catalog'").trim());
}

describe('capacity learned from the server', () => {
  let t: TestGateway;
  const open: { end(): Promise<void> }[] = [];

  before(async () => {
    // 10 connections, 3 reserved for superusers, 1 for the gateway's catalog reader: 6 sessions,
    // 3 per identity.
    t = await startTestGateway({ postgres: { conf: ['max_connections = 10', 'superuser_reserved_connections = 3'] } });
  });
  after(async () => {
    for (const c of open) await c.end().catch(() => {});
    await t?.stop();
  });

  /** Connect as soon as a slot is free (a closed session's comes back once its server connection is gone). */
  async function connectOnceFree(what: string, token: string): Promise<void> {
    await waitFor(what, async () => {
      try {
        open.push(await connect(t, token));
        return true;
      } catch {
        return false;
      }
    });
  }

  it('one identity cannot take every connection; another still connects; the full upstream refuses with 53300 from the gateway', async () => {
    const greedy = await t.issuer.sign({ sub: 'greedy' });
    for (let i = 0; i < 3; i++) open.push(await connect(t, greedy));
    const e1 = await refusal(t, greedy);
    assert.equal(e1.code, '53300');
    assert.match(e1.message, /^pgwarden: too many connections for greedy \(limit 3, half the capacity of upstream "app"\)/);

    // Another identity still gets in, with two different clients.
    const other = await t.issuer.sign({ sub: 'other' });
    const a = await connect(t, other);
    open.push(a);
    assert.equal((await a.query('select 1 as x')).rows[0].x, 1);
    const sql = postgres({ ...t.client(other), username: 'agent', max: 1 });
    assert.deepEqual([...(await sql`select 2 as x`)], [{ x: 2 }]);
    open.push({ end: () => sql.end() });
    const r = await psql(t.url(other), 'select 3');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '3');

    // Five sessions are open (psql's slot comes back once its server connection is gone, which
    // may be a moment after psql exited); a third identity gets the last one, then the upstream
    // is full.
    const third = await t.issuer.sign({ sub: 'third' });
    await connectOnceFree("the last slot, once psql's server connection is gone", third);
    const e2 = await refusal(t, third);
    assert.equal(e2.code, '53300');
    assert.match(e2.message, /^pgwarden: upstream "app" has no free connections \(limit 6\)/);
    // The gateway refused before connecting: the server holds the 6 sessions (and room for the
    // catalog reader and its superusers).
    assert.equal(upstreamSessions(t), 6);
    assert.equal(t.pg.psql('select 1').trim(), '1');

    // A session that closes gives its slot back once its upstream connection is gone.
    await open.pop()!.end();
    await connectOnceFree('a free slot after a session closed', third);
  });
});

describe('configured limits', () => {
  let t: TestGateway;
  const open: pg.Client[] = [];

  before(async () => {
    t = await startTestGateway({
      config: (raw) => {
        raw.upstreams.app.max_connections = 4;
      },
    });
  });
  after(async () => {
    for (const c of open) await c.end().catch(() => {});
    await t?.stop();
  });

  it('upstreams.<name>.max_connections caps the sessions and halves into the per-identity default', async () => {
    const a = await t.issuer.sign({ sub: 'a' });
    const b = await t.issuer.sign({ sub: 'b' });
    const c = await t.issuer.sign({ sub: 'c' });
    open.push(await connect(t, a), await connect(t, a));
    assert.match((await refusal(t, a)).message, /too many connections for a \(limit 2, half the capacity of upstream "app"\)/);
    open.push(await connect(t, b), await connect(t, b));
    const e = await refusal(t, c);
    assert.equal(e.code, '53300');
    assert.match(e.message, /upstream "app" has no free connections \(limit 4\)/);
    assert.match(e.hint ?? '', /upstreams\.app\.max_connections/);
  });

  it('a configured per-identity limit is used as it is, under the upstream capacity', async () => {
    for (const c of open.splice(0)) await c.end();
    const next = t.config;
    next.limits.max_connections_per_identity = 3;
    t.gw.reload(next);
    const a = await t.issuer.sign({ sub: 'a' });
    for (let i = 0; i < 3; i++) open.push(await connect(t, a));
    assert.match((await refusal(t, a)).message, /too many connections for a \(limit 3\)/);
    const b = await t.issuer.sign({ sub: 'b' });
    open.push(await connect(t, b));
    assert.match((await refusal(t, b)).message, /upstream "app" has no free connections \(limit 4\)/);
  });
});
