/**
 * Two gateway instances sharing one PostgreSQL store (audit, revocations, reviews) in front of a
 * real PostgreSQL: an approval given on A releases the statement held on B within a second; an
 * approval is consumed once across instances; a revocation made on B ends A's sessions within a
 * second and a lift on B lets the subject in on A again; the review schema is versioned; /readyz
 * says not ready while the store cannot be reached and ready again once it can.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startTestIssuer, type TestIssuer } from '../helpers/issuer.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/wait.ts';
import { sendCancel } from '../helpers/cancel.ts';

const dir = mkdtempSync(join(tmpdir(), 'pgwarden-instances-'));
let pgs: TestPostgres;
let issuer: TestIssuer;
let a: TestGateway;
let b: TestGateway;
const open: pg.Client[] = [];

const shared = (instance: string) => (raw: Record<string, any>) => {
  const store = `postgres://pgw_store@127.0.0.1:${pgs.port}/store`;
  raw.audit = { store, password: 'store-secret', instance };
  raw.reviews = {
    store,
    password: 'store-secret',
    rules: [
      { name: 'truncates', when: ['truncate'], match: { groups: ['migrators'] }, approvers: { groups: ['dba'] }, mode: 'wait', timeout: '1m' },
      { name: 'drops', when: ['drop'], approvers: { groups: ['dba'] }, mode: 'defer' },
    ],
  };
  raw.identity.user_names = ['agent', 'victim', 'migrator'];
  // The console, with the development login (each instance its own issuer; one session secret).
  raw.dev_issuer = { enabled: true, key_file: join(dir, `dev-issuer-${instance}.json`), unsafe_anyone_can_mint_tokens: true };
  raw.console = {
    issuer: `http://${raw.listen.http}/dev`,
    client_id: 'pgwarden-console',
    roles: { auditor: ['auditors'], approver: ['dba'], admin: ['pgwarden-admins'] },
    session_secret: 'a-console-session-secret-shared-by-every-instance',
  };
};

interface Reply {
  status: number;
  body: string;
  cookies: string[];
  location?: string;
}

/** An HTTP request as a browser on the instance's own address sends it (no redirects followed). */
function request(t: TestGateway, path: string, o: { method?: string; form?: string; cookie?: string } = {}): Promise<Reply> {
  const host = `127.0.0.1:${t.gw.http.port}`;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Host: host, Origin: `http://${host}` };
    if (o.cookie) headers.Cookie = o.cookie;
    if (o.form !== undefined) headers['Content-Type'] = 'application/x-www-form-urlencoded';
    const req = http.request({ host: '127.0.0.1', port: t.gw.http.port, path, method: o.method ?? 'GET', headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, cookies: (res.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]), location: res.headers.location }));
    });
    req.on('error', reject);
    req.end(o.form);
  });
}

/** Sign in to `t`'s console with the development login; resolves with the session cookie. */
async function consoleSignIn(t: TestGateway, role: string): Promise<string> {
  const login = await request(t, '/console/login');
  const csrf = /name="csrf" value="([^"]+)"/.exec(login.body)?.[1];
  assert.ok(csrf, `a sign-in page (${login.status})`);
  const signedIn = await request(t, '/console/dev-login', { method: 'POST', form: `role=${role}&csrf=${csrf}`, cookie: login.cookies.join('; ') });
  const session = signedIn.cookies.find((c) => c.startsWith('pgwarden_console='));
  assert.ok(session, `signed in (${signedIn.status})`);
  return session;
}

/** Is the console page open with this cookie (not sent to the sign-in page)? */
async function signedIn(t: TestGateway, cookie: string): Promise<boolean> {
  const page = await request(t, '/console/reviews', { cookie });
  return page.status === 200;
}

async function connect(t: TestGateway, sub: string, groups: string[] = []): Promise<pg.Client> {
  const c = new pg.Client({ ...t.client(await issuer.sign({ sub, groups })), user: sub });
  c.on('error', () => {});
  await c.connect();
  open.push(c);
  return c;
}

