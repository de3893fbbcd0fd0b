/**
 * A value computed by code made in the database (a function granted to the identity that reads
 * a masked column) may be any stored value. Read directly it comes back masked whole; stored
 * somewhere the identity can read it back, or compared in a predicate, it would give the value
 * away. Judged by effect: the clear value never reaches the client.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

let t: TestGateway;
let token: string;
const SSN = '123-45-6789';
const open: pg.Client[] = [];

before(async () => {
  t = await startTestGateway({
    config: (raw) => {
      raw.policies = [
        {
          name: 'granted',
          match: { subjects: ['granted'] },
          allow: [
            { tables: ['tenant_a.*', 'public.customers'], operations: ['select', 'insert', 'update'] },
            { functions: ['public.get_ssn', 'public.plus_one'] },
            { ddl: { schemas: ['tenant_a'] } },
          ],
        },
      ];
      raw.masking = { rules: [{ column: 'public.customers.ssn', with: 'redact' }] };
    },
  });
  t.pg.psql(
    `create schema tenant_a authorization gw_app;
     create table public.customers (id int, ssn text); insert into public.customers values (1, '${SSN}');
     alter table public.customers owner to gw_app;
     create function public.get_ssn(i int) returns text language sql stable as $$ select ssn from public.customers where id = i $$;
     create function public.plus_one(i int) returns int language sql immutable as $$ select i + 1 $$;
     create table tenant_a.t (x text); alter table tenant_a.t owner to gw_app;`,
    'app',
  );
  await t.gw.reloadCatalogs();
  token = await t.issuer.sign({ sub: 'granted' });
});
after(async () => {
  for (const c of open) await c.end().catch(() => {});
  await t?.stop();
});

async function run(steps: string[]): Promise<string[]> {
  const c = new pg.Client(t.client(token));
  await c.connect();
  open.push(c);
  const got: string[] = [];
  for (const s of steps) {
    try {
      const r: any = await c.query(s);
      got.push(JSON.stringify(r.rows));
    } catch (e: any) {
      got.push(`ERR ${e.code} ${e.message}`);
    }
  }
  return got;
}

describe('a value computed by user code', () => {
  it('read directly comes back masked', async () => {
    assert.deepEqual(await run(['select public.get_ssn(1) as x']), ['[{"x":"****"}]']);
  });

  const stored: [string, string][] = [
    ['INSERT … SELECT', 'insert into tenant_a.t select public.get_ssn(1)'],
    ['INSERT … VALUES', 'insert into tenant_a.t values (public.get_ssn(1))'],
    ['UPDATE … SET', 'update tenant_a.t set x = public.get_ssn(1)'],
    ['CREATE TABLE AS', 'create table tenant_a.t2 as select public.get_ssn(1) as x'],
  ];
  for (const [name, sql] of stored) {
    it(`is not stored: ${name}`, async () => {
      const got = await run([sql, 'select x from tenant_a.t']);
      assert.match(got[0], /^ERR 42501 .*may not use a value computed by code made in the database/);
      assert.ok(!got.join('\n').includes(SSN), got.join('\n'));
    });
  }

  it('is not matched against patterns or ranges in a predicate, but may be looked up by equality', async () => {
    const got = await run(["select 1 as hit where public.get_ssn(1) like '123%'", "select 1 as hit where public.get_ssn(1) > '1'", "select 1 as hit where public.get_ssn(1) = '000-00-0000'"]);
    assert.match(got[0], /^ERR 42501 .*may not filter on a value computed by code made in the database with LIKE/);
    assert.match(got[1], /^ERR 42501 .*may not filter on a value computed by code made in the database/);
    assert.equal(got[2], '[]');
  });

  it('is still read where it is only read (masked whole for an identity with masking rules)', async () => {
    const [got] = await run(['select public.plus_one(1) as two']);
    assert.ok(!got.startsWith('ERR'), got);
  });
});
