/**
 * A session gives its server connection back through its upstream lease, saying in what state it
 * leaves it, and never closes the connection itself. Sessions here are opened through the engine's
 * one entry point (`openSession`) over a real lease on a real PostgreSQL, with a client on an
 * in-memory channel; the lease's releases are recorded.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Duplex } from 'node:stream';
import { OPEN_GATE, PINNED_UPSTREAM_SETTINGS, channelPair, openSession, type EngineDeps } from '../../src/engine/index.ts';
import { silentLogger } from '../../src/log.ts';
import { BE, MessageFramer, decodeFields, encodeQuery, TERMINATE } from '../../src/protocol/index.ts';
import { ScramKeyCache, openLease, targetFromUrl, type ReleaseMode, type UpstreamLease, type UpstreamTarget } from '../../src/upstream/index.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/wait.ts';

/** The client end of a session: every backend message it received, in order. */
class Client {
  readonly got: { tag: string; frame: Buffer }[] = [];
  closed = false;
  private readonly framer = new MessageFramer(1 << 24);

  constructor(readonly end: Duplex) {
    end.on('data', (c: Buffer) => this.framer.push(c, (tag, frame) => this.got.push({ tag: String.fromCharCode(tag), frame: Buffer.from(frame) })));
    end.on('close', () => (this.closed = true));
    end.on('end', () => (this.closed = true));
    end.on('error', () => {});
  }

  /** Send a Query and wait for its ReadyForQuery; the transaction status it reports. */
  async query(sql: string): Promise<string> {
    const seen = this.got.filter((m) => m.tag === 'Z').length;
    this.end.write(encodeQuery(sql));
    const z = await waitFor(`ReadyForQuery after ${sql}`, () => this.got.filter((m) => m.tag === 'Z')[seen]);
    return String.fromCharCode(z.frame[5]);
  }
}

let pg: TestPostgres;
let target: UpstreamTarget;
const scram = new ScramKeyCache();
let n = 0;

before(async () => {
  pg = await startPostgres();
  target = targetFromUrl('test', `postgres://${pg.user}@127.0.0.1:${pg.port}/postgres`, { password: pg.password, tls: { mode: 'disable' }, connectTimeoutMs: 5000 });
});
after(async () => {
  await pg?.stop();
});

/** A session through openSession; `modes` records every release of its lease. */
async function session(): Promise<{ client: Client; modes: ReleaseMode[]; lease: UpstreamLease; app: string; backends(): number }> {
  const app = `release-test-${++n}`;
  const modes: ReleaseMode[] = [];
  const lease = await openLease(target, { application_name: app, ...PINNED_UPSTREAM_SETTINGS }, scram);
  const release = lease.release.bind(lease);
  lease.release = (mode) => {
    modes.push(mode);
    release(mode);
  };
  const deps: EngineDeps = {
    logger: silentLogger(),
    limits: { max_message_size: 1 << 20 },
    expiryGraceMs: 0,
    sessionParts: async () => ({ gate: OPEN_GATE }),
    sessions: { register: () => ({ pid: 1, secret: Buffer.alloc(4), unregister: () => {} }) },
  };
  const [clientEnd, serverEnd] = channelPair();
  const client = new Client(clientEnd);
  await openSession(
    {
      client: serverEnd,
      clientLeftover: null,
      identity: { issuer: 'https://idp.test', issuerName: 'test', subject: 'agent-1', groups: [], claims: {}, expiresAt: Date.now() + 3_600_000 },
      database: 'postgres',
      route: { upstream: 'test', target },
      startupParams: new Map([['application_name', app]]),
      source: 'test',
      tls: false,
      via: 'test',
      upstream: lease,
    },
    deps,
  );
  await waitFor('the greeting', () => client.got.some((m) => m.tag === 'Z'));
  const backends = () => Number(pg.psql(`select count(*) from pg_stat_activity where application_name = '${app}'`).trim());
  return { client, modes, lease, app, backends };
}

