/**
 * DNS rebinding against the console, performed as a browser would do it: a page on
 * `attacker.example` has its name re-pointed at 127.0.0.1, so its requests reach the gateway with
 * `Host: attacker.example:PORT` and `Origin: http://attacker.example:PORT`. It walks the console's
 * real flow — load the sign-in page, use the development login, open the held review, approve it —
 * and the held `DROP TABLE` must still be held, the table still there.
 *
 * The same flow with the gateway's own Host signs in, so the attack flow is known to be right.
 * Every other surface (admin API, reviews API, `/mcp`) refuses a foreign Host too; the health
 * probes answer any Host.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import pg from 'pg';
import { freePort } from '../helpers/postgres.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { waitFor } from '../helpers/wait.ts';

let t: TestGateway;
let httpPort: number;
const dataDir = mkdtempSync(join(tmpdir(), 'pgwarden-rebind-'));

interface Reply {
  status: number;
  body: string;
  cookies: string[];
  location?: string;
}

/** One request with the Host and Origin a rebinding page would send (node:http lets us set Host). */
function request(path: string, o: { host: string; origin?: string; method?: string; form?: string; cookie?: string; bearer?: string; json?: string }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Host: o.host };
    if (o.origin) headers.Origin = o.origin;
    if (o.cookie) headers.Cookie = o.cookie;
    if (o.bearer) headers.Authorization = `Bearer ${o.bearer}`;
    let body: string | undefined;
    if (o.form !== undefined) {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      body = o.form;
    } else if (o.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers.Accept = 'application/json, text/event-stream';
      body = o.json;
    }
    const req = http.request({ host: '127.0.0.1', port: httpPort, path, method: o.method ?? 'GET', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        const set = res.headers['set-cookie'] ?? [];
        resolve({ status: res.statusCode ?? 0, body: text, cookies: set.map((c) => c.split(';')[0]), location: res.headers.location });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/**
 * The console flow a page runs: sign-in page → development login as approver → the review page →
 * approve. Returns how far it got.
 */
async function approveThroughConsole(host: string, reviewId: string): Promise<{ signedIn: boolean; approved: boolean; statuses: number[] }> {
  const origin = `http://${host}`;
  const statuses: number[] = [];
  const login = await request('/console/login', { host });
  statuses.push(login.status);
  const csrf = /name="csrf" value="([^"]+)"/.exec(login.body)?.[1];
  if (login.status !== 200 || !csrf) return { signedIn: false, approved: false, statuses };
  const devLogin = await request('/console/dev-login', { host, origin, method: 'POST', form: `role=approver&csrf=${csrf}`, cookie: login.cookies.join('; ') });
  statuses.push(devLogin.status);
  const session = devLogin.cookies.find((c) => c.startsWith('pgwarden_console='));
  if (!session) return { signedIn: false, approved: false, statuses };
  const page = await request(`/console/reviews/${reviewId}`, { host, cookie: session });
  statuses.push(page.status);
  const csrf2 = /name="csrf" value="([^"]+)"/.exec(page.body)?.[1];
  if (!csrf2) return { signedIn: true, approved: false, statuses };
  const decide = await request(`/console/reviews/${reviewId}`, { host, origin, method: 'POST', form: `decision=approve&comment=rebound&csrf=${csrf2}`, cookie: session });
  statuses.push(decide.status);
  return { signedIn: true, approved: decide.status === 303 && /approved/.test(decide.location ?? ''), statuses };
}

