/**
 * Masking end to end against a real PostgreSQL: for every protocol path and query shape, no clear
 * sensitive value appears anywhere in the bytes the client receives, while unmasked columns equal
 * the direct result; identities excepted from a rule see the value in clear.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import postgres from 'postgres';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { psql } from '../helpers/clients.ts';
import { RawClient, message } from '../helpers/raw-client.ts';
import { encodeBind, encodeDescribe, encodeExecute, encodeParse, SYNC } from '../../src/protocol/index.ts';

let t: TestGateway;
const SECRETS: string[] = [];

before(async () => {
  t = await startTestGateway({
    config: (raw) => {
      raw.policies = [
        {
          name: 'readers',
          match: { groups: ['analysts', 'support'] },
          allow: [{ tables: ['public.customers', 'public.orders'], operations: ['select'] }],
        },
        {
          name: 'writers',
          match: { groups: ['writers'] },
          allow: [{ tables: ['public.customers'], operations: ['select', 'update'] }],
        },
      ];
      raw.masking = {
        hash_key: 'test-mask-key-0123456789abcdef',
        rules: [
          { column: 'public.customers.email', with: 'email', except: { groups: ['support'] } },
          { column: 'public.customers.ssn', with: 'redact', filter: 'deny' },
          { column: 'public.customers.phone', with: 'partial', options: { keep_last: 2 } },
        ],
      };
    },
  });
  t.pg.psql(
    `create table customers (id int primary key, name text, email text, phone text, ssn text, born date);
     create table orders (id int primary key, customer_id int, total numeric);
     insert into customers select g, 'name ' || g, 'person' || g || '@example.com', '+1-555-01' || lpad(g::text, 2, '0'), '123-45-' || lpad(g::text, 4, '0'), date '1990-01-01' + g from generate_series(1, 30) g;
     insert into orders select g, g % 30 + 1, g * 3 from generate_series(1, 60) g;
     alter table customers owner to gw_app; alter table orders owner to gw_app;`,
    'app',
  );
  for (let g = 1; g <= 30; g++) SECRETS.push(`person${g}@example.com`, `123-45-${String(g).padStart(4, '0')}`, `+1-555-01${String(g).padStart(2, '0')}`);
});
after(async () => {
  await t?.stop();
});

const analyst = () => t.issuer.sign({ sub: 'analyst', groups: ['analysts'] });

function assertNoSecrets(bytes: Buffer | string, what: string): void {
  const text = Buffer.isBuffer(bytes) ? bytes.toString('latin1') : bytes;
  for (const s of SECRETS) assert.ok(!text.includes(s), `${what}: a clear sensitive value (${s}) reached the client`);
}

describe('masked columns never leave the gateway in clear', () => {
  it('psql (simple protocol): email, phone and ssn are masked, the rest equals the direct result', async () => {
    const sql = 'select id, name, email, phone, ssn, born from customers order by id';
    const via = await psql(t.url(await analyst()), sql);
    assert.equal(via.code, 0, via.stderr);
    assertNoSecrets(via.stdout, 'psql');
    const direct = (await psql(t.directUrl(), sql)).stdout.trim().split('\n').map((l) => l.split('|'));
    const rows = via.stdout.trim().split('\n').map((l) => l.split('|'));
    assert.equal(rows.length, 30);
    rows.forEach((r, i) => {
      assert.equal(r[0], direct[i][0]);
      assert.equal(r[1], direct[i][1], 'unmasked columns are unchanged');
      assert.equal(r[5], direct[i][5]);
      assert.match(r[2], /^p\*+@example\.com$/, `email masked: ${r[2]}`);
      assert.match(r[3], /\*+\d{2}$/, `phone keeps its last two digits: ${r[3]}`);
      assert.notEqual(r[4], direct[i][4]);
    });
  });

  it('an alias does not defeat masking (the server names the column\'s origin)', async () => {
    const r = await psql(t.url(await analyst()), 'select ssn as x, email as y from customers');
    assert.equal(r.code, 0, r.stderr);
    assertNoSecrets(r.stdout, 'alias');
  });

  it('pg (extended protocol, text and binary results)', async () => {
    const c = new pg.Client(t.client(await analyst()));
    await c.connect();
    try {
      const text = await c.query('select id, email, ssn from customers where id = $1', [7]);
      assert.equal(text.rows[0].id, 7);
      assertNoSecrets(JSON.stringify(text.rows), 'pg text');
      const bin = await c.query({ text: 'select id, email, ssn, name from customers order by id', binary: true } as any);
      assert.equal(bin.rows.length, 30);
      assertNoSecrets(JSON.stringify(bin.rows.map((r: any) => Object.values(r).map((v) => (Buffer.isBuffer(v) ? v.toString('latin1') : String(v))))), 'pg binary');
      for (let i = 0; i < 3; i++) {
        const p = await c.query({ name: 'masked-by-id', text: 'select email, name from customers where id = $1', values: [i + 1] });
        assert.equal(p.rows[0].name, `name ${i + 1}`);
        assertNoSecrets(p.rows[0].email, 'pg prepared');
      }
    } finally {
      await c.end();
    }
  });

  it('postgres.js (describe first, pipelined)', async () => {
    const sql = postgres(t.url(await analyst()), { max: 1 });
    try {
      const results = await Promise.all([1, 2, 3].map((id) => sql`select email, phone, name from customers where id = ${id}`));
      assertNoSecrets(JSON.stringify(results), 'postgres.js');
      assert.equal(results[2][0].name, 'name 3');
    } finally {
      await sql.end();
    }
  });

  it('raw bytes of an extended batch whose portal the client never described', async () => {
    const c = await RawClient.connect(t.port, await analyst());
    c.send(Buffer.concat([encodeParse('', 'select email, ssn, name from customers order by id'), encodeBind('', '', []), encodeExecute(''), SYNC]));
    const got = await c.until('Z');
    assert.deepEqual([...new Set(got.map((m) => m.tag))], ['1', '2', 'D', 'C', 'Z'], 'no RowDescription the client did not ask for');
    assertNoSecrets(Buffer.concat(got.map((m) => m.frame)), 'raw extended');
    c.send(Buffer.concat([encodeParse('s', 'select email from customers where id = $1'), encodeDescribe('S', 's'), encodeBind('p', 's', ['5']), encodeDescribe('P', 'p'), encodeExecute('p', 2), SYNC]));
    const got2 = await c.until('Z');
    assertNoSecrets(Buffer.concat(got2.map((m) => m.frame)), 'raw described');
    assert.ok(got2.some((m) => m.tag === 'D'), 'rows came');
    c.send(message('Q', Buffer.from("select email from customers where id = 1; select ssn from customers where id = 2; select 'plain' as p\0")));
    const got3 = await c.until('Z');
    assertNoSecrets(Buffer.concat(got3.map((m) => m.frame)), 'raw multi-statement');
    assert.ok(got3.some((m) => m.tag === 'D' && m.frame.includes(Buffer.from('plain'))), 'unmasked statements pass');
    c.end();
  });

  it('COPY … TO STDOUT (psql \\copy) in text and CSV', async () => {
    const r = await psql(t.url(await analyst()), null, ['-q'], '\\copy (select id, email, ssn from customers order by id) to stdout\n\\copy customers (id, email, phone) to stdout with (format csv)\n');
    assert.equal(r.code, 0, r.stderr);
    assertNoSecrets(r.stdout, 'copy');
    assert.equal(r.stdout.trim().split('\n').length, 60);
  });

  it('filters on a masked column are refused by its rule', async () => {
    const c = new pg.Client(t.client(await analyst()));
    await c.connect();
    try {
      await assert.rejects(c.query("select id from customers where ssn like '123%'"), (e: any) => e.code === '42501' && /ssn/.test(e.message));
      // equality lookups on email (the default filter mode) work; patterns do not
      const r = await c.query('select id from customers where email = $1', ['person3@example.com']);
      assert.deepEqual(r.rows, [{ id: 3 }]);
      await assert.rejects(c.query("select id from customers where email like 'person3%'"), (e: any) => e.code === '42501');
      await assert.rejects(c.query('select id from customers order by email'), (e: any) => e.code === '42501');
    } finally {
      await c.end();
    }
  });

  it('errors that would echo a masked value are scrubbed', async () => {
    const c = new pg.Client(t.client(await analyst()));
    await c.connect();
    try {
      await assert.rejects(c.query('select ssn::int from customers'), (e: any) => {
        assertNoSecrets(`${e.message} ${e.detail ?? ''}`, 'error');
        return true;
      });
    } finally {
      await c.end();
    }
  });

  it('expressions of masked columns are masked; counts pass', async () => {
    const r = await psql(
      t.url(await analyst()),
      "select lower(email) as l, email || '' as cat, substr(ssn, 1, 3) as part, ssn::varchar(20) as cast, case when id > 0 then ssn end as c, coalesce(phone, email) as co from customers order by id",
    );
    assert.equal(r.code, 0, r.stderr);
    assertNoSecrets(r.stdout, 'expressions');
    assert.ok(!r.stdout.includes('123'), 'no digits of ssn leak through substr');
    const n = await psql(t.url(await analyst()), 'select count(ssn), count(distinct email) from customers');
    assert.equal(n.stdout.trim(), '30|30');
  });

  it('whole rows, JSON and aggregates of masked columns are refused before they run', async () => {
    const c = new pg.Client(t.client(await analyst()));
    await c.connect();
    try {
      for (const sql of ['select c from customers c', 'select row_to_json(c) from customers c', 'select to_jsonb(c.*) from customers c', 'select json_agg(email) from customers', "select string_agg(ssn, ',') from customers", 'select array_agg(phone) from customers']) {
        await assert.rejects(c.query(sql), (e: any) => e.code === '42501' && /select the columns by name|masked|whole row|JSON|aggregate/i.test(e.message + (e.hint ?? '')), sql);
      }
    } finally {
      await c.end();
    }
  });

  it("a filter a masked column's rule forbids is refused with a hint saying what the rule allows on it", async () => {
    const c = new pg.Client(t.client(await analyst()));
    await c.connect();
    try {
      const cases: [string, RegExp, RegExp][] = [
        ["select id from customers where ssn like '1%'", /may not filter on masked column public\.customers\.ssn with LIKE/, /Select public\.customers\.ssn by name .*masked.*filter: deny.*not even =/],
        ['select id from customers where ssn = $1', /masked column public\.customers\.ssn with =/, /filter: deny/],
        ["select id from customers where email like '%@example.com'", /may not filter on masked column public\.customers\.email with LIKE/, /compare it only with a value you already have: =, <>, IN/],
        ['select id from customers order by email', /may not order by masked column public\.customers\.email/, /no LIKE, ranges, functions of it, GROUP BY or ORDER BY/],
      ];
      for (const [sql, message, hint] of cases) {
        await assert.rejects(c.query(sql, sql.includes('$1') ? ['123-45-6789'] : []), (e: any) => {
          assert.equal(e.code, '42501', sql);
          assert.match(e.message, message, sql);
          assert.match(e.hint ?? '', hint, sql);
          assert.doesNotMatch(e.hint ?? '', /Select the columns by name/, sql);
          return true;
        });
      }
      assert.equal((await c.query("select count(*)::int as n from customers where email = 'nobody@example.com'")).rows[0].n, 0, 'the lookup the hint names works, and the session is usable');
    } finally {
      await c.end();
    }
  });

  it('cursors: FETCH returns masked rows', async () => {
    const r = await psql(t.url(await analyst()), null, ['-q'], 'begin;\ndeclare cur cursor for select id, email, ssn from customers order by id;\nfetch 5 from cur;\nfetch all from cur;\ncommit;\n');
    assert.equal(r.code, 0, r.stderr);
    assertNoSecrets(r.stdout, 'cursor');
    assert.equal(r.stdout.trim().split('\n').length, 30);
  });

  it('RETURNING of a write returns masked values', async () => {
    const c = new pg.Client(t.client(await t.issuer.sign({ sub: 'writer', groups: ['writers'] })));
    await c.connect();
    try {
      const r = await c.query("update customers set name = name where id <= 3 returning id, email, ssn, phone");
      assert.equal(r.rows.length, 3);
      assertNoSecrets(JSON.stringify(r.rows), 'returning');
    } finally {
      await c.end();
    }
  });

  it('an identity excepted from a rule sees that column in clear', async () => {
    const token = await t.issuer.sign({ sub: 'support-bot', groups: ['support'] });
    const r = await psql(t.url(token), 'select email, ssn from customers where id = 4');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /person4@example\.com/);
    assert.ok(!r.stdout.includes('123-45-0004'), 'ssn still masked for support');
  });
});
