/**
 * User code a session creates, and relations it removes, that the catalog cannot see yet: earlier
 * in the same query string, in a transaction block still open, or earlier in a pipeline not yet
 * synced. A call that may resolve to such code (a function on a path that puts its schema before
 * pg_catalog shadows a built-in; an operator likewise) is decided as a call of it, as it is once
 * the catalog has it; a name whose relation was dropped or renamed is the next one on the path.
 *
 * `builder` may read tenant_a and create objects there, but call no function of its own;
 * `granted` may also call tenant_a's functions. tenant_b holds a secret neither may read.
 * Judged by effect: the secret never reaches the client.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { RawClient, message, type RawMessage } from '../helpers/raw-client.ts';

let t: TestGateway;
let builder: string;
let granted: string;
let plain: string;
const SECRET = 'tenant-b-order-9921';
const SSN = '123-45-6789';
const open: pg.Client[] = [];

before(async () => {
  t = await startTestGateway({
    config: (raw) => {
      const base = [
        { tables: ['tenant_a.*', 'public.customers'], operations: ['select'] },
        { tables: ['tenant_a.log', 'tenant_a.made'], operations: ['insert'] },
        { ddl: { schemas: ['tenant_a'] } },
      ];
      raw.masking = { rules: [{ column: 'public.customers.ssn', with: 'redact', only: { subjects: ['builder', 'granted'] } }] };
      raw.policies = [
        { name: 'builder', match: { subjects: ['builder'] }, allow: base },
        { name: 'granted', match: { subjects: ['granted'] }, allow: [...base, { functions: ['tenant_a.*'] }] },
        // No masking rule applies to plain, and it may not read public.customers at all.
        {
          name: 'plain',
          match: { subjects: ['plain'] },
          allow: [
            { tables: ['tenant_a.*'], operations: ['select'] },
            { tables: ['tenant_a.log', 'tenant_a.made', 'tenant_a.log_d'], operations: ['insert'] },
            { functions: ['tenant_a.*'] },
            { ddl: { schemas: ['tenant_a'] } },
          ],
        },
      ];
    },
  });
  t.pg.psql(
    `create schema tenant_a authorization gw_app; create schema tenant_b authorization gw_app;
     create table tenant_b.orders (id int, note text); insert into tenant_b.orders values (1, '${SECRET}');
     alter table tenant_b.orders owner to gw_app;
     create table tenant_a.orders (id int, note text); insert into tenant_a.orders values (1, 'a-order');
     alter table tenant_a.orders owner to gw_app;
     create table public.customers (id int, ssn text); insert into public.customers values (1, '${SSN}');
     alter table public.customers owner to gw_app;
     create table tenant_a.customers (id int, ssn text); alter table tenant_a.customers owner to gw_app;
     create view tenant_a.plain as select 'plain'::text as x; alter view tenant_a.plain owner to gw_app;
     create table tenant_a.log (id int); alter table tenant_a.log owner to gw_app;
     create function tenant_a.log_fn() returns trigger language plpgsql as $$ begin return new; end $$;
     alter function tenant_a.log_fn() owner to gw_app;
     create trigger log_t before insert on tenant_a.log for each row execute function tenant_a.log_fn();
     create domain tenant_a.plain_int as int; alter domain tenant_a.plain_int owner to gw_app;
     create table tenant_a.log_d (v tenant_a.plain_int); alter table tenant_a.log_d owner to gw_app;`,
    'app',
  );
  await t.gw.reloadCatalogs();
  builder = await t.issuer.sign({ sub: 'builder' });
  granted = await t.issuer.sign({ sub: 'granted' });
  plain = await t.issuer.sign({ sub: 'plain' });
});
after(async () => {
  for (const c of open) await c.end().catch(() => {});
  await t?.stop();
});

async function client(token: string): Promise<pg.Client> {
  const c = new pg.Client({ ...t.client(token), options: '-c search_path=tenant_a,pg_catalog' } as pg.ClientConfig);
  await c.connect();
  open.push(c);
  return c;
}

/** Runs each statement; returns what came back (rows as JSON, or `ERR code message`). */
async function run(c: pg.Client, steps: string[]): Promise<string[]> {
  const got: string[] = [];
  for (const s of steps) {
    try {
      const r: any = await c.query(s);
      got.push(JSON.stringify(Array.isArray(r) ? r.map((x: any) => x.rows) : r.rows));
    } catch (e: any) {
      got.push(`ERR ${e.code} ${e.message}`);
    }
  }
  return got;
}

