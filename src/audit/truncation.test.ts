/**
 * The two attacks the hash chain alone cannot see, performed on a SQLite log as someone with
 * write access to the file would: cut off the newest records, or delete the oldest and write an
 * anchor that fits the first record left. `verify` with the latest signed checkpoint (read from
 * the sink file, as `pgwarden audit verify --checkpoint FILE` does) must report both.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { auditSchema, openAudit, type OpenedAudit } from './index.ts';
import { latestCheckpoints, parseExpectedHead } from './checkpoint.ts';
import { sessionStart, statement, statementEnd } from './test-events.ts';
import { verifyStore } from './verify.ts';
import { silentLogger } from '../log.ts';
import { openSqliteAuditStore } from '../store/sqlite-audit-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'pgwarden-trunc-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const KEY = 'k'.repeat(16) + 'the-checkpoint-key-outside-the-store';
let n = 0;

/** A log of 100 records (sessions of statements and outcomes), closed cleanly: its sink holds the final checkpoint. */
async function writeLog(extra: Record<string, unknown> = {}): Promise<{ db: string; sink: string }> {
  const db = join(dir, `audit-${++n}.db`);
  const sink = join(dir, `audit-${n}.jsonl`);
  const audit: OpenedAudit = await openAudit(auditSchema.parse({ store: `sqlite:${db}`, retention: 0, checkpoint_key: KEY, sinks: [{ jsonl: sink }], ...extra }), {
    logger: silentLogger(),
    instance: 'gw1',
  });
  for (let s = 0; s < 10; s++) {
    await audit.sessionStart(sessionStart(`s${s}`));
    for (let i = 1; i <= 4; i++) {
      const id = await audit.statement(statement(`s${s}`, i, `SELECT ${i}`));
      audit.statementEnd(statementEnd(id, `s${s}`));
    }
    audit.sessionEnd({ sessionId: `s${s}`, at: Date.now(), reason: 'client closed' });
  }
  await audit.close();
  return { db, sink };
}

function sql(db: string, text: string, ...args: unknown[]): void {
  const d = new Database(db);
  d.prepare(text).run(...args);
  d.close();
}

async function verify(db: string, o: Parameters<typeof verifyStore>[1]) {
  const store = await openSqliteAuditStore(db, { readOnly: true });
  try {
    return await verifyStore(store, o);
  } finally {
    await store.close();
  }
}

