/**
 * Behind a transaction pool, a session's lone SETs are replayed on each server connection it is
 * lent afterwards, in one Query. Each SET goes as the client wrote it, so one that ends in a line
 * comment (`SET search_path = a -- reporting`) used to swallow the separator before the next,
 * and the replay failed: the session was ended (08006) the next time it met another session's
 * connection. Each case sets, lets another identity take the only connection, and checks that the
 * session goes on under its own settings (and reads the table its path names, never another).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

let t: TestGateway;

before(async () => {
  t = await startTestGateway({
    config: (raw) => {
      raw.policies = [
        {
          name: 'readers',
          match: { subjects: ['analyst', 'other'] },
          allow: [{ tables: ['a.*'], operations: ['select'] }, { functions: ['pg_catalog.current_setting'] }],
        },
      ];
      raw.upstreams.app.pool = { mode: 'transaction', size: 1 };
    },
  });
  t.pg.psql(
    `create schema a authorization gw_app; create table a.orders(v text); insert into a.orders values ('a-row');
     create table public.orders(v text); insert into public.orders values ('PUBLIC-ROW');
     grant all on all tables in schema a, public to gw_app;`,
    'app',
  );
  await t.gw.reloadCatalogs();
});
after(async () => {
  await t?.stop();
});

async function client(sub: string): Promise<pg.Client> {
  const c = new pg.Client(t.client(await t.issuer.sign({ sub })));
  c.on('error', () => {});
  await c.connect();
  return c;
}

describe('settings replayed on another connection', () => {
  const cases: [string, string[]][] = [
    ['a line comment after the first SET', ['SET search_path = a -- reporting', "SET work_mem = '2MB'"]],
    ['a line comment after the last SET', ["SET work_mem = '2MB'", 'SET search_path = a -- reporting']],
    ['a line comment after each, and a semicolon', ['SET search_path = a; -- reporting', "SET work_mem = '2MB' --x"]],
    ['block comments', ['/* r */ SET search_path = a /* r */', "SET work_mem = '2MB' /* -- */"]],
  ];
  for (const [name, sets] of cases) {
    it(name, async () => {
      const A = await client('analyst');
      const B = await client('other');
      try {
        for (const s of sets) await A.query(s);
        // The other identity takes the only connection (and resets it); A is lent it again.
        await B.query('select 1');
        const rows = (await A.query('select v from orders')).rows;
        assert.deepEqual(rows, [{ v: 'a-row' }]);
        const got = (await A.query("select current_setting('search_path') as p, current_setting('work_mem') as w")).rows[0];
        assert.deepEqual(got, { p: 'a', w: '2MB' });
        await B.query('select 1');
        assert.deepEqual((await A.query('select v from orders')).rows, [{ v: 'a-row' }]);
      } finally {
        await A.end().catch(() => {});
        await B.end().catch(() => {});
      }
    });
  }
});
