/**
 * Audiences per surface, end to end: a token minted for the MCP resource opens MCP sessions and
 * nothing else — not a Postgres session, not the admin API, not the reviews API — even when the
 * issuer's configured audience still lists the MCP resource (as configurations had to before the
 * MCP endpoint checked its own audience). `admin.audience` gives the admin API an audience of its
 * own. The protected resource metadata names the public URL, never the wildcard the listener
 * binds, and `WWW-Authenticate` points at its path-suffixed URL (RFC 9728 §3.1).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { openAuditStore } from '../../src/store/index.ts';
import { freePort } from '../helpers/postgres.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

let t: TestGateway;
let dir: string;
let base: string;
let resource: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-mcp-aud-'));
  t = await startTestGateway({
    config: (raw) => {
      resource = `http://${raw.listen.http}/mcp`;
      // The configuration an operator needed before: the MCP resource among the issuer's audiences.
      raw.identity.issuers[0].audience = ['pgwarden', resource];
      raw.admin = { groups: ['pgwarden-admins'], audience: 'pgwarden-admin' };
      raw.audit = { store: `sqlite:${join(dir, 'audit.db')}` };
      raw.reviews = {
        store: 'memory',
        rules: [{ name: 'drops', when: ['drop'], approvers: { groups: ['dba'] }, mode: 'defer', timeout: '1m', window: '1h' }],
      };
    },
  });
  base = `http://${t.gw.http.host}:${t.gw.http.port}`;
  t.pg.psql('create table precious (id int); insert into precious values (1); alter table precious owner to gw_app;', 'app');
});
after(async () => {
  await t?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Every group that means something on some surface: only the audience may stop it. */
const GROUPS = ['pgwarden-admins', 'dba', 'mcp-support'];
const mcpOnlyToken = (sub: string) => t.issuer.sign({ sub, groups: GROUPS, aud: resource });

async function wireAttempt(token: string, sql: string): Promise<Error | undefined> {
  const c = new pg.Client(t.client(token));
  c.on('error', () => {});
  try {
    await c.connect();
    await c.query(sql);
    return undefined;
  } catch (err) {
    return err as Error;
  } finally {
    await c.end().catch(() => {});
  }
}

describe('a token minted for the MCP resource', () => {
  it('opens an MCP session', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(resource), { requestInit: { headers: { Authorization: `Bearer ${await mcpOnlyToken('mcp-agent')}` } } });
    const client = new Client({ name: 'aud-test', version: '1' });
    await client.connect(transport);
    assert.ok((await client.listTools()).tools.length > 0);
    await client.close();
  });

  it('is not a Postgres password: the connection is refused and its statement never runs', async () => {
    for (const [i, aud] of [resource, [resource], [resource, resource]].entries()) {
      const token = await t.issuer.sign({ sub: `mcp-thief-${i}`, groups: GROUPS, aud });
      const err = await wireAttempt(token, 'drop table precious');
      assert.ok(err, 'the connection was refused');
      assert.equal((err as { code?: string }).code, '28P01');
      assert.match(err.message, /audience/);
    }
    assert.equal(t.pg.psql('select count(*) from precious', 'app').trim(), '1', 'the table is still there');
    // No session was opened for any of them.
    const store = await openAuditStore(`sqlite:${join(dir, 'audit.db')}`, { readOnly: true });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await store.search({ identity: `mcp-thief-${i}`, types: ['session_start'] })).length, 0);
    } finally {
      await store.close();
    }
  });

  it('is not an admin credential: a revocation made with it is refused and changes nothing', async () => {
    const res = await fetch(`${base}/admin/revocations`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await mcpOnlyToken('mcp-admin')}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ subject: 'victim' }),
    });
    assert.equal(res.status, 401);
    const victim = await t.issuer.sign({ sub: 'victim', groups: ['readers'] });
    assert.equal(await wireAttempt(victim, 'select 1'), undefined, 'the victim still connects');
    const list = await fetch(`${base}/admin/revocations`, { headers: { Authorization: `Bearer ${await t.issuer.sign({ sub: 'root', groups: ['pgwarden-admins'], aud: 'pgwarden-admin' })}` } });
    assert.equal(list.status, 200);
    assert.deepEqual(((await list.json()) as { revocations: unknown[] }).revocations, []);
  });

  it('is not a reviewer credential', async () => {
    const res = await fetch(`${base}/api/reviews`, { headers: { Authorization: `Bearer ${await mcpOnlyToken('mcp-dba')}` } });
    assert.equal(res.status, 401);
    const ok = await fetch(`${base}/api/reviews`, { headers: { Authorization: `Bearer ${await t.issuer.sign({ sub: 'dba-1', groups: ['dba'] })}` } });
    assert.equal(ok.status, 200, 'a wire-audience token of an approver is accepted (no reviews.api_audience set)');
  });
});