async function api(t: TestGateway, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const dba = await issuer.sign({ sub: 'alice-dba', groups: ['dba'] });
  const res = await fetch(`http://127.0.0.1:${t.gw.http.port}/api/reviews${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${dba}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

const count = (table: string) => pgs.psql(`select count(*) from ${table}`, 'app').trim();

before(async () => {
  pgs = await startPostgres();
  pgs.psql('create role gw_app login');
  pgs.psql('create database app owner gw_app');
  pgs.psql("create role pgw_store login password 'store-secret'");
  pgs.psql('create database store owner pgw_store');
  pgs.psql("create table items (id int primary key, v text); insert into items select g, 'v' || g from generate_series(1, 5) g; alter table items owner to gw_app", 'app');
  issuer = await startTestIssuer();
  a = await startTestGateway({ pg: pgs, issuer, config: shared('A') });
  b = await startTestGateway({ pg: pgs, issuer, config: shared('B') });
});

after(async () => {
  for (const c of open) await c.end().catch(() => {});
  await a?.stop();
  await b?.stop();
  await issuer?.stop();
  await pgs?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('two instances on one PostgreSQL store', () => {
  it('creates the store schema once, with its versions', () => {
    assert.equal(pgs.psql("select string_agg(part || '=' || version, ',' order by part) from pgwarden_schema", 'store').trim(), 'audit=1,reviews=1');
    assert.equal(pgs.psql("select count(*) from information_schema.tables where table_name = 'pgwarden_reviews'", 'store').trim(), '1');
  });

  it('a gateway refuses a store whose schema is newer than it knows', async () => {
    pgs.psql("update pgwarden_schema set version = 2 where part = 'reviews'", 'store');
    try {
      await assert.rejects(startTestGateway({ pg: pgs, issuer, config: shared('C') }), /reviews schema in postgres:\/\/pgw_store@[^ ]+ is version 2, newer than this gateway knows \(1\)/);
    } finally {
      pgs.psql("update pgwarden_schema set version = 1 where part = 'reviews'", 'store');
    }
  });

  it('an approval given on A releases the statement held on B within a second', async () => {
    const migrator = await connect(b, 'migrator', ['migrators']);
    const held = migrator.query('truncate items');
    const id = await waitFor('the pending review, seen on A', async () => (await api(a, '?status=pending')).json.reviews.find((r: any) => r.text === 'truncate items')?.id, 10_000);
    assert.equal(count('items'), '5', 'nothing ran while held');
    const approved = await api(a, `/${id}/approve`, { comment: 'ok' });
    assert.equal(approved.status, 200, JSON.stringify(approved.json));
    const at = Date.now();
    await held;
    const took = Date.now() - at;
    assert.ok(took < 1000, `released ${took} ms after the approval`);
    assert.equal(count('items'), '0', 'the approved statement ran');
    assert.equal((await api(b, `/${id}`)).json.status, 'consumed');
  });

  it('an approval is used once across instances, even by runs on both at the same moment', async () => {
    pgs.psql('create table victim (id int); alter table victim owner to gw_app', 'app');
    const onA = await connect(a, 'agent');
    const onB = await connect(b, 'agent');
    const first = await onA.query('drop table victim').then(() => null, (e) => e);
    assert.equal(first?.code, '42501');
    const id = /review (r-[a-z0-9]+)/.exec(first.message)?.[1];
    assert.ok(id, first.message);
    assert.equal((await api(b, `/${id}/approve`, {})).status, 200);
    const runs = await Promise.all([onA, onB].map((c) => c.query('drop table victim').then(() => 'ran', (e) => e.code as string)));
    assert.deepEqual(runs.sort(), ['42501', 'ran'], `one ran, the other needs a new review: ${runs}`);
    assert.equal(pgs.psql("select count(*) from pg_tables where tablename = 'victim'", 'app').trim(), '0');
    assert.equal((await api(a, `/${id}`)).json.status, 'consumed');
  });

  it('a revocation made on B ends the subject’s sessions on A within a second; a lift on B lets it in on A', async () => {
    const onA = await connect(a, 'victim');
    const ended = new Promise<number>((resolve) => onA.once('end', () => resolve(Date.now())));
    const at = Date.now();
    await b.gw.revoke('victim');
    const took = (await ended) - at;
    assert.ok(took < 1000, `ended ${took} ms after the revocation`);
    await assert.rejects(connect(a, 'victim'), /revoked/);
    const bystander = await connect(a, 'agent');
    assert.equal((await bystander.query('select 1 as n')).rows[0].n, 1, 'other subjects go on');
    await b.gw.unrevoke('victim');
    await waitFor('the lift to reach A', async () => connect(a, 'victim').then(() => true, () => false), 3000, 100);
  });

  it('a CancelRequest sent to B cancels the query it names on A, and a wrong secret cancels nothing', async () => {
    const onA = await connect(a, 'agent');
    const key = { pid: (onA as any).processID as number, secret: (onA as any).secretKey as number };
    const slow = onA.query('select pg_sleep(1.5) as slept').then((r) => r.rows.length, (err: Error) => err.message);
    await new Promise((r) => setTimeout(r, 200));
    await sendCancel(b.port, key.pid, key.secret ^ 0x5a5a5a5a);
    assert.equal(await slow, 1, 'a wrong secret cancelled nothing');
    const started = Date.now();
    // Its handler goes on now: the error may come back before the cancel connection closes.
    const running = assert.rejects(onA.query('select pg_sleep(30)'), (e: any) => e.code === '57014');
    await new Promise((r) => setTimeout(r, 200));
    await sendCancel(b.port, key.pid, key.secret);
    await running;
    assert.ok(Date.now() - started < 3000, `cancelled at once (took ${Date.now() - started} ms)`);
    assert.equal((await onA.query('select 1 as n')).rows[0].n, 1, 'the cancelled session goes on');
  });

  it('a console sign-in made on A opens B; signing out on A, or revoking the human on B, ends it on both', async () => {
    const cookie = await consoleSignIn(a, 'approver');
    assert.equal(await signedIn(a, cookie), true);
    assert.equal(await signedIn(b, cookie), true, 'the session is the store\'s, so B knows it');
    const page = await request(a, '/console/reviews', { cookie });
    const csrf = /name="csrf" value="([^"]+)"/.exec(page.body)?.[1];
    assert.ok(csrf, 'a form with the session\'s csrf token');
    const out = await request(a, '/console/logout', { method: 'POST', form: `csrf=${csrf}`, cookie });
    assert.equal(out.status, 303);
    assert.equal(await signedIn(b, cookie), false, 'the saved cookie opens nothing on B after the sign-out on A');
    assert.equal(await signedIn(a, cookie), false);

    const again = await consoleSignIn(a, 'approver');
    assert.equal(await signedIn(b, again), true);
    await b.gw.revoke('approver');
    try {
      assert.equal(await signedIn(a, again), false, 'revoked on B: ended on A');
      assert.equal(await signedIn(b, again), false);
    } finally {
      await b.gw.unrevoke('approver');
    }
  });

  it('/readyz is not ready while the shared store is unreachable, and ready again without a restart', async () => {
    const ready = async () => (await fetch(`http://127.0.0.1:${a.gw.http.port}/readyz`)).status;
    assert.equal(await ready(), 200);
    pgs.psql('create table keep_me (id int); alter table keep_me owner to gw_app', 'app');
    const client = await connect(a, 'agent');
    pgs.psql("alter database store allow_connections false; select pg_terminate_backend(pid) from pg_stat_activity where datname = 'store'");
    try {
      await waitFor('not ready', async () => (await ready()) === 503, 5000, 100);
      // A statement that needs a review fails closed, saying why.
      const refused = await client.query('drop table keep_me').then(() => null, (e) => e);
      assert.equal(refused?.code, '42501');
      assert.match(refused.message, /review store cannot be reached/);
      assert.equal(pgs.psql("select count(*) from pg_tables where tablename = 'keep_me'", 'app').trim(), '1', 'nothing ran');
    } finally {
      pgs.psql('alter database store allow_connections true');
    }
    await waitFor('ready again', async () => (await ready()) === 200, 5000, 100);
    // And the store works again: a held statement is still released through it.
    const onA = await connect(a, 'agent');
    assert.equal((await onA.query('select 1 as n')).rows[0].n, 1);
  });
});
