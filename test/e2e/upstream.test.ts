/**
 * Held credentials and the upstream leg: the gateway signs in with SCRAM-SHA-256, md5 or trust,
 * over TLS in require / verify-ca / verify-full modes, and when the upstream is unreachable or
 * refuses the held password the client gets a clear FATAL that never shows the password.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startPostgres, freePort, type TestPostgres } from '../helpers/postgres.ts';
import { startTestGateway } from '../helpers/gateway.ts';

let dir: string;

function makeCerts(): void {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=test-ca', '-keyout', 'ca.key', '-out', 'ca.pem']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr']);
  execFileSync('sh', ['-c', 'printf "subjectAltName=DNS:localhost,IP:127.0.0.1" > ext.cnf'], { cwd: dir });
  run(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'ext.cnf', '-out', 'server.pem']);
  chmodSync(dir, 0o755);
  chmodSync(join(dir, 'server.key'), 0o600);
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    chownSync(join(dir, 'server.key'), uid, 0);
    chownSync(join(dir, 'server.pem'), uid, 0);
  }
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-upstream-tls-'));
  makeCerts();
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function roundTrip(pgServer: TestPostgres, upstream: (raw: Record<string, any>) => void, sql = 'select current_user as u'): Promise<any> {
  const t = await startTestGateway({ pg: pgServer, config: (raw) => upstream(raw.upstreams.app) });
  try {
    const c = new pg.Client(t.client(await t.issuer.sign()));
    try {
      await c.connect();
      return (await c.query(sql)).rows[0];
    } finally {
      await c.end().catch(() => {});
    }
  } finally {
    await t.stop();
  }
}

describe('upstream authentication', () => {
  let scram: TestPostgres;
  before(async () => {
    scram = await startPostgres({
      conf: [`ssl = on`, `ssl_cert_file = '${join(dir, 'server.pem')}'`, `ssl_key_file = '${join(dir, 'server.key')}'`],
    });
    scram.psql("create role gw_app login password 'placeholder'");
    scram.psql('create database app owner gw_app');
  });
  after(() => scram?.stop());

  it('signs in with SCRAM-SHA-256', async () => {
    const row = await roundTrip(scram, () => {});
    assert.equal(row.u, 'gw_app');
  });

  for (const mode of ['require', 'verify-ca', 'verify-full']) {
    it(`connects over TLS with tls.mode ${mode}`, async () => {
      const row = await roundTrip(
        scram,
        (up) => {
          up.url = up.url.replace('127.0.0.1', mode === 'verify-full' ? 'localhost' : '127.0.0.1');
          up.tls = { mode, ...(mode === 'require' ? {} : { ca: join(dir, 'ca.pem') }) };
        },
        'select ssl from pg_stat_ssl where pid = pg_backend_pid()',
      );
      assert.equal(row.ssl, true);
    });
  }

  it('verify-full refuses a server whose certificate does not name the host', async () => {
    const t = await startTestGateway({
      pg: scram,
      config: (raw) => {
        raw.upstreams.app.tls = { mode: 'verify-full', ca: join(dir, 'ca.pem'), servername: 'not-the-server.example' };
      },
    });
    try {
      const c = new pg.Client(t.client(await t.issuer.sign()));
      await assert.rejects(c.connect(), (e: any) => e.code === '08006' && /could not reach upstream "app"/.test(e.message));
      await c.end().catch(() => {});
    } finally {
      await t.stop();
    }
  });

  it('a wrong held password gives a clear FATAL without the password', async () => {
    const t = await startTestGateway({ pg: scram, config: (raw) => (raw.upstreams.app.password = 'definitely-wrong-password') });
    try {
      const c = new pg.Client(t.client(await t.issuer.sign()));
      await assert.rejects(c.connect(), (e: any) => e.code === '08006' && /could not sign in to upstream "app"/.test(e.message) && !e.message.includes('definitely-wrong'));
      await c.end().catch(() => {});
      assert.ok(!t.logs.join('').includes('definitely-wrong-password'), 'the held password is not logged');
      assert.match(t.logs.join(''), /password authentication failed/);
    } finally {
      await t.stop();
    }
  });

  it('an unreachable upstream gives a clear FATAL and the gateway goes on', async () => {
    const port = await freePort();
    const t = await startTestGateway({ pg: scram, config: (raw) => (raw.upstreams.app.url = `postgres://gw_app@127.0.0.1:${port}/app`) });
    try {
      for (let i = 0; i < 2; i++) {
        const c = new pg.Client(t.client(await t.issuer.sign()));
        await assert.rejects(c.connect(), (e: any) => e.code === '08006' && /could not reach upstream "app"/.test(e.message));
        await c.end().catch(() => {});
      }
      const ready = await fetch(`http://${t.config.listen.http}/readyz`);
      assert.equal(ready.status, 503);
      assert.match(await ready.text(), /upstream unreachable: app/);
    } finally {
      await t.stop();
    }
  });
});

describe('md5 and trust upstreams', () => {
  it('signs in with md5', async () => {
    const md5 = await startPostgres({ auth: 'md5' });
    try {
      md5.psql("set password_encryption = 'md5'; create role gw_app login password 'placeholder'");
      md5.psql('create database app owner gw_app');
      const t = await startTestGateway({ pg: md5, config: () => {} });
      // startTestGateway set a new password; make sure it is stored as md5.
      md5.psql(`set password_encryption = 'md5'; alter role gw_app password '${t.upstreamPassword}'`);
      assert.match(md5.psql("select rolpassword from pg_authid where rolname = 'gw_app'"), /^md5/);
      const c = new pg.Client(t.client(await t.issuer.sign()));
      await c.connect();
      assert.equal((await c.query('select 1 as one')).rows[0].one, 1);
      await c.end();
      await t.stop();
    } finally {
      await md5.stop();
    }
  });

  it('signs in with trust (no password held)', async () => {
    const trust = await startPostgres({ auth: 'trust' });
    try {
      trust.psql("create role gw_app login password 'unused'");
      trust.psql('create database app owner gw_app');
      const t = await startTestGateway({ pg: trust, config: (raw) => delete raw.upstreams.app.password });
      const c = new pg.Client(t.client(await t.issuer.sign()));
      await c.connect();
      assert.equal((await c.query('select current_user as u')).rows[0].u, 'gw_app');
      await c.end();
      await t.stop();
    } finally {
      await trust.stop();
    }
  });
});
