/**
 * `pgwarden start` with `workers: 2` and a transaction pool of 2 server connections: the workers
 * share the pool's size (one connection each), so the gateway never holds more server
 * connections than `size`, however many sessions each worker runs.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { ownerOfPid } from '../../src/cluster/index.ts';
import { allowEverything } from '../helpers/gateway.ts';
import { startTestIssuer, type TestIssuer } from '../helpers/issuer.ts';
import { freePort, startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/wait.ts';

const BIN = fileURLToPath(new URL('../../bin/pgwarden.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pgwarden-workers-pool-'));
let pgs: TestPostgres;
let issuer: TestIssuer;
let child: ChildProcess;
let exited: Promise<number | null>;
let stderr = '';
let port: number;

before(async () => {
  pgs = await startPostgres();
  pgs.psql("create role gw_app login password 'gw-secret'");
  pgs.psql('create database app owner gw_app');
  issuer = await startTestIssuer();
  port = await freePort();
  const file = join(dir, 'pgwarden.yaml');
  writeFileSync(
    file,
    JSON.stringify({
      workers: 2,
      listen: { postgres: `127.0.0.1:${port}`, http: `127.0.0.1:${await freePort()}` },
      upstreams: { app: { url: `postgres://gw_app@127.0.0.1:${pgs.port}/app`, password: 'gw-secret', pool: { mode: 'transaction', size: 2, max_client_wait: '10s' } } },
      identity: { issuers: [{ issuer: issuer.issuer, audience: issuer.audience }] },
      policies: [allowEverything([issuer.issuer])],
      audit: { store: 'sqlite:./audit.db', instance: 'gw' },
      limits: { shutdown_grace: '1s' },
    }),
  );
  child = spawn(process.execPath, [BIN, 'start', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir });
  child.stderr!.on('data', (d) => (stderr += d));
  exited = new Promise((resolve) => child.on('close', resolve));
  await waitFor('both workers to listen', () => /"workers":2[^\n]*pgwarden listening/.test(stderr), 30_000);
});

after(async () => {
  child?.kill('SIGKILL');
  await exited;
  await issuer?.stop();
  await pgs?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('two workers share a pool of two: never more than two server connections', async () => {
  const clients: pg.Client[] = [];
  for (let i = 0; i < 8; i++) {
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'agent', password: await issuer.sign({ sub: `agent-${i}` }), database: 'app' });
    c.on('error', () => {});
    await c.connect();
    clients.push(c);
  }
  try {
    const workers = new Set(clients.map((c) => ownerOfPid((c as unknown as { processID: number }).processID)));
    assert.deepEqual(workers, new Set([1, 2]), 'sessions on both workers');
    const backends = () => Number(pgs.psql("select count(*) from pg_stat_activity where usename = 'gw_app' and backend_type = 'client backend' and application_name not like 'pgwarden-%'", 'app').trim());
    let most = 0;
    let running = true;
    const sampler = (async () => {
      while (running) {
        most = Math.max(most, backends());
        await new Promise((r) => setTimeout(r, 30));
      }
    })();
    // Every session holds a server connection for a while, all at once.
    await Promise.all(clients.map((c) => c.query('begin').then(() => c.query('select pg_sleep(0.3)')).then(() => c.query('commit'))));
    running = false;
    await sampler;
    assert.ok(most >= 1, 'the sampler saw the pool at work');
    assert.ok(most <= 2, `server connections held at once: ${most} (pool size 2)`);
  } finally {
    for (const c of clients) await c.end().catch(() => {});
  }
});