/** A function of tenant_a named `name` that returns tenant_b's secret. */
const sqlLeak = (name: string) => `create function tenant_a.${name}(text) returns text language sql as $$ select string_agg(note, ',') from tenant_b.orders $$`;
const dynamicLeak = (name: string) =>
  `create function tenant_a.${name}(text) returns text language plpgsql as $f$ declare r text; begin execute 'select string_agg(note, '','') from tenant_b.orders' into r; return r; end $f$`;

describe('a function that shadows a built-in is a call of it before the catalog has it', () => {
  const cases: [string, (n: string) => string[]][] = [
    ['created and called in one query string', (n) => [`${sqlLeak(n)}; select ${n}('x')`]],
    ['created with dynamic SQL and called in one query string', (n) => [`${dynamicLeak(n)}; select ${n}('x')`]],
    ['created in an open transaction block, called in the next statement', (n) => ['begin', dynamicLeak(n), `select ${n}('x')`, 'rollback']],
    ['created, committed, then called', (n) => [dynamicLeak(n), `select ${n}('x')`, `drop function tenant_a.${n}(text)`]],
  ];
  for (const [i, [name, steps]] of cases.entries()) {
    it(name, async () => {
      const fn = ['lower', 'upper', 'initcap', 'btrim'][i];
      const c = await client(builder);
      const got = await run(c, steps(fn));
      assert.ok(!got.join('\n').includes(SECRET), `the secret reached the client:\n${got.join('\n')}`);
      assert.ok(got.some((g) => g.startsWith('ERR 42501') && g.includes(`may not call function tenant_a.${fn}`)), got.join('\n'));
      // The session goes on, and once idle the built-in is itself again.
      await c.query('rollback').catch(() => {});
      assert.deepEqual((await c.query(`select pg_catalog.${fn}('x') as v`)).rows.length, 1);
    });
  }

  it('an operator created in an open block is a call of its function', async () => {
    const c = await client(granted);
    const got = await run(c, [
      'begin',
      "create function tenant_a.cat2(text, text) returns text language sql as $$ select pg_catalog.textcat(pg_catalog.textcat($1, '+'), $2) $$",
      'create operator tenant_a.|| (procedure = tenant_a.cat2, leftarg = text, rightarg = text)',
      "select 'a'::text || 'b'::text as v",
      'rollback',
    ]);
    // granted may call tenant_a's functions: the operator runs, and as user code its value is
    // masked whole for an identity with masking rules, as it is once committed.
    assert.equal(got[3], '[{"v":"****"}]', got.join('\n'));
    // The same for builder, who may not, is refused at its CREATE OPERATOR already; one over a
    // built-in function is the built-in's.
    const b = await client(builder);
    const bgot = await run(b, ['begin', 'create operator tenant_a.|| (procedure = pg_catalog.textcat, leftarg = text, rightarg = text)', "select 'a'::text || 'b'::text as v", 'rollback']);
    assert.equal(bgot[2], '[{"v":"ab"}]', bgot.join('\n'));
  });

  it('in one extended-protocol pipeline before its Sync', async () => {
    const parse = (q: string) => message('P', Buffer.concat([Buffer.from(`\0${q}\0`), Buffer.from([0, 0])]));
    const bind = message('B', Buffer.from([0, 0, 0, 0, 0, 0, 0, 0]));
    const execute = message('E', Buffer.concat([Buffer.from('\0'), Buffer.alloc(4)]));
    const sync = message('S', Buffer.alloc(0));
    const c = await RawClient.connect(t.port, builder, 'app', { options: '-c search_path=tenant_a,pg_catalog' });
    c.send(Buffer.concat([parse(dynamicLeak('ltrim')), bind, execute, parse("select ltrim('x')"), bind, execute, sync]));
    const got: RawMessage[] = await c.until('Z');
    c.end();
    assert.ok(!Buffer.concat(got.map((m) => m.frame)).includes(Buffer.from(SECRET)), 'the secret reached the client');
    const refusal = got.find((m) => m.tag === 'E');
    assert.equal(refusal?.fields?.C, '42501');
    assert.match(refusal?.fields?.M ?? '', /may not call function tenant_a\.ltrim/);
  });
});

