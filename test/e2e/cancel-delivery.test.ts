/**
 * A client's cancel connection closes only once the cancel has reached the server, as with
 * PostgreSQL, whose postmaster signals the backend before it closes. Clients rely on that order:
 * libpq's PQcancel and asyncpg wait for the close before they send the next statement, so that a
 * cancel still on its way cannot cancel that statement instead of the one it was meant for. The
 * gateway's upstream connections go through a TCP relay here that can slow down new connections
 * (the gateway's own CancelRequest to the server is one), so the window is wide and certain.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { encodeCancelRequest } from '../../src/protocol/index.ts';

const DELAY_MS = 1000;

let cluster: TestPostgres;
let t: TestGateway;
let relay: net.Server;
const relayed = new Set<net.Socket>();
/** New connections through the relay wait DELAY_MS before they are passed on. */
let slow = false;

before(async () => {
  cluster = await startPostgres();
  // The role and database startTestGateway makes on a cluster of its own (its password is set there).
  cluster.psql("create role gw_app login password 'unset'");
  cluster.psql('create database app owner gw_app');
  // pauseOnConnect: nothing is read (not even the end of a half-closed connection) until passed on.
  relay = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    relayed.add(client);
    client.on('close', () => relayed.delete(client));
    client.on('error', () => client.destroy());
    setTimeout(() => {
      const server = net.connect(cluster.port, '127.0.0.1');
      relayed.add(server);
      server.on('close', () => (relayed.delete(server), client.destroy()));
      server.on('error', () => server.destroy());
      client.on('close', () => server.destroy());
      client.pipe(server);
      server.pipe(client);
      client.resume();
    }, slow ? DELAY_MS : 0);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  const relayPort = (relay.address() as net.AddressInfo).port;
  t = await startTestGateway({
    pg: cluster,
    config: (raw) => {
      raw.upstreams.app.url = `postgres://gw_app@127.0.0.1:${relayPort}/app`;
    },
  });
});

after(async () => {
  await t?.stop();
  for (const s of relayed) s.destroy();
  await new Promise((r) => relay?.close(r));
  await cluster?.stop();
});

/**
 * A CancelRequest sent as libpq's PQcancel and asyncpg send it: written without closing our side,
 * then the receiver's close awaited.
 */
function sendCancel(port: number, pid: number, secret: number): Promise<void> {
  return new Promise((resolve) => {
    const key = Buffer.alloc(4);
    key.writeInt32BE(secret);
    const s = net.connect(port, '127.0.0.1', () => s.write(encodeCancelRequest(pid, key)));
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
}

async function client(): Promise<pg.Client & { processID: number; secretKey: number }> {
  const c = new pg.Client(t.client(await t.issuer.sign({ sub: 'agent' })));
  c.on('error', () => {});
  await c.connect();
  return c as pg.Client & { processID: number; secretKey: number };
}

describe('a cancel on its way to the server', () => {
  it('keeps the client\'s cancel connection open until it is delivered, so it cannot cancel the next statement', async () => {
    const c = await client();
    try {
      slow = true;
      const started = Date.now();
      const first = c.query('select pg_sleep(0.3)');
      await new Promise((r) => setTimeout(r, 50));
      const closed = sendCancel(t.port, c.processID, c.secretKey).then(() => Date.now() - started);
      // The statement ends before the cancel can reach the server (the relay holds it).
      await first;
      // As libpq does: the next statement only once the cancel connection has closed.
      const closedAfter = await closed;
      assert.ok(closedAfter >= DELAY_MS, `the cancel connection closed after ${closedAfter} ms, before the cancel reached the server`);
      const next = await c.query('select pg_sleep(1.5), 1 as ok').catch((err) => err);
      assert.equal(next.rows?.[0]?.ok, 1, `the next statement was cancelled: ${next.message}`);
    } finally {
      slow = false;
      await c.end();
    }
  });

  it('still cancels the statement it reaches', async () => {
    const c = await client();
    try {
      slow = true;
      const running = c.query('select pg_sleep(5)').catch((err) => err);
      await new Promise((r) => setTimeout(r, 50));
      await sendCancel(t.port, c.processID, c.secretKey);
      const err = await running;
      assert.equal(err.code, '57014');
      assert.equal((await c.query('select 2 as two')).rows[0].two, 2);
    } finally {
      slow = false;
      await c.end();
    }
  });
});
