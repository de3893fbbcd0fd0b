/**
 * `pgwarden audit verify` with the gateway's signed checkpoints, as an auditor runs it after
 * someone with write access to the SQLite file cut records off it: the newest 25 deleted, or
 * the oldest 50 deleted behind a forged anchor row.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { auditSchema, latestCheckpoints, openAudit } from '../../src/audit/index.ts';
import { sessionStart, statement, statementEnd } from '../../src/audit/test-events.ts';
import { silentLogger } from '../../src/log.ts';
import { pgwarden } from '../helpers/clients.ts';

const root = mkdtempSync(join(tmpdir(), 'pgwarden-verify-cp-'));
after(() => rmSync(root, { recursive: true, force: true }));
const KEY = 'a-checkpoint-key-of-more-than-32-characters';
const env = { PGWARDEN_TEST_CHECKPOINT_KEY: KEY };
let n = 0;

async function log(): Promise<{ dir: string; db: string; sink: string }> {
  const dir = join(root, `d${++n}`);
  mkdirSync(dir);
  writeFileSync(
    join(dir, 'pgwarden.yaml'),
    [
      'upstreams:',
      '  app:',
      '    url: postgres://pgwarden@db:5432/app',
      'identity:',
      '  issuers:',
      '    - issuer: https://idp.example.com',
      '      audience: pgwarden',
      'audit:',
      '  store: sqlite:./audit.db',
      '  retention: 0',
      '  checkpoint_key: ${env:PGWARDEN_TEST_CHECKPOINT_KEY}',
      '  sinks: [{ jsonl: ./audit.jsonl }]',
      '',
    ].join('\n'),
  );
  const a = await openAudit(auditSchema.parse({ store: 'sqlite:./audit.db', retention: 0, sinks: [{ jsonl: './audit.jsonl' }], checkpoint_key: KEY }), { logger: silentLogger(), instance: 'gw1', baseDir: dir });
  for (let s = 0; s < 10; s++) {
    await a.sessionStart(sessionStart(`s${s}`));
    for (let i = 1; i <= 4; i++) a.statementEnd(statementEnd(await a.statement(statement(`s${s}`, i, `SELECT ${i}`)), `s${s}`));
    a.sessionEnd({ sessionId: `s${s}`, at: Date.now(), reason: 'client closed' });
  }
  await a.close();
  return { dir, db: join(dir, 'audit.db'), sink: join(dir, 'audit.jsonl') };
}

test('verify --checkpoint: intact, then the newest 25 records deleted', { timeout: 30_000 }, async () => {
  const { dir, db, sink } = await log();
  const ok = await pgwarden(['audit', 'verify', '--data-dir', dir, '--checkpoint', sink], env);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'audit log OK: 100 records in 1 chain, reaching 1 checkpoint\n');
  const d = new Database(db);
  d.prepare('DELETE FROM audit_records WHERE seq > 75').run();
  d.close();
  const plain = await pgwarden(['audit', 'verify', '--data-dir', dir], env);
  assert.equal(plain.code, 0, 'without a checkpoint the cut is invisible: why checkpoints are kept outside the store');
  const r = await pgwarden(['audit', 'verify', '--data-dir', dir, '--checkpoint', sink], env);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /audit log FAILED \(instance gw1\): the newest records were deleted: a checkpoint of .* vouches for seq 100, but the chain ends at seq 75 \(25 records missing\)/);
  const [c] = latestCheckpoints(readFileSync(sink, 'utf8'));
  const head = await pgwarden(['audit', 'verify', '--data-dir', dir, '--expect-head', `gw1:${c.seq}:${c.hash}`], env);
  assert.equal(head.code, 1);
  assert.match(head.stderr, /chain ends at seq 75/);
});

test('verify: the first 50 records deleted behind a matching anchor row', { timeout: 30_000 }, async () => {
  const { dir, db, sink } = await log();
  const d = new Database(db);
  const r = d.prepare('SELECT seq, hash, at FROM audit_records WHERE seq = 50').get() as { seq: number; hash: string; at: number };
  d.prepare('DELETE FROM audit_records WHERE seq <= 50').run();
  d.prepare('INSERT INTO audit_anchors (instance, seq, hash, at) VALUES (?, ?, ?, ?)').run('gw1', r.seq, r.hash, r.at);
  d.close();
  for (const extra of [[], ['--checkpoint', sink]]) {
    const v = await pgwarden(['audit', 'verify', '--data-dir', dir, ...extra], env);
    assert.equal(v.code, 1, v.stdout);
    assert.match(v.stderr, /audit log FAILED \(instance gw1\): the chain starts after seq 50 at an anchor no retention record vouches for/);
  }
});
