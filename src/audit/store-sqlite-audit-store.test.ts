import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { auditSchema, loadReplay, openAudit, verifyStore, type OpenedAudit } from './index.ts';
import { sessionStart, statement, statementEnd } from './test-events.ts';
import { GatewayError } from '../errors.ts';
import { silentLogger } from '../log.ts';
import { openSqliteAuditStore } from '../store/sqlite-audit-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'pgwarden-audit-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

async function open(extra: Record<string, unknown> = {}, maxPageCount?: number): Promise<{ audit: OpenedAudit; path: string }> {
  const path = join(dir, `audit-${++n}.db`);
  const cfg = auditSchema.parse({ store: `sqlite:${path}`, capture_results: 'masked', retention: 0, ...extra });
  return { audit: await openAudit(cfg, { logger: silentLogger(), instance: 'gw1', maxPageCount }), path };
}

/** A session of five statements with outcomes: 1 start, 5 statements, 5 ends, 1 end = 12 records. */
async function populate(audit: OpenedAudit, sessionId = 's1', subject = 'analyst', t0 = Date.now()): Promise<string[]> {
  await audit.sessionStart(sessionStart(sessionId, subject, t0));
  const texts = ['SELECT * FROM orders', 'SELECT * FROM customers', 'DELETE FROM orders', 'UPDATE orders SET x = 1', 'SELECT 1'];
  const ids: string[] = [];
  for (const [i, text] of texts.entries()) {
    const deny = text.startsWith('DELETE');
    const table = text.includes('customers') ? 'public.customers' : text.includes('orders') ? 'public.orders' : null;
    const id = await audit.statement(
      statement(sessionId, i + 1, text, {
        at: t0 + (i + 1) * 100,
        decision: deny ? { verdict: 'deny', rule: 'analysts', message: 'analyst may not delete from public.orders' } : { verdict: 'allow', rule: 'analysts' },
        analysis: { command: text.split(' ')[0].toLowerCase(), class: 'read', tables: table ? [table] : [] },
      }),
    );
    ids.push(id);
    audit.statementEnd(statementEnd(id, sessionId, { at: t0 + (i + 1) * 100 + 5, capture: { columns: ['id'], rows: [[String(i)]], truncated: false } }));
  }
  audit.sessionEnd({ sessionId, at: t0 + 1000, reason: 'client closed' });
  await audit.flush();
  return ids;
}

function tamper(path: string, sql: string, ...args: unknown[]): void {
  const db = new Database(path);
  db.prepare(sql).run(...args);
  db.close();
}