describe('truncation of the audit chain', () => {
  test('the intact log verifies against its checkpoint', async () => {
    const { db, sink } = await writeLog();
    const checkpoints = latestCheckpoints(readFileSync(sink, 'utf8'));
    assert.deepEqual(checkpoints.map((c) => [c.instance, c.seq]), [['gw1', 100]]);
    const v = await verify(db, { checkpoints, key: KEY });
    assert.equal(v.ok, true, v.problem?.message);
    assert.equal(v.records, 100);
  });

  for (const cut of [1, 25, 99]) {
    test(`deleting the newest ${cut} records is a missing tail`, async () => {
      const { db, sink } = await writeLog();
      sql(db, 'DELETE FROM audit_records WHERE instance = ? AND seq > ?', 'gw1', 100 - cut);
      // The chain alone still verifies: this is the hole.
      assert.equal((await verify(db, {})).ok, true);
      const v = await verify(db, { checkpoints: latestCheckpoints(readFileSync(sink, 'utf8')), key: KEY });
      assert.equal(v.ok, false);
      assert.equal(v.problem?.kind, 'missing_tail');
      assert.match(v.problem?.message ?? '', new RegExp(`vouches for seq 100, but the chain ends at seq ${100 - cut} \\(${cut} records? missing\\)`));
    });
  }

  test('every record deleted is a missing tail too', async () => {
    const { db, sink } = await writeLog();
    sql(db, 'DELETE FROM audit_records');
    const v = await verify(db, { checkpoints: latestCheckpoints(readFileSync(sink, 'utf8')), key: KEY });
    assert.equal(v.problem?.kind, 'missing_tail');
  });

  test('an expected head typed by the user finds the missing tail without a key', async () => {
    const { db, sink } = await writeLog();
    const [c] = latestCheckpoints(readFileSync(sink, 'utf8'));
    sql(db, 'DELETE FROM audit_records WHERE seq > 75');
    const v = await verify(db, { checkpoints: [{ ...parseExpectedHead(`gw1:${c.seq}:${c.hash}`), trusted: true }] });
    assert.equal(v.problem?.kind, 'missing_tail');
  });

  test('the tail deleted and the chain re-hashed to the same length is a rewrite', async () => {
    const { db, sink } = await writeLog();
    // Replace the last record by one with another hash (what re-hashing an edited record gives).
    sql(db, "UPDATE audit_records SET hash = ? WHERE seq = 100", 'f'.repeat(64));
    const v = await verify(db, { checkpoints: latestCheckpoints(readFileSync(sink, 'utf8')), key: KEY });
    assert.equal(v.ok, false);
  });

  test('deleting the first 50 records and writing a matching anchor is a missing prefix', async () => {
    const { db, sink } = await writeLog();
    const d = new Database(db);
    const fiftieth = d.prepare('SELECT seq, hash, at FROM audit_records WHERE instance = ? AND seq = 50').get('gw1') as { seq: number; hash: string; at: number };
    d.prepare('DELETE FROM audit_records WHERE instance = ? AND seq <= 50').run('gw1');
    d.prepare('INSERT INTO audit_anchors (instance, seq, hash, at) VALUES (?, ?, ?, ?)').run('gw1', fiftieth.seq, fiftieth.hash, fiftieth.at);
    d.close();
    for (const o of [{}, { key: KEY }, { key: KEY, checkpoints: latestCheckpoints(readFileSync(sink, 'utf8')) }]) {
      const v = await verify(db, o);
      assert.equal(v.ok, false, JSON.stringify(o));
      assert.equal(v.problem?.kind, 'missing_prefix');
      assert.match(v.problem?.message ?? '', /starts after seq 50 at an anchor no retention record vouches for/);
    }
  });

  test('retention leaves a signed anchor that verifies; a forged one beside it does not', async () => {
    const { db, sink } = await writeLog();
    // Age the first session's records, then let retention (as configured) delete them.
    sql(db, 'UPDATE audit_records SET at = at - 10 * 86400000 WHERE seq <= 10');
    // The aged rows no longer match their hashed bodies; retention deletes exactly them.
    const audit = await openAudit(auditSchema.parse({ store: `sqlite:${db}`, retention: '1d', checkpoint_key: KEY, sinks: [{ jsonl: sink }] }), { logger: silentLogger(), instance: 'gw1' });
    assert.equal((await audit.store.anchor('gw1'))?.seq, 10, 'retention ran at open');
    await audit.close();
    const checkpoints = latestCheckpoints(readFileSync(sink, 'utf8'));
    const good = await verify(db, { checkpoints, key: KEY });
    assert.equal(good.ok, true, good.problem?.message);
    // The wrong key: the retention record's signature does not check.
    const wrongKey = await verify(db, { key: `${KEY}-other` });
    assert.equal(wrongKey.problem?.kind, 'missing_prefix');
    // Now the attack on top: 30 more deleted, the anchor moved to fit.
    const d = new Database(db);
    const r = d.prepare('SELECT seq, hash, at FROM audit_records WHERE seq = 40').get() as { seq: number; hash: string; at: number };
    d.prepare('DELETE FROM audit_records WHERE seq <= 40').run();
    d.prepare('UPDATE audit_anchors SET seq = ?, hash = ?, at = ? WHERE instance = ?').run(r.seq, r.hash, r.at, 'gw1');
    d.close();
    const forged = await verify(db, { checkpoints, key: KEY });
    assert.equal(forged.problem?.kind, 'missing_prefix');
    assert.match(forged.problem?.message ?? '', /is not the one retention set \(seq 10/);
  });

  test('a checkpoint not signed with the key is refused', async () => {
    const { db, sink } = await writeLog();
    const [c] = latestCheckpoints(readFileSync(sink, 'utf8'));
    const v = await verify(db, { checkpoints: [{ ...c, seq: 10, hash: c.hash }], key: KEY });
    assert.equal(v.problem?.kind, 'bad_checkpoint');
  });
});
