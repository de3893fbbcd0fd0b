/**
 * search_path followed as the server keeps it, against a real PostgreSQL, with pg, postgres.js,
 * psql and raw protocol pipelines. Two granted schemas hold a table of the same name: `a.items`
 * may be read whole, `b.items` only by id, and its `tag` holds a value that must never reach the
 * client. The session starts with search_path `b`. After each sequence of path changes
 * (transactions, savepoints, rollbacks, failures, set_config, RESET ALL, DISCARD ALL …) the
 * gateway decides `select tag from items`: it must be allowed exactly when the server resolves
 * `items` to `a.items` (checked with the server's own SHOW search_path on the same session), and
 * no byte of `b`'s secret may ever reach the client.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import postgres from 'postgres';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { psql } from '../helpers/clients.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { encodeBind, encodeExecute, encodeParse, encodeQuery, SYNC } from '../../src/protocol/index.ts';

let t: TestGateway;
let token: string;
const SECRET = 'b-secret-tag-7731';

before(async () => {
  t = await startTestGateway({
    config: (raw) => {
      raw.policies = [
        {
          name: 'paths',
          match: { subjects: ['analyst'] },
          allow: [
            { tables: ['a.items'], operations: ['select', 'delete'] },
            { tables: ['b.items'], operations: ['select'], columns: ['id'] },
            { functions: ['public.path_inside', 'public.tidy_nothing', 'public.path_to_a'] },
          ],
        },
      ];
    },
  });
  t.pg.psql(
    `create schema a authorization gw_app; create schema b authorization gw_app;
     create table a.items (id int, tag text); create table b.items (id int, tag text);
     insert into a.items values (1, 'a-tag'); insert into b.items values (1, '${SECRET}');
     alter table a.items owner to gw_app; alter table b.items owner to gw_app;
     create function public.path_inside() returns text language sql set search_path = a as 'select current_setting(''search_path'')';`,
    'app',
  );
  token = await t.issuer.sign({ sub: 'analyst' });
});
after(async () => {
  await t?.stop();
});

async function client(): Promise<{ c: pg.Client; seen: () => string }> {
  const c = new pg.Client({ ...t.client(token), options: '-c search_path=b' });
  await c.connect();
  const chunks: Buffer[] = [];
  (c as any).connection.stream.on('data', (d: Buffer) => chunks.push(Buffer.from(d)));
  return { c, seen: () => Buffer.concat(chunks).toString('latin1') };
}

/** The server's search_path on this session, then the gateway's decision on reading `tag`. */
async function judge(c: pg.Client, seen: () => string, what: string): Promise<'a' | 'b'> {
  const server = (await c.query('show search_path')).rows[0].search_path as string;
  const expectA = server === 'a';
  assert.ok(server === 'a' || server === 'b', `${what}: unexpected server path ${server}`);
  try {
    const r = await c.query('select tag from items');
    assert.ok(expectA, `${what}: the gateway allowed reading items.tag while the server resolves items under ${server}`);
    assert.deepEqual(r.rows, [{ tag: 'a-tag' }], what);
  } catch (err: any) {
    if (err.code === undefined || err instanceof assert.AssertionError) throw err;
    assert.equal(err.code, '42501', `${what}: ${err.message}`);
    assert.ok(!expectA, `${what}: refused although the server resolves items to a.items: ${err.message}`);
  }
  assert.ok(!seen().includes(SECRET), `${what}: b's secret reached the client`);
  return expectA ? 'a' : 'b';
}