describe('a relation the session removed no longer answers for its name before the catalog knows', () => {
  // tenant_a.customers (the builder's own, unmasked) shadows public.customers (ssn masked) on
  // the path tenant_a, public. Once it is dropped, renamed or its schema dropped, the server reads
  // public.customers for the same name: the expression's value must be masked as ssn's.
  const READ = "select ssn || '' as x from customers";
  const cases: [string, string[]][] = [
    ['dropped in an open block', ['begin', 'drop table tenant_a.customers', READ, 'rollback']],
    ['dropped earlier in the same query string', [`begin; drop table tenant_a.customers; ${READ}; rollback`]],
    ['renamed in an open block', ['begin', 'alter table tenant_a.customers rename to customers_old', READ, 'rollback']],
    ['its schema dropped in an open block', ['begin', 'drop schema tenant_a cascade', READ, 'rollback']],
  ];
  for (const [name, steps] of cases) {
    it(name, async () => {
      const c = new pg.Client({ ...t.client(builder), options: '-c search_path=tenant_a,public' } as pg.ClientConfig);
      await c.connect();
      open.push(c);
      const got = await run(c, steps);
      assert.ok(!got.join('\n').includes(SSN), `ssn reached the client in clear:\n${got.join('\n')}`);
      assert.ok(got.some((g) => g.includes('"x":"****"')), got.join('\n'));
    });
  }
});

describe('a view made or replaced is read only once the catalog has its query', () => {
  const LEAK = "create function tenant_a.ssns() returns text language sql as $$ select string_agg(ssn, ',') from public.customers $$";
  const cases: [string, string[]][] = [
    ['made in an open block', ['begin', LEAK, 'create view tenant_a.v1 as select tenant_a.ssns() as x', 'select x from tenant_a.v1', 'rollback']],
    ['made earlier in the same query string', [`begin; ${LEAK}; create view tenant_a.v2 as select tenant_a.ssns() as x; select x from tenant_a.v2; rollback`]],
    ['a committed view replaced in an open block', ['begin', LEAK, 'create or replace view tenant_a.plain as select tenant_a.ssns() as x', 'select x from tenant_a.plain', 'rollback']],
  ];
  for (const [name, steps] of cases) {
    it(name, async () => {
      const c = await client(granted);
      const got = await run(c, steps);
      assert.ok(!got.join('\n').includes(SSN), `ssn reached the client in clear:\n${got.join('\n')}`);
      // Refused where the view is made (its column would store a value of user code), or, in one
      // string, where it is read before its transaction ends.
      assert.ok(got.some((g) => g.startsWith('ERR 42501') && (g.includes('a value computed by code made in the database') || g.includes('before the transaction that made or replaced a view ends'))), got.join('\n'));
    });
  }

  it('a harmless view made in an open block is not read before the block ends', async () => {
    const c = await client(granted);
    const got = await run(c, ['begin', "create view tenant_a.v4 as select 'four'::text as x", 'select x from tenant_a.v4', 'rollback']);
    assert.match(got[2], /^ERR 42501 .*may not read view tenant_a\.v4 before the transaction that made or replaced a view ends/);
    // Idle again: reads of views are decided on their query as always.
    assert.deepEqual(await run(c, ['select x from tenant_a.plain']), ['[{"x":"plain"}]']);
  });

  it('one over user code is not made at all (its column would store any value)', async () => {
    const c = await client(granted);
    const got = await run(c, [LEAK.replace('ssns', 'ssns3'), 'create view tenant_a.v3 as select tenant_a.ssns3() as x', 'select x from tenant_a.v3', 'drop view tenant_a.v3', 'drop function tenant_a.ssns3()']);
    assert.ok(!got.join('\n').includes(SSN), `ssn reached the client in clear:\n${got.join('\n')}`);
    // The view is refused already: its column stores a value computed by user code.
    assert.match(got[1], /^ERR 42501 .*may not use a value computed by code made in the database in a write to tenant_a\.v3\.x/);
    assert.match(got[2], /^ERR 42P01 /);
  });
});

