/**
 * Two `pgwarden start` processes, as a user runs them behind a load balancer, sharing one
 * PostgreSQL store in front of a real PostgreSQL: a revocation made through B's admin API ends
 * the subject's session on A within a second; A killed with -9 while a review it asked for is
 * pending, the review is approved on B and the statement re-run on B runs once.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { allowEverything } from '../helpers/gateway.ts';
import { startTestIssuer, type TestIssuer } from '../helpers/issuer.ts';
import { freePort, startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/wait.ts';

const BIN = fileURLToPath(new URL('../../bin/pgwarden.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pgwarden-instances-'));
let pgs: TestPostgres;
let issuer: TestIssuer;
const open: pg.Client[] = [];

interface Instance {
  name: string;
  port: number;
  httpPort: number;
  child: ChildProcess;
  stderr: string;
  exited: Promise<number | null>;
}
const instances: Instance[] = [];

async function startInstance(name: string): Promise<Instance> {
  const port = await freePort();
  const httpPort = await freePort();
  const store = `postgres://pgw_store@127.0.0.1:${pgs.port}/store`;
  const file = join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    JSON.stringify({
      listen: { postgres: `127.0.0.1:${port}`, http: `127.0.0.1:${httpPort}` },
      upstreams: { app: { url: `postgres://gw_app@127.0.0.1:${pgs.port}/app`, password: 'gw-secret' } },
      identity: { issuers: [{ issuer: issuer.issuer, audience: issuer.audience }], user_names: ['agent', 'victim'] },
      admin: { subjects: ['admin'] },
      policies: [allowEverything([issuer.issuer])],
      audit: { store, password: '${env:STORE_PASSWORD}', instance: name },
      reviews: { store, password: '${env:STORE_PASSWORD}', rules: [{ name: 'drops', when: ['drop'], approvers: { groups: ['dba'] }, mode: 'defer' }] },
      limits: { shutdown_grace: '1s' },
      log: { level: 'debug' },
    }),
  );
  const child = spawn(process.execPath, [BIN, 'start', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, STORE_PASSWORD: 'store-secret' } });
  const inst: Instance = { name, port, httpPort, child, stderr: '', exited: new Promise((resolve) => child.on('close', resolve)) };
  child.stderr!.on('data', (d) => (inst.stderr += d));
  instances.push(inst);
  // A start that fails, or is slow on a loaded machine, says what its log said.
  let exited = false;
  void inst.exited.then(() => (exited = true));
  await waitFor(`${name} to listen`, () => inst.stderr.includes('pgwarden listening') || exited, 60_000).catch((err) => {
    throw new Error(`${err.message}; its log ends:\n${inst.stderr.slice(-4000)}`);
  });
  if (!inst.stderr.includes('pgwarden listening')) throw new Error(`${name} exited before it listened; its log ends:\n${inst.stderr.slice(-4000)}`);
  return inst;
}

async function connect(i: Instance, sub: string): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port: i.port, user: sub, password: await issuer.sign({ sub }), database: 'app' });
  c.on('error', () => {});
  await c.connect();
  open.push(c);
  return c;
}

before(async () => {
  pgs = await startPostgres();
  pgs.psql("create role gw_app login password 'gw-secret'");
  pgs.psql('create database app owner gw_app');
  pgs.psql("create role pgw_store login password 'store-secret'");
  pgs.psql('create database store owner pgw_store');
  issuer = await startTestIssuer();
});

after(async () => {
  for (const c of open) await c.end().catch(() => {});
  for (const i of instances) i.child.kill('SIGKILL');
  await issuer?.stop();
  await pgs?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('two pgwarden start processes on one PostgreSQL store', () => {
  let a: Instance;
  let b: Instance;
  before(async () => {
    [a, b] = await Promise.all([startInstance('A'), startInstance('B')]);
  });

  it('a revocation made through B ends the subject’s session on A within a second', async () => {
    const onA = await connect(a, 'victim');
    const ended = new Promise<number>((resolve) => onA.once('end', () => resolve(Date.now())));
    const admin = await issuer.sign({ sub: 'admin' });
    const at = Date.now();
    const res = await fetch(`http://127.0.0.1:${b.httpPort}/admin/revocations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ subject: 'victim' }),
    });
    assert.equal(res.status, 200, await res.text());
    const took = (await ended) - at;
    assert.ok(took < 1000, `ended ${took} ms after the revocation was asked of B`);
    // A logs the revocation after it has ended the sessions it names: wait for the line.
    await waitFor('A to log the revocation', () => /subject revoked by another instance/.test(a.stderr), 5_000);
    const again = new pg.Client({ host: '127.0.0.1', port: a.port, user: 'victim', password: await issuer.sign({ sub: 'victim' }), database: 'app' });
    await assert.rejects(again.connect(), /revoked/);
  });

  it('A killed with -9 while its review is pending: approved on B, the re-run on B runs once', async () => {
    pgs.psql('create table doomed (id int); alter table doomed owner to gw_app', 'app');
    const onA = await connect(a, 'agent');
    const refused = await onA.query('drop table doomed').then(() => null, (e) => e);
    assert.equal(refused?.code, '42501');
    const id = /review (r-[a-z0-9]+)/.exec(refused.message)?.[1];
    assert.ok(id, refused.message);
    a.child.kill('SIGKILL');
    await a.exited;
    const dba = await issuer.sign({ sub: 'alice-dba', groups: ['dba'] });
    const res = await fetch(`http://127.0.0.1:${b.httpPort}/api/reviews/${id}/approve`, {
      method: 'POST',
      headers: { authorization: `Bearer ${dba}`, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(res.status, 200, await res.text());
    const onB = await connect(b, 'agent');
    await onB.query('drop table doomed');
    assert.equal(pgs.psql("select count(*) from pg_tables where tablename = 'doomed'", 'app').trim(), '0', 'it ran');
    pgs.psql('create table doomed (id int); alter table doomed owner to gw_app', 'app');
    const second = await onB.query('drop table doomed').then(() => null, (e) => e);
    assert.equal(second?.code, '42501', 'the approval was used up: a second run needs a new review');
    assert.equal(pgs.psql("select count(*) from pg_tables where tablename = 'doomed'", 'app').trim(), '1', 'the second run did nothing');
    assert.equal(pgs.psql(`select status from pgwarden_reviews where id = '${id}'`, 'store').trim(), 'consumed');
  });
});
