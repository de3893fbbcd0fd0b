/**
 * The audit journal with the SQLite index: one write per group of records, the index fed from
 * the journal and caught up after a crash, verify over both, a full journal against a failing
 * index, segments, retention and a torn last line.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { GatewayError } from '../errors.ts';
import { silentLogger } from '../log.ts';
import { linkHash } from './chain.ts';
import { auditSchema, openAudit, type OpenedAudit } from './index.ts';
import { FileJournal } from './journal.ts';
import { memoryAudit } from './memory.ts';
import { runUntilKilled, sessionStart, statement, statementEnd } from './test-events.ts';

const dir = mkdtempSync(join(tmpdir(), 'pgwarden-journal-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

async function open(extra: Record<string, unknown> = {}, db = join(dir, `audit-${++n}.db`), maxPageCount?: number): Promise<{ audit: OpenedAudit; db: string; journal: string }> {
  const cfg = auditSchema.parse({ store: `sqlite:${db}`, retention: 0, capture_results: 'masked', ...extra });
  const audit = await openAudit(cfg, { logger: silentLogger(), instance: 'gw1', maxPageCount });
  return { audit, db, journal: db.replace(/\.db$/, '-journal') };
}

function segments(journal: string): string[] {
  return readdirSync(journal)
    .filter((f) => f.endsWith('.journal'))
    .sort()
    .map((f) => join(journal, f));
}

function indexRows(db: string): { seq: number; type: string }[] {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare('SELECT seq, type FROM audit_records ORDER BY seq').all() as { seq: number; type: string }[];
  } finally {
    d.close();
  }
}

describe('group write', () => {
  test('N statements arriving in one turn are one write call, and each resolves after it', async () => {
    const { audit } = await open();
    await audit.sessionStart(sessionStart('s1'));
    const before = audit.journal.writes;
    const ids = await Promise.all(Array.from({ length: 40 }, (_, i) => audit.statement(statement('s1', i + 1, `SELECT ${i}`))));
    assert.equal(audit.journal.writes - before, 1, '40 statements of one read took one write');
    assert.equal(new Set(ids).size, 40);
    assert.equal(audit.journal.head()?.seq, 41);
    await audit.close();
  });

  test('outcomes cost no write of their own: they go in the next group write', async () => {
    const { audit } = await open();
    await audit.sessionStart(sessionStart('s1'));
    const ids = await Promise.all([1, 2, 3].map((i) => audit.statement(statement('s1', i, `SELECT ${i}`))));
    const before = audit.journal.writes;
    for (const id of ids) audit.statementEnd(statementEnd(id, 's1'));
    assert.equal(audit.journal.writes, before, 'an outcome is not written on its own path');
    await audit.statement(statement('s1', 4, 'SELECT 4'));
    assert.equal(audit.journal.writes - before, 1, 'the outcomes and the next statement share one write');
    await audit.flush();
    const rows = indexRows(join(dir, `audit-${n}.db`));
    assert.deepEqual(rows.slice(-4).map((r) => r.type), ['statement_end', 'statement_end', 'statement_end', 'statement']);
    await audit.close();
  });

  test('with sync: full each group is fdatasynced once, and the records are the same', async () => {
    const { audit } = await open({ sync: 'full' });
    const before = audit.journal.writes;
    await Promise.all(Array.from({ length: 10 }, (_, i) => audit.statement(statement('s1', i, `SELECT ${i}`))));
    assert.equal(audit.journal.writes - before, 1);
    assert.equal((await audit.verify()).ok, true);
    await audit.close();
  });
});

describe('the index is fed from the journal', () => {
  test('an index behind the journal (a crash before it was fed) catches up at the next start', async () => {
    const { audit, db } = await open();
    await audit.sessionStart(sessionStart('s1'));
    for (let i = 1; i <= 20; i++) await audit.statement(statement('s1', i, `SELECT ${i}`));
    await audit.close();
    // The index lost its last 12 records, as when the gateway died before feeding them.
    const d = new Database(db);
    d.prepare('DELETE FROM audit_records WHERE seq > 9').run();
    d.close();
    assert.equal(indexRows(db).length, 9);
    const again = await open({}, db);
    assert.deepEqual(indexRows(db).map((r) => r.seq), Array.from({ length: 21 }, (_, i) => i + 1), 'the index caught up from the journal');
    const next = await again.audit.statement(statement('s1', 21, 'SELECT 21'));
    await again.audit.flush();
    assert.equal((await again.audit.store.get(next))?.seq, 22, 'the chain goes on from the journal');
    assert.equal((await again.audit.verify()).ok, true);
    await again.audit.close();
  });

  test('after kill -9 right after a statement was written, the restart finds it in the index', { timeout: 30_000 }, async () => {
    const db = join(dir, 'killed.db');
    const last = await runUntilKilled(
      `
import { auditSchema, openAudit } from './src/audit/index.ts';
import { sessionStart, statement } from './src/audit/test-events.ts';
import { silentLogger } from './src/log.ts';
const audit = await openAudit(auditSchema.parse({ store: 'sqlite:' + process.env.AUDIT_DB, retention: 0 }), { logger: silentLogger(), instance: 'gw1' });
await audit.sessionStart(sessionStart('s1'));
const ids = await Promise.all(Array.from({ length: 200 }, (_, i) => audit.statement(statement('s1', i + 1, 'UPDATE orders SET total = ' + i))));
process.stdout.write(ids[199] + '\\n');
process.kill(process.pid, 'SIGKILL');
`,
      db,
    );
    const { audit } = await open({}, db);
    assert.equal((await audit.store.get(last))?.seq, 201, 'the last statement the killed run wrote is in the index');
    assert.equal((await audit.verify()).ok, true);
    await audit.close();
  });
});

describe('verify checks the journal and the index against it', () => {
  async function populated(): Promise<{ db: string; journal: string }> {
    const { audit, db, journal } = await open();
    await audit.sessionStart(sessionStart('s1'));
    for (let i = 1; i <= 6; i++) {
      const id = await audit.statement(statement('s1', i, `SELECT ${i}`));
      audit.statementEnd(statementEnd(id, 's1'));
    }
    await audit.close();
    return { db, journal };
  }

  test('an untouched log verifies, journal and index', async () => {
    const { db } = await populated();
    const { audit } = await open({}, db);
    const v = await audit.verify();
    assert.equal(v.ok, true, v.problem?.message);
    assert.equal(v.journal?.records, 13);
    assert.equal(v.journal?.lag, 0);
    await audit.close();
  });

  test('a byte changed in the journal is reported', async () => {
    const { db, journal } = await populated();
    const [seg] = segments(journal);
    writeFileSync(seg, readFileSync(seg, 'utf8').replace('SELECT 3', 'SELECT 9'));
    const { audit } = await open({}, db);
    const v = await audit.verify();
    assert.equal(v.ok, false);
    assert.match(v.problem?.message ?? '', /^journal: record .* was edited/);
    await audit.close();
  });

  test('a line removed from the journal is reported', async () => {
    const { db, journal } = await populated();
    const [seg] = segments(journal);
    const lines = readFileSync(seg, 'utf8').split('\n');
    lines.splice(4, 1);
    writeFileSync(seg, lines.join('\n'));
    const { audit } = await open({}, db);
    const v = await audit.verify();
    assert.equal(v.ok, false);
    assert.equal(v.problem?.kind, 'removed');
    assert.match(v.problem?.message ?? '', /^journal: /);
    await audit.close();
  });

  test('a record edited in the index and re-hashed so the index chain holds is reported', async () => {
    const { db } = await populated();
    const d = new Database(db);
    const last = d.prepare('SELECT seq, body, prev_hash FROM audit_records ORDER BY seq DESC LIMIT 1').get() as { seq: number; body: string; prev_hash: string };
    const body = `${last.body.slice(0, -1)},"note":"rewritten"}`;
    d.prepare('UPDATE audit_records SET body = ?, hash = ? WHERE seq = ?').run(body, linkHash(last.prev_hash, body), last.seq);
    d.close();
    const { audit } = await open({}, db);
    const v = await audit.verify();
    assert.equal(v.ok, false);
    assert.equal(v.problem?.kind, 'edited');
    assert.match(v.problem?.message ?? '', /differs between the index and the journal/);
    await audit.close();
  });

  test('a record removed from the middle of the index is reported', async () => {
    const { db } = await populated();
    const d = new Database(db);
    d.prepare('DELETE FROM audit_records WHERE seq = 5').run();
    d.close();
    const { audit } = await open({}, db);
    const v = await audit.verify();
    assert.equal(v.ok, false);
    assert.equal(v.problem?.kind, 'removed');
    await audit.close();
  });
});

describe('upgrade', () => {
  test('a journal begun on an existing log takes its chain up, says so in its first record, and verifies', async () => {
    const { audit, db, journal } = await open();
    for (let i = 1; i <= 4; i++) await audit.statement(statement('s1', i, `SELECT ${i}`));
    audit.event({ kind: 'gateway_stop', at: Date.now(), details: {} });
    await audit.close();
    // A log written before the journal existed: the index alone.
    rmSync(journal, { recursive: true });
    const again = await open({}, db);
    await again.audit.flush();
    assert.equal(await again.audit.closeUncleanRun(), null, 'the previous run stopped cleanly: the journal_started record does not hide that');
    await again.audit.statement(statement('s1', 6, 'SELECT 6'));
    const v = await again.audit.verify();
    assert.equal(v.ok, true, v.problem?.message);
    assert.equal(again.audit.journal.start()?.seq, 5);
    const [firstLine] = readFileSync(segments(journal)[0], 'utf8').split('\n');
    assert.match(firstLine, /"kind":"journal_started"/);
    await again.audit.close();
  });
});

describe('a full journal against a failing index', () => {
  test('a full journal refuses statements (fail closed) and makes the log not writable', async () => {
    const { audit } = await open({}, undefined, 20);
    await audit.sessionStart(sessionStart('s1'));
    let refused: unknown = null;
    const big = 'x'.repeat(8000);
    for (let i = 0; i < 100 && !refused; i++) {
      try {
        await audit.statement(statement('s1', i, `SELECT '${big}'`));
      } catch (err) {
        refused = err;
      }
    }
    assert.ok(refused instanceof GatewayError, `the full journal refuses (got ${String(refused)})`);
    assert.equal(refused.code, 'audit.unavailable');
    assert.match(refused.message, /full/);
    assert.equal(audit.status().writable, false);
    assert.match(audit.status().reason ?? '', /cannot write: .*full/);
    const v = await audit.verify();
    assert.equal(v.ok, true, `the chain holds no trace of the refused write: ${v.problem?.message}`);
    await audit.close();
  });

  test('a failing index lets statements go on; it catches up from the journal when it is back', async () => {
    const audit = memoryAudit();
    await audit.sessionStart(sessionStart('s1'));
    await audit.flush();
    audit.store.failWrites = 'database unreachable';
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) ids.push(await audit.statement(statement('s1', i, `SELECT ${i}`)));
    await audit.flush();
    assert.equal(audit.records().length, 6, 'the journal took every statement');
    assert.equal(audit.indexed().length, 1, 'the index has only what it had');
    assert.deepEqual(audit.status(), { writable: true }, 'still ready: the journal writes');
    audit.store.failWrites = null;
    const until = Date.now() + 5000;
    while (audit.indexed().length < 6 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(audit.indexed().map((r) => r.id), audit.records().map((r) => r.id), 'the index caught up');
    await audit.close();
  });
});

describe('segments', () => {
  test('segments rotate by size, files are private, and the chain runs across them', async () => {
    const { audit, journal } = await open({ journal_segment_size: 2048 });
    await audit.sessionStart(sessionStart('s1'));
    for (let i = 1; i <= 30; i++) await audit.statement(statement('s1', i, `SELECT ${i}`));
    const segs = segments(journal);
    assert.ok(segs.length > 3, `${segs.length} segments`);
    assert.equal(statSync(journal).mode & 0o777, 0o700);
    for (const s of segs) assert.equal(statSync(s).mode & 0o777, 0o600);
    assert.equal((await audit.verify()).ok, true);
    await audit.close();
  });

  test('retention deletes whole old segments; the rest verifies from a vouched anchor; a segment deleted by hand is reported', async () => {
    const key = 'k'.repeat(40);
    const { audit, db, journal } = await open({ journal_segment_size: 2048, retention: '1d', checkpoint_key: key });
    const old = Date.now() - 3 * 86_400_000;
    await audit.sessionStart(sessionStart('old', 'analyst', old));
    for (let i = 1; i <= 30; i++) await audit.statement(statement('old', i, `SELECT ${i}`, { at: old + i }));
    await audit.sessionStart(sessionStart('new'));
    for (let i = 1; i <= 30; i++) await audit.statement(statement('new', i, `SELECT ${i}`));
    const before = segments(journal).length;
    assert.ok((await audit.retain()) > 0);
    const left = segments(journal);
    assert.ok(left.length < before, `segments ${before} → ${left.length}`);
    const v = await audit.verify();
    assert.equal(v.ok, true, v.problem?.message);
    await audit.close();
    // Deleting the oldest segment left, outside retention, is noticed.
    unlinkSync(left[0]);
    const again = await open({ journal_segment_size: 2048, checkpoint_key: key }, db);
    const bad = await again.audit.verify();
    assert.equal(bad.ok, false);
    assert.equal(bad.problem?.kind, 'missing_prefix');
    await again.audit.close();
  });

  test("a journal holding another instance's chain is refused at open", async () => {
    const { audit, db } = await open();
    await audit.statement(statement('s1', 1, 'SELECT 1'));
    await audit.close();
    const cfg = auditSchema.parse({ store: `sqlite:${db}`, retention: 0 });
    await assert.rejects(openAudit(cfg, { logger: silentLogger(), instance: 'gw2' }), /holds the chain of instance "gw1", not "gw2"/);
  });

  test('a torn last line (a crash inside a write) is cut off at open and the chain goes on', async () => {
    const { audit, db, journal } = await open();
    await audit.statement(statement('s1', 1, 'SELECT 1'));
    await audit.close();
    const segs = segments(journal);
    appendFileSync(segs[segs.length - 1], 'f00d half a record without its newline');
    const again = await open({}, db);
    await again.audit.statement(statement('s1', 2, 'SELECT 2'));
    const v = await again.audit.verify();
    assert.equal(v.ok, true, v.problem?.message);
    await again.audit.close();
    const journalOnly = new FileJournal(journal, { segmentBytes: 1 << 20, readOnly: true });
    assert.equal(journalOnly.head()?.seq, 2);
  });
});
