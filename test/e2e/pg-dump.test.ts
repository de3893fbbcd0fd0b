/**
 * pg_dump through the gateway, and its output restored through the gateway with psql: the schema
 * comes out as a direct pg_dump writes it, the data with masked columns masked, and the restore
 * rebuilds the same schema in another database.
 *
 * pg_dump reads catalogs a default scope did not allow before (pg_largeobject_metadata,
 * pg_subscription's count, pg_seclabels, system columns such as `c.tableoid`), sets
 * `row_security = off`, takes ACCESS SHARE locks, and sets restrict_nonsystem_relation_kind with
 * `set_config(name, …) FROM pg_settings WHERE name = …`; each must work as on PostgreSQL.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { psql, run } from '../helpers/clients.ts';
import { findPgBin } from '../helpers/postgres.ts';

let t: TestGateway;

const SCHEMA = `
  create table public.customers (id int primary key, name text not null, email text not null);
  create table public.orders (id serial primary key, customer_id int references public.customers(id), total numeric(10,2), note text);
  create index orders_customer on public.orders (customer_id);
  create view public.order_totals as select customer_id, sum(total) as total from public.orders group by customer_id;
  create function public.order_count(c int) returns bigint language sql stable as 'select count(*) from public.orders where customer_id = c';
  comment on table public.orders is 'one row per order';
  insert into public.customers select g, 'name ' || g, 'person' || g || '@example.com' from generate_series(1, 50) g;
  insert into public.orders (customer_id, total, note) select 1 + g % 50, g * 1.5, 'note ' || g from generate_series(1, 200) g;
`;

before(async () => {
  t = await startTestGateway({
    config(raw) {
      raw.upstreams.restored = { url: raw.upstreams.app.url.replace(/\/app$/, '/restored'), password: raw.upstreams.app.password, databases: ['restored'] };
      const issuers = raw.identity.issuers.map((i: { issuer: string }) => i.issuer);
      raw.policies = [
        {
          name: 'dump',
          match: { subjects: ['dumper'], issuers },
          databases: ['app'],
          allow: [{ tables: ['public.*'], operations: ['select'] }, { functions: ['public.*'] }, { session: ['prepare', 'copy_to_stdout'] }],
          limits: { read_only: true },
        },
        {
          // The archive formats also dump the database's stored settings (ALTER DATABASE … SET),
          // which can hold secrets: only an entry naming pg_db_role_setting opens them.
          name: 'archive',
          match: { subjects: ['archiver'], issuers },
          databases: ['app'],
          allow: [{ tables: ['public.*', 'pg_catalog.pg_db_role_setting'], operations: ['select'] }, { functions: ['public.*'] }, { session: ['prepare', 'copy_to_stdout'] }],
        },
        {
          name: 'restore',
          match: { subjects: ['restorer'], issuers },
          databases: ['restored'],
          // A dump sets its sequences with setval, which only an entry naming it allows.
          allow: [{ tables: ['public.*'], operations: 'all' }, { functions: ['public.*', 'pg_catalog.setval'] }, { ddl: { schemas: ['public'] } }, { session: ['copy_from_stdin'] }],
        },
      ];
      raw.masking = { hash_key: 'test-mask-key-0123456789abcdef', rules: [{ column: 'public.customers.email', with: 'redact' }] };
    },
  });
  t.pg.psql('create database restored owner gw_app');
  t.pg.psql(`set role gw_app; ${SCHEMA}`, 'app');
});
after(async () => {
  await t?.stop();
});

function pgDump(url: string, args: string[] = []) {
  return run(join(findPgBin(), 'pg_dump'), ['--no-owner', ...args, '-d', url], {}, undefined, 120_000);
}

/** A dump without the random key of psql's \restrict guard (pg_dump ≥ 15.14). */
function comparable(dump: string): string {
  return dump.replace(/^\\(un)?restrict .*$/gm, '');
}

describe('pg_dump through the gateway', () => {
  it('dumps the schema exactly as a direct pg_dump does', async () => {
    const token = await t.issuer.sign({ sub: 'dumper' });
    const via = await pgDump(t.url(token), ['--schema-only']);
    assert.equal(via.code, 0, via.stderr);
    const direct = await pgDump(t.directUrl(), ['--schema-only']);
    assert.equal(direct.code, 0, direct.stderr);
    assert.match(via.stdout, /CREATE TABLE public\.orders/);
    assert.match(via.stdout, /CREATE VIEW public\.order_totals/);
    assert.match(via.stdout, /CREATE FUNCTION public\.order_count/);
    assert.equal(comparable(via.stdout), comparable(direct.stdout));
  });

  it('dumps the data with masked columns masked and the rest as stored', async () => {
    const token = await t.issuer.sign({ sub: 'dumper' });
    const via = await pgDump(t.url(token), ['--data-only', '--table', 'public.customers']);
    assert.equal(via.code, 0, via.stderr);
    const rows = via.stdout.split('\n').filter((l) => /^\d+\t/.test(l));
    assert.equal(rows.length, 50);
    assert.ok(rows.includes('7\tname 7\t****'), rows.slice(0, 3).join('\n'));
    assert.doesNotMatch(via.stdout, /@example\.com/);
    const orders = await pgDump(t.url(token), ['--data-only', '--table', 'public.orders']);
    const direct = await pgDump(t.directUrl(), ['--data-only', '--table', 'public.orders']);
    assert.equal(comparable(orders.stdout), comparable(direct.stdout));
  });

  it("restores the dump with psql through the gateway into another database", async () => {
    const dumper = await t.issuer.sign({ sub: 'dumper' });
    const dump = await pgDump(t.url(dumper), ['--table', 'public.orders', '--table', 'public.customers', '--table', 'public.orders_id_seq']);
    assert.equal(dump.code, 0, dump.stderr);
    const restorer = await t.issuer.sign({ sub: 'restorer' });
    const r = await psql(t.url(restorer, 'restored'), null, ['-q'], dump.stdout);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(t.pg.psql('select count(*), sum(total) from public.orders', 'restored'), t.pg.psql('select count(*), sum(total) from public.orders', 'app'));
    assert.equal(t.pg.psql('select email from public.customers where id = 7', 'restored').trim(), '****');
    assert.equal(t.pg.psql("select nextval('public.orders_id_seq')", 'restored').trim(), '201');
  });

  it('dumps in the custom and the directory format (in parallel) with the stored settings allowed by name', async () => {
    const token = await t.issuer.sign({ sub: 'archiver' });
    const out = mkdtempSync(join(tmpdir(), 'pgwarden-dump-'));
    after(() => rmSync(out, { recursive: true, force: true }));
    const dir = join(out, 'dir');
    for (const args of [['-Fc', '-f', join(out, 'dump.fc')], ['-Fd', '-j', '2', '-f', dir]]) {
      const via = await pgDump(t.url(token), args);
      assert.equal(via.code, 0, via.stderr);
    }
    const list = await run(join(findPgBin(), 'pg_restore'), ['--list', dir]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /TABLE DATA public orders/);
  });

  it('a scope that may not read a table is refused when pg_dump names it, and says why', async () => {
    t.pg.psql('set role gw_app; create schema private; create table private.keys (k text)', 'app');
    const token = await t.issuer.sign({ sub: 'dumper' });
    const via = await pgDump(t.url(token), ['--schema-only', '--schema', 'private']);
    assert.notEqual(via.code, 0);
    assert.match(via.stderr, /may not read private\.keys/);
  });
});
