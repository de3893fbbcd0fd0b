/**
 * A relation the gateway's catalog does not know is looked up again once, then decided: the
 * client gets a prompt answer (never a wait that lasts as long as it keeps waiting), and the
 * on-demand reload keeps working for every later new name, created through the gateway or
 * directly on the database.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

let t: TestGateway;
let token: string;

before(async () => {
  t = await startTestGateway();
  token = await t.issuer.sign({ sub: 'reloader' });
});
after(async () => {
  await t?.stop();
});

async function timed<T>(f: () => Promise<T>): Promise<{ ms: number; value: T | Error }> {
  const start = Date.now();
  try {
    return { ms: Date.now() - start, value: await f() };
  } catch (e) {
    return { ms: Date.now() - start, value: e as Error };
  }
}

describe('unknown relations', () => {
  it('a typo gets PostgreSQL\'s 42P01 at once, and tables created later are found', async () => {
    const c = new pg.Client(t.client(token));
    await c.connect();
    try {
      for (let round = 0; round < 3; round++) {
        const typo = await timed(() => c.query(`select * from no_such_table_${round}`));
        assert.ok(typo.value instanceof Error, 'the typo must fail');
        assert.equal((typo.value as Error & { code?: string }).code, '42P01');
        assert.ok(typo.ms < 5000, `the refusal took ${typo.ms} ms`);
        // Created directly on the database, behind the gateway's back: the next statement that
        // names it must find it (the on-demand reload still runs after the previous ones).
        t.pg.psql(`create table made_later_${round} (a int); alter table made_later_${round} owner to gw_app; insert into made_later_${round} values (${round})`, 'app');
        const found = await c.query(`select a from made_later_${round}`);
        assert.deepEqual(found.rows, [{ a: round }]);
      }
    } finally {
      await c.end();
    }
  });

  it('statements on a temporary table do not reload the catalog each time', async () => {
    const c = new pg.Client(t.client(token));
    await c.connect();
    try {
      await c.query('create temp table tmp_many (a int)');
      await c.query('insert into tmp_many values (0)');
      const loads = () => t.logs.filter((l) => l.includes('"catalog loaded"')).length;
      const before = loads();
      for (let i = 1; i <= 20; i++) await c.query('insert into tmp_many values ($1)', [i]);
      for (let i = 0; i < 5; i++) await c.query('select count(*) from tmp_many');
      assert.equal((await c.query('select count(*)::int as n from tmp_many')).rows[0].n, 21);
      assert.ok(loads() - before <= 2, `the catalog was reloaded ${loads() - before} times for 26 statements on one temporary table`);
    } finally {
      await c.end();
    }
  });

  it('a temporary table is usable in the session that made it, in one string or two', async () => {
    const c = new pg.Client(t.client(token));
    await c.connect();
    try {
      await c.query('create temp table tmp_one (a int)');
      await c.query('insert into tmp_one values (1), (2)');
      const r = await c.query('select count(*)::int as n from tmp_one');
      assert.deepEqual(r.rows, [{ n: 2 }]);
      await c.query('create temp table tmp_two (a int); insert into tmp_two values (3)');
      assert.deepEqual((await c.query('select a from tmp_two')).rows, [{ a: 3 }]);
    } finally {
      await c.end();
    }
  });
});