/** Sequences run as separate simple queries (pg), each allowed to fail at the server. */
const sequences: { name: string; steps: string[]; want: 'a' | 'b'; unsure?: boolean }[] = [
  { name: 'SET', steps: ['set search_path = a'], want: 'a' },
  { name: 'SET in a rolled-back transaction reverts', steps: ['begin', 'set search_path = a', 'rollback'], want: 'b' },
  { name: 'SET LOCAL ends with the transaction', steps: ['begin', 'set local search_path = a', 'commit'], want: 'b' },
  { name: 'SET in a committed transaction holds', steps: ['begin', 'set search_path = a', 'commit'], want: 'a' },
  { name: 'SET SESSION in a committed transaction holds', steps: ['begin', 'set session search_path = a', 'commit'], want: 'a' },
  { name: 'ROLLBACK TO SAVEPOINT reverts', steps: ['begin', 'savepoint s', 'set search_path = a', 'rollback to savepoint s', 'commit'], want: 'b' },
  { name: 'RELEASE keeps', steps: ['begin', 'savepoint s', 'set search_path = a', 'release s', 'commit'], want: 'a' },
  { name: 'a failed transaction block reverts on ROLLBACK', steps: ['begin', 'set search_path = a', 'select 1/0', 'rollback'], want: 'b' },
  { name: 'COMMIT of a failed block rolls back', steps: ['begin', 'set search_path = a', 'select 1/0', 'commit'], want: 'b' },
  { name: 'an error after a savepoint reverts to the savepoint', steps: ['begin', 'set search_path = a', 'savepoint s', 'set search_path = b', 'select 1/0', 'rollback to s', 'commit'], want: 'a' },
  { name: 'a query string that fails reverts its SET', steps: ['set search_path = a; select 1/0'], want: 'b' },
  { name: 'SET LOCAL in a query string ends with it', steps: ['set local search_path = a; select 1'], want: 'b' },
  // The gateway cannot tell which statement of the string failed: it refuses names that differ
  // under the paths it may have (fail closed) until search_path is set again.
  { name: 'SET before COMMIT in a failing query string committed', steps: ['set search_path = a; commit; select 1/0'], want: 'a', unsure: true },
  { name: 'set_config local outside a transaction ends at once', steps: ["select set_config('search_path', 'a', true)"], want: 'b' },
  { name: 'set_config session holds', steps: ["select set_config('search_path', 'a', false)"], want: 'a' },
  { name: 'RESET returns to the startup value', steps: ['set search_path = a', 'reset search_path'], want: 'b' },
  { name: 'SET TO DEFAULT returns to the startup value', steps: ['set search_path = a', 'set search_path to default'], want: 'b' },
  { name: 'RESET ALL returns to the startup value', steps: ['set search_path = a', 'reset all'], want: 'b' },
  { name: 'DISCARD ALL returns to the startup value', steps: ['set search_path = a', 'discard all'], want: 'b' },
  { name: 'DISCARD ALL inside a block fails and changes nothing', steps: ['set search_path = a', 'begin', 'discard all', 'rollback'], want: 'a' },
  { name: 'COMMIT AND CHAIN keeps, the chained transaction rolls back', steps: ['begin', 'set search_path = a', 'commit and chain', 'set search_path = b', 'rollback'], want: 'a' },
];

describe('search_path through transactions (pg, simple queries)', () => {
  for (const s of sequences) {
    it(`${s.name}: ${s.steps.join(' | ')}`, async () => {
      const { c, seen } = await client();
      try {
        for (const step of s.steps) await c.query(step).catch(() => undefined);
        if (s.unsure) {
          await assert.rejects(c.query('select tag from items'), (e: any) => e.code === '42501' && /cannot tell which search_path/.test(e.message));
          assert.equal((await c.query('show search_path')).rows[0].search_path, s.want);
          await c.query(`set search_path = ${s.want}`);
        }
        assert.equal(await judge(c, seen, s.name), s.want);
        // The session stays usable, and a write follows the same path: b.items is never deleted from.
        await c.query('delete from items').catch(() => undefined);
      } finally {
        await c.end();
      }
      const left = await psql(t.directUrl(), 'select count(*) from b.items');
      assert.equal(left.stdout.trim(), '1', `${s.name}: b.items was deleted from`);
      t.pg.psql('insert into a.items select 1, \'a-tag\' where not exists (select 1 from a.items)', 'app');
    });
  }

  it("a function's own SET search_path clause applies only inside it", async () => {
    const { c, seen } = await client();
    try {
      assert.deepEqual((await c.query('select public.path_inside() as p')).rows, [{ p: 'a' }]);
      assert.equal(await judge(c, seen, 'after the function'), 'b');
      await c.query('begin');
      await c.query('select public.path_inside()');
      assert.equal(await judge(c, seen, 'after the function, in a transaction'), 'b');
      await c.query('commit');
    } finally {
      await c.end();
    }
  });

  it('a CALL follows the procedure\'s source: one that does not touch search_path leaves it known, after one that sets it the path is read back from the server', async () => {
    t.pg.psql(
      `create procedure public.tidy_nothing() language plpgsql as $$ begin perform 1; end $$;
       create procedure public.path_to_a() language plpgsql as $$ begin set search_path to a; end $$;
       create table a.reload_probe (id int);`,
      'app',
    );
    const { c, seen } = await client();
    try {
      // A relation the catalog does not know yet makes the gateway load it again (and so learn
      // the procedures); the read itself is outside the scope.
      await assert.rejects(c.query('select id from a.reload_probe'), (e: any) => e.code === '42501');
      await c.query('call public.tidy_nothing()');
      assert.deepEqual((await c.query('select id from items')).rows, [{ id: 1 }], 'b.items, read after a CALL that leaves search_path alone');
      await c.query('call public.path_to_a()');
      // Read back from the server once the CALL's cycle was over: names resolve under it.
      assert.equal(await judge(c, seen, 'after a CALL that set it'), 'a');
      // In the same query string, what follows such a CALL cannot know the path.
      await assert.rejects(c.query('call public.path_to_a(); select id from items'), (e: any) => e.code === '42501' && /search_path may have been changed by code the gateway could not follow/.test(e.message));
      await c.query('set search_path = b');
      assert.deepEqual((await c.query('select id from items')).rows, [{ id: 1 }]);
    } finally {
      await c.end();
    }
  });

  it('inside a transaction, SET LOCAL applies to the statements after it', async () => {
    const { c, seen } = await client();
    try {
      await c.query('begin');
      await c.query('set local search_path = a');
      assert.equal(await judge(c, seen, 'in transaction'), 'a');
      await c.query('commit');
      assert.equal(await judge(c, seen, 'after commit'), 'b');
    } finally {
      await c.end();
    }
  });

  it('a statement prepared under one path runs under the path in effect (the server re-plans it)', async () => {
    const { c, seen } = await client();
    try {
      await c.query('set search_path = a');
      // Parse under a, then the path goes back to b: the Execute must be decided under b.
      const named = { name: 'read_tag', text: 'select tag from items' };
      assert.deepEqual((await c.query(named)).rows, [{ tag: 'a-tag' }]);
      await c.query('set search_path = b');
      await assert.rejects(c.query(named), (e: any) => e.code === '42501');
      assert.ok(!seen().includes(SECRET), 'b secret reached the client');
      await c.query('set search_path = a');
      await c.query('prepare p as select tag from items');
      await c.query('set search_path = b');
      await assert.rejects(c.query('execute p'), (e: any) => e.code === '42501');
      await c.query('set search_path = a');
      assert.deepEqual((await c.query('execute p')).rows, [{ tag: 'a-tag' }]);
      assert.ok(!seen().includes(SECRET), 'b secret reached the client');
    } finally {
      await c.end();
    }
  });
});

