/**
 * Human review of privileged statements, end to end with a real PostgreSQL and real clients:
 * in `wait` mode the statement runs once approved and never when rejected, expired or cancelled;
 * in `defer` mode it fails at once with the review id and runs once when re-run after approval;
 * an approval is for exactly one statement; nobody approves their own request; state survives a
 * gateway restart.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/wait.ts';
import { startTestIssuer, type TestIssuer } from '../helpers/issuer.ts';

let pgs: TestPostgres;
let t: TestGateway;
let dir: string;
let issuer: TestIssuer;

function configure(raw: Record<string, any>): void {
  raw.policies = [{ name: 'migrations', match: { groups: ['migrators', 'deferrers'] }, allow: [{ tables: ['public.*'], operations: 'all' }, { ddl: { schemas: ['public'] } }] }];
  raw.reviews = {
    store: `sqlite:${join(dir, 'reviews.db')}`,
    rules: [
      { name: 'destructive-wait', when: ['drop', 'truncate', 'delete_without_where'], match: { groups: ['migrators'] }, approvers: { groups: ['dba'] }, mode: 'wait', timeout: '4s' },
      { name: 'destructive-defer', when: ['drop', 'truncate', 'delete_without_where'], match: { groups: ['deferrers'] }, approvers: { groups: ['dba'] }, mode: 'defer', timeout: '1m', window: '1h' },
    ],
  };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-reviews-'));
  pgs = await startPostgres();
  pgs.psql("create role gw_app login password 'x'");
  pgs.psql('create database app owner gw_app');
  issuer = await startTestIssuer();
  t = await startTestGateway({ pg: pgs, config: configure, issuer });
});
after(async () => {
  await t?.stop();
  await issuer?.stop();
  await pgs?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const tableExists = (name: string) => pgs.psql(`select count(*) from pg_tables where tablename = '${name}'`, 'app').trim() === '1';
const rowCount = (name: string) => Number(pgs.psql(`select count(*) from ${name}`, 'app').trim());

async function api(path: string, token: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`http://${t.config.listen.http}/api/reviews${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

async function client(sub: string, groups: string[]): Promise<pg.Client & { notices: string[] }> {
  const c = new pg.Client(t.client(await t.issuer.sign({ sub, groups }))) as pg.Client & { notices: string[] };
  c.notices = [];
  c.on('notice', (n) => c.notices.push(n.message ?? ''));
  c.on('error', () => {});
  await c.connect();
  return c;
}

const dba = () => t.issuer.sign({ sub: 'alice-dba', groups: ['dba'] });

async function pendingId(c: { notices: string[] }): Promise<string> {
  const notice = await waitFor('the review notice', () => c.notices.find((n) => /held for review/.test(n)));
  return /review (r-[a-z0-9]+|\S+) under/.exec(notice)![1];
}

describe('wait mode', () => {
  it('an approved statement runs, once', async () => {
    pgs.psql('create table w1 (a int); alter table w1 owner to gw_app', 'app');
    const c = await client('migrator', ['migrators']);
    try {
      const running = c.query('drop table w1');
      running.catch(() => {}); // it settles while the test talks to the API
      const id = await pendingId(c);
      assert.ok(tableExists('w1'), 'nothing runs before approval');
      const ok = await api(`/${id}/approve`, await dba(), { comment: 'planned migration' });
      assert.equal(ok.status, 200, JSON.stringify(ok.json));
      await running;
      assert.ok(!tableExists('w1'), 'dropped after approval');
      const shown = await api(`/${id}`, await dba());
      assert.equal(shown.json.status, 'consumed');
      assert.equal(shown.json.approvals[0].comment, 'planned migration');
    } finally {
      await c.end();
    }
  });

  it('a rejected statement never runs', async () => {
    pgs.psql('create table w2 (a int); alter table w2 owner to gw_app', 'app');
    const c = await client('migrator', ['migrators']);
    try {
      const running = c.query('drop table w2');
      running.catch(() => {}); // it settles while the test talks to the API
      const id = await pendingId(c);
      assert.equal((await api(`/${id}/reject`, await dba(), { comment: 'not today' })).status, 200);
      await assert.rejects(running, (e: any) => e.code === '42501' && /rejected/.test(e.message) && /not today/.test(e.message));
      assert.ok(tableExists('w2'), 'still there');
      assert.equal((await c.query('select 1 as n')).rows[0].n, 1, 'the session goes on');
    } finally {
      await c.end();
    }
  });

  it('a request that times out never runs', async () => {
    pgs.psql('create table w3 (a int); insert into w3 values (1); alter table w3 owner to gw_app', 'app');
    const c = await client('migrator', ['migrators']);
    try {
      await assert.rejects(c.query('delete from w3'), (e: any) => e.code === '42501' && /expired/.test(e.message));
      assert.equal(rowCount('w3'), 1);
    } finally {
      await c.end();
    }
  });

  it('the client can cancel a statement waiting for review', async () => {
    pgs.psql('create table w4 (a int); alter table w4 owner to gw_app', 'app');
    const c = await client('migrator', ['migrators']);
    try {
      const running = c.query('truncate w4');
      running.catch(() => {}); // it settles while the test talks to the API
      await pendingId(c);
      const pid = (c as any).processID as number;
      const secret = (c as any).secretKey as number;
      const net = await import('node:net');
      const { encodeCancelRequest } = await import('../../src/protocol/index.ts');
      const key = Buffer.alloc(4);
      key.writeInt32BE(secret);
      await new Promise<void>((resolve) => {
        const s = net.connect(t.port, '127.0.0.1', () => s.end(encodeCancelRequest(pid, key)));
        s.on('close', () => resolve());
      });
      await assert.rejects(running, (e: any) => e.code === '57014');
      assert.ok(tableExists('w4'), 'nothing ran');
    } finally {
      await c.end();
    }
  });

  it('nobody approves their own request', async () => {
    pgs.psql('create table w5 (a int); alter table w5 owner to gw_app', 'app');
    const token = await t.issuer.sign({ sub: 'selfish', groups: ['migrators', 'dba'] });
    const c = new pg.Client(t.client(token)) as pg.Client & { notices: string[] };
    c.notices = [];
    c.on('notice', (n) => c.notices.push(n.message ?? ''));
    await c.connect();
    try {
      const running = c.query('drop table w5');
      running.catch(() => {}); // it settles while the test talks to the API
      const id = await pendingId(c);
      const self = await api(`/${id}/approve`, token, {});
      assert.equal(self.status, 403, JSON.stringify(self.json));
      assert.equal((await api(`/${id}/reject`, await dba(), {})).status, 200);
      await assert.rejects(running);
      assert.ok(tableExists('w5'), 'still there');
    } finally {
      await c.end();
    }
  });
});

describe('defer mode', () => {
  it('fails at once with the review id, runs once after approval, and an altered statement needs its own review', async () => {
    pgs.psql('create table d1 (a int); insert into d1 values (1), (2); alter table d1 owner to gw_app', 'app');
    const c = await client('deferrer', ['deferrers']);
    try {
      let id = '';
      await assert.rejects(c.query('delete from d1'), (e: any) => {
        id = /review (\S+) was requested/.exec(e.message)?.[1] ?? '';
        return e.code === '42501' && id !== '';
      });
      assert.equal(rowCount('d1'), 2, 'nothing ran');
      // Re-running before approval does not make a second request.
      await assert.rejects(c.query('delete from d1'), (e: any) => e.message.includes(id));
      assert.equal((await api(`/${id}/approve`, await dba(), {})).status, 200);
      // An altered statement is not covered by the approval.
      await assert.rejects(c.query('delete  from d1'), (e: any) => /needs approval/.test(e.message) && !e.message.includes(id));
      const r = await c.query('delete from d1');
      assert.equal(r.rowCount, 2);
      pgs.psql('insert into d1 values (3)', 'app');
      await assert.rejects(c.query('delete from d1'), (e: any) => /needs approval/.test(e.message), 'an approval runs its statement once');
      assert.equal(rowCount('d1'), 1);
    } finally {
      await c.end();
    }
  });

  it('an approval granted before a restart still works after it', async () => {
    pgs.psql('create table d2 (a int); alter table d2 owner to gw_app', 'app');
    let c = await client('deferrer', ['deferrers']);
    let id = '';
    await assert.rejects(c.query('drop table d2'), (e: any) => {
      id = /review (\S+) was requested/.exec(e.message)?.[1] ?? '';
      return id !== '';
    });
    await c.end();
    assert.equal((await api(`/${id}/approve`, await dba(), {})).status, 200);
    await t.stop();
    // The same issuer (and so the same identity) on a new gateway over the same review store.
    t = await startTestGateway({ pg: pgs, config: configure, issuer });
    c = await client('deferrer', ['deferrers']);
    try {
      await c.query('drop table d2');
      assert.ok(!tableExists('d2'), 'the approval survived the restart');
    } finally {
      await c.end();
    }
  });
});
