/**
 * search_path changed by code in the database the gateway cannot follow statement by statement:
 * a user function that calls set_config (a tenant switch, say), a DO block or a procedure with
 * dynamic SQL. The gateway reads the path back from the server once such a cycle is over, so
 * the next statement is decided under the path the server has, and a statement after such code
 * in the same query string is refused when it names anything.
 *
 * Two tenants' schemas hold `orders`: the agent may read `tenant_a` only. `set_tenant` is an
 * allowed function that moves the session's path to a tenant's schema.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { judgePath, watchedClient, type WatchedClient } from '../helpers/path-judge.ts';
import { RawClient, message } from '../helpers/raw-client.ts';
import { waitFor } from '../helpers/wait.ts';
import { encodeBind, encodeExecute, encodeParse, encodeQuery, FLUSH, SYNC } from '../../src/protocol/index.ts';

let t: TestGateway;
let agent: string;
const SECRET = 'tenant-b-order-9921';
const open: pg.Client[] = [];

before(async () => {
  t = await startTestGateway({
    config: (raw) => {
      raw.policies = [
        {
          name: 'tenant-a',
          match: { subjects: ['agent'] },
          allow: [
            { tables: ['tenant_a.*'], operations: ['select'] },
            { tables: ['tenant_a.log', 'tenant_a.quiet_log', 'tenant_a.notes', 'tenant_a.boxed'], operations: ['insert'] },
            { functions: ['public.set_tenant', 'public.via_wrapper', 'public.harmless', 'public.scoped', 'public.switch_check'] },
            { do_blocks: ['plpgsql'] },
          ],
        },
        {
          // May read tenant_a and create objects in it: a function it creates is one the
          // catalog does not have until it is read again.
          name: 'tenant-a-builder',
          match: { subjects: ['builder'] },
          allow: [
            { tables: ['tenant_a.*'], operations: ['select'] },
            { functions: ['tenant_a.*'] },
            { ddl: { schemas: ['tenant_a'] } },
          ],
        },
      ];
    },
  });
  t.pg.psql(
    `create schema tenant_a authorization gw_app; create schema tenant_b authorization gw_app;
     create table tenant_a.orders (id int, note text); create table tenant_b.orders (id int, note text);
     insert into tenant_a.orders values (1, 'a-order'); insert into tenant_b.orders values (1, '${SECRET}');
     alter table tenant_a.orders owner to gw_app; alter table tenant_b.orders owner to gw_app;
     create function public.set_tenant(name text) returns text language plpgsql as $$
       begin perform set_config('search_path', name, false); return name; end $$;
     create function public.via_wrapper(name text) returns text language sql as $$ select public.set_tenant(name) $$;
     create function public.harmless(x int) returns int language sql as $$ select x + 1 $$;
     create function public.scoped() returns text language plpgsql set search_path = tenant_b as $$
       begin perform set_config('search_path', 'tenant_b', false); return 'x'; end $$;
     create table tenant_a.log (id int, tenant text); alter table tenant_a.log owner to gw_app;
     create function public.log_switch() returns trigger language plpgsql as $$
       begin perform public.set_tenant(new.tenant); return new; end $$;
     create trigger log_switch before insert on tenant_a.log for each row execute function public.log_switch();
     create table tenant_a.quiet_log (id int, at timestamptz); alter table tenant_a.quiet_log owner to gw_app;
     create function public.stamp() returns trigger language plpgsql as $$ begin new.at = now(); return new; end $$;
     create trigger stamp before insert on tenant_a.quiet_log for each row execute function public.stamp();
     create view tenant_a.switch_to_b as select public.set_tenant('tenant_b') as tenant;
     create view tenant_a.over_switch as select * from tenant_a.switch_to_b;
     alter view tenant_a.switch_to_b owner to gw_app; alter view tenant_a.over_switch owner to gw_app;
     create function public.switch_check(v text) returns boolean language plpgsql as $$
       begin perform set_config('search_path', 'tenant_b', false); return true; end $$;
     create domain tenant_a.switching as text check (public.switch_check(value));
     create domain tenant_a.over_switching as tenant_a.switching;
     create type tenant_a.pair as (label text, body tenant_a.over_switching);
     create table tenant_a.notes (id int, body tenant_a.switching); alter table tenant_a.notes owner to gw_app;
     create table tenant_a.boxed (id int, items tenant_a.pair[]); alter table tenant_a.boxed owner to gw_app;
     alter database app set search_path = tenant_a`,
    'app',
  );
  await t.gw.reloadCatalogs();
  agent = await t.issuer.sign({ sub: 'agent' });
});
after(async () => {
  for (const c of open) await c.end().catch(() => {});
  await t?.stop();
});

const session = (): Promise<WatchedClient> => watchedClient(t.client(agent), open);
const ORDERS = { query: 'select note from orders', allowedUnder: 'tenant_a', rows: [{ note: 'a-order' }], secret: SECRET };
const judge = (s: WatchedClient, what: string): Promise<string> => judgePath(s, ORDERS, what);

describe('search_path set by code the gateway reads back', () => {
  it('a function that switches the tenant: the next statement is decided under the new path', async () => {
    const s = await session();
    assert.equal(await judge(s, 'at start'), 'tenant_a');
    await s.c.query(`select public.set_tenant('tenant_b')`);
    assert.equal(await judge(s, 'after set_tenant(tenant_b)'), 'tenant_b');
    await s.c.query(`select public.set_tenant('tenant_a')`);
    assert.equal(await judge(s, 'after set_tenant(tenant_a)'), 'tenant_a');
  });

  it('through a wrapper that names it, and inside a transaction block that commits or rolls back', async () => {
    const s = await session();
    await s.c.query('begin');
    await s.c.query(`select public.via_wrapper('tenant_b')`);
    assert.equal(await judge(s, 'in a block, after via_wrapper(tenant_b)'), 'tenant_b');
    await s.c.query('rollback');
    assert.equal(await judge(s, 'after ROLLBACK'), 'tenant_a');
    await s.c.query('begin');
    await s.c.query(`select public.via_wrapper('tenant_b')`);
    await s.c.query('commit');
    assert.equal(await judge(s, 'after COMMIT'), 'tenant_b');
    await s.c.query('set search_path = tenant_a');
    assert.equal(await judge(s, 'after SET'), 'tenant_a');
  });

  it('a statement after such a call in the same query string is refused when it names anything', async () => {
    const s = await session();
    await assert.rejects(s.c.query(`select public.set_tenant('tenant_b'); select note from orders`), (err: any) => err.code === '42501' && /search_path/.test(err.message));
    assert.equal(await judge(s, 'after the refused string'), 'tenant_a');
  });

  it('a DO block with dynamic SQL: the path is read back instead of refused until set', async () => {
    const s = await session();
    await s.c.query(`do $$ begin execute 'set search_path = tenant_b'; end $$`);
    assert.equal(await judge(s, 'after the DO block'), 'tenant_b');
    await s.c.query(`do $$ begin execute format('select %s', 1); end $$`);
    assert.equal(await judge(s, 'after a DO block that left it'), 'tenant_b');
  });

  it('a function with its own SET search_path whose body sets it for the session: the change outlives the call', async () => {
    const s = await session();
    await s.c.query('select public.scoped()');
    assert.equal(await judge(s, 'after scoped()'), 'tenant_b');
  });

  it('a trigger that switches the tenant: the insert that fires it is followed by a read-back', async () => {
    const s = await session();
    await s.c.query(`insert into log values (1, 'tenant_b')`);
    assert.equal(await judge(s, 'after an insert whose trigger switched'), 'tenant_b');
    await s.c.query('set search_path = tenant_a');
    // A trigger that cannot change it costs nothing.
    await s.c.query('insert into quiet_log (id) values (1)');
    assert.equal(await judge(s, 'after an insert with a harmless trigger'), 'tenant_a');
  });

  it('a domain whose CHECK switches the tenant: a write of a column of it, or a cast to it, is followed by a read-back', async () => {
    const s = await session();
    await s.c.query(`insert into notes values (1, 'x')`);
    assert.equal(await judge(s, 'after an insert into a column of the domain'), 'tenant_b');
    await s.c.query('set search_path = tenant_a');
    // Through a composite type and an array of it, and a domain over the domain.
    await s.c.query(`insert into boxed values (1, array[row('a', 'x')::pair])`);
    assert.equal(await judge(s, 'after an insert into an array of a composite holding the domain'), 'tenant_b');
    await s.c.query('set search_path = tenant_a');
    await s.c.query(`select 'x'::tenant_a.switching`);
    assert.equal(await judge(s, 'after a cast to the domain'), 'tenant_b');
    await s.c.query('set search_path = tenant_a');
    await s.c.query(`select array['x']::tenant_a.over_switching[]`);
    assert.equal(await judge(s, 'after a cast to an array of a domain over it'), 'tenant_b');
    await s.c.query('set search_path = tenant_a');
    for (const sql of [`insert into notes values (2, 'x'); select note from orders`, `select 'x'::tenant_a.switching; select note from orders`]) {
      await assert.rejects(s.c.query(sql), (err: any) => err.code === '42501' && /search_path/.test(err.message), sql);
      assert.equal(await judge(s, `after the refused string ${sql}`), 'tenant_a');
    }
  });

  it('a view whose query switches the tenant, read directly or through another view', async () => {
    const s = await session();
    await s.c.query('select * from switch_to_b');
    assert.equal(await judge(s, 'after reading the view'), 'tenant_b');
    await s.c.query('set search_path = tenant_a');
    await s.c.query('select * from over_switch');
    assert.equal(await judge(s, 'after reading a view over it'), 'tenant_b');
  });

  it('a function that cannot change it is not followed by a read-back', async () => {
    const s = await session();
    const reads = () => t.logs.filter((l) => l.includes('search_path read back')).length;
    const before = reads();
    await s.c.query('select public.harmless(1)');
    assert.equal(await judge(s, 'after harmless()'), 'tenant_a');
    assert.equal(reads(), before, 'no read-back for code that cannot change the path');
    await s.c.query(`select public.set_tenant('tenant_a')`);
    // The read-back runs after set_tenant's cycle, while the client may already go on.
    for (let i = 0; i < 50 && reads() === before; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(reads(), before + 1, 'one read-back after set_tenant');
  });
});

describe('a function the catalog does not have yet', () => {
  // Created in the same query string, or earlier in an open transaction: the catalog cannot see
  // it, so its body is not known from there.
  const SWITCH = "returns text language plpgsql as $$ begin perform set_config('search_path', 'tenant_b', false); return 'x'; end $$";

  it('created and called in one query string, then a name read: refused', async () => {
    const s = await watchedClient(t.client(await t.issuer.sign({ sub: 'builder' })), open);
    await assert.rejects(s.c.query(`create function tenant_a.sw1() ${SWITCH}; select tenant_a.sw1(); select note from orders`), (err: any) => err.code === '42501' && /search_path may have been changed/.test(err.message));
    assert.equal(await judge(s, 'after the refused string'), 'tenant_a');
  });

  it('created in an open transaction and called there: the path is read back before the next statement', async () => {
    const s = await watchedClient(t.client(await t.issuer.sign({ sub: 'builder' })), open);
    await s.c.query('begin');
    await s.c.query(`create function tenant_a.sw2() ${SWITCH}`);
    await s.c.query('select tenant_a.sw2()');
    assert.equal(await judge(s, 'after calling it in the block'), 'tenant_b');
    await s.c.query('rollback');
  });

  it('created in the same string with a body that cannot change it: the string runs', async () => {
    const s = await watchedClient(t.client(await t.issuer.sign({ sub: 'builder' })), open);
    const r: any = await s.c.query("create function tenant_a.plus1(x int) returns int language sql as 'select x + 1'; select tenant_a.plus1(1) as two; select note from orders");
    assert.deepEqual(r[1].rows, [{ two: 2 }]);
    assert.deepEqual(r[2].rows, [{ note: 'a-order' }]);
    await s.c.query('drop function tenant_a.plus1(int)');
  });
});

describe('pipelines', () => {
  it('a pipeline begun while the call was running: no read-back inside it; read back after its Sync', async () => {
    const c = await RawClient.connect(t.port, agent);
    const chunks: Buffer[] = [];
    c.socket.on('data', (d: Buffer) => chunks.push(Buffer.from(d)));
    try {
      const step = (text: string) => [encodeParse('', text, []), encodeBind('', '', []), encodeExecute('')];
      // The switch, then (before its answer) a pipeline up to a Flush: open on the server when
      // the switch's ReadyForQuery comes back.
      c.send(Buffer.concat([encodeQuery(`select public.set_tenant('tenant_b')`), ...step('select 1'), FLUSH]));
      await c.until('Z');
      await c.until('C');
      // A statement naming a table in the same pipeline cannot know the path.
      c.send(Buffer.concat([...step('select note from orders'), SYNC]));
      const refused = await c.until('Z');
      assert.equal(refused.find((m) => m.tag === 'E')?.fields?.C, '42501');
      // After its Sync the path is read back: the read is decided under tenant_b, and refused.
      c.send(encodeQuery('select note from orders'));
      const after = await c.until('Z');
      assert.match(after.find((m) => m.tag === 'E')?.fields?.M ?? '', /may not read tenant_b\.orders/);
      c.send(encodeQuery('set search_path = tenant_a'));
      await c.until('Z');
      c.send(encodeQuery('select note from orders'));
      const back = await c.until('Z');
      assert.equal(back.find((m) => m.tag === 'E'), undefined);
      assert.ok(!Buffer.concat(chunks).toString('latin1').includes(SECRET));
    } finally {
      c.socket.destroy();
    }
  });
});

describe('after a COPY', () => {
  it('a COPY FROM STDIN by simple Query leaves no batch open: the path is read back after a later tenant switch', async () => {
    const c = await RawClient.connect(t.port, agent);
    try {
      c.send(encodeQuery('copy quiet_log (id) from stdin'));
      await c.until('G');
      c.send(Buffer.concat([message('d', Buffer.from('7\n')), message('c', Buffer.alloc(0))]));
      const copied = await c.until('Z');
      assert.equal(copied.find((m) => m.tag === 'E'), undefined);
      c.send(encodeQuery(`select public.set_tenant('tenant_b')`));
      await c.until('Z');
      c.send(encodeQuery('select note from orders'));
      const after = await c.until('Z');
      assert.match(after.find((m) => m.tag === 'E')?.fields?.M ?? '', /may not read tenant_b\.orders/, 'decided under the path read back');
    } finally {
      c.socket.destroy();
    }
  });
});

describe('behind a transaction pool', () => {
  let pooled: TestGateway;
  const mine: pg.Client[] = [];
  before(async () => {
    pooled = await startTestGateway({
      pg: t.pg,
      issuer: t.issuer,
      config: (raw) => {
        raw.upstreams.app.pool = { mode: 'transaction', size: 1 };
        raw.policies = t.config.policies;
      },
    });
  });
  after(async () => {
    for (const c of mine) await c.end().catch(() => {});
    await pooled?.stop();
  });

  const pooledSession = async (sub: string): Promise<WatchedClient> => watchedClient(pooled.client(await pooled.issuer.sign({ sub })), mine);

  it('a tenant switch outside a block does not reach the next session lent the same server connection', async () => {
    const a = await pooledSession('agent');
    const b = await pooledSession('agent');
    await a.c.query(`select public.set_tenant('tenant_b')`);
    // One server connection: b's next transaction runs on the one a's function changed.
    assert.equal(await judge(b, 'another session after the switch'), 'tenant_a');
    // a itself: its next transaction may run on any connection, so names are refused until set.
    await assert.rejects(a.c.query('select note from orders'), (err: any) => err.code === '42501' && /search_path may have been changed/.test(err.message));
    await a.c.query('set search_path = tenant_a');
    assert.equal(await judge(a, 'after SET'), 'tenant_a');
  });

  it('a prepared statement that runs such code keeps its session on its server connection', async () => {
    const a = await pooledSession('agent');
    await a.c.query({ name: 'switch', text: 'select public.set_tenant($1)', values: ['tenant_a'] });
    await waitFor('the pin logged', () => pooled.logs.some((l) => l.includes('session pinned to its server connection') && l.includes('runs code which may change session settings')));
    // The pool has one connection: give it back.
    mine.splice(mine.indexOf(a.c), 1);
    await a.c.end();
  });

  it('inside a block the path is read back on the connection the block holds', async () => {
    const a = await pooledSession('agent');
    await a.c.query('begin');
    await a.c.query(`select public.set_tenant('tenant_b')`);
    assert.equal(await judge(a, 'in a block after the switch'), 'tenant_b');
    await a.c.query('rollback');
    await a.c.query('set search_path = tenant_a');
    assert.equal(await judge(a, 'after ROLLBACK and SET'), 'tenant_a');
  });
});
