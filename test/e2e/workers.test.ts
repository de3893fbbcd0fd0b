/**
 * `pgwarden start` with `workers: 2`, spawned as a user runs it, against a real PostgreSQL: the
 * sessions are spread over both workers, a CancelRequest reaches the session it names whichever
 * worker takes it (and nothing else), a revocation ends sessions in both, a statement held for
 * review in one worker is released by an approval made through the API, a SIGHUP reloads both,
 * and `pgwarden audit verify` checks both workers' chains.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { ownerOfPid } from '../../src/cluster/index.ts';
import { pgwarden } from '../helpers/clients.ts';
import { allowEverything } from '../helpers/gateway.ts';
import { startTestIssuer, type TestIssuer } from '../helpers/issuer.ts';
import { freePort, startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/wait.ts';
import { startGatewayProcess, workersListening, type GatewayProcess } from '../helpers/gateway-process.ts';
import { sendCancel } from '../helpers/cancel.ts';

const BIN = fileURLToPath(new URL('../../bin/pgwarden.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pgwarden-workers-'));
const configFile = join(dir, 'pgwarden.yaml');
let pgs: TestPostgres;
let issuer: TestIssuer;
let gw: GatewayProcess;
let port: number;
let httpPort: number;
const open: pg.Client[] = [];

async function connect(sub: string, groups: string[] = []): Promise<pg.Client & { worker: number; key: { pid: number; secret: number } }> {
  const c = new pg.Client({ host: '127.0.0.1', port, user: sub, password: await issuer.sign({ sub, groups }), database: 'app' });
  c.on('error', () => {});
  await c.connect();
  open.push(c);
  const pid = (c as any).processID as number;
  return Object.assign(c, { worker: ownerOfPid(pid), key: { pid, secret: (c as any).secretKey as number } });
}

/** Connections until one lands on worker `n` (the primary deals them out round robin). */
async function connectOn(n: number, sub: string, groups: string[] = []): Promise<Awaited<ReturnType<typeof connect>>> {
  for (let i = 0; i < 6; i++) {
    const c = await connect(sub, groups);
    if (c.worker === n) return c;
    await c.end();
  }
  throw new Error(`no session landed on worker ${n}`);
}

