import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { emptyShares, ownerOfPid, pidRange, resolveWorkers, share, shareCapacity, shareLimits, workerInstance, AUTO_WORKERS_CAP } from './shares.ts';

describe('worker shares', () => {
  it('auto takes the cores, at least 1 and at most the cap; a number is taken as is', () => {
    const cases: [Parameters<typeof resolveWorkers>[0], number, number][] = [
      ['auto', 1, 1],
      ['auto', 2, 2],
      ['auto', 64, AUTO_WORKERS_CAP],
      ['auto', 0, 1],
      [1, 16, 1],
      [3, 1, 3],
    ];
    for (const [setting, cores, expected] of cases) assert.equal(resolveWorkers(setting, cores), expected, `${setting} on ${cores} cores`);
    assert.throws(() => resolveWorkers(0, 2));
    assert.throws(() => resolveWorkers(65, 2));
  });

  it('the shares of a limit add up to the limit, and differ by at most one', () => {
    for (const count of [1, 2, 3, 4, 7, 8]) {
      for (const limit of [0, 1, 2, 3, 5, 16, 97, 200, 1000]) {
        const shares = Array.from({ length: count }, (_, i) => share(limit, i + 1, count));
        assert.equal(shares.reduce((a, b) => a + b, 0), limit, `${limit} over ${count}: ${shares}`);
        assert.ok(Math.max(...shares) - Math.min(...shares) <= 1, `${limit} over ${count}: ${shares}`);
      }
    }
    assert.equal(share(Infinity, 1, 2), Infinity);
  });

  it('each count limit is split; one worker keeps them whole', () => {
    const l = { max_connections: 1000, max_connections_per_source: 200, max_unauthenticated: 256, max_unauthenticated_per_source: 16, max_buffered_total: 1024, max_message_size: 99 };
    assert.equal(shareLimits(l, 1, 1), l);
    assert.deepEqual(shareLimits(l, 2, 2), { max_connections: 500, max_connections_per_source: 100, max_unauthenticated: 128, max_unauthenticated_per_source: 8, max_buffered_total: 512, max_message_size: 99 });
    assert.equal(shareLimits({ ...l, max_connections_per_identity: 5 }, 1, 2).max_connections_per_identity, 3);
    assert.equal(shareLimits({ ...l, max_connections_per_identity: 5 }, 2, 2).max_connections_per_identity, 2);
    assert.equal('max_connections_per_identity' in shareLimits(l, 1, 2), false, 'unset stays unset (half the worker’s capacity share)');
  });

  it('limits smaller than the number of workers are named: some worker gets none', () => {
    const l = { max_connections: 1000, max_connections_per_source: 200, max_unauthenticated: 256, max_unauthenticated_per_source: 16 };
    assert.deepEqual(emptyShares(l, 4), []);
    assert.deepEqual(emptyShares({ ...l, max_connections_per_identity: 3 }, 4), ['limits.max_connections_per_identity (3)']);
    assert.deepEqual(emptyShares({ ...l, max_connections_per_identity: 3 }, 1), []);
  });

  it('a learned capacity leaves one catalog connection per further worker', () => {
    assert.equal(shareCapacity(96, true, 1, 1), 96);
    assert.deepEqual([1, 2].map((n) => shareCapacity(96, true, n, 2)), [48, 47]);
    assert.deepEqual([1, 2].map((n) => shareCapacity(96, false, n, 2)), [48, 48]);
  });

  it('a cancel key names its worker, and the ranges do not overlap', () => {
    for (const n of [1, 2, 8, 64, 127]) {
      const { first, last } = pidRange(n);
      assert.equal(ownerOfPid(first), n);
      assert.equal(ownerOfPid(last), n);
      assert.ok(first > 0 && last <= 0x7fffffff, 'a positive int32, as BackendKeyData carries it');
      if (n > 1) assert.ok(pidRange(n - 1).last < first);
    }
    assert.throws(() => pidRange(0));
    assert.throws(() => pidRange(128));
  });

  it('a worker’s audit chain is named after the instance', () => {
    assert.equal(workerInstance('gw', 2), 'gw-w2');
  });
});
