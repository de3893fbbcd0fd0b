/**
 * Rules follow renamed objects, end to end against a real PostgreSQL. Masking rules and deny
 * rules are written with names; judged by effect:
 * - a rename or SET SCHEMA of a governed object through the gateway is refused (42501), and the
 *   database's schema and data are unchanged afterwards;
 * - a rename made directly on the database (a direct connection) leaves the values governed under
 *   the new name: no clear value in any byte the client receives, denied columns still refused;
 * - after a restart, a rule left naming nothing is reported loudly in the log.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { RawClient, message } from '../helpers/raw-client.ts';
import type { FieldMap } from '../../src/protocol/index.ts';

let t: TestGateway;
const SSNS: string[] = [];
const EMAILS: string[] = [];
const NOTES: string[] = [];
const CRM_SSNS: string[] = [];

function policies(issuer: string): Record<string, unknown>[] {
  return [
    {
      name: 'migrations',
      match: { subjects: ['migrator'] },
      allow: [{ tables: ['*.*'], operations: 'all' }, { functions: ['*.*'] }, { ddl: { schemas: ['*'] } }],
    },
    {
      name: 'analysts',
      match: { groups: ['analysts'], issuers: [issuer] },
      allow: [{ tables: ['*.*'], operations: ['select'] }],
      deny: [{ columns: ['public.customers.secret_note'] }, { tables: ['public.ssn_mv'] }],
    },
  ];
}

before(async () => {
  t = await startTestGateway({
    config: (raw) => {
      raw.policies = policies(raw.identity.issuers[0].issuer);
      raw.masking = {
        rules: [
          // The migrator sees ssn in clear and still may not rename it: rules govern everyone's view.
          { column: 'public.customers.ssn', with: 'redact', except: { subjects: ['migrator'] } },
          { column: 'public.customers.email', with: 'redact' },
          { column: 'public.contacts_v.mail', with: 'redact' },
          { column: 'crm.people.ssn', with: 'redact' },
        ],
      };
    },
  });
  t.pg.psql(
    `create schema crm authorization gw_app; create schema archive authorization gw_app;
     create table customers (id int primary key, name text, email text, ssn text, secret_note text);
     insert into customers select g, 'name ' || g, 'person' || g || '@example.com', '123-45-' || lpad(g::text, 4, '0'), 'note-secret-' || g from generate_series(1, 12) g;
     create view contacts_v as select id, email as mail from customers;
     create materialized view ssn_mv as select id, ssn from customers;
     create table crm.people (id int, ssn text);
     insert into crm.people select g, '234-56-' || lpad(g::text, 4, '0') from generate_series(1, 12) g;
     alter table customers owner to gw_app; alter view contacts_v owner to gw_app; alter materialized view ssn_mv owner to gw_app;
     alter table crm.people owner to gw_app; alter schema public owner to gw_app;`,
    'app',
  );
  // The gateway learns the tables (a name it does not know makes it reload its catalog) before
  // anything is renamed, as it would have in service.
  const seen = await raw(await migrator(), 'select 1 from customers, contacts_v, ssn_mv, crm.people limit 0');
  assert.deepEqual(seen.errors, []);
  for (let g = 1; g <= 12; g++) {
    SSNS.push(`123-45-${String(g).padStart(4, '0')}`);
    EMAILS.push(`person${g}@example.com`);
    NOTES.push(`note-secret-${g}`);
    CRM_SSNS.push(`234-56-${String(g).padStart(4, '0')}`);
  }
});
after(async () => {
  await t?.stop();
});

const migrator = () => t.issuer.sign({ sub: 'migrator', groups: [] });
const analyst = () => t.issuer.sign({ sub: 'analyst', groups: ['analysts'] });

/** Every name of every user relation and column, and every row: what a rename would change. */
function checksums(): { schema: string; data: string } {
  const schema = t.pg.psql(
    `select md5(string_agg(n.nspname || '.' || c.relname || '.' || coalesce(a.attname, ''), ',' order by n.nspname, c.relname, a.attname)) from pg_class c join pg_namespace n on n.oid = c.relnamespace left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 where n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')`,
    'app',
  );
  const data = t.pg.psql(`select md5((select string_agg(c::text, ',' order by id) from customers c) || (select string_agg(p::text, ',' order by id) from crm.people p))`, 'app');
  return { schema, data };
}