describe('a function replaced in an open block is code whose body the catalog does not have', () => {
  it("a trigger's function replaced to switch search_path: the insert that fires it is followed by a read-back", async () => {
    const c = new pg.Client({ ...t.client(builder), options: '-c search_path=tenant_a,public' } as pg.ClientConfig);
    await c.connect();
    open.push(c);
    const got = await run(c, [
      'begin',
      "create or replace function tenant_a.log_fn() returns trigger language plpgsql as $$ begin perform set_config('search_path', 'public', false); return new; end $$",
      'insert into tenant_a.log values (1)',
      "select ssn || '' as x from customers",
      'rollback',
    ]);
    assert.ok(!got.join('\n').includes(SSN), `ssn reached the client in clear:\n${got.join('\n')}`);
    assert.equal(got[3], '[{"x":"****"}]', got.join('\n'));
  });
});

describe('code a session attaches to a relation runs when the relation is used', () => {
  // plain may read tenant_a only; tenant_a.customers shadows public.customers on its path. A
  // default that moves search_path to public, run by an insert, must be followed: the next
  // `customers` is public.customers, which plain may not read.
  // (For an identity with masking rules such a default is refused already: it stores a value of
  // user code.)
  const SWITCH = (n: string) => `create function tenant_a.${n}() returns int language plpgsql as $$ begin perform set_config('search_path', 'public', false); return 1; end $$`;
  const cases: [string, string[]][] = [
    ['a default added to a table the catalog has', ['begin', SWITCH('sw_a'), 'alter table tenant_a.log add column z int default tenant_a.sw_a()', 'insert into tenant_a.log (id) values (1)']],
    ['a default of a table made in the block', ['begin', SWITCH('sw_b'), 'create table tenant_a.made (id int, z int default tenant_a.sw_b())', 'insert into tenant_a.made (id) values (1)']],
    // A domain whose CHECK calls it: a cast to the domain, or a write of a column of it, runs it.
    ['a domain made in the block, cast to', ['begin', SWITCH('sw_c'), 'create domain tenant_a.dc as int check (tenant_a.sw_c() = 1)', 'select 1::tenant_a.dc']],
    ['a domain made in the block, cast to an array of it', ['begin', SWITCH('sw_d'), 'create domain tenant_a.dd as int check (tenant_a.sw_d() = 1)', 'select array[1]::dd[]']],
    ['a domain made in the block, written through a column of a table made there', ['begin', SWITCH('sw_e'), 'create domain tenant_a.de as int check (tenant_a.sw_e() = 1)', 'create table tenant_a.made (id int, z tenant_a.de)', 'insert into tenant_a.made values (1, 1)']],
    ['a CHECK that calls it added in the block to a domain of the catalog', ['begin', SWITCH('sw_f'), 'alter domain tenant_a.plain_int add constraint sw check (tenant_a.sw_f() = 1)', 'insert into tenant_a.log_d values (1)']],
  ];
  for (const [name, steps] of cases) {
    it(`${name}: the statement that runs it is followed by a read-back`, async () => {
      const c = new pg.Client({ ...t.client(plain), options: '-c search_path=tenant_a,public' } as pg.ClientConfig);
      await c.connect();
      open.push(c);
      const got = await run(c, [...steps, 'select ssn from customers', 'rollback']);
      assert.ok(!got.join('\n').includes(SSN), `ssn reached the client:\n${got.join('\n')}`);
      assert.match(got[steps.length], /^ERR 42501 .*may not read public\.customers/, got.join('\n'));
    });
  }
});

describe('what a session creates for itself still works', () => {
  it('a granted identity creates a function in a block and calls it there', async () => {
    const c = await client(granted);
    const got = await run(c, ['begin', "create function tenant_a.plus1(x int) returns int language sql as 'select x + 1'", 'select tenant_a.plus1(1) as two', 'select note from orders', 'rollback']);
    // It runs (its value is masked whole: granted has masking rules, and it is user code).
    assert.ok(got[2].startsWith('[{"two":'), got.join('\n'));
    assert.equal(got[3], '[{"note":"a-order"}]');
  });

  it('after a rollback, the name is the built-in again', async () => {
    const c = await client(builder);
    const got = await run(c, ['begin', sqlLeak('reverse'), 'rollback', "select reverse('ab') as v"]);
    assert.equal(got[3], '[{"v":"ba"}]');
  });
});