describe('SQLite audit store', () => {
  test('WAL mode', async () => {
    const { audit, path } = await open();
    await populate(audit);
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
    await audit.close();
  });

  test('verify passes on an untouched log', async () => {
    const { audit } = await open();
    await populate(audit);
    const v = await audit.verify();
    assert.equal(v.ok, true, `verify: ${v.problem?.message}`);
    assert.equal(v.records, 12);
    await audit.close();
  });

  test('flipping one byte of a stored record fails verify and names the record', async () => {
    const { audit, path } = await open();
    const ids = await populate(audit);
    await audit.close();
    // DELETE → DELETF in the hashed body of the third statement, as a disk editor would.
    const db = new Database(path);
    const row = db.prepare('SELECT body FROM audit_records WHERE id = ?').get(ids[2]) as { body: string };
    const buf = Buffer.from(row.body);
    const at = buf.indexOf('DELETE') + 5;
    buf[at] ^= 0x03;
    db.prepare('UPDATE audit_records SET body = ? WHERE id = ?').run(buf.toString(), ids[2]);
    db.close();
    const store = await openSqliteAuditStore(path, { readOnly: true });
    const v = await verifyStore(store);
    await store.close();
    assert.equal(v.ok, false, 'verify fails');
    assert.equal(v.problem?.id, ids[2]);
    assert.equal(v.problem?.kind, 'edited');
  });

  test('deleting a row fails verify at the gap', async () => {
    const { audit, path } = await open();
    const ids = await populate(audit);
    await audit.close();
    const seq = (new Database(path).prepare('SELECT seq FROM audit_records WHERE id = ?').get(ids[1]) as { seq: number }).seq;
    tamper(path, 'DELETE FROM audit_records WHERE id = ?', ids[1]);
    const store = await openSqliteAuditStore(path, { readOnly: true });
    const v = await verifyStore(store);
    await store.close();
    assert.equal(v.problem?.kind, 'removed');
    assert.equal(v.problem?.seq, seq + 1);
  });

  test('swapping two rows fails verify as reordered', async () => {
    const { audit, path } = await open();
    await populate(audit);
    await audit.close();
    const db = new Database(path);
    db.exec('UPDATE audit_records SET seq = -1 WHERE seq = 4; UPDATE audit_records SET seq = 4 WHERE seq = 5; UPDATE audit_records SET seq = 5 WHERE seq = -1;');
    db.close();
    const store = await openSqliteAuditStore(path, { readOnly: true });
    const v = await verifyStore(store);
    await store.close();
    assert.equal(v.problem?.kind, 'reordered');
    assert.equal(v.problem?.seq, 4);
  });

  test('a full disk makes statement() reject with audit.unavailable, and the log stays valid', async () => {
    const { audit } = await open({}, 40);
    await audit.sessionStart(sessionStart('s1'));
    let refused: unknown = null;
    const big = 'x'.repeat(20_000);
    for (let i = 0; i < 200 && !refused; i++) {
      try {
        await audit.statement(statement('s1', i, `SELECT '${big}'`));
      } catch (err) {
        refused = err;
      }
    }
    assert.ok(refused instanceof GatewayError, `a full store refuses the statement (got ${String(refused)})`);
    assert.equal(refused.code, 'audit.unavailable');
    assert.match(refused.message, /full/);
    const v = await audit.verify();
    assert.equal(v.ok, true, `verify after the failure: ${v.problem?.message}`);
    await audit.close();
  });

  test('retention deletes old records and the chain verifies from its anchor', async () => {
    const { audit } = await open({ retention: '1d' });
    const old = Date.now() - 3 * 86_400_000;
    await populate(audit, 'old', 'analyst', old);
    await populate(audit, 'new', 'analyst', Date.now());
    const deleted = await audit.retain();
    assert.equal(deleted, 12);
    assert.equal((await audit.store.search({ sessionId: 'old' })).length, 0);
    const v = await audit.verify();
    assert.equal(v.ok, true, `verify after retention: ${v.problem?.message}`);
    // The 12 kept, and the retention record that vouches for the anchor.
    assert.equal(v.records, 13);
    assert.equal((await audit.store.anchor('gw1'))?.seq, 12);
    // Appending after retention continues the chain.
    await audit.statement(statement('new', 9, 'SELECT 2'));
    assert.equal((await audit.verify()).ok, true, 'verify after appending past the anchor');
    await audit.close();
  });

  test('search filters by identity, time, table, decision and text', async () => {
    const { audit } = await open();
    const t0 = Date.now() - 60_000;
    await populate(audit, 'a', 'alice', t0);
    await populate(audit, 'b', 'bob', t0 + 10_000);
    const s = audit.store;
    const texts = async (q: Parameters<typeof s.search>[0]) => (await s.search({ types: ['statement'], ...q })).map((r) => `${r.subject}:${r.text}`);
    assert.equal((await texts({ identity: 'alice' })).length, 5);
    assert.deepEqual(await texts({ decision: 'deny' }), ['alice:DELETE FROM orders', 'bob:DELETE FROM orders']);
    assert.deepEqual(await texts({ table: 'public.customers' }), ['alice:SELECT * FROM customers', 'bob:SELECT * FROM customers']);
    assert.equal((await texts({ table: 'orders' })).length, 6);
    assert.deepEqual(await texts({ text: 'update', identity: 'bob' }), ['bob:UPDATE orders SET x = 1']);
    assert.deepEqual(await texts({ since: t0 + 10_000, decision: 'deny' }), ['bob:DELETE FROM orders']);
    assert.deepEqual(await texts({ until: t0 + 10_000, decision: 'deny' }), ['alice:DELETE FROM orders']);
    assert.deepEqual(await texts({ text: '50%' }), []);
    await audit.close();
  });

  test('replay returns a session in order, each statement with its outcome and capture', async () => {
    const { audit } = await open();
    const t0 = Date.now() - 5000;
    const ids = await populate(audit, 'r', 'carol', t0);
    await populate(audit, 'other', 'dave', t0 + 50);
    const replay = await loadReplay(audit.store, 'r');
    assert.ok(replay, 'the session is found');
    assert.deepEqual(replay.steps.map((s) => s.record.type), ['session_start', 'statement', 'statement', 'statement', 'statement', 'statement', 'session_end']);
    assert.deepEqual(replay.steps.filter((s) => s.record.type === 'statement').map((s) => s.record.id), ids);
    assert.deepEqual(replay.steps.map((s) => s.offsetMs), [0, 100, 200, 300, 400, 500, 1000]);
    const cap = replay.steps[1].outcome?.data.capture as { rows: string[][] };
    assert.deepEqual(cap.rows, [['0']]);
    assert.equal(await loadReplay(audit.store, 'nope'), null);
    await audit.close();
  });

  test('a reopened log continues the same chain', async () => {
    const { audit, path } = await open();
    await populate(audit);
    await audit.close();
    const again = await openAudit(auditSchema.parse({ store: `sqlite:${path}`, retention: 0 }), { logger: silentLogger(), instance: 'gw1' });
    await again.statement(statement('s2', 1, 'SELECT 1'));
    const v = await again.verify();
    assert.equal(v.ok, true, `verify: ${v.problem?.message}`);
    assert.equal(v.records, 13);
    await again.close();
  });
});
