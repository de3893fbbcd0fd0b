/**
 * A revocation outlives the gateway: revoke through the admin API, restart the gateway on the
 * same store, and the revoked identity still cannot connect (judged by trying), while others can;
 * lifting it is durable too.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { startTestIssuer, type TestIssuer } from '../helpers/issuer.ts';

const dir = mkdtempSync(join(tmpdir(), 'pgwarden-revocations-'));
let postgres: TestPostgres;
let issuer: TestIssuer;
let t: TestGateway | undefined;

const start = () =>
  startTestGateway({
    pg: postgres,
    issuer,
    config: (raw) => {
      raw.audit = { store: `sqlite:${join(dir, 'audit.db')}` };
    },
  });

async function connects(gw: TestGateway, sub: string): Promise<true | string> {
  const c = new pg.Client(gw.client(await issuer.sign({ sub })));
  try {
    await c.connect();
    await c.query('select 1');
    return true;
  } catch (e) {
    return (e as Error).message;
  } finally {
    await c.end().catch(() => {});
  }
}

async function admin(gw: TestGateway, method: string, body?: unknown): Promise<Response> {
  const token = await issuer.sign({ sub: 'root', groups: ['pgwarden-admins'] });
  return fetch(`http://127.0.0.1:${gw.gw.http.port}/admin/revocations`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

before(async () => {
  postgres = await startPostgres();
  postgres.psql("create role gw_app login password 'x'");
  postgres.psql('create database app owner gw_app');
  issuer = await startTestIssuer();
});
after(async () => {
  await t?.stop();
  await issuer?.stop();
  await postgres?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('revocations', () => {
  it('survive a restart, and so does lifting them', async () => {
    t = await start();
    assert.equal(await connects(t, 'analyst'), true);
    assert.equal((await admin(t, 'POST', { subject: 'analyst' })).status, 200);
    assert.match(String(await connects(t, 'analyst')), /revoked/);
    await t.stop();

    t = await start();
    assert.match(String(await connects(t, 'analyst')), /revoked/, 'still revoked after the restart');
    assert.equal(await connects(t, 'someone-else'), true);
    const listed = (await (await admin(t, 'GET')).json()) as { revocations: { subject: string }[] };
    assert.deepEqual(listed.revocations.map((r) => r.subject), ['analyst']);
    assert.equal((await admin(t, 'DELETE', { subject: 'analyst' })).status, 200);
    await t.stop();

    t = await start();
    assert.equal(await connects(t, 'analyst'), true, 'the lifted revocation stays lifted');
    await t.stop();
    t = undefined;
  });
});

describe('a revocation during sign-in', () => {
  it('ends a session whose token was verified just before the revocation', async () => {
    // A relay in front of the database that holds each new upstream connection for a while, so
    // the revocation lands after the token is verified and before the session is registered.
    const net = await import('node:net');
    let held = 0;
    const sockets = new Set<import('node:net').Socket>();
    const relay = net.createServer((inbound) => {
      held++;
      sockets.add(inbound);
      setTimeout(() => {
        if (inbound.destroyed) return;
        const out = net.connect(postgres.port, '127.0.0.1');
        sockets.add(out);
        inbound.pipe(out).pipe(inbound);
        out.on('error', () => inbound.destroy());
        inbound.on('error', () => out.destroy());
      }, 700);
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const relayPort = (relay.address() as import('node:net').AddressInfo).port;
    const gw = await startTestGateway({
      pg: postgres,
      issuer,
      config: (raw) => {
        raw.upstreams.app.url = `postgres://gw_app@127.0.0.1:${relayPort}/app`;
      },
    });
    try {
      const before = held;
      const c = new pg.Client(gw.client(await issuer.sign({ sub: 'late-revoked' })));
      const connecting = c.connect().then(
        () => 'connected',
        (e: Error) => e.message,
      );
      // Wait until the gateway is connecting upstream (the token is verified by then).
      const deadline = Date.now() + 5000;
      while (held === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.ok(held > before, 'the gateway reached the upstream');
      assert.equal((await admin(gw, 'POST', { subject: 'late-revoked' })).status, 200);
      assert.match(await connecting, /revoked/);
      await c.end().catch(() => {});
      assert.equal(gw.gw.sessions(), 0, 'no session of the revoked identity is open');
      await admin(gw, 'DELETE', { subject: 'late-revoked' });
    } finally {
      await gw.stop();
      for (const s of sockets) s.destroy();
      await new Promise((r) => relay.close(r));
    }
  });
});