describe('search_path with other clients', () => {
  it('psql: a rolled-back SET in a script does not move the path; a committed one does', async () => {
    const url = `${t.url(token)}?options=${encodeURIComponent('-c search_path=b')}`;
    const r = await psql(url, null, [], 'begin;\nset search_path = a;\nrollback;\nselect tag from items;\n');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /may not read column b\.items\.tag/);
    assert.ok(!r.stdout.includes(SECRET));
    const ok = await psql(url, null, [], 'begin;\nset search_path = a;\ncommit;\nselect tag from items;\n');
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /a-tag/);
  });

  it('postgres.js: pipelined queries are decided with the path the earlier ones leave', async () => {
    const sql = postgres(t.url(token), { max: 1, connection: { search_path: 'b' }, onnotice: () => {} });
    try {
      const [, , first] = await Promise.all([sql`select set_config('search_path', 'a', false)`, sql`select 1`, sql`select tag from items`]);
      assert.deepEqual([...first], [{ tag: 'a-tag' }]);
      const results = await Promise.allSettled([sql`set local search_path = b`, sql`select tag from items`]);
      // SET LOCAL outside a block ends at its Sync: the read is under a.
      assert.equal(results[1].status, 'fulfilled');
      await sql`set search_path = b`;
      await assert.rejects(sql`select tag from items`, (e: any) => e.code === '42501');
    } finally {
      await sql.end();
    }
  });

  it('raw protocol: one pipeline (one Sync) runs SET and the read in one implicit transaction; a failure in it reverts', async () => {
    const c = await RawClient.connect(t.port, token, 'app', { options: '-c search_path=b' });
    const chunks: Buffer[] = [];
    c.socket.on('data', (d: Buffer) => chunks.push(Buffer.from(d)));
    try {
      const step = (text: string) => [encodeParse('', text, []), encodeBind('', '', []), encodeExecute('')];
      c.send(Buffer.concat([...step('set local search_path = a'), ...step('select tag from items'), SYNC]));
      const got = await c.until('Z');
      assert.equal(got.find((m) => m.tag === 'E'), undefined, 'allowed under a');
      assert.ok(Buffer.concat(chunks).toString('latin1').includes('a-tag'));
      c.send(Buffer.concat([...step('set search_path = a'), ...step('select 1/0'), SYNC]));
      await c.until('Z');
      c.send(encodeQuery('select tag from items'));
      const after = await c.until('Z');
      assert.equal(after.find((m) => m.tag === 'E')?.fields?.C, '42501', 'the failed pipeline reverted the SET: read under b is refused');
      assert.ok(!Buffer.concat(chunks).toString('latin1').includes(SECRET));
    } finally {
      c.socket.destroy();
    }
  });
});
