/**
 * A gateway for end-to-end tests: a throwaway PostgreSQL with an application database and a
 * dedicated upstream role whose password only the gateway holds, a test issuer, and the gateway
 * on free ports. Log lines are kept in memory so tests can check what was (and was not) logged.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pg from 'pg';
import { configSchema, type GatewayConfig } from '../../src/config/schema.ts';
import { createLogger } from '../../src/log.ts';
import { startGateway, type Gateway } from '../../src/main.ts';
import { startPostgres, freePort, type TestPostgres, type StartOptions } from './postgres.ts';
import { startTestIssuer, type TestIssuer } from './issuer.ts';

export interface TestGateway {
  pg: TestPostgres;
  issuer: TestIssuer;
  gw: Gateway;
  config: GatewayConfig;
  /** The password of the upstream role (held by the gateway; clients never get it). */
  upstreamPassword: string;
  port: number;
  /** Connection settings for a client with this token. */
  client(token: string, database?: string): { host: string; port: number; user: string; password: string; database: string };
  url(token: string, database?: string): string;
  /** Direct connection string to the upstream (for comparisons), as the same role. */
  directUrl(database?: string): string;
  logs: string[];
  stop(): Promise<void>;
}

export interface TestGatewayOptions {
  postgres?: StartOptions;
  /** Change the raw config object before it is validated. */
  config?: (raw: Record<string, any>) => void;
  /** Reuse a running PostgreSQL instead of starting one. */
  pg?: TestPostgres;
  /** Reuse a running test issuer (e.g. across a gateway restart) instead of starting one. */
  issuer?: TestIssuer;
  /** Tests of a full audit store: see StartOptions.auditMaxPageCount. */
  auditMaxPageCount?: number;
}

/** A policy that grants every table, function, DDL, DCL and session permission. */
export function allowEverything(issuers: string[]): Record<string, unknown> {
  return {
    name: 'everything',
    match: { issuers },
    allow: [
      { tables: ['*.*'], operations: 'all' },
      { functions: ['*.*'] },
      { ddl: { schemas: ['*'] } },
      { session: ['listen', 'notify', 'lock', 'custom_settings'] },
      { dcl: true },
      { do_blocks: ['plpgsql'] },
    ],
  };
}

const UPSTREAM_PASSWORDS = new WeakMap<TestPostgres, string>();

export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const pg = options.pg ?? (await startPostgres(options.postgres));
  // Gateways sharing one cluster share the upstream role's password: a second gateway must not
  // change it under the first one's feet.
  const known = UPSTREAM_PASSWORDS.get(pg);
  const upstreamPassword = known ?? `up-${Math.random().toString(36).slice(2)}-secret`;
  if (!options.pg) {
    pg.psql(`create role gw_app login password '${upstreamPassword}'`);
    pg.psql('create database app owner gw_app');
  } else if (!known) {
    pg.psql(`alter role gw_app password '${upstreamPassword}'`);
  }
  UPSTREAM_PASSWORDS.set(pg, upstreamPassword);
  const issuer = options.issuer ?? (await startTestIssuer());
  let started: { gw: Gateway; config: GatewayConfig } | undefined;
  const logs: string[] = [];
  try {
    // The HTTP port is picked free before the gateway binds it (configs name it, e.g. an issuer
    // URL), so another process may take it in between: such a start is tried again on a new port.
    for (let attempt = 1; !started; attempt++) {
      const config = configFor(await freePort(), pg, upstreamPassword, issuer, options);
      try {
        started = { config, gw: await startGateway(config, { logger: createLogger('debug', logSink(logs)), auditMaxPageCount: options.auditMaxPageCount }) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt === 5) throw err;
      }
    }
  } catch (err) {
    // A failed start leaves nothing running behind it: the test's after hook has no gateway to stop.
    if (!options.issuer) await issuer.stop();
    if (!options.pg) await pg.stop();
    throw err;
  }
  const { gw, config } = started;
  const port = gw.postgres.port;
  return {
    pg,
    issuer,
    gw,
    config,
    upstreamPassword,
    port,
    logs,
    client: (token, database = 'app') => ({ host: '127.0.0.1', port, user: 'agent', password: token, database }),
    url: (token, database = 'app') => `postgres://agent:${encodeURIComponent(token)}@127.0.0.1:${port}/${database}`,
    directUrl: (database = 'app') => `postgres://gw_app:${encodeURIComponent(upstreamPassword)}@127.0.0.1:${pg.port}/${database}`,
    async stop() {
      await gw.close(0);
      if (!options.issuer) await issuer.stop();
      if (!options.pg) await pg.stop();
    },
  };
}

function logSink(logs: string[]): Writable {
  return new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
}

function configFor(httpPort: number, pg: TestPostgres, upstreamPassword: string, issuer: TestIssuer, options: TestGatewayOptions): GatewayConfig {
  const raw: Record<string, any> = {
    listen: { postgres: `127.0.0.1:0`, http: `127.0.0.1:${httpPort}` },
    upstreams: {
      app: { url: `postgres://gw_app@127.0.0.1:${pg.port}/app`, password: upstreamPassword, databases: ['app'] },
    },
    identity: { issuers: [{ issuer: issuer.issuer, audience: issuer.audience }] },
    admin: { groups: ['pgwarden-admins'] },
    log: { level: 'debug' },
  };
  options.config?.(raw);
  // PGWARDEN_TEST_POOL=session|transaction: run a test's gateway behind a pool of that mode (a
  // sweep of the suites through pooling; a test that configures its own pool keeps it).
  const poolMode = process.env.PGWARDEN_TEST_POOL;
  if (poolMode) for (const up of Object.values(raw.upstreams as Record<string, Record<string, unknown>>)) up.pool ??= { mode: poolMode, size: 4 };
  // Tests of the relay itself run under a policy that grants everything to every trusted issuer;
  // scope tests set their own `policies`.
  raw.policies ??= [allowEverything(raw.identity.issuers.map((i: { issuer: string }) => i.issuer))];
  // The audit log is kept in memory unless a test names a store.
  raw.audit ??= { store: 'memory' };
  return configSchema.parse(raw);
}

/** The error a pg client gets when it tries to connect with `token` (fails if it connects). */
export async function connectRefusal(t: TestGateway, token: string): Promise<any> {
  const c = new pg.Client(t.client(token));
  try {
    await c.connect();
  } catch (err) {
    return err;
  } finally {
    await c.end().catch(() => {});
  }
  assert.fail('the connection was accepted');
}

/**
 * pg clients signed in to a gateway, each with its own token for `sub`, and ended together by
 * `endAll` (for an `after` hook), with any other client given to `track`. Errors an ended backend
 * raises on an idle client are ignored.
 */
export function gatewayClients(gateway: () => TestGateway): { connect(sub: string): Promise<pg.Client>; track(c: { end(): Promise<unknown> }): void; endAll(): Promise<void> } {
  const open: { end(): Promise<unknown> }[] = [];
  return {
    /** Another client (direct, postgres.js) to end with the rest. */
    track(c) {
      open.push(c);
    },
    async connect(sub) {
      const t = gateway();
      const c = new pg.Client(t.client(await t.issuer.sign({ sub })));
      c.on('error', () => {});
      await c.connect();
      open.push(c);
      return c;
    },
    async endAll() {
      for (const c of open.splice(0)) await c.end().catch(() => {});
    },
  };
}