before(async () => {
  httpPort = await freePort();
  t = await startTestGateway({
    config: (raw) => {
      raw.listen.http = `127.0.0.1:${httpPort}`;
      raw.dev_issuer = { enabled: true, key_file: join(dataDir, 'dev-issuer-key.json'), unsafe_anyone_can_mint_tokens: true };
      raw.console = {
        issuer: `http://127.0.0.1:${httpPort}/dev`,
        client_id: 'pgwarden-console',
        roles: { auditor: ['auditors'], approver: ['dba'], admin: ['pgwarden-admins'] },
        session_secret: 'a-console-session-secret-of-32-characters!',
      };
      raw.reviews = {
        store: 'memory',
        rules: [{ name: 'destructive', when: ['drop'], match: { subjects: ['migrator'] }, approvers: { groups: ['dba'] }, mode: 'wait', timeout: '2m' }],
      };
    },
  });
  t.pg.psql('create table victims (id int); alter table victims owner to gw_app', 'app');
});
after(async () => {
  await t?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('DNS rebinding', () => {
  it('a rebound page cannot sign in to the console or approve a held DROP TABLE', async () => {
    const migrator = new pg.Client(t.client(await t.issuer.sign({ sub: 'migrator' })));
    await migrator.connect();
    const notices: string[] = [];
    migrator.on('notice', (n) => notices.push(n.message ?? ''));
    const held = migrator.query('drop table victims').then(
      () => 'ran',
      (e: Error) => `failed: ${e.message}`,
    );
    try {
      const reviewId = await waitFor('the review notice', () => /\b(r-[a-z0-9]+)\b/.exec(notices.join('\n'))?.[1]);

      const attacker = 'attacker.example';
      for (const host of [`${attacker}:${httpPort}`, attacker, `127.0.0.1.${attacker}:${httpPort}`]) {
        const r = await approveThroughConsole(host, reviewId);
        assert.deepEqual(r, { signedIn: false, approved: false, statuses: [421] }, `Host ${host}`);
      }
      // A page that keeps the gateway's Host but sends its own Origin cannot post either.
      const login = await request('/console/login', { host: `127.0.0.1:${httpPort}` });
      const csrf = /name="csrf" value="([^"]+)"/.exec(login.body)?.[1];
      const crossOrigin = await request('/console/dev-login', { host: `127.0.0.1:${httpPort}`, origin: `http://${attacker}:${httpPort}`, method: 'POST', form: `role=approver&csrf=${csrf}`, cookie: login.cookies.join('; ') });
      assert.equal(crossOrigin.status, 403);
      assert.equal(crossOrigin.cookies.some((c) => c.startsWith('pgwarden_console=')), false, 'no session for a foreign Origin');

      // The effect: nothing was approved, the statement is still held, the table is still there.
      assert.equal(t.pg.psql("select to_regclass('public.victims') is not null", 'app').trim(), 't');
      assert.equal(await Promise.race([held, new Promise((r) => setTimeout(() => r('still held'), 300))]), 'still held');

      // The same flow from the gateway's own name works: the attack flow above is the real one.
      const legit = await approveThroughConsole(`127.0.0.1:${httpPort}`, reviewId);
      assert.equal(legit.signedIn, true, `statuses ${legit.statuses}`);
      assert.equal(legit.approved, true, `statuses ${legit.statuses}`);
      assert.equal(await held, 'ran');
    } finally {
      await migrator.end().catch(() => {});
    }
  });

  it('every other surface refuses a foreign Host; health probes answer any Host', async () => {
    const host = `attacker.example:${httpPort}`;
    const admin = await t.issuer.sign({ sub: 'root', groups: ['pgwarden-admins'] });
    for (const [path, opts] of [
      ['/admin/revocations', { method: 'POST', json: '{"subject":"analyst"}', bearer: admin }],
      ['/api/reviews', { bearer: admin }],
      ['/mcp', { method: 'POST', json: '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}', bearer: admin }],
      ['/dev/jwks', {}],
    ] as const) {
      const r = await request(path, { host, ...opts });
      assert.equal(r.status, 421, `${path}: ${r.body}`);
    }
    const revocations = await request('/admin/revocations', { host: `127.0.0.1:${httpPort}`, bearer: admin });
    assert.equal(revocations.status, 200);
    assert.deepEqual(JSON.parse(revocations.body).revocations ?? JSON.parse(revocations.body), [], 'the rebound POST revoked no one');
    for (const path of ['/healthz', '/readyz']) assert.equal((await request(path, { host: '10.0.0.7:8080' })).status, 200, path);
  });
});
