/**
 * The review service over a real SQLite store (in memory, or a file for restarts): approvals are
 * single use and bound to the exact statement, counts need distinct approvers, nobody approves
 * their own request, timers expire what nobody decided, and a restart keeps everything.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { silentLogger } from '../log.ts';
import { ReviewService } from './service.ts';
import { bindingOf, eventually, identity, memoryEvents, requestFor, rule, sha256 } from './test-support.ts';
import { ReviewError } from './types.ts';

const dir = mkdtempSync(join(tmpdir(), 'pgwarden-reviews-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const migrator = identity('migrator', ['migrations']);
const alice = identity('alice', ['dba']);
const bob = identity('bob', ['dba']);
const mallory = identity('mallory', ['sales']);

async function open(o: { store?: string; audit?: ReturnType<typeof memoryEvents> } = {}): Promise<ReviewService> {
  return ReviewService.open({ store: o.store ?? 'memory', webhooks: [] }, { logger: silentLogger(), baseDir: dir, audit: o.audit });
}

async function refused(p: Promise<unknown>, code: string): Promise<ReviewError> {
  try {
    await p;
  } catch (err) {
    assert.equal(err instanceof ReviewError, true, `expected a ReviewError, got ${String(err)}`);
    assert.equal((err as ReviewError).code, code);
    return err as ReviewError;
  }
  assert.fail(`expected a ReviewError ${code}`);
}

describe('ReviewService', () => {
  test('two services on one store: a decision in one is told by `settled`, and `changed` wakes the waiter in the other', async () => {
    const store = `sqlite:${join(dir, 'shared.db')}`;
    const told: string[] = [];
    const holder = await ReviewService.open({ store, webhooks: [] }, { logger: silentLogger(), baseDir: dir });
    const decider = await ReviewService.open({ store, webhooks: [] }, { logger: silentLogger(), baseDir: dir, settled: (id) => told.push(id) });
    try {
      const r = await holder.request(requestFor('DROP TABLE orders', migrator, { mode: 'wait' }), rule({ mode: 'wait' }));
      let heard: string | undefined;
      const waiting = holder.waitFor(r.id).then((x) => (heard = x.status));
      holder.changed(r.id);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(heard, undefined, 'still pending: changed() wakes nobody');
      await decider.approve(r.id, alice);
      assert.deepEqual(told, [r.id]);
      holder.changed(r.id);
      await waiting;
      assert.equal(heard, 'approved');
      assert.equal((await holder.consume(r.id))?.status, 'consumed', 'the holder consumes the approval made in the other');
    } finally {
      await holder.close();
      await decider.close();
    }
  });

  test('a request is pending with a short typable id, the requester, the statement and its approvers', async () => {
    const s = await open();
    const r = await s.request(requestFor('DROP TABLE orders', migrator), rule());
    assert.match(r.id, /^r-[2-9a-z]{5}$/);
    assert.equal(r.status, 'pending');
    assert.deepEqual(r.identity, { issuer: migrator.issuer, subject: 'migrator', groups: ['migrations'] });
    assert.deepEqual(r.approvers, { groups: ['dba'], subjects: [], count: 1 });
    assert.equal(Date.parse(r.expiresAt) - Date.parse(r.createdAt), 15 * 60_000);
    assert.deepEqual(await s.get(r.id), r);
    assert.equal(await s.get('r-zzzzz'), null);
    await s.close();
  });

  test('wait: a review whose client left is abandoned; waiters hear it, approving it is refused, and it is never consumed', async () => {
    const events = memoryEvents();
    const s = await open({ audit: events });
    const r = await s.request(requestFor('DROP TABLE orders', migrator, { mode: 'wait' }), rule({ mode: 'wait' }));
    const waiting = s.waitFor(r.id);
    const abandoned = await s.abandon(r.id);
    assert.equal(abandoned?.status, 'abandoned');
    assert.ok(abandoned?.abandonedAt);
    assert.equal((await waiting).status, 'abandoned');
    const e = await refused(s.approve(r.id, alice), 'already_decided');
    assert.match(e.message, /abandoned/);
    await refused(s.reject(r.id, alice), 'already_decided');
    assert.equal(await s.consume(r.id), null);
    assert.equal((await s.get(r.id))?.status, 'abandoned');
    assert.equal((await s.list({ status: 'abandoned' })).length, 1);
    assert.equal(events.events.at(-1)?.kind, 'review_abandoned');
    // Only a pending review can be abandoned: a decided one keeps its outcome.
    const d = await s.request(requestFor('DROP TABLE x', migrator, { mode: 'wait' }), rule({ mode: 'wait' }));
    await s.reject(d.id, alice);
    assert.equal(await s.abandon(d.id), null);
    assert.equal((await s.get(d.id))?.status, 'rejected');
    await s.close();
  });

  test('defer: approved once → consumed once', async () => {
    const events = memoryEvents();
    const s = await open({ audit: events });
    const req = requestFor('DROP TABLE orders', migrator);
    const r = await s.request(req, rule());
    const approved = await s.approve(r.id, alice, 'checked with the owner');
    assert.equal(approved.status, 'approved');
    assert.equal(approved.approvals.length, 1);
    assert.equal(approved.approvals[0].by, 'alice');
    assert.equal(approved.approvals[0].comment, 'checked with the owner');
    assert.equal(Date.parse(approved.approvedUntil!) - Date.parse(approved.approvedAt!), 3_600_000);

    const used = await s.consumeApproval(bindingOf(req));
    assert.equal(used?.id, r.id);
    assert.equal(used?.status, 'consumed');
    assert.equal(typeof used?.consumedAt, 'string');
    assert.equal(await s.consumeApproval(bindingOf(req)), null, 'an approval is used once');
    assert.deepEqual(
      events.events.map((e) => e.kind),
      ['review_requested', 'review_approved', 'review_consumed'],
    );
    assert.equal(events.events[1].actor, 'alice');
    assert.equal(events.events[0].sessionId, 'session-1');
    await s.close();
  });

  test('binding: another statement, parameters, resolution, database or identity finds no approval', async () => {
    const s = await open();
    const req = requestFor('DELETE FROM orders WHERE id = $1', migrator, { params: '42' });
    const r = await s.request(req, rule());
    await s.approve(r.id, alice);
    const b = bindingOf(req);
    const others = [
      { ...b, bytesSha256: sha256('DELETE FROM orders WHERE id = $1 ') },
      { ...b, paramsSha256: sha256('43') },
      { ...b, resolutionSha256: sha256('other') },
      { ...b, database: 'other' },
      { ...b, subject: 'someone-else' },
      { ...b, issuer: 'https://other-idp.example.com' },
    ];
    for (const q of others) assert.equal(await s.consumeApproval(q), null, `no approval for ${JSON.stringify(q)}`);
    assert.equal((await s.consumeApproval(b))?.id, r.id, 'the exact statement still has its approval');
    await s.close();
  });

  test('pendingFor finds the request already made for exactly this statement', async () => {
    const s = await open();
    const req = requestFor('TRUNCATE orders', migrator);
    const r = await s.request(req, rule());
    assert.equal((await s.pendingFor(bindingOf(req)))?.id, r.id);
    assert.equal(await s.pendingFor({ ...bindingOf(req), database: 'other' }), null);
    assert.equal(await s.consumeApproval(bindingOf(req)), null, 'pending is not approved');
    await s.approve(r.id, alice);
    assert.equal(await s.pendingFor(bindingOf(req)), null, 'approved is no longer pending');
    await s.close();
  });

  test('count 2 needs two distinct approvers', async () => {
    const s = await open();
    const req = requestFor('DROP TABLE orders', migrator);
    const r = await s.request(req, rule({ approvers: { groups: ['dba'], count: 2 } }));
    const once = await s.approve(r.id, alice);
    assert.equal(once.status, 'pending');
    assert.equal(once.approvals.length, 1);
    assert.equal(await s.consumeApproval(bindingOf(req)), null, 'one approval of two is not enough');
    await refused(s.approve(r.id, alice), 'already_approved');
    const twice = await s.approve(r.id, bob, 'second pair of eyes');
    assert.equal(twice.status, 'approved');
    assert.deepEqual(
      twice.approvals.map((a) => a.by),
      ['alice', 'bob'],
    );
    await s.close();
  });

  test('self-approval and approval by a non-approver are refused', async () => {
    const s = await open();
    // The requester is itself in the approvers' group: still not allowed to approve its own request.
    const dbaAgent = identity('dba-bot', ['dba']);
    const r = await s.request(requestFor('DROP TABLE orders', dbaAgent), rule());
    const self = await refused(s.approve(r.id, dbaAgent), 'self_approval');
    assert.match(self.message, /may not decide its own review/);
    await refused(s.reject(r.id, dbaAgent), 'self_approval');
    const outsider = await refused(s.approve(r.id, mallory), 'not_approver');
    assert.match(outsider.hint ?? '', /group dba/);
    assert.equal((await s.get(r.id))?.status, 'pending');
    // The same subject from another issuer is another principal.
    const sameNameElsewhere = identity('dba-bot', ['dba'], 'https://humans.example.com');
    assert.equal((await s.approve(r.id, sameNameElsewhere)).status, 'approved');
    await s.close();
  });

  test('reject: recorded with who, when and why; never approvable or usable after', async () => {
    const events = memoryEvents();
    const s = await open({ audit: events });
    const req = requestFor('DROP TABLE orders', migrator, { mode: 'wait' });
    const r = await s.request(req, rule({ mode: 'wait' }));
    const waiting = s.waitFor(r.id);
    const rejected = await s.reject(r.id, alice, 'not during business hours');
    assert.equal(rejected.status, 'rejected');
    assert.equal(rejected.rejection?.by, 'alice');
    assert.equal(rejected.rejection?.comment, 'not during business hours');
    assert.equal((await waiting).status, 'rejected');
    await refused(s.approve(r.id, bob), 'already_decided');
    await refused(s.reject(r.id, bob), 'already_decided');
    assert.equal(await s.consume(r.id), null);
    assert.equal(events.events.at(-1)?.kind, 'review_rejected');
    await s.close();
  });

  test('wait: waitFor resolves when approved; consume releases it once', async () => {
    const s = await open();
    const r = await s.request(requestFor('DROP TABLE orders', migrator, { mode: 'wait' }), rule({ mode: 'wait', approvers: { groups: ['dba'], count: 2 } }));
    let settled = false;
    const waiting = s.waitFor(r.id).finally(() => (settled = true));
    await s.approve(r.id, alice);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false, 'one approval of two does not end the wait');
    await s.approve(r.id, bob);
    assert.equal((await waiting).status, 'approved');
    assert.equal((await s.waitFor(r.id)).status, 'approved', 'a decided review resolves at once');
    assert.equal((await s.consume(r.id))?.status, 'consumed');
    assert.equal(await s.consume(r.id), null);
    assert.equal(await s.consumeApproval(bindingOf(requestFor('DROP TABLE orders', migrator))), null, 'a wait approval is not a defer approval');
    await s.close();
  });

  test('waitFor rejects on abort and the review stays pending; unknown ids are refused', async () => {
    const s = await open();
    const r = await s.request(requestFor('DROP TABLE orders', migrator, { mode: 'wait' }), rule({ mode: 'wait' }));
    const ac = new AbortController();
    const waiting = s.waitFor(r.id, ac.signal);
    ac.abort(new Error('client cancelled'));
    await assert.rejects(waiting, /client cancelled/);
    assert.equal((await s.get(r.id))?.status, 'pending');
    await refused(s.waitFor('r-nope1'), 'not_found');
    await refused(s.approve('r-nope1', alice), 'not_found');
    await s.close();
  });

  test('expiry: an undecided request expires at its timeout; waiters hear it; it cannot be approved', async () => {
    const events = memoryEvents();
    const s = await open({ audit: events });
    const req = requestFor('DROP TABLE orders', migrator, { mode: 'wait' });
    const r = await s.request(req, rule({ mode: 'wait', timeout: 0.05 }));
    const outcome = await s.waitFor(r.id);
    assert.equal(outcome.status, 'expired');
    assert.equal(typeof outcome.expiredAt, 'string');
    await refused(s.approve(r.id, alice), 'expired');
    assert.equal(await s.pendingFor(bindingOf(req)), null);
    assert.equal(events.events.at(-1)?.kind, 'review_expired');
    await s.close();
  });

  test('expiry: an approval unused for its window expires', async () => {
    const s = await open();
    const req = requestFor('DROP TABLE orders', migrator);
    const r = await s.request(req, rule({ window: 0.05 }));
    await s.approve(r.id, alice);
    await eventually(async () => (await s.get(r.id))?.status === 'expired', 5000, 'the approval to expire');
    assert.equal(await s.consumeApproval(bindingOf(req)), null);
    await s.close();
  });

  test('list: newest first, by status, with a limit', async () => {
    const s = await open();
    const a = await s.request(requestFor('DROP TABLE a', migrator), rule());
    await new Promise((r) => setTimeout(r, 5));
    const b = await s.request(requestFor('DROP TABLE b', migrator), rule());
    await s.reject(a.id, alice);
    assert.deepEqual(
      (await s.list()).map((r) => r.id),
      [b.id, a.id],
    );
    assert.deepEqual(
      (await s.list({ status: 'pending' })).map((r) => r.id),
      [b.id],
    );
    assert.equal((await s.list({ limit: 1 })).length, 1);
    await s.close();
  });

  test('restart keeps reviews and approvals; what expired while down expires at open', async () => {
    const store = `sqlite:${join(dir, 'restart', 'reviews.db')}`;
    const first = await open({ store });
    const deferred = requestFor('DROP TABLE orders', migrator);
    const approved = await first.request(deferred, rule());
    await first.approve(approved.id, alice, 'go ahead');
    const pending = await first.request(requestFor('TRUNCATE customers', migrator, { mode: 'wait' }), rule({ mode: 'wait' }));
    const shortLived = await first.request(requestFor('DROP TABLE customers', migrator), rule({ timeout: 0.05 }));
    await first.close();
    await new Promise((r) => setTimeout(r, 80));

    const events = memoryEvents();
    const second = await open({ store, audit: events });
    assert.equal((await second.get(pending.id))?.status, 'pending', 'a pending wait review stays pending; nothing ran it');
    assert.equal((await second.get(shortLived.id))?.status, 'expired', 'swept at open');
    assert.equal(
      events.events.filter((e) => e.kind === 'review_expired').length,
      1,
    );
    const used = await second.consumeApproval(bindingOf(deferred));
    assert.equal(used?.id, approved.id, 'a defer approval granted before the restart works after it');
    assert.equal(used?.approvals[0].comment, 'go ahead');
    await second.close();

    const third = await open({ store });
    assert.equal(await third.consumeApproval(bindingOf(deferred)), null, 'and stays used');
    await third.close();
  });

  test('a closed service refuses calls and ends waits', async () => {
    const s = await open();
    const r = await s.request(requestFor('DROP TABLE orders', migrator, { mode: 'wait' }), rule({ mode: 'wait' }));
    const waiting = s.waitFor(r.id);
    await s.close();
    await refused(waiting, 'closed');
    await refused(s.get(r.id), 'closed');
  });
});
