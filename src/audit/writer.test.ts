import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GatewayError } from '../errors.ts';
import { memoryAudit } from './memory.ts';
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
    audit.store.failWrites = 'disk full';
    await assert.rejects(audit.statement(statement('s1', 1, 'DELETE FROM orders')), (err: unknown) => {
      assert.ok(err instanceof GatewayError, 'a GatewayError');
      assert.equal(err.code, 'audit.unavailable');
      assert.match(err.message, /disk full/);
      assert.match(err.message, /not run/);
      return true;
    });
    audit.store.failWrites = null;
    const id = await audit.statement(statement('s1', 2, 'SELECT 1'));
    const recs = audit.records();
    assert.deepEqual(recs.map((r) => r.seq), [1, 2]);
    assert.equal(recs[1].id, id);
    assert.equal((await verifyStore(audit.store)).ok, true, 'the chain verifies after the failure');
  });

  test('outcomes queued during a failure are written once the store is back', async () => {
    const audit = memoryAudit();
    const id = await audit.statement(statement('s1', 1, 'SELECT 1'));
    audit.store.failWrites = 'database unreachable';
    audit.statementEnd(statementEnd(id, 's1'));
    audit.sessionEnd({ sessionId: 's1', at: Date.now(), reason: 'client closed' });
    await audit.flush();
    assert.equal(audit.records().length, 1, 'nothing new while failing');
    audit.store.failWrites = null;
    await audit.flush();
    assert.deepEqual(audit.records().map((r) => r.type), ['statement', 'statement_end', 'session_end']);
  });

  test('fail open: statement() resolves, and its record is written later', async () => {
    const audit = memoryAudit({ failClosed: false });
    audit.store.failWrites = 'disk full';
    const id = await audit.statement(statement('s1', 1, 'SELECT 1'));
    assert.equal(audit.records().length, 0);
    audit.store.failWrites = null;
    await audit.flush();
    assert.equal(audit.records()[0]?.id, id);
  });

  test('after close, statement() rejects instead of running unaudited', async () => {
    const audit = memoryAudit();
    await audit.close();
    await assert.rejects(audit.statement(statement('s', 1, 'SELECT 1')), /audit log is closed/);
  });
});
