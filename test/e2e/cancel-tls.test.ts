/**
 * Cancel and TLS, end to end: a CancelRequest with the gateway-minted key reaches the right
 * upstream backend (57014 within a second); an unknown key does nothing; clients can use TLS
 * (psql sslmode=require and verify-full, pg with ssl) and a gateway that requires TLS refuses
 * plaintext with a clear error.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import https from 'node:https';
import pg from 'pg';
import postgres from 'postgres';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { psql } from '../helpers/clients.ts';
import { sendCancel } from '../helpers/cancel.ts';

let t: TestGateway;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-tls-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  t = await startTestGateway({
    config: (raw) => {
      raw.listen.tls = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
    },
  });
});
after(async () => {
  await t?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('cancel', () => {
  it('cancels a running statement through the gateway-minted key (pg)', async () => {
    const c = new pg.Client(t.client(await t.issuer.sign()));
    await c.connect();
    const pid = (c as any).processID as number;
    const secret = (c as any).secretKey as number;
    const started = Date.now();
    // Awaited after the cancel, so its handler goes on now: the error may come back before the
    // cancel connection closes.
    const running = assert.rejects(c.query('select pg_sleep(30)'), (e: any) => e.code === '57014');
    await new Promise((r) => setTimeout(r, 200));
    const upstreamPids = t.pg.psql("select pid from pg_stat_activity where usename = 'gw_app'", 'app').trim().split('\n');
    assert.ok(!upstreamPids.includes(String(pid)), 'the client does not see the upstream pid');
    await sendCancel(t.port, pid, secret);
    await running;
    assert.ok(Date.now() - started < 5000, `cancelled at once, not after the 30 s sleep (took ${Date.now() - started} ms)`);
    assert.equal((await c.query('select 1 as n')).rows[0].n, 1);
    await c.end();
  });

  it('cancels through postgres.js', async () => {
    const sql = postgres(t.url(await t.issuer.sign()), { max: 1, ssl: false });
    try {
      await sql`select 1`;
      const q = sql`select pg_sleep(30)`;
      const timer = setTimeout(() => q.cancel(), 200);
      await assert.rejects(q, (e: any) => e.code === '57014');
      clearTimeout(timer);
    } finally {
      await sql.end();
    }
  });

  it('ignores a CancelRequest with an unknown key', async () => {
    const c = new pg.Client(t.client(await t.issuer.sign()));
    await c.connect();
    const pid = (c as any).processID as number;
    const secret = (c as any).secretKey as number;
    const running = c.query('select pg_sleep(0.8) as slept');
    await sendCancel(t.port, pid, secret ^ 0x5a5a5a5a);
    await sendCancel(t.port, pid + 1, secret);
    const r = await running;
    assert.equal(r.rows.length, 1);
    await c.end();
  });
});

describe('TLS', () => {
  it('psql connects with sslmode=require and verify-full', async () => {
    const token = await t.issuer.sign();
    for (const mode of ['require', `verify-full&sslrootcert=${encodeURIComponent(join(dir, 'cert.pem'))}`]) {
      const r = await psql(`postgres://agent:${token}@localhost:${t.port}/app?sslmode=${mode}`, 'select ssl from pg_stat_ssl where pid = pg_backend_pid()');
      assert.equal(r.code, 0, r.stderr);
      // The upstream leg is plaintext in this setup; the client leg is TLS, which psql checks.
      assert.equal(r.stdout.trim(), 'f');
    }
    const info = await psql(`postgres://agent:${token}@localhost:${t.port}/app?sslmode=require`, null, [], '\\conninfo\n');
    assert.match(info.stdout, /SSL connection \(protocol: TLSv1\.[23]/);
  });

  it('pg connects over TLS', async () => {
    const c = new pg.Client({ ...t.client(await t.issuer.sign()), ssl: { ca: readFileSync(join(dir, 'cert.pem')), servername: 'localhost' } });
    await c.connect();
    assert.equal((await c.query('select 3 as n')).rows[0].n, 3);
    await c.end();
  });

  it('off loopback with TLS, plaintext is refused by default (no downgrade), and HTTP is served over TLS', async () => {
    const remote = await startTestGateway({
      pg: t.pg,
      config: (raw) => {
        raw.listen.postgres = '0.0.0.0:0';
        raw.listen.tls = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
        raw.listen.http_tls = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
      },
    });
    try {
      const token = await remote.issuer.sign();
      const plain = await psql(`postgres://agent:${token}@127.0.0.1:${remote.port}/app?sslmode=disable`, 'select 1');
      assert.notEqual(plain.code, 0);
      assert.match(plain.stderr, /only TLS connections/);
      const secure = await psql(`postgres://agent:${token}@127.0.0.1:${remote.port}/app?sslmode=require`, 'select 1');
      assert.equal(secure.code, 0, secure.stderr);
      const health = await new Promise<number>((resolve, reject) => {
        const req = https.get({ host: '127.0.0.1', port: remote.gw.http.port, path: '/healthz', ca: readFileSync(join(dir, 'cert.pem')), servername: 'localhost' }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
      });
      assert.equal(health, 200);
      const overPlainHttp = await fetch(`http://127.0.0.1:${remote.gw.http.port}/healthz`).then((r) => r.status, () => 'refused');
      assert.notEqual(overPlainHttp, 200, 'the HTTP listener does not answer in plaintext');
    } finally {
      await remote.stop();
    }
  });

  it('a gateway that requires TLS refuses plaintext clients', async () => {
    const strict = await startTestGateway({
      pg: t.pg,
      config: (raw) => {
        raw.listen.tls = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
        raw.listen.require_tls = true;
      },
    });
    try {
      const token = await strict.issuer.sign();
      const plain = await psql(`postgres://agent:${token}@127.0.0.1:${strict.port}/app?sslmode=disable`, 'select 1');
      assert.notEqual(plain.code, 0);
      assert.match(plain.stderr, /only TLS connections/);
      const secure = await psql(`postgres://agent:${token}@127.0.0.1:${strict.port}/app?sslmode=require`, 'select 1');
      assert.equal(secure.code, 0, secure.stderr);
    } finally {
      await strict.stop();
    }
  });
});