/** One simple Query over the raw protocol: every byte received, the errors, whether rows came. */
async function raw(token: string, sql: string): Promise<{ bytes: Buffer; errors: FieldMap[]; rows: number }> {
  const c = await RawClient.connect(t.port, token);
  try {
    c.send(message('Q', Buffer.from(`${sql}\0`)));
    const got = await c.until('Z', 10_000);
    // The session stays usable after a refusal.
    c.send(message('Q', Buffer.from('select 1\0')));
    const again = await c.until('Z');
    assert.ok(again.some((m) => m.tag === 'D'), 'the session is usable afterwards');
    return { bytes: Buffer.concat(got.map((m) => m.frame)), errors: got.filter((m) => m.tag === 'E').map((m) => m.fields!), rows: got.filter((m) => m.tag === 'D').length };
  } finally {
    c.end();
  }
}

function assertAbsent(bytes: Buffer | string, secrets: readonly string[], what: string): void {
  const text = Buffer.isBuffer(bytes) ? bytes.toString('latin1') : bytes;
  for (const s of secrets) assert.ok(!text.includes(s), `${what}: ${s} reached the client`);
}

describe('renames of governed objects through the gateway are refused', () => {
  const refused = [
    'ALTER TABLE customers RENAME COLUMN ssn TO x',
    'alter table public.customers rename ssn to x',
    'ALTER TABLE IF EXISTS ONLY "customers" RENAME COLUMN "email" TO e',
    'ALTER TABLE customers RENAME COLUMN secret_note TO memo',
    'ALTER TABLE customers RENAME TO clients',
    'ALTER TABLE customers SET SCHEMA archive',
    'ALTER SCHEMA public RENAME TO p2',
    'ALTER SCHEMA crm RENAME TO crm2',
    'ALTER TABLE crm.people RENAME COLUMN ssn TO s',
    'ALTER TABLE crm.people SET SCHEMA archive',
    'ALTER VIEW contacts_v RENAME COLUMN mail TO m',
    'ALTER VIEW contacts_v RENAME TO cv',
    'ALTER MATERIALIZED VIEW ssn_mv RENAME TO mv2',
    'ALTER MATERIALIZED VIEW ssn_mv SET SCHEMA archive',
    'BEGIN; ALTER TABLE customers RENAME COLUMN ssn TO x; COMMIT',
    'SELECT 1; ALTER TABLE customers RENAME TO c2',
  ];
  for (const sql of refused) {
    it(sql, async () => {
      const before = checksums();
      const r = await raw(await migrator(), sql);
      assert.equal(r.errors.length, 1, 'one error');
      assert.equal(r.errors[0].C, '42501');
      assert.match(r.errors[0].M, /^pgwarden: migrator may not (rename|move) .*governs it/);
      assert.match(r.errors[0].H ?? '', /directly on the database and update the rule/);
      assert.deepEqual(checksums(), before, 'schema and data unchanged');
    });
  }

  it('over the extended protocol (pg) too', async () => {
    const before = checksums();
    const c = new pg.Client(t.client(await migrator()));
    await c.connect();
    try {
      await assert.rejects(c.query('ALTER TABLE customers RENAME COLUMN ssn TO x'), (e: any) => e.code === '42501');
      await assert.rejects(c.query({ text: 'ALTER TABLE customers RENAME TO clients', name: 'p1' }), (e: any) => e.code === '42501');
      assert.equal((await c.query('select 1 as one')).rows[0].one, 1);
    } finally {
      await c.end();
    }
    assert.deepEqual(checksums(), before);
  });

  it('renames of objects no rule governs still run', async () => {
    const r = await raw(await migrator(), 'ALTER TABLE customers RENAME COLUMN name TO full_name');
    assert.deepEqual(r.errors, []);
    assert.equal(t.pg.psql(`select count(*) from pg_attribute where attrelid = 'public.customers'::regclass and attname = 'full_name'`, 'app').trim(), '1');
    const back = await raw(await migrator(), 'ALTER TABLE customers RENAME COLUMN full_name TO name');
    assert.deepEqual(back.errors, []);
  });
});

