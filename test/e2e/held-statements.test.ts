/**
 * Statements held for review (wait mode), judged by their effect on a real PostgreSQL that logs
 * every statement: nothing of a held statement reaches the server before approval (not its text
 * in the statement log, not in pg_stat_activity, no lock), and a client that disconnects while
 * its statement is held ends its upstream session (rolled back by the server), its review is
 * abandoned, and approving it afterwards runs nothing.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import postgres from 'postgres';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { startTestIssuer, type TestIssuer } from '../helpers/issuer.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { waitFor } from '../helpers/wait.ts';
import { encodeBind, encodeDescribe, encodeExecute, encodeParse, encodeQuery, SYNC } from '../../src/protocol/index.ts';

let pgs: TestPostgres;
let t: TestGateway;
let dir: string;
let issuer: TestIssuer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-held-'));
  pgs = await startPostgres({
    conf: ['logging_collector = on', "log_directory = 'log'", "log_filename = 'statements.log'", 'log_file_mode = 0644', "log_statement = 'all'"],
  });
  pgs.psql("create role gw_app login password 'x'");
  pgs.psql('create database app owner gw_app');
  issuer = await startTestIssuer();
  t = await startTestGateway({
    pg: pgs,
    issuer,
    config: (raw) => {
      raw.policies = [{ name: 'migrations', match: { groups: ['migrators'] }, allow: [{ tables: ['public.*'], operations: 'all' }, { ddl: { schemas: ['public'] } }] }];
      raw.reviews = {
        store: `sqlite:${join(dir, 'reviews.db')}`,
        rules: [{ name: 'destructive', when: ['drop', 'truncate', 'delete_without_where'], match: { groups: ['migrators'] }, approvers: { groups: ['dba'] }, mode: 'wait', timeout: '1m' }],
      };
    },
  });
});
after(async () => {
  await t?.stop();
  await issuer?.stop();
  await pgs?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Everything the server logged so far (log_statement = all). */
function statementLog(): string {
  const logDir = join(pgs.dataDir, 'log');
  return readdirSync(logDir)
    .map((f) => readFileSync(join(logDir, f), 'utf8'))
    .join('');
}

const q = (sql: string) => pgs.psql(sql, 'app').trim();
const gatewayBackends = () => Number(q("select count(*) from pg_stat_activity where usename = 'gw_app' and datname = 'app' and application_name <> 'pgwarden-catalog'"));
const locksOn = (table: string) => Number(q(`select count(*) from pg_locks l join pg_class c on c.oid = l.relation where c.relname = '${table}'`));
const backendQueries = () => q("select coalesce(string_agg(query, ' | '), '') from pg_stat_activity where usename = 'gw_app'");

function makeTable(name: string): void {
  q(`create table ${name} (id int primary key, v text); insert into ${name} select g, 'v' || g from generate_series(1, 5) g; alter table ${name} owner to gw_app`);
}