describe('a session releases its upstream lease', () => {
  it('clean after the client says Terminate between statements; the server connection is closed', async () => {
    const s = await session();
    assert.equal(await s.client.query('select 1'), 'I');
    assert.equal(s.backends(), 1);
    s.client.end.write(TERMINATE);
    await waitFor('the release', () => s.modes.length > 0);
    assert.equal(s.modes[0], 'clean');
    await waitFor('the backend to exit', () => s.backends() === 0);
    await waitFor('the client end to close', () => s.client.closed);
    // The session releases again when the closed connection ends it: the first release decides.
    assert.equal(s.lease.released, 'clean');
  });

  it('dirty when the client leaves inside a transaction; the server rolls it back', async () => {
    pg.psql('create table if not exists release_t (v int)');
    const s = await session();
    assert.equal(await s.client.query('begin'), 'T');
    assert.equal(await s.client.query('insert into release_t values (1)'), 'T');
    s.client.end.destroy();
    await waitFor('the release', () => s.modes.length > 0);
    assert.deepEqual(s.modes, ['dirty']);
    assert.equal(s.lease.released, 'dirty');
    await waitFor('the backend to exit', () => s.backends() === 0);
    assert.equal(pg.psql('select count(*) from release_t').trim(), '0', 'nothing of the open transaction stayed');
  });

  it('dirty when the client leaves while a statement runs', async () => {
    const s = await session();
    s.client.end.write(encodeQuery('select pg_sleep(30)'));
    await waitFor('the statement to run', () => Number(pg.psql(`select count(*) from pg_stat_activity where application_name = '${s.app}' and state = 'active'`).trim()) === 1);
    s.client.end.destroy();
    await waitFor('the release', () => s.modes.length > 0);
    assert.deepEqual(s.modes, ['dirty']);
  });

  it('broken when the server ends the connection; the client gets the server’s FATAL and nothing of the gateway’s', async () => {
    const s = await session();
    assert.equal(await s.client.query('select 1'), 'I');
    pg.psql(`select pg_terminate_backend(pid) from pg_stat_activity where application_name = '${s.app}'`);
    await waitFor('the release', () => s.modes.length > 0);
    assert.deepEqual(s.modes, ['broken']);
    assert.equal(s.lease.released, 'broken');
    await waitFor('the client end to close', () => s.client.closed);
    const errors = s.client.got.filter((m) => m.tag === String.fromCharCode(BE.ErrorResponse)).map((m) => decodeFields(m.frame));
    assert.deepEqual(errors.map((f) => f.C), ['57P01']);
  });

  it('a lease whose connection does not hold the pinned settings is released broken and the session refused', async () => {
    const app = `release-test-${++n}`;
    const modes: ReleaseMode[] = [];
    // client_encoding not pinned: the server reports its default, which differs from UTF8 here.
    const lease = await openLease(target, { application_name: app, client_encoding: 'LATIN1' }, scram);
    const release = lease.release.bind(lease);
    lease.release = (mode) => {
      modes.push(mode);
      release(mode);
    };
    const [, serverEnd] = channelPair();
    await assert.rejects(
      openSession(
        {
          client: serverEnd,
          clientLeftover: null,
          identity: { issuer: 'https://idp.test', issuerName: 'test', subject: 'agent-1', groups: [], claims: {}, expiresAt: Date.now() + 3_600_000 },
          database: 'postgres',
          route: { upstream: 'test', target },
          startupParams: new Map(),
          source: 'test',
          tls: false,
          via: 'test',
          upstream: lease,
        },
        {
          logger: silentLogger(),
          limits: { max_message_size: 1 << 20 },
          expiryGraceMs: 0,
          sessionParts: async () => assert.fail('no parts for a refused session'),
          sessions: { register: () => assert.fail('a refused session is not registered') },
        },
      ),
      (err: Error & { code?: string; sqlstate?: string }) => err.code === 'upstream.unavailable' && err.sqlstate === '08006',
    );
    assert.deepEqual(modes, ['broken']);
    await waitFor('the backend to exit', () => pg.psql(`select count(*) from pg_stat_activity where application_name = '${app}'`).trim() === '0');
  });
});
