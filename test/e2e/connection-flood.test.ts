/**
 * Sockets that never sign in cannot lock anyone out: a flood of idle connections from several
 * loopback addresses fills only the budget of connections still signing in (the oldest are
 * dropped for newcomers), never the capacity authenticated sessions need, and a real client
 * connects and queries throughout. A socket that sends nothing is closed silently after the
 * first-byte timeout, as PostgreSQL closes one that sends no startup packet.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { waitFor } from '../helpers/wait.ts';

let t: TestGateway;
const flood: net.Socket[] = [];

function idleSocket(port: number, localAddress: string): Promise<net.Socket> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    s.on('error', () => {});
    s.resume(); // read (and drop) whatever the gateway answers, so its close is seen; send nothing
    s.once('connect', () => resolve(s));
    s.once('close', () => resolve(s));
  });
}

before(async () => {
  t = await startTestGateway({
    config: (raw) => {
      raw.limits = {
        max_connections: 20,
        max_connections_per_source: 12,
        max_unauthenticated: 30,
        max_unauthenticated_per_source: 8,
        first_byte_timeout: '60s',
        handshake_timeout: '60s',
      };
    },
  });
});
after(async () => {
  for (const s of flood) s.destroy();
  await t?.stop();
});

describe('a flood of idle sockets', () => {
  it('leaves real clients able to connect and query, up to the authenticated capacity', async () => {
    for (let round = 0; round < 3; round++) {
      for (let a = 2; a <= 6; a++) for (let i = 0; i < 12; i++) flood.push(await idleSocket(t.port, `127.0.0.${a}`));
      const token = await t.issuer.sign({ sub: `real-${round}` });
      const clients: pg.Client[] = [];
      try {
        // As many sessions as one source may hold: the flood took none of that capacity.
        for (let i = 0; i < 10; i++) {
          const c = new pg.Client(t.client(token));
          await c.connect();
          clients.push(c);
        }
        for (const c of clients) assert.deepEqual((await c.query('select 1 as one')).rows, [{ one: 1 }]);
      } finally {
        await Promise.all(clients.map((c) => c.end()));
      }
    }
    // The gateway refused or dropped the rest: at most its budget of sockets signing in is open,
    // plus the sockets waiting for a sign-in slot of their source (no more than the 20 sessions
    // the gateway could still take).
    const open = () => flood.filter((s) => !s.destroyed && s.readyState === 'open').length;
    await waitFor('the flood trimmed to the budget', () => open() <= 30 + 20 || null, 5000);
    assert.ok(open() >= 20, `the budget is in use (${open()} open), so the clients above met a full budget`);
  });
});

describe('a burst of connections from one address', () => {
  it('signs in as fast as the per-source limit lets it: none is refused', async () => {
    const burst = await startTestGateway({ pg: t.pg, config: (raw) => (raw.limits = { max_unauthenticated_per_source: 2, max_connections_per_source: 40 }) });
    const clients: pg.Client[] = [];
    try {
      const token = await burst.issuer.sign({ sub: 'pool' });
      // A client library opening its pool at once: 24 connections, twelve times the limit.
      const results = await Promise.allSettled(
        Array.from({ length: 24 }, async () => {
          const c = new pg.Client(burst.client(token));
          clients.push(c);
          await c.connect();
          return (await c.query('select 1 as one')).rows[0].one;
        }),
      );
      assert.deepEqual(
        results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)),
        Array(24).fill(1),
      );
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
      await burst.stop();
    }
  });

  it('beyond what the address could still hold, a socket is refused at once with the reason', async () => {
    const capped = await startTestGateway({
      pg: t.pg,
      config: (raw) => (raw.limits = { max_unauthenticated_per_source: 2, max_connections_per_source: 4, handshake_timeout: '60s', first_byte_timeout: '60s' }),
    });
    const idle: net.Socket[] = [];
    try {
      // Two sockets that never sign in hold both slots of the address; four more wait, as many
      // as the address could still have sessions.
      for (let i = 0; i < 6; i++) idle.push(await idleSocket(capped.port, '127.0.0.1'));
      const c = new pg.Client(capped.client(await capped.issuer.sign({ sub: 'late' })));
      c.on('error', () => {});
      await assert.rejects(c.connect(), (e: any) => e.code === '53300' && /too many connections still signing in from \S+ \(limit 2, and 4 waiting\)/.test(e.message));
      // When the sockets holding the slots go, the ones waiting get their turn, and so does a client.
      for (const s of idle) s.destroy();
      const ok = new pg.Client(capped.client(await capped.issuer.sign({ sub: 'later' })));
      await ok.connect();
      assert.deepEqual((await ok.query('select 1 as one')).rows, [{ one: 1 }]);
      await ok.end();
    } finally {
      for (const s of idle) s.destroy();
      await capped.stop();
    }
  });
});

describe('a silent socket', () => {
  it('is closed after the first-byte timeout without a reply', async () => {
    const quick = await startTestGateway({ pg: t.pg, config: (raw) => (raw.limits = { first_byte_timeout: '300ms' }) });
    try {
      const s = net.connect(quick.port, '127.0.0.1');
      const received: Buffer[] = [];
      s.on('data', (d) => received.push(d));
      s.on('error', () => {});
      const started = Date.now();
      await new Promise((r) => s.once('close', r));
      assert.ok(Date.now() - started < 5000, 'closed promptly');
      assert.equal(Buffer.concat(received).length, 0, 'nothing was sent back');
    } finally {
      await quick.stop();
    }
  });
});
