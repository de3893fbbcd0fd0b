/**
 * Client authentication with OIDC tokens, end to end through real clients: every bad-token case
 * gets a FATAL with a clear reason and never an echo of the token; revocation cuts a subject off
 * within a second; an expired token ends its session at the expiry, idle or not; connection limits
 * and the handshake timeout hold.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openAuditStore } from '../../src/store/index.ts';
import { SignJWT, generateKeyPair } from 'jose';
import { connectRefusal, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { psql } from '../helpers/clients.ts';
import { waitFor } from '../helpers/wait.ts';
import { RawClient, message } from '../helpers/raw-client.ts';

let t: TestGateway;

before(async () => {
  t = await startTestGateway({
    config: (raw) => {
      raw.limits = { max_connections_per_identity: 3, handshake_timeout: '1s', max_message_size: 1024 * 1024 };
    },
  });
});
after(async () => {
  await t?.stop();
});

const connectError = (token: string) => connectRefusal(t, token);

describe('bad tokens are refused with a clear reason', () => {
  const cases: [string, () => Promise<string>, string, RegExp][] = [
    ['expired', () => t.issuer.sign({ exp: Math.floor(Date.now() / 1000) - 3600 }), '28P01', /expired/],
    ['wrong audience', () => t.issuer.sign({ aud: 'someone-else' }), '28P01', /audience/],
    ['unknown issuer', () => t.issuer.sign({ iss: 'https://evil.example.com' }), '28000', /issuer .* is not trusted/],
    ['no exp claim', () => t.issuer.sign({}, { noExp: true }), '28P01', /exp/],
    ['not yet valid', () => t.issuer.sign({ nbf: Math.floor(Date.now() / 1000) + 3600 }), '28P01', /not valid yet|nbf/],
    [
      'bad signature',
      async () => {
        const good = await t.issuer.sign();
        const [h, p, s] = good.split('.');
        const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
        payload.sub = 'someone-else';
        return `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
      },
      '28P01',
      /signature/,
    ],
    [
      'alg none',
      async () => {
        const now = Math.floor(Date.now() / 1000);
        const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
        return `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ iss: t.issuer.issuer, aud: 'pgwarden', sub: 'x', exp: now + 600 })}.`;
      },
      '28P01',
      /algorithm|alg/,
    ],
    [
      'signed by a key the issuer does not publish',
      async () => {
        const { privateKey } = await generateKeyPair('RS256');
        const now = Math.floor(Date.now() / 1000);
        return new SignJWT({ iss: t.issuer.issuer, aud: 'pgwarden', sub: 'x', exp: now + 600 }).setProtectedHeader({ alg: 'RS256', kid: 'test-key-1' }).sign(privateKey);
      },
      '28P01',
      /signature/,
    ],
    ['not a JWT', async () => 'hunter2', '28P01', /well-formed|JWT/],
  ];
  for (const [name, make, code, message] of cases) {
    it(name, async () => {
      const token = await make();
      const err = await connectError(token);
      assert.equal(err.code, code, err.message);
      assert.match(err.message, message);
      assert.equal(err.severity, 'FATAL');
      assert.ok(!err.message.includes(token) && !(err.hint ?? '').includes(token), 'the token is not echoed');
    });
  }

  it('an empty password is refused', async () => {
    const r = await psql(`postgres://agent@127.0.0.1:${t.port}/app`, 'select 1', [], undefined);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /password|token/i);
  });

  it('an unknown database is refused with 3D000', async () => {
    const c = new pg.Client({ ...t.client(await t.issuer.sign()), database: 'nope' });
    await assert.rejects(c.connect(), (e: any) => e.code === '3D000' && /database "nope" is not served/.test(e.message));
    await c.end().catch(() => {});
  });

  it('startup options may not change the role, and ordinary settings pass', async () => {
    const token = await t.issuer.sign({ sub: 'opts' });
    const bad = await psql(`postgres://agent:${token}@127.0.0.1:${t.port}/app?options=${encodeURIComponent('-c role=pgwarden_test')}`, 'select current_user');
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /startup setting "role" may not be set/);
    const ok = await psql(`postgres://agent:${token}@127.0.0.1:${t.port}/app?options=${encodeURIComponent('-c statement_timeout=4321')}&application_name=my-agent`, "select current_setting('statement_timeout'), current_setting('application_name')");
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.trim(), '4321ms|my-agent');
  });

  it('tokens never appear in the log', async () => {
    const token = await t.issuer.sign({ sub: 'log-check' });
    const c = new pg.Client(t.client(token));
    await c.connect();
    await c.query('select 1');
    await c.end();
    await connectError(await t.issuer.sign({ aud: 'other' }));
    const joined = t.logs.join('');
    assert.match(joined, /log-check/);
    assert.ok(!joined.includes(token.split('.')[2]), 'no token signature in the log');
    assert.ok(!joined.includes(t.upstreamPassword), 'no upstream password in the log');
  });
});

describe('session lifetime', () => {
  it('ends an idle session when its token expires, with FATAL 28P01, and the audit says why', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgwarden-expiry-'));
    const gw = await startTestGateway({ pg: t.pg, config: (raw) => (raw.audit = { store: `sqlite:${join(dir, 'audit.db')}` }) });
    try {
      const token = await gw.issuer.sign({ sub: 'short-lived', exp: Math.floor(Date.now() / 1000) + 2 });
      const c = new pg.Client(gw.client(token));
      const ended = new Promise<any>((resolve) => c.on('error', resolve));
      await c.connect();
      assert.equal((await c.query('select 1 as one')).rows[0].one, 1);
      // Idle from here on: the session ends at the expiry, not at a next statement.
      const started = Date.now();
      const err = await ended;
      assert.equal(err.code, '28P01');
      assert.match(err.message, /has expired/);
      assert.ok(Date.now() - started < 4000, 'ended at the expiry (exp has one-second resolution)');
      await c.end().catch(() => {});
      const store = await openAuditStore(`sqlite:${join(dir, 'audit.db')}`, { baseDir: dir });
      try {
        const end = await waitFor('the session_end record', async () => (await store.search({ identity: 'short-lived', types: ['session_end'] }))[0] ?? null);
        assert.match(JSON.parse(end.body).reason ?? end.body, /expired/);
      } finally {
        await store.close();
      }
    } finally {
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('revocation refuses new connections and ends open sessions within a second', async () => {
    const token = await t.issuer.sign({ sub: 'to-revoke' });
    const other = await t.issuer.sign({ sub: 'bystander' });
    const c = new pg.Client(t.client(token));
    const ended = new Promise<any>((resolve) => c.on('error', resolve));
    await c.connect();
    const b = new pg.Client(t.client(other));
    await b.connect();
    const adminToken = await t.issuer.sign({ sub: 'ops', groups: ['pgwarden-admins'] });
    const started = Date.now();
    const res = await fetch(`http://${t.config.listen.http}/admin/revocations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ subject: 'to-revoke' }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal((await res.json()).terminated, 1);
    const err = await ended;
    assert.ok(Date.now() - started < 1000, 'cut off within a second');
    assert.match(String(err.message), /revoked|terminat/i);
    const again = await connectError(await t.issuer.sign({ sub: 'to-revoke' }));
    assert.equal(again.code, '28000');
    assert.match(again.message, /revoked/);
    assert.equal((await b.query('select 1 as ok')).rows[0].ok, 1, 'other subjects go on');
    await b.end();
    await c.end().catch(() => {});
  });

  it('the admin API refuses a caller who is not an admin', async () => {
    const res = await fetch(`http://${t.config.listen.http}/admin/revocations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await t.issuer.sign({ sub: 'nobody' })}`, 'content-type': 'application/json' },
      body: JSON.stringify({ subject: 'x' }),
    });
    assert.equal(res.status, 403);
    const anon = await fetch(`http://${t.config.listen.http}/admin/revocations`, { method: 'POST', body: '{}' });
    assert.equal(anon.status, 401);
  });
});

describe('limits', () => {
  it('caps connections per identity with 53300', async () => {
    const token = await t.issuer.sign({ sub: 'greedy' });
    const open: pg.Client[] = [];
    for (let i = 0; i < 3; i++) {
      const c = new pg.Client(t.client(token));
      await c.connect();
      open.push(c);
    }
    const err = await connectError(token);
    assert.equal(err.code, '53300');
    assert.match(err.message, /too many connections for greedy/);
    await open.pop()!.end();
    await waitFor('a connection within the limit once one closed', async () => {
      const c = new pg.Client(t.client(token));
      try {
        await c.connect();
        open.push(c);
        return true;
      } catch {
        await c.end().catch(() => {});
        return false;
      }
    });
    await Promise.all(open.map((o) => o.end()));
  });

  it('drops a client that never completes the startup', async () => {
    const s = net.connect(t.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    s.on('data', (d) => chunks.push(d));
    const closedAt = await new Promise<number>((resolve) => s.on('close', () => resolve(Date.now())));
    void closedAt;
    const all = Buffer.concat(chunks).toString('latin1');
    assert.match(all, /did not complete the startup/);
  });

  it('closes a connection that sends a malformed message, and others go on', async () => {
    const token = await t.issuer.sign({ sub: 'fuzzer' });
    const good = new pg.Client(t.client(token));
    await good.connect();
    const bad = new pg.Client(t.client(token));
    const badErr = new Promise<any>((resolve) => bad.on('error', resolve));
    await bad.connect();
    // A Query message whose length field claims 2 bytes (less than its own 4-byte size).
    (bad as any).connection.stream.write(Buffer.from([0x51, 0, 0, 0, 2]));
    const err = await badErr;
    assert.match(String(err.message), /invalid message|message length/);
    assert.equal((await good.query('select 42 as n')).rows[0].n, 42);
    await good.end();
  });

  it('closes a connection that sends an oversized message with a FATAL naming the limit', async () => {
    const c = await RawClient.connect(t.port, await t.issuer.sign({ sub: 'big-sender' }));
    // A statement over the limit is refused and the session goes on (statement-limits.test.ts);
    // any other message over max_message_size cannot be framed past, so the connection ends.
    c.send(message('B', Buffer.alloc(2 * 1024 * 1024)));
    const got = await c.closedWith();
    const fatal = got.find((m) => m.tag === 'E');
    assert.equal(fatal?.fields?.S, 'FATAL');
    assert.equal(fatal?.fields?.C, '08P01');
    assert.match(fatal?.fields?.M ?? '', /exceeds the limit of 1048576 bytes/);
  });

  it('closes without a reply, as PostgreSQL does, when a client sends garbage or Terminate before its startup packet', async () => {
    const send = (port: number, bytes: Buffer) =>
      new Promise<number>((resolve) => {
        const s = net.connect(port, '127.0.0.1');
        let received = 0;
        s.on('data', (d) => (received += d.length));
        s.on('error', () => {});
        s.on('close', () => resolve(received));
        s.once('connect', () => s.write(bytes));
      });
    for (const bytes of [Buffer.from([0x58, 0, 0, 0, 4]), Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), Buffer.from([0, 0, 0, 4])]) {
      const direct = await send(t.pg.port, bytes);
      const gateway = await send(t.port, bytes);
      assert.deepEqual([gateway, direct], [0, 0], `${bytes.toString('hex')}: bytes received (gateway, PostgreSQL)`);
    }
    // After a valid startup packet, errors are still clear (here: the user is missing).
    const c = await new Promise<Buffer>((resolve) => {
      const s = net.connect(t.port, '127.0.0.1');
      const chunks: Buffer[] = [];
      s.on('data', (d) => chunks.push(d));
      s.on('error', () => {});
      s.on('close', () => resolve(Buffer.concat(chunks)));
      const body = Buffer.from('\0\x03\0\0database\0app\0\0', 'binary');
      const head = Buffer.alloc(4);
      head.writeInt32BE(body.length + 4);
      s.once('connect', () => s.write(Buffer.concat([head, body])));
    });
    assert.equal(String.fromCharCode(c[0]), 'E', 'a FATAL ErrorResponse');
    assert.match(c.toString('latin1'), /no PostgreSQL user name/);
  });

  it('answers GSSENCRequest with N and goes on with the startup', async () => {
    const net2 = await import('node:net');
    const s = net2.connect(t.port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    const answer = new Promise<Buffer>((resolve) => s.once('data', resolve));
    s.write(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]));
    assert.equal((await answer).toString(), 'N');
    const { encodeStartup } = await import('../../src/protocol/index.ts');
    const auth = new Promise<Buffer>((resolve) => s.once('data', resolve));
    s.write(encodeStartup({ user: 'agent', database: 'app' }));
    assert.equal((await auth)[0], 0x52, 'the startup goes on to the password request');
    s.destroy();
  });

  it('refuses a FunctionCall message and the session stays usable', async () => {
    const c = await RawClient.connect(t.port, await t.issuer.sign({ sub: 'fastpath' }));
    // FunctionCall: function oid 1, no argument formats, no arguments, text result.
    const body = Buffer.alloc(10);
    body.writeUInt32BE(1, 0);
    c.send(message('F', body));
    const reply = await c.until('Z');
    const err = reply.find((m) => m.tag === 'E');
    assert.match(err?.fields?.M ?? '', /FunctionCall message is not supported/);
    assert.equal(err?.fields?.C, '0A000');
    c.send(message('Q', Buffer.from('select 7\0')));
    const rows = await c.until('Z');
    assert.ok(rows.some((m) => m.tag === 'D' && m.frame.includes(Buffer.from('7'))), 'the next query returns its row');
    c.end();
  });
});
