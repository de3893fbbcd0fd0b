import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../errors.ts';
import { MemoryAuditStore } from '../store/memory-audit-store.ts';
import { silentLogger } from '../log.ts';
import { memoryAudit } from './memory.ts';
import { AuditWriter } from './writer.ts';
import { toAuditRecord } from './chain.ts';
import { sessionStart, statement, statementEnd } from './test-events.ts';
import { verifyStore } from './verify.ts';

describe('group commit', () => {
  test('100 concurrent statements share a handful of transactions and all resolve committed', async () => {
    const audit = memoryAudit({ groupCommitMs: 2 });
    const ids = await Promise.all(Array.from({ length: 100 }, (_, i) => audit.statement(statement(`s${i % 7}`, i, `SELECT ${i}`))));
    assert.equal(new Set(ids).size, 100, 'every statement gets its own id');
    assert.ok(audit.commits >= 1 && audit.commits <= 5, `100 statements took ${audit.commits} transactions`);
    const stored = new Set(audit.records().map((r) => r.id));
    for (const id of ids) assert.ok(stored.has(id), `statement ${id} resolved but is not in the store`);
    assert.equal((await verifyStore(audit.store)).ok, true, 'the chain verifies');
  });

  test('statements arriving while a commit runs go in the next one together', async () => {
    const audit = memoryAudit({ groupCommitMs: 0 });
    const first = audit.statement(statement('s', 1, 'SELECT 1'));
    await new Promise((r) => setImmediate(r));
    const rest = Array.from({ length: 20 }, (_, i) => audit.statement(statement('s', i + 2, `SELECT ${i}`)));
    await Promise.all([first, ...rest]);
    assert.ok(audit.commits <= 3, `21 statements took ${audit.commits} transactions`);
  });

  test('a statement resolves only after its record is in the store', async () => {
    const audit = memoryAudit({ groupCommitMs: 5 });
    const p = audit.statement(statement('s', 1, 'SELECT 1'));
    assert.equal(audit.records().length, 0, 'nothing is stored before the group commit');
    const id = await p;
    assert.equal(audit.records()[0]?.id, id);
  });
});

describe('when the store cannot take records', () => {
  test('fail closed: statement() rejects with audit.unavailable and the chain has no hole', async () => {
    const audit = memoryAudit();
    await audit.sessionStart(sessionStart('s1'));
    audit.journal.failWrites = 'disk full';
    await assert.rejects(audit.statement(statement('s1', 1, 'DELETE FROM orders')), (err: unknown) => {
      assert.ok(err instanceof GatewayError, 'a GatewayError');
      assert.equal(err.code, 'audit.unavailable');
      assert.match(err.message, /disk full/);
      assert.match(err.message, /not run/);
      return true;
    });
    audit.journal.failWrites = null;
    const id = await audit.statement(statement('s1', 2, 'SELECT 1'));
    const recs = audit.records();
    // The outage itself is on record, written with the first commit after it.
    assert.deepEqual(recs.map((r) => r.seq), [1, 2, 3]);
    assert.deepEqual(recs.map((r) => r.type), ['session_start', 'event', 'statement']);
    assert.equal(recs[1].data.kind, 'audit_store_unavailable');
    assert.equal(recs[2].id, id);
    assert.equal((await verifyStore(audit.store)).ok, true, 'the chain verifies after the failure');
  });

  test('outcomes queued during a failure are written once the store is back', async () => {
    const audit = memoryAudit();
    const id = await audit.statement(statement('s1', 1, 'SELECT 1'));
    audit.journal.failWrites = 'database unreachable';
    audit.statementEnd(statementEnd(id, 's1'));
    audit.sessionEnd({ sessionId: 's1', at: Date.now(), reason: 'client closed' });
    await audit.flush();
    assert.equal(audit.records().length, 1, 'nothing new while failing');
    audit.journal.failWrites = null;
    await audit.flush();
    assert.deepEqual(audit.records().map((r) => r.type), ['statement', 'statement_end', 'session_end', 'event']);
  });

  test('fail open: statement() resolves, and its record is written later', async () => {
    const audit = memoryAudit({ failClosed: false });
    audit.journal.failWrites = 'disk full';
    const id = await audit.statement(statement('s1', 1, 'SELECT 1'));
    assert.equal(audit.records().length, 0);
    audit.journal.failWrites = null;
    await audit.flush();
    assert.equal(audit.records()[0]?.id, id);
  });

  test('after close, statement() rejects instead of running unaudited', async () => {
    const audit = memoryAudit();
    await audit.close();
    await assert.rejects(audit.statement(statement('s', 1, 'SELECT 1')), /audit log is closed/);
  });
});