function auditRows(sql: string): any[] {
  const db = new Database(join(dir, 'audit.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all();
  } finally {
    db.close();
  }
}

before(async () => {
  pgs = await startPostgres();
  pgs.psql("create role gw_app login password 'gw-secret'");
  pgs.psql('create database app owner gw_app');
  pgs.psql("create table items (id int primary key, v text); insert into items select g, 'v' || g from generate_series(1, 5) g; alter table items owner to gw_app", 'app');
  issuer = await startTestIssuer();
  port = await freePort();
  httpPort = await freePort();
  const config = {
    workers: 2,
    listen: { postgres: `127.0.0.1:${port}`, http: `127.0.0.1:${httpPort}` },
    upstreams: { app: { url: `postgres://gw_app@127.0.0.1:${pgs.port}/app`, password: 'gw-secret' } },
    identity: { issuers: [{ issuer: issuer.issuer, audience: issuer.audience }], user_names: ['agent', 'victim', 'migrator', 'other'] },
    admin: { subjects: ['admin'] },
    policies: [allowEverything([issuer.issuer])],
    audit: { store: 'sqlite:./audit.db', instance: 'gw' },
    reviews: {
      store: 'sqlite:./reviews.db',
      rules: [{ name: 'destructive', when: ['truncate'], match: { groups: ['migrators'] }, approvers: { groups: ['dba'] }, mode: 'wait', timeout: '1m' }],
    },
    limits: { shutdown_grace: '1s' },
    log: { level: 'debug' },
  };
  gw = await startGatewayProcess(configFile, config, workersListening(2));
});

after(async () => {
  for (const c of open) await c.end().catch(() => {});
  gw?.child.kill('SIGKILL');
  await issuer?.stop();
  await pgs?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('pgwarden start with workers: 2', () => {
  it('spreads sessions over both workers, each with its own audit chain', async () => {
    const clients = [];
    for (let i = 0; i < 4; i++) clients.push(await connect('agent'));
    assert.deepEqual(new Set(clients.map((c) => c.worker)), new Set([1, 2]), `workers of the sessions: ${clients.map((c) => c.worker)}`);
    for (const c of clients) assert.equal((await c.query('select count(*)::int as n from items')).rows[0].n, 5);
    await waitFor('a session record in both chains', () => {
      const rows = auditRows("select distinct instance from audit_records where type = 'session_start'");
      return rows.length === 2 ? rows : null;
    });
    assert.deepEqual(auditRows("select distinct instance from audit_records order by instance").map((r) => r.instance), ['gw-w1', 'gw-w2']);
    for (const c of clients) await c.end();
  });

  it('a CancelRequest taken by either worker cancels the session it names, and nothing else', async () => {
    const bystander = await connectOn(2, 'other');
    // A cancel lands on worker 1 or 2 in turn: two rounds, so one is routed to the other worker.
    for (let round = 0; round < 2; round++) {
      const target = await connectOn(1, 'agent');
      // Both handlers go on at once: the cancelled statement's error may come back before the
      // cancel connection closes, and a rejection without a handler fails the test by itself.
      const slow = bystander.query('select pg_sleep(1.5) as slept').then((r) => r.rows.length, (err: Error) => err.message);
      const started = Date.now();
      const running = assert.rejects(target.query('select pg_sleep(30)'), (e: any) => e.code === '57014');
      await new Promise((r) => setTimeout(r, 200));
      await sendCancel(port, target.key.pid, target.key.secret);
      await running;
      assert.ok(Date.now() - started < 5000, `cancelled at once (took ${Date.now() - started} ms)`);
      // A wrong secret for the bystander's pid cancels nothing.
      await sendCancel(port, bystander.key.pid, bystander.key.secret ^ 0x5a5a5a5a);
      assert.equal(await slow, 1, "the other worker's session was not cancelled");
      assert.equal((await target.query('select 1 as n')).rows[0].n, 1, 'the cancelled session goes on');
      await target.end();
    }
    assert.match(gw.stderr, /"worker":1[^\n]*"matched":true[^\n]*cancel request from another worker/, 'a cancel was routed through the primary to the owning worker');
    await bystander.end();
  });

  it('a revocation ends the subject’s sessions in both workers, and both refuse it afterwards', async () => {
    const onOne = await connectOn(1, 'victim');
    const onTwo = await connectOn(2, 'victim');
    const ended = [onOne, onTwo].map((c) => new Promise<void>((resolve) => c.once('end', () => resolve())));
    const admin = await issuer.sign({ sub: 'admin' });
    const r = await pgwarden(['revoke', '--subject', 'victim', '--url', `http://127.0.0.1:${httpPort}`], { PGWARDEN_TOKEN: admin });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'revoked victim: 2 open sessions terminated\n');
    await Promise.all(ended);
    for (let i = 0; i < 2; i++) {
      const c = new pg.Client({ host: '127.0.0.1', port, user: 'victim', password: await issuer.sign({ sub: 'victim' }), database: 'app' });
      await assert.rejects(c.connect(), /revoked/);
    }
    assert.equal(auditRows("select count(*) as n from revocations where subject = 'victim'")[0]?.n, 1, 'the durable list has it once');
  });

  it('a statement held in worker 2 runs once approved through the API served by worker 1', async () => {
    const migrator = await connectOn(2, 'migrator', ['migrators']);
    const held = migrator.query('truncate items');
    const dba = await issuer.sign({ sub: 'alice-dba', groups: ['dba'] });
    const api = async (path: string, body?: unknown) => {
      const res = await fetch(`http://127.0.0.1:${httpPort}/api/reviews${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { authorization: `Bearer ${dba}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, json: (await res.json()) as any };
    };
    const id = await waitFor('the pending review', async () => (await api('?status=pending')).json.reviews.find((x: any) => x.text.includes('truncate'))?.id, 10_000);
    assert.equal(pgs.psql('select count(*) from items', 'app').trim(), '5', 'nothing ran while held');
    const approved = await api(`/${id}/approve`, { comment: 'ok' });
    assert.equal(approved.status, 200, JSON.stringify(approved.json));
    await held;
    assert.equal(pgs.psql('select count(*) from items', 'app').trim(), '0', 'the approved statement ran');
    assert.equal((await api(`/${id}`)).json.status, 'consumed');
  });

  it('SIGHUP reloads both workers, and audit verify checks both chains', async () => {
    gw.child.kill('SIGHUP');
    const reloads = await waitFor('a config_reload record in both chains', () => {
      const rows = auditRows("select distinct instance from audit_records where type = 'event' and body like '%config_reload%' order by instance");
      return rows.length === 2 ? rows.map((r) => r.instance) : null;
    }, 10_000);
    assert.deepEqual(reloads, ['gw-w1', 'gw-w2']);
    const v = await pgwarden(['audit', 'verify', '--config', configFile]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^audit log OK: \d+ records in 2 chains/);
  });

  it('a worker killed with -9 is replaced; its sessions end, the other worker’s go on, its chain records the unclean end', async () => {
    const onOne = await connectOn(1, 'agent');
    const onTwo = await connectOn(2, 'agent');
    const ended = new Promise<void>((resolve) => onTwo.once('end', () => resolve()));
    const pid = Number(/"worker":2,"pid":(\d+)/.exec(gw.stderr)?.[1]);
    assert.ok(pid > 0, 'worker 2 logs its process id');
    const before = gw.stderr.length;
    process.kill(pid, 'SIGKILL');
    await ended;
    await waitFor('the worker to be replaced', () => gw.stderr.slice(before).includes('worker replaced and listening'), 20_000);
    assert.equal((await onOne.query('select 1 as n')).rows[0].n, 1, 'the session on worker 1 goes on');
    const again = await connectOn(2, 'agent');
    assert.equal((await again.query('select count(*)::int as n from items')).rows[0].n, 0);
    for (const c of [again, onOne]) await c.end();
    const unclean = auditRows("select instance from audit_records where type = 'event' and body like '%ended uncleanly%'").map((r) => r.instance);
    assert.deepEqual(unclean, ['gw-w2'], 'the new worker 2 closed the killed run in its own chain');
  });

  it('SIGTERM stops every worker and exits 0', async () => {
    gw.child.kill('SIGTERM');
    assert.equal(await gw.exited, 0);
    const ends = auditRows("select instance from audit_records where type = 'event' and body like '%gateway_stop%' order by instance").map((r) => r.instance);
    assert.deepEqual(ends, ['gw-w1', 'gw-w2']);
  });
});

describe('pgwarden start with workers: 2, primary killed', () => {
  it('the workers end their sessions and exit when the primary is killed with -9', async () => {
    const file = join(dir, 'killed.yaml');
    const config = JSON.parse(readFileSync(configFile, 'utf8'));
    port = await freePort();
    config.listen = { postgres: `127.0.0.1:${port}`, http: `127.0.0.1:${await freePort()}` };
    config.audit.instance = 'killed';
    writeFileSync(file, JSON.stringify(config));
    let err = '';
    const primary = spawn(process.execPath, [BIN, 'start', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    primary.stderr!.on('data', (d) => (err += d));
    try {
      await waitFor('both workers to listen', () => /"workers":2[^\n]*pgwarden listening/.test(err), 30_000);
      const pids = [1, 2].map((n) => Number(new RegExp(`"worker":${n},"pid":(\\d+)`).exec(err)?.[1]));
      const c = await connect('agent');
      const ended = new Promise<void>((resolve) => c.once('end', () => resolve()));
      primary.kill('SIGKILL');
      await ended;
      await waitFor('both workers to exit', () => pids.every((pid) => !alive(pid)), 15_000);
    } finally {
      primary.kill('SIGKILL');
    }
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
