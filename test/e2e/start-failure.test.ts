/**
 * A gateway that cannot bind its HTTP port fails to start with the bind error and keeps nothing
 * it opened: the audit store's lock, upstream connections, listeners. The same process can start
 * it again once the port is free (an embedding process, a supervisor retrying, a test).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema, type GatewayConfig } from '../../src/config/schema.ts';
import { createLogger } from '../../src/log.ts';
import { startGateway } from '../../src/main.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { startTestIssuer, type TestIssuer } from '../helpers/issuer.ts';
import { allowEverything } from '../helpers/gateway.ts';

let pg: TestPostgres;
let issuer: TestIssuer;
let dir: string;

before(async () => {
  pg = await startPostgres();
  pg.psql(`create role gw_app login password 'up-secret'`);
  pg.psql('create database app owner gw_app');
  issuer = await startTestIssuer();
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-start-failure-'));
});

after(async () => {
  await issuer?.stop();
  await pg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const upstreamBackends = (): number => Number(pg.psql(`select count(*) from pg_stat_activity where usename = 'gw_app'`).trim());

/** Start with `port` taken by another listener: the start must fail with EADDRINUSE and leave no upstream connection. */
async function failsOnTakenPort(configFor: (port: number) => GatewayConfig): Promise<{ port: number; config: GatewayConfig }> {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as net.AddressInfo).port;
  const config = configFor(port);
  try {
    await assert.rejects(startGateway(config, { logger: createLogger('silent') }), (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE');
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
  // Its upstream connections are closed (the server may take a moment to see them go).
  for (let i = 0; i < 50 && upstreamBackends() > 0; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(upstreamBackends(), 0, 'the failed start left upstream connections open');
  return { port, config };
}

test('an HTTP port already taken: the start fails with EADDRINUSE, lets go of what it opened, and can be tried again', async () => {
  const { port, config } = await failsOnTakenPort((port) =>
    configSchema.parse({
      listen: { postgres: '127.0.0.1:0', http: `127.0.0.1:${port}` },
      // A pool that keeps an idle server connection open, and an audit store locked to its process.
      upstreams: { app: { url: `postgres://gw_app@127.0.0.1:${pg.port}/app`, password: 'up-secret', databases: ['app'], pool: { mode: 'transaction', size: 2, min_idle: 1 } } },
      identity: { issuers: [{ issuer: issuer.issuer, audience: issuer.audience }] },
      audit: { store: `sqlite:${join(dir, 'audit.db')}` },
      policies: [allowEverything([issuer.issuer])],
    }),
  );
  // The port is free now: the same process starts it, on the same audit store.
  const gw = await startGateway(config, { logger: createLogger('silent') });
  try {
    assert.equal(gw.http.port, port);
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  } finally {
    await gw.close(0);
  }
});

test('a Postgres port already taken: the start fails with EADDRINUSE, lets go of its stores and pools, and can be tried again', async () => {
  const { port, config } = await failsOnTakenPort((port) =>
    configSchema.parse({
      listen: { postgres: `127.0.0.1:${port}`, http: '127.0.0.1:0' },
      upstreams: { app: { url: `postgres://gw_app@127.0.0.1:${pg.port}/app`, password: 'up-secret', databases: ['app'], pool: { mode: 'transaction', size: 2, min_idle: 1 } } },
      identity: { issuers: [{ issuer: issuer.issuer, audience: issuer.audience }] },
      audit: { store: `sqlite:${join(dir, 'audit-pg-port.db')}` },
      reviews: { store: `sqlite:${join(dir, 'reviews-pg-port.db')}`, rules: [{ name: 'drops', when: ['drop'], approvers: { groups: ['dba'] } }] },
      policies: [allowEverything([issuer.issuer])],
    }),
  );
  // Both store files were let go: the same process takes them again.
  const gw = await startGateway(config, { logger: createLogger('silent') });
  try {
    assert.equal(gw.postgres.port, port);
  } finally {
    await gw.close(0);
  }
});