describe('readiness of the store', () => {
  test('not writable while commits fail, with the reason; writable again without any new statement', async () => {
    const audit = memoryAudit();
    await audit.sessionStart(sessionStart('s1'));
    assert.deepEqual(audit.status(), { writable: true });
    audit.journal.failWrites = 'disk full';
    await assert.rejects(audit.statement(statement('s1', 1, 'SELECT 1')));
    const down = audit.status();
    assert.equal(down.writable, false);
    assert.match(down.reason ?? '', /cannot write: .*disk full/);
    audit.journal.failWrites = null;
    // The queued record of the outage is retried every second: that notices the recovery.
    const until = Date.now() + 3000;
    while (!audit.status().writable && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(audit.status(), { writable: true });
    assert.ok(audit.records().some((r) => r.data.kind === 'audit_store_unavailable'), 'the outage is recorded');
    await audit.close();
  });

  test('a session start the store cannot take is refused saying so, not as a statement', async () => {
    const audit = memoryAudit();
    audit.journal.failWrites = 'disk full';
    await assert.rejects(audit.sessionStart(sessionStart('s1')), (err: unknown) => {
      assert.ok(err instanceof GatewayError);
      assert.equal(err.code, 'audit.unavailable');
      assert.match(err.message, /could not record the start of the session \(.*disk full\), so the connection was refused/);
      assert.doesNotMatch(err.message, /statement/);
      assert.match(err.hint ?? '', /no session starts/);
      return true;
    });
    audit.journal.failWrites = null;
    await audit.close();
  });
});

describe('a previous run that ended uncleanly', () => {
  const options = (store: MemoryAuditStore) => ({ store, instance: 'gw1', logger: silentLogger(), groupCommitMs: 0, failClosed: true, captureResults: 'none' as const, captureRows: 0, retentionMs: 0 });

  test('its open sessions are ended and its forwarded statements without outcome marked unknown', async () => {
    const store = new MemoryAuditStore();
    const first = await AuditWriter.open(options(store));
    first.event({ kind: 'gateway_start', at: Date.now(), details: {} });
    await first.sessionStart(sessionStart('done'));
    first.sessionEnd({ sessionId: 'done', at: Date.now(), reason: 'client closed' });
    await first.sessionStart(sessionStart('open', 'analyst'));
    const finished = await first.statement(statement('open', 1, 'SELECT 1'));
    first.statementEnd(statementEnd(finished, 'open'));
    await first.statement(statement('open', 2, 'DELETE FROM orders', { decision: { verdict: 'deny', message: 'no' } }));
    const inFlight = await first.statement(statement('open', 3, 'UPDATE orders SET total = 0'));
    await first.flush();
    // The process dies here: no gateway_stop, no session end, no outcome.
    const second = await AuditWriter.open(options(store));
    const found = await second.closeUncleanRun();
    assert.deepEqual(found && { sessions: found.sessions, statements: found.statements }, { sessions: 1, statements: 1 });
    const recs = store.rows().map(toAuditRecord);
    const after = recs.slice(recs.findIndex((r) => r.data.kind === 'previous_run_unclean'));
    assert.equal(after[0].type, 'event');
    const end = after.find((r) => r.type === 'statement_end');
    assert.equal(end?.data.id, inFlight);
    assert.equal(end?.data.outcome, 'unknown');
    const sessionEnd = after.find((r) => r.type === 'session_end');
    assert.equal(sessionEnd?.sessionId, 'open');
    assert.equal(sessionEnd?.data.reason, 'the gateway ended uncleanly');
    assert.equal((sessionEnd?.data.identity as { subject: string }).subject, 'analyst');
    assert.equal(after.filter((r) => r.type === 'session_end' || r.type === 'statement_end').length, 2, 'nothing else is closed');
    assert.equal((await verifyStore(store)).ok, true);
    // A clean stop: the next run finds nothing to close.
    second.event({ kind: 'gateway_stop', at: Date.now(), details: {} });
    await second.flush();
    const third = await AuditWriter.open(options(store));
    assert.equal(await third.closeUncleanRun(), null);
  });
});