async function api(path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const token = await t.issuer.sign({ sub: 'alice-dba', groups: ['dba'] });
  const res = await fetch(`http://${t.config.listen.http}/api/reviews${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

const migrator = () => t.issuer.sign({ sub: 'migrator', groups: ['migrators'] });

/** The id of the newest pending review whose text contains `text`. */
async function heldReview(text: string): Promise<string> {
  return waitFor(`a pending review of "${text}"`, async () => {
    const r = await api('?status=pending');
    return (r.json.reviews as { id: string; text: string }[]).find((x) => x.text.includes(text))?.id;
  });
}

/**
 * After the client left: no backend of the gateway's role remains, no lock on the table, the
 * rows are unchanged, the review is abandoned, and approving it now runs nothing.
 */
async function assertAbandoned(id: string, table: string, heldText: string): Promise<void> {
  await waitFor('the upstream session to end', () => gatewayBackends() === 0, 10_000);
  assert.equal(locksOn(table), 0, 'no lock stays on the table');
  assert.equal(q(`select count(*) from ${table}`), '5', 'the table is unchanged');
  const shown = await waitFor('the review to be abandoned', async () => {
    const r = await api(`/${id}`);
    return r.json.status === 'abandoned' ? r.json : null;
  });
  assert.ok(shown.abandonedAt, 'the review says when it was abandoned');
  const approve = await api(`/${id}/approve`, { comment: 'too late' });
  assert.equal(approve.status, 409, JSON.stringify(approve.json));
  assert.match(approve.json.message, /abandoned/);
  assert.equal(q(`select count(*) from ${table}`), '5', 'an approval after the client left runs nothing');
  assert.ok(!statementLog().toLowerCase().includes(heldText.toLowerCase()), `"${heldText}" never reached the server`);
}

/** As `assertAbandoned`, for a describe-first driver whose Parse (not its execution) went up. */
async function assertAbandonedAfterParse(id: string, table: string): Promise<void> {
  await waitFor('the upstream session to end', () => gatewayBackends() === 0, 10_000);
  assert.equal(locksOn(table), 0);
  assert.equal(q(`select count(*) from ${table}`), '5');
  await waitFor('the review to be abandoned', async () => (await api(`/${id}`)).json.status === 'abandoned');
  assert.equal((await api(`/${id}/approve`, {})).status, 409);
  assert.equal(q(`select count(*) from ${table}`), '5');
  assert.ok(!new RegExp(`execute [^:]*: delete from ${table}`, 'i').test(statementLog()), 'never executed');
}

describe('a statement held for review', () => {
  it('extended protocol (pg): nothing of it reaches the server; the client leaving ends the session and abandons the review', async () => {
    makeTable('h1');
    const c = new pg.Client(t.client(await migrator()));
    c.on('error', () => {});
    await c.connect();
    await c.query('begin');
    await c.query('update h1 set v = v where id = 1'); // a row lock the transaction holds
    const held = c.query({ name: 'held_delete', text: 'delete from h1' });
    held.catch(() => {});
    const id = await heldReview('delete from h1');
    assert.ok(!backendQueries().toLowerCase().includes('delete from h1'), 'the held Parse did not reach the server');
    assert.equal(q('select count(*) from h1'), '5');
    // The client goes away without a word.
    (c as any).connection.stream.destroy();
    await assertAbandoned(id, 'h1', 'delete from h1');
  });

  it('simple protocol: a held DROP, client disconnects inside a transaction block', async () => {
    makeTable('h2');
    const c = new pg.Client(t.client(await migrator()));
    c.on('error', () => {});
    await c.connect();
    await c.query('begin; select count(*) from h2');
    const held = c.query('drop table h2');
    held.catch(() => {});
    const id = await heldReview('drop table h2');
    assert.ok(!backendQueries().toLowerCase().includes('drop table h2'));
    (c as any).connection.stream.destroy();
    await assertAbandoned(id, 'h2', 'drop table h2');
    assert.equal(q("select count(*) from pg_tables where tablename = 'h2'"), '1', 'the table still exists');
  });

  it('raw protocol: a named Parse, Bind, Describe, Execute, Sync of a held DELETE, then Terminate', async () => {
    makeTable('h3');
    const c = await RawClient.connect(t.port, await migrator());
    c.send(Buffer.concat([encodeParse('held_s', 'delete from h3'), encodeBind('', 'held_s', []), encodeDescribe('P', ''), encodeExecute(''), SYNC]));
    const id = await heldReview('delete from h3');
    assert.equal(q("select count(*) from pg_prepared_statements"), '0');
    assert.ok(!backendQueries().toLowerCase().includes('delete from h3'), 'the held Parse did not reach the server');
    c.end();
    await assertAbandoned(id, 'h3', 'delete from h3');
  });

  it('postgres.js (describes first): its Bind and Execute are held, so no lock and no open transaction while it waits', async () => {
    makeTable('h6');
    const sql = postgres(t.url(await migrator()), { max: 1, onnotice: () => {} });
    const held = sql`delete from h6`.execute();
    held.catch(() => {});
    const id = await heldReview('delete from h6');
    assert.equal(locksOn('h6'), 0, 'nothing holds a lock on the table while the statement waits');
    assert.equal(q("select count(*) from pg_stat_activity where usename = 'gw_app' and state like 'idle in transaction%'"), '0');
    assert.ok(!/execute [^:]*: delete from h6/i.test(statementLog()), 'it was never executed');
    // The client process goes away.
    await sql.end({ timeout: 0 });
    await assertAbandonedAfterParse(id, 'h6');
  });

  it('a prepared "EXECUTE d" is reviewed on what d is when it runs, not when it was parsed', async () => {
    makeTable('h7');
    const c = await RawClient.connect(t.port, await migrator());
    c.send(encodeQuery('prepare d as select 1'));
    await c.until('Z');
    c.send(Buffer.concat([encodeParse('e', 'execute d'), SYNC]));
    await c.until('Z');
    c.send(encodeQuery('deallocate d'));
    await c.until('Z');
    // Re-preparing d as a DELETE is itself held (PREPARE is judged by what it prepares).
    c.send(encodeQuery('prepare d as delete from h7'));
    const prepareId = await heldReview('prepare d as delete from h7');
    assert.equal((await api(`/${prepareId}/approve`, { comment: 'prepare only' })).status, 200);
    await c.until('Z');
    assert.equal(q('select count(*) from h7'), '5', 'preparing ran nothing');
    // Running the old Parse now runs the DELETE: it must be held too.
    c.send(Buffer.concat([encodeBind('', 'e', []), encodeExecute(''), SYNC]));
    const runId = await heldReview('execute d');
    assert.equal(q('select count(*) from h7'), '5');
    assert.equal((await api(`/${runId}/reject`, { comment: 'no' })).status, 200);
    const got = await c.until('Z');
    assert.match(got.find((m) => m.tag === 'E')?.fields?.M ?? '', /rejected/);
    assert.equal(q('select count(*) from h7'), '5', 'the rejected DELETE never ran');
    c.end();
  });

  it('a client that leaves after the review was rejected leaves nothing behind either', async () => {
    makeTable('h4');
    const c = await RawClient.connect(t.port, await migrator());
    c.send(encodeQuery('begin'));
    await c.until('Z');
    c.send(Buffer.concat([encodeParse('', 'delete from h4'), encodeBind('', '', []), encodeExecute(''), SYNC]));
    const id = await heldReview('delete from h4');
    assert.equal((await api(`/${id}/reject`, { comment: 'no' })).status, 200);
    const got = await c.until('Z');
    const err = got.find((m) => m.tag === 'E');
    assert.match(err?.fields?.M ?? '', /rejected/);
    assert.ok(!got.some((m) => m.tag === '1' || m.tag === '2'), 'no ParseComplete/BindComplete: nothing of it went upstream');
    c.send(encodeQuery('select count(*) from h4'));
    const rows = await c.until('Z');
    assert.ok(rows.some((m) => m.tag === 'E'), 'the transaction is aborted, as after any error in it');
    c.end();
    await waitFor('the upstream session to end', () => gatewayBackends() === 0, 10_000);
    assert.equal(q('select count(*) from h4'), '5');
    assert.ok(!statementLog().toLowerCase().includes('delete from h4'));
  });

  it('an approved held statement still runs, once (its held-back messages go up in order)', async () => {
    makeTable('h5');
    const c = new pg.Client(t.client(await migrator()));
    c.on('error', () => {});
    await c.connect();
    try {
      const held = c.query({ name: 'approved_delete', text: 'delete from h5' });
      held.catch(() => {});
      const id = await heldReview('delete from h5');
      assert.ok(!backendQueries().toLowerCase().includes('delete from h5'));
      assert.equal((await api(`/${id}/approve`, { comment: 'ok' })).status, 200);
      const r = await held;
      assert.equal(r.rowCount, 5);
      assert.equal(q('select count(*) from h5'), '0');
      assert.equal((await c.query('select 1 as n')).rows[0].n, 1);
    } finally {
      await c.end();
    }
  });
});
