/**
 * The audit log end to end: every allowed and refused statement of a scripted session is in the
 * log with the exact bytes forwarded, replay shows the session in order, verify passes and then
 * names the record after one byte of it is changed. A crash test kills the gateway under load and
 * finds an audit record for every row the database shows was written.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { FileJournal } from '../../src/audit/index.ts';
import { openAuditStore, type StoredRecord } from '../../src/store/index.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startPostgres, freePort, type TestPostgres } from '../helpers/postgres.ts';
import { startTestIssuer, type TestIssuer } from '../helpers/issuer.ts';
import { psql, run } from '../helpers/clients.ts';
import { waitFor } from '../helpers/wait.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { SYNC, encodeBind, encodeExecute, encodeParse, encodeQuery } from '../../src/protocol/index.ts';

const BIN = join(import.meta.dirname, '../../bin/pgwarden.mjs');

const POLICIES = [
  {
    name: 'analysts',
    match: { groups: ['analysts'] },
    allow: [{ tables: ['public.items'], operations: ['select', 'insert'] }],
  },
];

describe('every statement is recorded', () => {
  let t: TestGateway;
  let dir: string;
  let configFile: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgwarden-audit-'));
    const store = `sqlite:${join(dir, 'audit.db')}`;
    t = await startTestGateway({
      config: (raw) => {
        raw.policies = POLICIES;
        raw.audit = { store, instance: 'gw-test', capture_results: 'masked', capture_rows: 5 };
      },
    });
    t.pg.psql('create table items (id int, name text); alter table items owner to gw_app', 'app');
    // A config file for the CLI, naming the same store.
    configFile = join(dir, 'pgwarden.yaml');
    writeFileSync(
      configFile,
      [
        'upstreams:',
        `  app: { url: "postgres://gw_app@127.0.0.1:${t.pg.port}/app" }`,
        'identity:',
        `  issuers: [{ issuer: "${t.issuer.issuer}", audience: pgwarden }]`,
        'audit:',
        `  store: "${store}"`,
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    await t?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('records allowed and refused statements with the exact bytes, and replays the session', async () => {
    const token = await t.issuer.sign({ sub: 'audited-analyst', groups: ['analysts'] });
    const c = new pg.Client(t.client(token));
    await c.connect();
    await c.query("insert into items values (1, 'one')");
    await c.query('select * from items where id = $1', [1]);
    await assert.rejects(c.query('delete from items'), (e: any) => e.code === '42501');
    await c.end();

    const store = await openAuditStore(`sqlite:${join(dir, 'audit.db')}`, { baseDir: dir });
    try {
      const rows = await waitFor('the statement records', async () => {
        const r = await store.search({ identity: 'audited-analyst', types: ['statement'] });
        return r.length >= 3 ? r : null;
      });
      const bodies = rows.map((r) => JSON.parse(r.body).data);
      const insert = bodies.find((b) => b.text.startsWith('insert'));
      assert.ok(insert, 'the insert is recorded');
      assert.equal(insert.decision.verdict, 'allow');
      // The exact bytes forwarded: a simple Query message with the text.
      const bytes = Buffer.from(insert.bytes, 'base64');
      assert.equal(bytes[0], 0x51);
      assert.equal(bytes.subarray(5, bytes.length - 1).toString(), "insert into items values (1, 'one')");
      const select = bodies.find((b) => b.text.startsWith('select'));
      assert.deepEqual(select.params, ['1']);
      assert.equal(select.kind, 'execute');
      const refused = bodies.find((b) => b.text === 'delete from items');
      assert.equal(refused.decision.verdict, 'deny');
      assert.match(refused.decision.message, /may not delete from public\.items/);
      const outcomes = await store.outcomes(rows.map((r) => r.id));
      const insertOutcome = JSON.parse(outcomes.get(rows[bodies.indexOf(insert)].id)!.body).data;
      assert.equal(insertOutcome.commandTag, 'INSERT 0 1');
      const selectOutcome = JSON.parse(outcomes.get(rows[bodies.indexOf(select)].id)!.body).data;
      assert.deepEqual(selectOutcome.capture.rows, [['1', 'one']], 'the result is captured as the client saw it');
      assert.equal(selectOutcome.rows, 1);

      const replay = await run(process.execPath, [BIN, 'audit', 'replay', rows[0].sessionId!, '--config', configFile, '--no-wait']);
      assert.equal(replay.code, 0, replay.stderr);
      const order = ['insert into items', 'select * from items', 'delete from items'].map((s) => replay.stdout.indexOf(s));
      assert.ok(order.every((p) => p >= 0) && order[0] < order[1] && order[1] < order[2], `replay in order:\n${replay.stdout}`);

      const verify = await run(process.execPath, [BIN, 'audit', 'verify', '--config', configFile]);
      assert.equal(verify.code, 0, verify.stderr + verify.stdout);
      assert.match(verify.stdout, /audit log OK/);
    } finally {
      await store.close();
    }
  });

  it('records the outcome of each statement: the batch before the Query, the Query, and a Query the server skipped', async () => {
    const c = await RawClient.connect(t.port, await t.issuer.sign({ sub: 'batcher', groups: ['analysts'] }));
    const statement = (sql: string) => [encodeParse('', sql), encodeBind('', '', []), encodeExecute('')];
    // Both run: the Execute's answers come first, in the Query's cycle.
    c.send(Buffer.concat([...statement("insert into items values (2, 'two')"), encodeQuery("insert into items values (3, 'three')"), SYNC]));
    await c.until('Z');
    await c.until('Z');
    // The Execute fails, so the server skips the Query up to Sync.
    c.send(Buffer.concat([...statement("insert into items select 1 / (id - id), 'x' from items"), encodeQuery("insert into items values (4, 'four')"), SYNC]));
    assert.deepEqual((await c.until('Z')).map((m) => m.tag), ['1', '2', 'E', 'Z']);
    c.end();
    assert.equal(t.pg.psql('select string_agg(id::text, \',\' order by id) from items where id between 2 and 4', 'app').trim(), '2,3');

    const store = await openAuditStore(`sqlite:${join(dir, 'audit.db')}`, { baseDir: dir });
    try {
      const rows = await waitFor('the statement records', async () => {
        const r = await store.search({ identity: 'batcher', types: ['statement'] });
        return r.length >= 4 ? r : null;
      });
      const outcome = async (text: string) => {
        const row = rows.find((r) => JSON.parse(r.body).data.text.startsWith(text));
        assert.ok(row, `${text} is recorded`);
        const o = await waitFor(`the outcome of ${text}`, async () => (await store.outcomes([row.id])).get(row.id) ?? null);
        return JSON.parse(o.body).data;
      };
      assert.equal((await outcome("insert into items values (2, 'two')")).commandTag, 'INSERT 0 1');
      assert.equal((await outcome("insert into items values (3, 'three')")).commandTag, 'INSERT 0 1');
      assert.equal((await outcome('insert into items select 1 / (id - id)')).error?.sqlstate, '22012');
      assert.match((await outcome("insert into items values (4, 'four')")).commandTag, /^not run: an earlier message of its batch failed/);
    } finally {
      await store.close();
    }
  });
});

describe('crash safety', () => {
  let pgs: TestPostgres;
  let issuer: TestIssuer;
  let dir: string;

  before(async () => {
    pgs = await startPostgres();
    pgs.psql("create role gw_app login password 'crash-test-pw'");
    pgs.psql('create database app owner gw_app');
    pgs.psql('create table writes (id int primary key); alter table writes owner to gw_app', 'app');
    issuer = await startTestIssuer();
    dir = mkdtempSync(join(tmpdir(), 'pgwarden-crash-'));
  });
  after(async () => {
    await issuer?.stop();
    await pgs?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('after kill -9 under load, every row the database shows has its audit record', async () => {
    const port = await freePort();
    const configFile = join(dir, 'pgwarden.yaml');
    writeFileSync(
      configFile,
      [
        'listen:',
        `  postgres: 127.0.0.1:${port}`,
        `  http: 127.0.0.1:${await freePort()}`,
        'upstreams:',
        `  app: { url: "postgres://gw_app@127.0.0.1:${pgs.port}/app", password: crash-test-pw }`,
        'identity:',
        `  issuers: [{ issuer: "${issuer.issuer}", audience: pgwarden }]`,
        'policies:',
        '  - { name: writer, match: { subjects: [writer] }, allow: [{ tables: [public.writes], operations: [insert, select] }] }',
        'audit:',
        `  store: "sqlite:${join(dir, 'audit.db')}"`,
        'log: { level: warn }',
        '',
      ].join('\n'),
    );
    const gw: ChildProcess = spawn(process.execPath, [BIN, 'start', '--config', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    gw.stderr!.on('data', (d) => (stderr += d));
    const token = await issuer.sign({ sub: 'writer', exp: Math.floor(Date.now() / 1000) + 600 });
    await waitFor('the gateway to listen', async () => (await psql(`postgres://writer:${token}@127.0.0.1:${port}/app`, 'select 1')).code === 0, 20_000, 100);

    // Four writers insert rows one by one until the gateway dies under them.
    let next = 0;
    const writer = async () => {
      const c = new pg.Client({ host: '127.0.0.1', port, user: 'writer', password: token, database: 'app' });
      c.on('error', () => {});
      await c.connect();
      try {
        for (;;) await c.query('insert into writes values ($1)', [++next]);
      } catch {
        // the gateway was killed
      }
    };
    const writers = [writer(), writer(), writer(), writer()];
    // `next` counts statements sent; up to four are still in flight when the gateway dies.
    await waitFor('some rows to be written', () => next > 320, 20_000);
    gw.kill('SIGKILL');
    await Promise.all(writers);
    assert.ok(stderr.length >= 0, 'the gateway ran');

    const written = pgs.psql('select id from writes order by id', 'app').trim().split('\n').filter(Boolean).map(Number);
    assert.ok(written.length > 300, `rows written: ${written.length}`);
    // Every row that reached the database has its record in the journal, written before the
    // statement was forwarded (the index may be behind: it catches up at the next start).
    const everyRowAudited = (rows: { body: string; subject: string | null; type: string }[], where: string) => {
      const audited = new Set(rows.filter((r) => r.type === 'statement' && r.subject === 'writer').map((r) => JSON.parse(r.body).data.params?.[0]).filter(Boolean).map(Number));
      const missing = written.filter((id) => !audited.has(id));
      assert.deepEqual(missing, [], `rows without an audit record in the ${where}: ${missing.slice(0, 10).join(', ')}`);
    };
    const journal = new FileJournal(join(dir, 'audit-journal'), { segmentBytes: 64 << 20, readOnly: true });
    const journaled: StoredRecord[] = [];
    for await (const page of journal.read(0)) journaled.push(...page);
    everyRowAudited(journaled, 'journal');

    // The next start records the unclean end, ends the killed run's sessions and gives its
    // statements in flight the outcome unknown; then a clean stop.
    const again: ChildProcess = spawn(process.execPath, [BIN, 'start', '--config', configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise((resolve) => again.on('close', resolve));
    try {
      await waitFor('the gateway to listen again', async () => (await psql(`postgres://writer:${token}@127.0.0.1:${port}/app`, 'select 1')).code === 0, 20_000, 100);
    } finally {
      again.kill('SIGTERM');
      await exited;
    }
    const reopened = await openAuditStore(`sqlite:${join(dir, 'audit.db')}`, { baseDir: dir });
    try {
      const all = await reopened.search({ limit: 100_000 });
      // The restart brought the index up to the journal: every row has its record there too.
      everyRowAudited(all, 'index');
      const data = (r: (typeof all)[number]) => JSON.parse(r.body).data as Record<string, unknown>;
      const mark = all.findIndex((r) => r.type === 'event' && data(r).kind === 'previous_run_unclean');
      assert.ok(mark > 0, 'the unclean end is recorded');
      const killedRun = all.slice(0, mark);
      const closedAfter = all.slice(mark + 1);
      const open = killedRun.filter((r) => r.type === 'session_start' && !killedRun.some((e) => e.type === 'session_end' && e.sessionId === r.sessionId));
      assert.ok(open.length >= 4, `the four writers' sessions were open when the gateway died (${open.length})`);
      for (const s of open) {
        const end = closedAfter.find((e) => e.type === 'session_end' && e.sessionId === s.sessionId);
        assert.equal(end && data(end).reason, 'the gateway ended uncleanly', `session ${s.sessionId} ended with the reason`);
      }
      const unfinished = killedRun.filter((r) => r.type === 'statement' && r.verdict === 'allow' && !killedRun.some((e) => e.type === 'statement_end' && e.ref === r.id));
      for (const st of unfinished) {
        const end = closedAfter.find((e) => e.type === 'statement_end' && e.ref === st.id);
        assert.equal(end && data(end).outcome, 'unknown', `statement ${st.id} in flight has the outcome unknown`);
      }
      assert.ok(all.some((r, i) => i > mark && r.type === 'event' && data(r).kind === 'gateway_stop'), 'then a clean stop');
    } finally {
      await reopened.close();
    }
  });
});
