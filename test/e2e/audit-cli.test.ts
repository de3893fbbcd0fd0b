/**
 * `pgwarden audit …` as an auditor runs it: a child process reading a SQLite audit log that the
 * gateway's own audit API wrote, found through the config file (`--config` or `--data-dir`).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { auditSchema, openAudit, type OpenedAudit } from '../../src/audit/index.ts';
import { sessionStart, statement, statementEnd } from '../../src/audit/test-events.ts';
import { silentLogger } from '../../src/log.ts';
import { waitFor } from '../helpers/wait.ts';
import { pgwarden } from '../helpers/clients.ts';


const BIN = fileURLToPath(new URL('../../bin/pgwarden.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'pgwarden-audit-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const CONFIG = [
  'upstreams:',
  '  app:',
  '    url: postgres://pgwarden@db:5432/app',
  'identity:',
  '  issuers:',
  '    - issuer: https://idp.example.com',
  '      audience: pgwarden',
  'audit:',
  '  store: sqlite:./audit.db',
  '  capture_results: masked',
  '  retention: 0',
  '',
].join('\n');

let audit: OpenedAudit;
const ids: Record<string, string> = {};
const t0 = Date.now() - 10 * 60_000;
const cfgArgs = ['--data-dir', dir];

before(async () => {
  writeFileSync(join(dir, 'pgwarden.yaml'), CONFIG);
  audit = await openAudit(auditSchema.parse({ store: 'sqlite:./audit.db', capture_results: 'masked', retention: 0 }), { logger: silentLogger(), instance: 'gw-test', baseDir: dir });
  await audit.sessionStart(sessionStart('sess-alice', 'alice', t0));
  ids.select = await audit.statement(statement('sess-alice', 1, 'SELECT id, email FROM customers', { at: t0 + 200, analysis: { command: 'select', class: 'read', tables: ['public.customers'] } }));
  audit.statementEnd(statementEnd(ids.select, 'sess-alice', { at: t0 + 210, rows: 2, commandTag: 'SELECT 2', capture: { columns: ['id', 'email'], rows: [['1', 'a***@example.com'], ['2', 'b***@example.com']], truncated: false } }));
  ids.delete = await audit.statement(
    statement('sess-alice', 2, 'DELETE FROM orders', {
      at: t0 + 1500,
      decision: { verdict: 'deny', rule: 'support-agents', message: 'alice may not delete from public.orders' },
      analysis: { command: 'delete', class: 'write', tables: ['public.orders'] },
    }),
  );
  audit.sessionEnd({ sessionId: 'sess-alice', at: t0 + 2000, reason: 'client closed' });
  await audit.sessionStart(sessionStart('sess-bob', 'bob', t0 + 300_000));
  ids.bob = await audit.statement(statement('sess-bob', 1, 'SELECT count(*) FROM orders', { at: t0 + 300_100, params: ['42', null] }));
  audit.statementEnd(statementEnd(ids.bob, 'sess-bob', { at: t0 + 300_120, rows: 1, commandTag: 'SELECT 1' }));
  await audit.flush();
});
after(() => audit.close());

describe('pgwarden audit', () => {
  test('verify: exit 0 and the record count', async () => {
    const r = await pgwarden(['audit', 'verify', ...cfgArgs]);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'audit log OK: 8 records in 1 chain\n');
  });

  test('search --decision deny lists the refused statement with its rule', async () => {
    const r = await pgwarden(['audit', 'search', ...cfgArgs, '--decision', 'deny']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    assert.match(lines[0], new RegExp(`${ids.delete}  alice  DENY \\(support-agents\\)  DELETE FROM orders`));
  });

  test('search by identity, table, text and time', async () => {
    const byBob = await pgwarden(['audit', 'search', ...cfgArgs, '--identity', 'bob']);
    assert.match(byBob.stdout, /bob  ALLOW \(analysts\)  SELECT count\(\*\) FROM orders  → SELECT 1, 1 row, 1\.5 ms/);
    assert.doesNotMatch(byBob.stdout, /alice/);
    const byTable = await pgwarden(['audit', 'search', ...cfgArgs, '--table', 'public.customers']);
    assert.equal(byTable.stdout.trim().split('\n').length, 1);
    assert.match(byTable.stdout, /SELECT id, email FROM customers/);
    const byText = await pgwarden(['audit', 'search', ...cfgArgs, '--text', 'delete', '--json']);
    const found = byText.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string });
    assert.deepEqual(found.map((f) => f.id), [ids.delete]);
    const recent = await pgwarden(['audit', 'search', ...cfgArgs, '--since', '7m']);
    assert.equal(recent.stdout.trim().split('\n').length, 1, `only bob's statement is within 7 minutes: ${recent.stdout}`);
    const none = await pgwarden(['audit', 'search', ...cfgArgs, '--identity', 'nobody']);
    assert.equal(none.code, 0);
    assert.equal(none.stdout, '');
    assert.equal(none.stderr, 'no matching statements\n');
  });

  test('a bad --since is a one-line error', async () => {
    const r = await pgwarden(['audit', 'search', ...cfgArgs, '--since', 'yesterday-ish']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^pgwarden: --since: "yesterday-ish" is neither a duration/);
  });

  test('show prints a statement in full with its outcome and captured rows', async () => {
    const r = await pgwarden(['audit', 'show', ids.select, '--config', join(dir, 'pgwarden.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /identity:  alice \(https:\/\/idp\.example\.com\) groups analysts/);
    assert.match(r.stdout, /text:      SELECT id, email FROM customers/);
    assert.match(r.stdout, /bytes:     \d+ bytes, sha256 [0-9a-f]{64}/);
    assert.match(r.stdout, /outcome:   SELECT 2, 2 rows/);
    assert.match(r.stdout, /a\*\*\*@example\.com/);
    const missing = await pgwarden(['audit', 'show', 'nope', ...cfgArgs]);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'pgwarden: no audit record nope\n');
  });

  test('replay prints the session in order with relative times and masked results', async () => {
    const r = await pgwarden(['audit', 'replay', 'sess-alice', ...cfgArgs, '--no-wait']);
    assert.equal(r.code, 0, r.stderr);
    const text = r.stdout;
    const order = ['+0.000s  session sess-alice by alice', '+0.200s  ALLOW  SELECT id, email FROM customers', '→ SELECT 2, 2 rows', 'a***@example.com', '+1.500s  DENY   DELETE FROM orders', 'alice may not delete from public.orders', '+2.000s  session ended: client closed'];
    let at = -1;
    for (const piece of order) {
      const i = text.indexOf(piece);
      assert.ok(i > at, `"${piece}" appears after the previous step in:\n${text}`);
      at = i;
    }
  });

  test('replay waits between statements, scaled by --speed', async () => {
    const started = Date.now();
    const r = await pgwarden(['audit', 'replay', 'sess-alice', ...cfgArgs, '--speed', '2']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Date.now() - started >= 1000, 'the 2 s session took at least 1 s at double speed');
  });

  test('export as CSV and as JSON lines', async () => {
    const csv = await pgwarden(['audit', 'export', ...cfgArgs, '--format', 'csv']);
    assert.equal(csv.code, 0, csv.stderr);
    const rows = csv.stdout.trim().split('\n');
    assert.equal(rows[0], 'id,instance,seq,time,type,session_id,subject,verdict,tables,text,outcome,data,prev_hash,hash');
    assert.equal(rows.length, 9);
    assert.ok(rows.some((l) => l.startsWith(`${ids.delete},gw-test,`) && l.includes(',deny,public.orders,DELETE FROM orders,')), 'the refused statement is a CSV row');
    const jsonl = await pgwarden(['audit', 'export', ...cfgArgs, '--since', '7m']);
    const recs = jsonl.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; sessionId: string });
    assert.deepEqual(recs.map((x) => x.type), ['session_start', 'statement', 'statement_end']);
    const bad = await pgwarden(['audit', 'export', ...cfgArgs, '--format', 'xml']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--format must be jsonl or csv/);
  });

  test('tail prints the latest records, and -f follows new ones', async () => {
    const r = await pgwarden(['audit', 'tail', ...cfgArgs, '-n', '3']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /SESSION START sess-bob/);
    assert.match(r.stdout, /SELECT count\(\*\) FROM orders  → SELECT 1/);

    const child = spawn(process.execPath, [BIN, 'audit', 'tail', '-f', '-n', '1', ...cfgArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    try {
      await waitFor('the first tail line', () => out.includes('END of'), 15_000);
      await audit.statement(statement('sess-bob', 2, 'SELECT now()', { at: Date.now() }));
      await waitFor('the followed statement', () => out.includes('SELECT now()'), 15_000);
    } finally {
      child.kill('SIGTERM');
    }
  });

  test('verify checks the journal too: --json reports it, and a byte changed in it fails naming the record', async () => {
    await audit.flush();
    const ok = await pgwarden(['audit', 'verify', ...cfgArgs, '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    const result = JSON.parse(ok.stdout) as { records: number; journal?: unknown };
    assert.deepEqual(result.journal, { location: join(dir, 'audit-journal'), records: result.records, lag: 0 }, 'every record of the index is in the journal, and the index is not behind');
    const seg = join(dir, 'audit-journal', readdirSync(join(dir, 'audit-journal')).sort()[0]);
    const intact = readFileSync(seg);
    try {
      writeFileSync(seg, intact.toString('utf8').replace('count(*)', 'count(1)'));
      const r = await pgwarden(['audit', 'verify', ...cfgArgs]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`^pgwarden: audit log FAILED at record ${ids.bob} \\(instance gw-test, seq 7\\): journal: record ${ids.bob} \\(seq 7\\) was edited`));
    } finally {
      writeFileSync(seg, intact);
    }
  });

  test('verify fails after one byte of a stored record changes, naming the record', async () => {
    // Last, since it breaks the log.
    await audit.flush();
    const db = new Database(join(dir, 'audit.db'));
    const row = db.prepare('SELECT body FROM audit_records WHERE id = ?').get(ids.select) as { body: string };
    db.prepare('UPDATE audit_records SET body = ? WHERE id = ?').run(row.body.replace('email', 'emaik'), ids.select);
    db.close();
    const r = await pgwarden(['audit', 'verify', ...cfgArgs]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`^pgwarden: audit log FAILED at record ${ids.select} \\(instance gw-test, seq 2\\): record ${ids.select} \\(seq 2\\) was edited`));
    const json = await pgwarden(['audit', 'verify', ...cfgArgs, '--json']);
    assert.equal(json.code, 1);
    assert.equal((JSON.parse(json.stdout) as { problem: { id: string } }).problem.id, ids.select);
  });
});

describe('pgwarden audit prints what clients chose without obeying it', () => {
  // A client's application_name and statement text, as they reach the audit log: newlines that
  // would forge whole records, and escape sequences that would erase or recolour the real ones.
  const forgedApp = 'psql\n2026-12-08 00:00:00.000  FORGED-ID  admin  SESSION START x db=shop from 10.0.0.1 \x1b[31mRED\x1b[0m';
  const hidden = 'select 1 /*\x1b[2K\r2026-12-08 03:00:00.000  FAKE  admin  ALLOW  select 42 */';
  const multiLine = 'select 2 as x\n     +0.001s  DENY   DROP TABLE customers -- \u202eforged replay line';
  const hostile = join(dir, 'hostile');
  const args = ['--data-dir', hostile];
  const ids: Record<string, string> = {};
  let log: OpenedAudit;
  const RAW = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/;

  before(async () => {
    mkdirSync(hostile);
    writeFileSync(join(hostile, 'pgwarden.yaml'), CONFIG);
    log = await openAudit(auditSchema.parse({ store: 'sqlite:./audit.db', capture_results: 'masked', retention: 0 }), { logger: silentLogger(), instance: 'gw-hostile', baseDir: hostile });
    await log.sessionStart(sessionStart('sess-x', 'mallory', t0, { applicationName: forgedApp }));
    ids.hidden = await log.statement(statement('sess-x', 1, hidden, { at: t0 + 1 }));
    log.statementEnd(statementEnd(ids.hidden, 'sess-x', { at: t0 + 2, capture: { columns: ['x\x1b[8m'], rows: [['\x1b]0;pwned\x07']], truncated: false } }));
    ids.multi = await log.statement(statement('sess-x', 2, multiLine, { at: t0 + 3 }));
    await log.flush();
  });
  after(() => log.close());

  test('tail: one line per record, no control character, application_name escaped', async () => {
    const r = await pgwarden(['audit', 'tail', ...args, '-n', '10']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, RAW);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 3, `three records (the outcome on its statement's line):\n${r.stdout}`);
    assert.match(lines[0], /SESSION START sess-x db=app from 127\.0\.0\.1:50000 app=psql\\n2026-12-08 00:00:00\.000 {2}FORGED-ID .*\\x1b\[31mRED\\x1b\[0m$/);
    assert.match(lines[1], /ALLOW \(analysts\) {2}select 1 \/\*\\x1b\[2K 2026-12-08 03:00:00\.000 FAKE admin ALLOW select 42 \*\/ {2}→ SELECT 1/);
  });

  test('show: the text with its CR and ESC visible, the captured values escaped', async () => {
    const r = await pgwarden(['audit', 'show', ids.hidden, ...args]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, RAW);
    assert.match(r.stdout, /^text: {6}select 1 \/\*\\x1b\[2K\\r2026-12-08 03:00:00\.000 {2}FAKE {2}admin {2}ALLOW {2}select 42 \*\/$/m);
    assert.match(r.stdout, /x\\x1b\[8m/);
    assert.match(r.stdout, /\\x1b\]0;pwned\\x07/);
    const start = await pgwarden(['audit', 'show', (await log.store.search({ types: ['session_start'] }))[0].id, ...args]);
    assert.doesNotMatch(start.stdout, RAW);
    assert.match(start.stdout, /^applicationName: psql\\n2026-12-08 .*FORGED-ID/m);
    const multi = await pgwarden(['audit', 'show', ids.multi, ...args]);
    assert.match(multi.stdout, /^text: {6}select 2 as x\n {9}\| {6}\+0\.001s {2}DENY {3}DROP TABLE customers -- \\u\{202e\}forged replay line$/m);
  });

  test("replay: a statement's further lines are behind the gutter, never a step of their own", async () => {
    const r = await pgwarden(['audit', 'replay', 'sess-x', ...args, '--no-wait']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, RAW);
    assert.match(r.stdout, /^ +\+0\.001s {2}ALLOW {2}select 1 \/\*\\x1b\[2K\\r2026-12-08 03:00:00\.000 {2}FAKE/m);
    assert.match(r.stdout, /^ {16}\| {6}\+0\.001s {2}DENY {3}DROP TABLE customers/m);
    assert.doesNotMatch(r.stdout, /^ *\+0\.001s {2}DENY/m, 'no forged step');
  });
});
