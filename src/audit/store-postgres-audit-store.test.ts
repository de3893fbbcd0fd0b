/** The shared PostgreSQL audit store against a real PostgreSQL: two gateways, one database. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startPostgres, type TestPostgres } from '../../test/helpers/postgres.ts';
import { auditSchema, loadReplay, openAudit, verifyStore, type OpenedAudit } from './index.ts';
import { sessionStart, statement, statementEnd } from './test-events.ts';
import { GatewayError } from '../errors.ts';
import { silentLogger } from '../log.ts';
import { literal, openPostgresAuditStore } from '../store/postgres-audit-store.ts';
import { consoleSessionCases } from '../store/test-console-sessions.ts';
import { readAfterCases } from './test-read-after.ts';

let pg: TestPostgres;
let a: OpenedAudit;
let b: OpenedAudit;

const dir = mkdtempSync(join(tmpdir(), 'pgwarden-pg-audit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function open(instance: string, extra: Record<string, unknown> = {}): Promise<OpenedAudit> {
  const cfg = auditSchema.parse({ store: `postgres://${pg.user}@127.0.0.1:${pg.port}/postgres`, password: pg.password, retention: 0, capture_results: 'masked', ...extra });
  return openAudit(cfg, { logger: silentLogger(), instance, baseDir: dir });
}

before(async () => {
  pg = await startPostgres();
  [a, b] = await Promise.all([open('gw-a'), open('gw-b')]);
});
after(async () => {
  await a?.close().catch(() => undefined);
  await b?.close().catch(() => undefined);
  await pg?.stop();
});

describe('PostgreSQL audit store', () => {
  test('literals survive quotes, backslashes and NUL', () => {
    assert.equal(literal("it's \\n"), "E'it''s \\\\n'");
    assert.equal(literal(null), 'NULL');
    assert.equal(literal('a\0b'), "E'a\uFFFDb'");
  });

  test('two gateways write their own chains concurrently; both verify', async () => {
    await Promise.all([a.sessionStart(sessionStart('sa', 'alice')), b.sessionStart(sessionStart('sb', 'bob'))]);
    const texts = Array.from({ length: 50 }, (_, i) => `SELECT '${i}''s' AS "q\\"`);
    const [idsA, idsB] = await Promise.all([
      Promise.all(texts.map((t, i) => a.statement(statement('sa', i + 1, t)))),
      Promise.all(texts.map((t, i) => b.statement(statement('sb', i + 1, t, { decision: { verdict: 'deny', rule: 'r' } })))),
    ]);
    a.statementEnd(statementEnd(idsA[0], 'sa', { capture: { columns: ['q'], rows: [["0's"]], truncated: false } }));
    await Promise.all([a.flush(), b.flush()]);
    assert.ok(a.commits < 20, `50 statements took ${a.commits} transactions on gw-a`);
    const v = await verifyStore(a.store);
    assert.equal(v.ok, true, `verify: ${v.problem?.message}`);
    assert.deepEqual(v.instances, ['gw-a', 'gw-b']);
    assert.equal(v.records, 103);
    const denied = await a.store.search({ decision: 'deny', types: ['statement'] });
    assert.equal(denied.length, 50);
    assert.ok(denied.every((r) => r.instance === 'gw-b' && r.subject === 'bob'), 'the denials are bob’s, on gw-b');
    const found = await b.store.search({ text: "'7''S'" });
    assert.deepEqual(found.map((r) => `${r.instance} ${r.text}`).sort(), ["gw-a SELECT '7''s' AS \"q\\\"", "gw-b SELECT '7''s' AS \"q\\\""]);
    const replay = await loadReplay(b.store, 'sa');
    assert.equal(replay?.steps[1].outcome?.data.rows, 1);
    assert.deepEqual(replay?.steps[1].outcome?.data.capture, { columns: ['q'], rows: [["0's"]], truncated: false });
  });

  test('an edited row is found by verify, named by instance, seq and id', async () => {
    const [victim] = await a.store.search({ instance: 'gw-b', types: ['statement'], limit: 1 });
    pg.psql(`UPDATE pgwarden_audit_records SET body = replace(body, 'deny', 'allo') WHERE id = '${victim.id}'`);
    const store = await openPostgresAuditStore(`postgres://${pg.user}@127.0.0.1:${pg.port}/postgres`, { password: pg.password });
    const v = await verifyStore(store);
    await store.close();
    assert.equal(v.ok, false, 'verify fails');
    assert.deepEqual([v.problem?.instance, v.problem?.seq, v.problem?.id, v.problem?.kind], ['gw-b', victim.seq, victim.id, 'edited']);
    pg.psql(`UPDATE pgwarden_audit_records SET body = replace(body, 'allo', 'deny') WHERE id = '${victim.id}'`);
    assert.equal((await verifyStore(a.store)).ok, true, 'restored, it verifies again');
  });

  test('a revocation made by one gateway is stored for every gateway, with quotes intact', async () => {
    await a.store.putRevocation({ subject: "o'brien\\x", at: '2026-01-01T00:00:00.000Z' });
    await a.store.putRevocation({ subject: 'svc', issuer: 'corp', at: '2026-01-02T00:00:00.000Z' });
    await a.store.putRevocation({ subject: 'svc', issuer: 'corp', at: '2027-01-01T00:00:00.000Z' });
    assert.deepEqual(await b.store.revocations(), [
      { subject: "o'brien\\x", at: '2026-01-01T00:00:00.000Z' },
      { subject: 'svc', issuer: 'corp', at: '2026-01-02T00:00:00.000Z' },
    ]);
    await b.store.deleteRevocation('svc', 'corp');
    await b.store.deleteRevocation("o'brien\\x");
    assert.deepEqual(await a.store.revocations(), []);
  });

  test('a console session stored by one gateway is seen, and ended, by every gateway', async () => {
    await consoleSessionCases(a.store, b.store);
  });

  test('readAfter: one chain from a seq, in seq order', async () => {
    // In a database of its own: its chains are not the gateways' and would not verify as theirs.
    pg.psql('create database read_after');
    const store = await openPostgresAuditStore(`postgres://${pg.user}@127.0.0.1:${pg.port}/read_after`, { password: pg.password });
    try {
      await readAfterCases(store);
    } finally {
      await store.close();
    }
  });

  test('retention keeps each chain verifiable from its anchor', async () => {
    const c = await open('gw-c', { retention: '1d' });
    const old = Date.now() - 5 * 86_400_000;
    await c.sessionStart(sessionStart('sc', 'carol', old));
    await c.statement(statement('sc', 1, 'SELECT 1', { at: old + 1 }));
    await c.statement(statement('sc', 2, 'SELECT 2'));
    assert.equal(await c.retain(), 2);
    assert.deepEqual(await c.store.anchor('gw-c').then((x) => x?.seq), 2);
    const v = await c.verify();
    assert.equal(v.ok, true, `verify after retention: ${v.problem?.message}`);
    await c.close();
  });

  test('when the database is gone, the journal still takes statements and the index reports its lag', async () => {
    await pg.stop();
    const id = await a.statement(statement('sa', 99, 'DELETE FROM orders'));
    assert.ok(a.journal.head()?.seq, 'the statement is in the journal');
    await a.flush();
    const index = a.indexStatus();
    assert.equal(index.current, false);
    assert.ok(index.lag >= 1, `the index is behind by ${index.lag}`);
    assert.match(index.reason ?? '', /audit index cannot write/);
    assert.deepEqual(a.status(), { writable: true }, 'the gateway stays ready: the journal writes');
    assert.ok(id);
  });
});
