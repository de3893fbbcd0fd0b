/**
 * Which DDL and DCL leave the catalog snapshot as it is (no reload follows them). Each case is a
 * statement and whether its analysis is marked `catalogNeutral`; every other DDL is not.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { testCatalog } from './fixture.ts';
import { analyse, loadParser } from './index.ts';

before(async () => {
  await loadParser();
});

const catalog = testCatalog();

const CASES: [string, boolean][] = [
  // Descriptions, labels, privileges and memberships: nothing the snapshot holds.
  ["comment on table public.customers is 'people who buy'", true],
  ["comment on column public.customers.email is 'contact'", true],
  ["security label on table public.customers is 'secret'", true],
  ['grant select on public.customers to analyst', true],
  ['grant select (id) on public.customers to analyst', true],
  ['revoke all on all tables in schema public from analyst', true],
  ['grant execute on function public.lower_email(text) to analyst', true],
  ['grant analyst to reporting', true],
  ['revoke analyst from reporting', true],
  // An index of plain columns runs no code of its own.
  ['create index on public.customers (email)', true],
  ['create index customers_email on public.customers (email, id) include (name)', true],
  ['create index concurrently if not exists c_id on public.customers using hash (id)', true],
  // A unique index is a key the catalog holds (a write of its columns compares with stored values).
  ['create unique index customers_email on public.customers (email, id) include (name)', false],
  ['create unique index concurrently on public.customers (id)', false],
  ['create index c_email on public.customers (email desc nulls last) with (fillfactor = 70)', true],
  // Code the index runs (attached to the relation), or a predicate: reloaded.
  ['create index on public.customers (lower(email))', false],
  ['create index on public.customers ((id + 1))', false],
  ['create index on public.customers (email) where id > 0', false],
  ['create index on public.customers (email text_pattern_ops)', false],
  ['create index on public.customers (email) include (name) where name is not null', false],
  // Everything else that is DDL or DCL.
  ['create table public.t (id int)', false],
  ['alter table public.customers add column note text', false],
  ['alter table public.customers rename column email to mail', false],
  ['alter index public.customers_pkey rename to k', false],
  ['drop index public.customers_pkey', false],
  ['create schema s create index on s.t (id)', false],
  ['create role reporting', false],
  ['alter role analyst rename to analyst2', false],
  ['alter default privileges grant select on tables to analyst', false],
  ['create view public.v as select id from public.customers', false],
  // Not DDL at all: no reload either way, and not marked.
  ['select 1', false],
];

for (const [sql, neutral] of CASES) {
  test(`${neutral ? 'leaves the catalog as it is' : 'may change the catalog'}: ${sql}`, () => {
    const analyses = analyse(sql, { catalog, searchPath: ['public'] });
    assert.equal(analyses.length, 1);
    assert.equal(analyses[0].catalogNeutral === true, neutral, JSON.stringify({ class: analyses[0].class, unsupported: analyses[0].unsupported }));
  });
}
