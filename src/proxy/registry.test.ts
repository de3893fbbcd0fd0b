import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SessionRegistry, type Limits } from './registry.ts';

const limits: Limits = { max_connections: 10, max_connections_per_source: 6, max_unauthenticated: 4, max_unauthenticated_per_source: 2 };

/** A socket signing in: what the registry did with it. */
function socket(registry: SessionRegistry, source: string) {
  const s = { started: false, evicted: false, release: () => {}, stop: () => {} };
  s.stop = registry.signIn(
    source,
    () => (s.evicted = true),
    (release) => {
      s.started = true;
      s.release = release;
    },
  );
  return s;
}

describe('sockets signing in', () => {
  it('over the per-source limit wait their turn, first come first served, instead of being refused', () => {
    const registry = new SessionRegistry(() => limits);
    const [a, b, c, d] = [0, 1, 2, 3].map(() => socket(registry, 'x'));
    assert.deepEqual([a.started, b.started, c.started, d.started], [true, true, false, false]);
    assert.equal(registry.waitingConnections, 2);
    a.release();
    assert.deepEqual([c.started, d.started], [true, false], 'the first waiting socket took the slot');
    a.release(); // a second release gives nothing back twice
    assert.equal(d.started, false);
    c.release();
    assert.equal(d.started, true);
    assert.equal(registry.waitingConnections, 0);
    assert.equal(registry.pendingConnections, 2);
  });

  it('a socket that stops waiting (closed, timed out) leaves the queue and is never started', () => {
    const registry = new SessionRegistry(() => limits);
    const [a] = [socket(registry, 'x'), socket(registry, 'x')];
    const gone = socket(registry, 'x');
    const next = socket(registry, 'x');
    gone.stop();
    a.release();
    assert.deepEqual([gone.started, next.started], [false, true]);
  });

  it('a source may have as many waiting as it could still have sessions; beyond that the socket is refused', () => {
    const registry = new SessionRegistry(() => limits);
    registry.openConnection('x');
    registry.openConnection('x');
    for (let i = 0; i < 2 + 4; i++) socket(registry, 'x'); // 2 signing in, 4 waiting: 6 per source less 2 sessions
    assert.throws(
      () => socket(registry, 'x'),
      (e: any) => e.sqlstate === '53300' && /too many connections still signing in from x \(limit 2, and 4 waiting\)/.test(e.message),
    );
    // Another source is not affected by x's queue.
    assert.equal(socket(registry, 'y').started, true);
  });

  it('all sources together may have as many waiting as the gateway could still take sessions', () => {
    const registry = new SessionRegistry(() => ({ ...limits, max_unauthenticated: 100, max_connections: 5 }));
    for (const src of ['x', 'y', 'z']) for (let i = 0; i < 2; i++) socket(registry, src);
    for (const src of ['x', 'y']) for (let i = 0; i < 2; i++) socket(registry, src);
    socket(registry, 'z');
    assert.equal(registry.waitingConnections, 5);
    assert.throws(() => socket(registry, 'z'), (e: any) => e.sqlstate === '53300');
  });

  it('a full budget evicts the oldest signing in, and the eviction starts none of its waiting sockets', () => {
    const registry = new SessionRegistry(() => limits);
    const [x1, x2] = [socket(registry, 'x'), socket(registry, 'x')];
    const xWaiting = socket(registry, 'x');
    const [y1, y2] = [socket(registry, 'y'), socket(registry, 'y')];
    assert.equal(registry.pendingConnections, 4);
    const z = socket(registry, 'z'); // the budget (4) is full: x1 goes
    assert.deepEqual([x1.evicted, x2.evicted, y1.evicted, y2.evicted, z.started], [true, false, false, false, true]);
    assert.equal(xWaiting.started, false, 'an eviction does not cascade through the waiting sockets');
    x2.release(); // x's own sign-in ends: its waiting socket goes
    assert.equal(xWaiting.started, true);
  });
});
