import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GatewayError } from '../errors.ts';
import type { Identity } from '../identity/types.ts';
import type { SqlSession } from '../upstream/index.ts';
import { UpstreamCapacities, capacityFrom, readServerLimits } from './capacity.ts';
import { SessionRegistry, identityLimit } from './registry.ts';

describe('upstream capacity', () => {
  const cases: [string, Parameters<typeof capacityFrom>[0], number][] = [
    ['PostgreSQL defaults: 100 less 3 reserved less the catalog reader', { maxConnections: 100, reserved: 3, roleLimit: -1, databaseLimit: -1 }, 96],
    ['reserved_connections (16+) counts too', { maxConnections: 100, reserved: 3 + 10, roleLimit: -1, databaseLimit: -1 }, 86],
    ["the role's CONNECTION LIMIT bounds it", { maxConnections: 100, reserved: 3, roleLimit: 20, databaseLimit: -1 }, 19],
    ["the database's CONNECTION LIMIT bounds it", { maxConnections: 100, reserved: 3, roleLimit: 50, databaseLimit: 10 }, 9],
    ['never below one', { maxConnections: 5, reserved: 5, roleLimit: -1, databaseLimit: 0 }, 1],
  ];
  for (const [name, limits, expected] of cases) it(name, () => assert.equal(capacityFrom(limits), expected));

  it('per identity: configured as is, else half the capacity, at least 1', () => {
    assert.equal(identityLimit({}, 96), 48);
    assert.equal(identityLimit({}, 7), 3);
    assert.equal(identityLimit({}, 1), 1);
    assert.equal(identityLimit({ max_connections_per_identity: 70 }, 10), 70);
  });

  const session = (rows: (string | null)[][]): SqlSession => ({ query: async () => rows, close: async () => {} });

  it('reads the server limits and learns once', async () => {
    let connects = 0;
    const caps = new UpstreamCapacities({
      configured: (n) => (n === 'fixed' ? 7 : undefined),
      connect: async () => {
        connects++;
        return session([['100', '3', '0', '-1', '-1']]);
      },
    });
    assert.equal(await caps.get('fixed'), 7);
    assert.equal(connects, 0);
    const [a, b] = await Promise.all([caps.get('app'), caps.get('app')]);
    assert.deepEqual([a, b, connects], [96, 96, 1]);
    assert.equal(caps.peek('app'), 96);
    caps.forget();
    assert.equal(caps.peek('app'), undefined);
  });

  it('fails closed when the limits cannot be read or the upstream is down', async () => {
    await assert.rejects(readServerLimits(session([['many', '3', '0', '-1', '-1']])), /unexpected connection limit/);
    const unreadable = new UpstreamCapacities({ configured: () => undefined, connect: async () => session([]) });
    await assert.rejects(unreadable.get('app'), (e: any) => e instanceof GatewayError && e.sqlstate === '08006' && /max_connections/.test(e.hint ?? ""));
    const down = new UpstreamCapacities({ configured: () => undefined, connect: async () => Promise.reject(new Error('ECONNREFUSED')) });
    await assert.rejects(down.get('app'), (e: any) => e instanceof GatewayError && e.code === 'upstream.unavailable');
  });

  it('the registry counts sessions per identity and per upstream and releases them once', () => {
    const registry = new SessionRegistry(() => ({ max_connections: 100, max_connections_per_source: 100, max_unauthenticated: 10, max_unauthenticated_per_source: 10 }));
    const id = (subject: string) => ({ issuer: 'i', subject }) as Identity;
    const a1 = registry.admit(id('a'), 'app', 4);
    registry.admit(id('a'), 'app', 4);
    assert.throws(() => registry.admit(id('a'), 'app', 4), (e: any) => e.sqlstate === '53300' && /limit 2, half the capacity of upstream "app"/.test(e.message));
    registry.admit(id('b'), 'app', 4);
    registry.admit(id('c'), 'app', 4);
    assert.throws(() => registry.admit(id('d'), 'app', 4), (e: any) => e.sqlstate === '53300' && /upstream "app" has no free connections \(limit 4\)/.test(e.message));
    assert.equal(registry.upstreamSessions('app'), 4);
    a1();
    a1();
    assert.equal(registry.upstreamSessions('app'), 3);
    registry.admit(id('d'), 'app', 4);
    // Another upstream has its own count.
    registry.admit(id('d'), 'other', 4);
  });
});

describe('cancel keys under workers', () => {
  const limits = () => ({ max_connections: 100, max_connections_per_source: 100, max_unauthenticated: 10, max_unauthenticated_per_source: 10 });
  const identity = { issuer: 'i', subject: 's', groups: [] } as unknown as Identity;

  it('mints pids from its range; a key outside it is forwarded, never matched here', () => {
    const forwarded: [number, string][] = [];
    const registry = new SessionRegistry(limits, { first: 0x02000001, last: 0x02ffffff, forward: (pid, secret) => forwarded.push([pid, secret.toString('hex')]) });
    let cancelled = 0;
    const keys = Array.from({ length: 50 }, () => registry.register({ identity, terminate: () => {}, cancel: () => void cancelled++ }));
    for (const k of keys) assert.ok(k.pid >= 0x02000001 && k.pid <= 0x02ffffff, `pid ${k.pid.toString(16)}`);
    assert.equal(new Set(keys.map((k) => k.pid)).size, 50);
    // The same low bits under another worker's high byte: not this session's key.
    const other = (keys[0].pid & 0xffffff) | 0x01000000;
    assert.equal(registry.cancel(other, keys[0].secret), false);
    assert.deepEqual(forwarded, [[other, keys[0].secret.toString('hex')]]);
    assert.equal(cancelled, 0);
    assert.equal(registry.cancel(keys[0].pid, Buffer.from([0, 0, 0, 0]).equals(keys[0].secret) ? Buffer.from([1, 1, 1, 1]) : Buffer.from([0, 0, 0, 0])), false);
    assert.equal(cancelled, 0, 'a wrong secret cancels nothing');
    assert.equal(registry.cancel(keys[0].pid, keys[0].secret), true);
    assert.equal(cancelled, 1);
    assert.equal(forwarded.length, 1);
  });

  it('wraps within its range', () => {
    const registry = new SessionRegistry(limits, { first: 0x01000001, last: 0x01000003, forward: () => {} });
    const pids = Array.from({ length: 3 }, () => registry.register({ identity, terminate: () => {}, cancel: () => {} }).pid);
    assert.deepEqual([...pids].sort(), [0x01000001, 0x01000002, 0x01000003]);
  });
});