describe('admin.audience', () => {
  it('is the only audience the admin API accepts, and its tokens are not Postgres passwords', async () => {
    const wireAdmin = await t.issuer.sign({ sub: 'root', groups: ['pgwarden-admins'] });
    assert.equal((await fetch(`${base}/admin/revocations`, { headers: { Authorization: `Bearer ${wireAdmin}` } })).status, 401, 'a wire token of an administrator');
    const adminToken = await t.issuer.sign({ sub: 'root', groups: ['pgwarden-admins'], aud: 'pgwarden-admin' });
    assert.equal((await fetch(`${base}/admin/revocations`, { headers: { Authorization: `Bearer ${adminToken}` } })).status, 200);
    const err = await wireAttempt(adminToken, 'drop table precious');
    assert.equal((err as { code?: string } | undefined)?.code, '28P01');
    assert.equal(t.pg.psql('select count(*) from precious', 'app').trim(), '1');
  });
});

describe('protected resource metadata', () => {
  it('WWW-Authenticate names the path-suffixed metadata URL, and both metadata paths are served', async () => {
    const res = await fetch(resource, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' }, body: '{}' });
    assert.equal(res.status, 401);
    assert.ok((res.headers.get('www-authenticate') ?? '').includes(`resource_metadata="${base}/.well-known/oauth-protected-resource/mcp"`));
    for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
      const doc = (await (await fetch(`${base}${path}`)).json()) as { resource: string };
      assert.equal(doc.resource, resource, path);
    }
    assert.equal((await fetch(`${base}/.well-known/oauth-protected-resource/elsewhere`)).status, 404);
  });

  it('the Host guard covers /mcp and its metadata', async () => {
    for (const path of ['/mcp', '/.well-known/oauth-protected-resource/mcp']) {
      const r = await rawGet(t.gw.http.port, path, 'attacker.example');
      assert.equal(r.status, 421, path);
    }
  });
});

// A second gateway on the same cluster sets a new password for the upstream role: give the first
// its own back, so it keeps signing in.
const restoreUpstreamPassword = () => t.pg.psql(`alter role gw_app password '${t.upstreamPassword}'`);

describe('a listener on every interface', () => {
  it('names the public host in the metadata, not 0.0.0.0', async () => {
    const port = await freePort();
    const wide = await startTestGateway({
      pg: t.pg,
      issuer: t.issuer,
      config: (raw) => {
        raw.listen.http = `0.0.0.0:${port}`;
        raw.listen.allow_insecure_remote = true;
        raw.listen.http_hosts = ['gw.example.test'];
      },
    });
    try {
      const r = await rawGet(port, '/.well-known/oauth-protected-resource/mcp', 'gw.example.test');
      assert.equal(r.status, 200);
      assert.equal((JSON.parse(r.body) as { resource: string }).resource, 'http://gw.example.test/mcp');
      const unauth = await rawGet(port, '/mcp', 'gw.example.test');
      assert.match(unauth.headers['www-authenticate'] as string, /resource_metadata="http:\/\/gw\.example\.test\/\.well-known\/oauth-protected-resource\/mcp"/);
    } finally {
      await wide.gw.close(0);
      restoreUpstreamPassword();
    }
  });

  it('refuses to start with no public URL', async () => {
    const port = await freePort();
    await assert.rejects(
      startTestGateway({
        pg: t.pg,
        issuer: t.issuer,
        config: (raw) => {
          raw.listen.http = `0.0.0.0:${port}`;
          raw.listen.allow_insecure_remote = true;
        },
      }),
      /every interface, so the MCP endpoint has no address clients reach it by/,
    );
    restoreUpstreamPassword();
    const c = new pg.Client(t.client(await t.issuer.sign({ sub: 'after-restore' })));
    await c.connect();
    assert.equal((await c.query('select 1 as one')).rows[0].one, 1);
    await c.end();
  });
});

function rawGet(port: number, path: string, host: string): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'GET', headers: { Host: host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}
