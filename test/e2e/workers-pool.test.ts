/**
 * `pgwarden start` with `workers: 2` and a transaction pool of 2 server connections: the workers
 * share the pool's size (one connection each), so the gateway never holds more server
 * connections than `size`, however many sessions each worker runs.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import pg from 'pg';
import { ownerOfPid } from '../../src/cluster/index.ts';
import { allowEverything } from '../helpers/gateway.ts';
import { startTestIssuer, type TestIssuer } from '../helpers/issuer.ts';
import { freePort, startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { startGatewayProcess, workersListening, type GatewayProcess } from '../helpers/gateway-process.ts';

const dir = mkdtempSync(join(tmpdir(), 'pgwarden-workers-pool-'));
let pgs: TestPostgres;
let issuer: TestIssuer;
let gw: GatewayProcess;
let port: number;

before(async () => {
  pgs = await startPostgres();
  pgs.psql("create role gw_app login password 'gw-secret'");
  pgs.psql('create database app owner gw_app');
  issuer = await startTestIssuer();
  port = await freePort();
  gw = await startGatewayProcess(
    join(dir, 'pgwarden.yaml'),
    {
      workers: 2,
      listen: { postgres: `127.0.0.1:${port}`, http: `127.0.0.1:${await freePort()}` },
      upstreams: { app: { url: `postgres://gw_app@127.0.0.1:${pgs.port}/app`, password: 'gw-secret', pool: { mode: 'transaction', size: 2, max_client_wait: '10s' } } },
      identity: { issuers: [{ issuer: issuer.issuer, audience: issuer.audience }] },
      policies: [allowEverything([issuer.issuer])],
      audit: { store: 'sqlite:./audit.db', instance: 'gw' },
      limits: { shutdown_grace: '1s' },
    },
    workersListening(2),
    { cwd: dir },
  );
});

after(async () => {
  gw?.child.kill('SIGKILL');
  await gw?.exited;
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
