/**
 * A gateway process killed with SIGKILL mid-session: its audit records are in the SQLite WAL,
 * and the next run on the same file records the unclean end, ends the open session and marks
 * the forwarded statement's outcome unknown.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { auditSchema, openAudit, toAuditRecord } from './index.ts';
import { silentLogger } from '../log.ts';
import { runUntilKilled } from './test-events.ts';

const dir = mkdtempSync(join(tmpdir(), 'pgwarden-crash-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const CHILD = `
import { auditSchema, openAudit } from './src/audit/index.ts';
import { sessionStart, statement, statementEnd } from './src/audit/test-events.ts';
import { silentLogger } from './src/log.ts';
const audit = await openAudit(auditSchema.parse({ store: 'sqlite:' + process.env.AUDIT_DB, retention: 0 }), { logger: silentLogger(), instance: 'gw1' });
await audit.closeUncleanRun();
audit.event({ kind: 'gateway_start', at: Date.now(), details: {} });
await audit.sessionStart(sessionStart('s1', 'analyst'));
const done = await audit.statement(statement('s1', 1, 'SELECT 1'));
audit.statementEnd(statementEnd(done, 's1'));
const running = await audit.statement(statement('s1', 2, 'UPDATE orders SET total = 0'));
await audit.flush();
process.stdout.write(running + '\\n');
process.kill(process.pid, 'SIGKILL');
`;

test('after kill -9, the restarted writer closes the killed run in the log', { timeout: 30_000 }, async () => {
  const db = join(dir, 'audit.db');
  const inFlight = await runUntilKilled(CHILD, db);
  assert.ok(inFlight, 'the child printed its in-flight statement id');

  const audit = await openAudit(auditSchema.parse({ store: `sqlite:${db}`, retention: 0 }), { logger: silentLogger(), instance: 'gw1' });
  const found = await audit.closeUncleanRun();
  assert.equal(found?.sessions, 1);
  assert.equal(found?.statements, 1);
  const recs = (await audit.store.search({ instance: 'gw1' })).map(toAuditRecord);
  const mark = recs.findIndex((r) => r.data.kind === 'previous_run_unclean');
  assert.ok(mark > 0, 'the unclean end is recorded');
  const closed = recs.slice(mark + 1);
  assert.deepEqual(closed.map((r) => r.type), ['statement_end', 'session_end']);
  assert.equal(closed[0].data.id, inFlight);
  assert.equal(closed[0].data.outcome, 'unknown');
  assert.equal(closed[1].sessionId, 's1');
  assert.equal(closed[1].data.reason, 'the gateway ended uncleanly');
  assert.equal((await audit.verify()).ok, true);
  await audit.close();
});