describe('renames made directly on the database stay governed under the new names', () => {
  it('RENAME COLUMN: the renamed ssn is still masked in every shape', async () => {
    t.pg.psql('alter table customers rename column ssn to tax_id', 'app');
    const token = await analyst();
    for (const sql of [
      'select id, tax_id from customers order by id',
      'select lower(tax_id) as l, tax_id || \'\' as c from customers',
      'select s.* from (select id, name, tax_id from customers) s',
      'select c.tax_id as anything from customers c where id < 6',
      'select (select tax_id from customers where id = 3) as sub',
    ]) {
      const r = await raw(token, sql);
      assert.deepEqual(r.errors, [], sql);
      assert.ok(r.rows > 0, `${sql}: rows came`);
      assertAbsent(r.bytes, SSNS, sql);
    }
    const c = new pg.Client(t.client(token));
    await c.connect();
    try {
      const bin = await c.query({ text: 'select id, tax_id from customers where id = $1', values: [4], binary: true } as any);
      assertAbsent(JSON.stringify(bin.rows.map((r: any) => Object.values(r).map((v) => (Buffer.isBuffer(v) ? v.toString('latin1') : String(v))))), SSNS, 'pg binary');
      const text = await c.query('select tax_id from customers');
      assertAbsent(JSON.stringify(text.rows), SSNS, 'pg text');
      assert.equal(text.rows.length, 12);
    } finally {
      await c.end();
    }
  });

  it('RENAME COLUMN of a denied column: still refused under the new name', async () => {
    t.pg.psql('alter table customers rename column secret_note to memo', 'app');
    const r = await raw(await analyst(), 'select id, memo from customers');
    assert.equal(r.errors[0]?.C, '42501');
    assert.match(r.errors[0].M, /may not read column public\.customers\.memo \(renamed from public\.customers\.secret_note\)/);
    assertAbsent(r.bytes, NOTES, 'renamed denied column');
  });

  it('RENAME TO and SET SCHEMA of the table: masked and denied under the new qualified names', async () => {
    t.pg.psql('alter table customers rename to clients; alter table clients set schema archive', 'app');
    const token = await analyst();
    const r = await raw(token, 'select id, tax_id, email from archive.clients order by id');
    assert.deepEqual(r.errors, []);
    assert.equal(r.rows, 12);
    assertAbsent(r.bytes, [...SSNS, ...EMAILS], 'moved table');
    const denied = await raw(token, 'select memo from archive.clients');
    assert.equal(denied.errors[0]?.C, '42501');
    assertAbsent(denied.bytes, NOTES, 'moved table, denied column');
  });

  it('ALTER SCHEMA … RENAME: columns of the renamed schema are still masked', async () => {
    t.pg.psql('alter schema crm rename to crm2', 'app');
    const r = await raw(await analyst(), 'select id, ssn from crm2.people order by id');
    assert.deepEqual(r.errors, []);
    assert.equal(r.rows, 12);
    assertAbsent(r.bytes, CRM_SSNS, 'renamed schema');
  });

  it('a renamed object stays governed: renaming it again through the gateway is refused', async () => {
    const r = await raw(await migrator(), 'ALTER TABLE archive.clients RENAME COLUMN tax_id TO t');
    assert.equal(r.errors[0]?.C, '42501');
    assert.match(r.errors[0].M, /masking rule public\.customers\.ssn governs it/);
  });
});

describe('after a restart the record of renames is gone, and the gateway says so', () => {
  it('a rule naming a column that no longer exists is logged loudly at startup', async () => {
    const next = await startTestGateway({
      pg: t.pg,
      issuer: t.issuer,
      config: (raw) => {
        raw.policies = policies(raw.identity.issuers[0].issuer);
        raw.masking = { rules: [{ column: 'public.customers.ssn', with: 'redact' }] };
      },
    });
    try {
      const warned = next.logs.filter((l) => l.includes('RULE GOVERNS NOTHING'));
      assert.ok(warned.some((l) => l.includes('masking rule public.customers.ssn: relation public.customers does not exist')), warned.join('\n'));
      assert.ok(warned.some((l) => l.includes('"level":40')), 'logged as a warning');
    } finally {
      await next.gw.close(0);
    }
  });
});
