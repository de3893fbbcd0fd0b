/**
 * The audit store's disk use under a steady load: 40 sessions write statements and outcomes
 * without pause for 10 s through the audit writer (the path every statement takes). The
 * write-ahead log must stay near its bound the whole time, not grow with the run, and the
 * database must hold every record and verify.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { auditSchema, openAudit } from './index.ts';
import { sessionStart, statement, statementEnd } from './test-events.ts';
import { silentLogger } from '../log.ts';

const dir = mkdtempSync(join(tmpdir(), 'pgwarden-wal-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const RUN_MS = 10_000;
const SESSIONS = 40;
const WAL_LIMIT = 4 * 1024 * 1024;
const MAX_STATEMENTS = 60_000;

test('a steady load keeps the write-ahead log bounded and the store proportional to its records', { timeout: 40_000 }, async () => {
  const path = join(dir, 'audit.db');
  const cfg = auditSchema.parse({ store: `sqlite:${path}`, retention: 0 });
  const audit = await openAudit(cfg, { logger: silentLogger(), instance: 'gw1', walLimitBytes: WAL_LIMIT });
  const size = (p: string) => statSync(p, { throwIfNoEntry: false })?.size ?? 0;
  let peakWal = 0;
  const sampler = setInterval(() => (peakWal = Math.max(peakWal, size(`${path}-wal`))), 20);
  const stopAt = Date.now() + RUN_MS;
  let statements = 0;
  const text = 'SELECT o.id, o.total, c.name FROM public.orders o JOIN public.customers c ON c.id = o.customer_id WHERE o.id = $1';
  await Promise.all(
    Array.from({ length: SESSIONS }, async (_, s) => {
      const sessionId = `s${s}`;
      await audit.sessionStart(sessionStart(sessionId));
      // Bounded in count too: the journal takes records faster than the index feed copies them,
      // and the run ends with the index caught up and the whole log verified.
      for (let i = 1; Date.now() < stopAt && statements < MAX_STATEMENTS; i++) {
        const id = await audit.statement(statement(sessionId, i, text, { params: [String(i)], analysis: { command: 'select', class: 'read', tables: ['public.orders', 'public.customers'] } }));
        audit.statementEnd(statementEnd(id, sessionId));
        statements++;
        // Statements come from sockets: each session waits for the event loop as a client would.
        await new Promise((r) => setImmediate(r));
      }
      audit.sessionEnd({ sessionId, at: Date.now(), reason: 'client closed' });
    }),
  );
  await audit.flush();
  clearInterval(sampler);
  const dbBytes = size(path);
  const walAtEnd = size(`${path}-wal`);
  const verified = await audit.verify();
  await audit.close();
  const perStatement = dbBytes / statements;
  // For the README's numbers: one statement is two records (the statement and its outcome).
  console.log(`statements=${statements} db=${dbBytes} peakWal=${peakWal} walAtEnd=${walAtEnd} dbBytesPerStatement=${perStatement.toFixed(0)}`);
  assert.ok(statements > 20_000, `the load was too light to say anything (${statements} statements)`);
  assert.ok(verified.ok, JSON.stringify(verified.problem));
  assert.equal(verified.records, statements * 2 + SESSIONS * 2);
  // The WAL may overshoot its bound by what is written between two looks (250 ms) and while the
  // checkpoint runs; it must not grow with the length of the run.
  assert.ok(peakWal < WAL_LIMIT * 4, `the WAL reached ${peakWal} bytes with a bound of ${WAL_LIMIT}`);
  assert.ok(peakWal < dbBytes, `the WAL (${peakWal} bytes) outgrew the database (${dbBytes})`);
  assert.ok(perStatement < 4096, `${perStatement} database bytes per statement`);
});
