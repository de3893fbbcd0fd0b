/**
 * A defer-mode approval is bound to what the statement's names resolve to, not only to its text.
 * The attack: `DROP TABLE orders` is approved as public.orders, then the same text is sent from a
 * session whose startup sets another search_path (options=-c search_path=…, or the search_path
 * startup parameter), where `orders` is other.orders. That run must be refused with a review of
 * its own, and other.orders must still exist (judged on a direct connection and in the server's
 * statement log). The approval still runs the statement it was given for, once.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import postgres from 'postgres';
import { psql } from '../helpers/clients.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';

let pgs: TestPostgres;
let t: TestGateway;

const SETUP = `
  drop schema if exists other cascade;
  drop table if exists public.orders, public.items;
  create schema other authorization gw_app;
  create table public.orders (id int primary key); insert into public.orders values (1);
  create table other.orders (id int primary key); insert into other.orders values (1), (2);
  create table public.items (id int); insert into public.items values (1);
  create table other.items (id int); insert into other.items values (1), (2);
  alter table public.orders owner to gw_app; alter table other.orders owner to gw_app;
  alter table public.items owner to gw_app; alter table other.items owner to gw_app;`;

const exists = (table: string) => pgs.psql(`select to_regclass('${table}') is not null`, 'app').trim() === 't';
const rows = (table: string) => Number(pgs.psql(`select count(*) from ${table}`, 'app').trim());
const logged = (statement: string) => readFileSync(join(pgs.dataDir, 'log', 'pg.log'), 'utf8').split('\n').filter((l) => l.includes(`statement: ${statement}`)).length;

async function api(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const token = await t.issuer.sign({ sub: 'alice-dba', groups: ['dba'] });
  const res = await fetch(`http://${t.config.listen.http}/api/reviews${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

async function deferrer(options?: string): Promise<pg.Client> {
  const c = new pg.Client({ ...t.client(await t.issuer.sign({ sub: 'deferrer', groups: ['deferrers'] })), ...(options ? { options } : {}) });
  c.on('error', () => {});
  await c.connect();
  return c;
}

/** Runs `sql`, expecting the defer refusal: the review id it names. */
async function refusedForReview(run: () => Promise<unknown>): Promise<string> {
  let id = '';
  await assert.rejects(run, (e: any) => {
    const m = /review (\S+) was requested/.exec(e.message);
    id = m?.[1] ?? '';
    return e.code === '42501' && m !== null;
  });
  return id;
}

before(async () => {
  pgs = await startPostgres({ conf: ['logging_collector = on', "log_directory = 'log'", "log_filename = 'pg.log'", 'log_file_mode = 0644', "log_statement = 'all'"] });
  pgs.psql("create role gw_app login password 'x'");
  pgs.psql('create database app owner gw_app');
  t = await startTestGateway({
    pg: pgs,
    config: (raw) => {
      raw.policies = [{ name: 'migrations', match: { groups: ['deferrers'] }, allow: [{ tables: ['public.*', 'other.*'], operations: 'all' }, { ddl: { schemas: ['public', 'other'] } }] }];
      raw.reviews = { store: 'memory', rules: [{ name: 'drops', when: ['drop', 'delete_without_where'], match: { groups: ['deferrers'] }, approvers: { groups: ['dba'] }, mode: 'defer' }] };
    },
  });
});
after(async () => {
  await t?.stop();
  await pgs?.stop();
});

describe('a defer-mode approval is bound to the objects its names resolve to', () => {
  it('an approval of DROP TABLE orders as public.orders does not drop other.orders from a session with another search_path', async () => {
    pgs.psql(SETUP, 'app');
    await t.gw.reloadCatalogs();
    const a = await deferrer();
    const id = await refusedForReview(() => a.query('DROP TABLE orders'));
    const shown = await api('GET', `/${id}`);
    assert.deepEqual(shown.json.analysis.tables, ['public.orders'], 'the approver sees the resolved table');
    assert.deepEqual(shown.json.analysis.searchPath, ['public'], 'and the search_path it was resolved with');
    assert.equal((await api('POST', `/${id}/approve`, { comment: 'drop the old orders' })).status, 200);

    // The attack: the same identity, the same text, a search_path where `orders` is other.orders.
    const before = logged('DROP TABLE orders');
    const viaOptions = await deferrer('-c search_path=other');
    const second = await refusedForReview(() => viaOptions.query('DROP TABLE orders'));
    assert.notEqual(second, id, 'the other resolution needs a review of its own');
    assert.deepEqual((await api('GET', `/${second}`)).json.analysis.tables, ['other.orders'], 'its review shows other.orders');
    assert.deepEqual((await api('GET', `/${second}`)).json.analysis.searchPath, ['other']);
    await viaOptions.end();

    const viaStartup = postgres({ ...t.client(await t.issuer.sign({ sub: 'deferrer', groups: ['deferrers'] })), username: 'deferrer', connection: { search_path: 'other, public' }, max: 1, onnotice: () => {} });
    try {
      await refusedForReview(() => viaStartup.unsafe('DROP TABLE orders'));
    } finally {
      await viaStartup.end();
    }
    const token = await t.issuer.sign({ sub: 'deferrer', groups: ['deferrers'] });
    const viaPsql = await psql(`${t.url(token)}${t.url(token).includes('?') ? '&' : '?'}options=${encodeURIComponent('-c search_path=other')}`, 'DROP TABLE orders');
    assert.notEqual(viaPsql.code, 0, 'psql is refused too');
    assert.match(viaPsql.stderr, /needs approval under rule "drops": review \S+ was requested/);
    assert.ok(exists('other.orders'), 'other.orders still exists');
    assert.equal(rows('other.orders'), 2, 'with its rows');
    assert.ok(exists('public.orders'), 'public.orders was not dropped by the refused runs either');
    assert.equal(logged('DROP TABLE orders'), before, 'no DROP TABLE orders reached the server');
    assert.equal((await api('GET', `/${id}`)).json.status, 'approved', 'the approval is still unused');

    // The statement that was approved runs, once, where it was approved.
    await a.query('DROP TABLE orders');
    assert.ok(!exists('public.orders'), 'the approved table is dropped');
    assert.ok(exists('other.orders'), 'the other one is not');
    assert.equal((await api('GET', `/${id}`)).json.status, 'consumed');
    await a.end();
  });

  it('an approved DELETE without WHERE (prepared, extended protocol) is not used for the same text resolving elsewhere', async () => {
    pgs.psql(SETUP, 'app');
    await t.gw.reloadCatalogs();
    const a = await deferrer('-c search_path=public');
    const id = await refusedForReview(() => a.query({ name: 'wipe', text: 'DELETE FROM items' }));
    assert.deepEqual((await api('GET', `/${id}`)).json.analysis.tables, ['public.items']);
    assert.equal((await api('POST', `/${id}/approve`)).status, 200);
    const b = await deferrer('-c search_path=other,public');
    await refusedForReview(() => b.query({ name: 'wipe', text: 'DELETE FROM items' }));
    await refusedForReview(() => b.query('DELETE FROM items'));
    await b.end();
    assert.equal(rows('other.items'), 2, 'other.items keeps its rows');
    assert.equal(rows('public.items'), 1, 'public.items too, until the approved statement runs');
    await a.query({ name: 'wipe2', text: 'DELETE FROM items' });
    assert.equal(rows('public.items'), 0, 'the approved DELETE ran where it was approved');
    assert.equal(rows('other.items'), 2);
    await a.end();
  });
});
