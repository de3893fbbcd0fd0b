/**
 * Statements that differ only in literals share one analysis (keyed by the scanner's literal key)
 * only where no literal value can change the decision. End to end through a real gateway and a
 * real PostgreSQL: a refusal that depends on a literal's value is not bypassed by first warming
 * the cache with an allowed variant, over the simple and the extended protocol; and variants that
 * do share an analysis are masked alike. Judged by effect: the data (read directly), the
 * server's own statement log, and every value the client received.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';

let pgs: TestPostgres;
let t: TestGateway;
let c: pg.Client;

function configure(raw: Record<string, any>): void {
  raw.policies = [
    {
      name: 'apps',
      match: { groups: ['apps'] },
      allow: [{ tables: ['public.*'], operations: 'all' }],
      deny: [{ tables: ['public.secret_seq'] }],
    },
  ];
  raw.masking = { rules: [{ column: 'public.accounts.email', with: 'redact' }] };
  raw.reviews = {
    store: 'memory',
    rules: [{ name: 'unbounded', when: ['delete_without_where', 'update_without_where'], match: { groups: ['apps'] }, approvers: { groups: ['dba'] }, mode: 'defer' }],
  };
}

const direct = (sql: string) => pgs.psql(sql, 'app').trim();

function logged(fragment: string): boolean {
  const log = readFileSync(join(pgs.dataDir, 'log', 'pg.log'), 'utf8');
  return log.split('\n').some((l) => l.includes('statement:') && l.includes(fragment));
}

async function refusal(run: () => Promise<unknown>, what = 'the statement'): Promise<{ code?: string; message: string }> {
  try {
    await run();
  } catch (err) {
    return err as { code?: string; message: string };
  }
  assert.fail(`${what} was allowed`);
}

before(async () => {
  pgs = await startPostgres({ conf: ['logging_collector = on', "log_directory = 'log'", "log_filename = 'pg.log'", 'log_file_mode = 0644', "log_statement = 'all'"] });
  pgs.psql("create role gw_app login password 'x'");
  pgs.psql('create database app owner gw_app');
  pgs.psql(
    `create table accounts (id int primary key, email text not null, balance int not null);
     insert into accounts select g, 'user' || g || '@example.com', g * 10 from generate_series(1, 20) g;
     create sequence public_seq; create sequence secret_seq; create schema secret;
     alter table accounts owner to gw_app; alter sequence public_seq owner to gw_app; alter sequence secret_seq owner to gw_app;
     alter schema secret owner to gw_app;`,
    'app',
  );
  t = await startTestGateway({ pg: pgs, config: configure });
  c = new pg.Client(t.client(await t.issuer.sign({ sub: 'app-1', groups: ['apps'] })));
  c.on('error', () => {});
  await c.connect();
});
after(async () => {
  await c?.end().catch(() => {});
  await t?.stop();
  await pgs?.stop();
});

describe('literal keys through the gateway', () => {
  it('an unbounded DELETE is held after bounded variants warmed the cache (simple and extended)', async () => {
    for (const id of [5, 6]) await c.query(`delete from accounts where id = ${id}`);
    await c.query('delete from accounts where id = $1', [7]);
    const rows = direct('select count(*) from accounts');
    assert.equal(rows, '17');
    for (const sql of ['delete from accounts where 1=1', 'delete from accounts where 1 = 1', 'delete from accounts where id = 8 or not id = 8']) {
      const e = await refusal(() => c.query(sql), sql);
      assert.equal(e.code, '42501', `${sql}: ${e.message}`);
      assert.match(e.message, /review/i);
      assert.equal(logged(sql), false, `${sql} reached the server`);
    }
    const e = await refusal(() => c.query('delete from accounts where 2 = 2 or id > $1', [0]));
    assert.match(e.message, /review/i);
    assert.equal(direct('select count(*) from accounts'), rows, 'no row deleted');
    // The bounded form still runs, and only its row goes.
    await c.query('delete from accounts where id = 9');
    assert.equal(direct('select count(*) from accounts'), '16');
  });

  it("set_config('search_path', …) is decided on its own value after an allowed one", async () => {
    await c.query("select set_config('search_path', 'public', false)");
    const e = await refusal(() => c.query("select set_config('search_path', 'secret', false)"));
    assert.equal(e.code, '42501');
    assert.match(e.message, /secret/);
    assert.equal(logged("set_config('search_path', 'secret'"), false);
    const e2 = await refusal(() => c.query("select set_config('search_path', 'secret', false), $1::int", [1]));
    assert.match(e2.message, /secret/);
  });

  it("nextval('…') is decided on the sequence it names after an allowed one", async () => {
    const before = direct('select last_value from secret_seq');
    await c.query("select nextval('public_seq')");
    await c.query("select nextval('public_seq'), $1::int", [1]);
    for (const run of [() => c.query("select nextval('secret_seq')"), () => c.query("select nextval('secret_seq'), $1::int", [1])]) {
      const e = await refusal(run);
      assert.equal(e.code, '42501');
      assert.match(e.message, /secret_seq/);
    }
    assert.equal(direct('select last_value from secret_seq'), before, 'the sequence did not advance');
    assert.equal(logged("nextval('secret_seq')"), false);
  });

  it('variants that share an analysis are masked alike', async () => {
    for (const id of [11, 12, 13]) {
      const r = await c.query(`select id, email, balance from accounts where id = ${id}`);
      assert.equal(r.rows.length, 1);
      assert.equal(r.rows[0].id, id);
      assert.equal(r.rows[0].balance, id * 10, 'the statement ran with its own literal');
      assert.doesNotMatch(JSON.stringify(r.rows), /@example\.com/);
    }
    const r = await c.query('select email from accounts where id in (14, 15) or balance > 195');
    assert.equal(r.rows.length, 3);
    assert.doesNotMatch(JSON.stringify(r.rows), /@example\.com/);
  });
});
