/**
 * The session's temporary relations: an unqualified name among them is pg_temp's (PostgreSQL
 * searches the session's temporary schema first for relations), one that a permanent relation on
 * the path also has is decided as both (the gateway cannot know which one the server will use), and a
 * statement's own CREATE TEMP / DROP / DISCARD counts for the statements after it.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { analyse, loadParser } from './index.ts';
import { testCatalog } from './fixture.ts';

before(() => loadParser());

const cases: { name: string; text: string; temp: string[]; tables: string[][]; unsupported?: RegExp }[] = [
  { name: 'an unqualified temporary table is pg_temp.<name>', text: 'select * from s1', temp: ['s1'], tables: [['pg_temp.s1']] },
  { name: 'a name the session never made temporary resolves as before', text: 'select * from customers', temp: ['s1'], tables: [['public.customers']] },
  { name: 'explicit pg_temp is pg_temp', text: 'select * from pg_temp.customers', temp: [], tables: [['pg_temp.customers']] },
  { name: 'explicit public keeps the permanent table even when a temporary one has the name', text: 'select * from public.customers', temp: ['customers'], tables: [['public.customers']] },
  { name: 'a temporary table named like a permanent one on the path is decided as both unqualified', text: 'select email from customers', temp: ['customers'], tables: [['pg_temp.customers', 'public.customers']] },
  { name: 'a write to the shared name is a write to both', text: "insert into customers (email) values ('x')", temp: ['customers'], tables: [['pg_temp.customers', 'public.customers']] },
  { name: 'DROP of the shared name is DDL on both, and the temporary one is gone after it', text: 'drop table customers; select email from customers', temp: ['customers'], tables: [[], ['public.customers']] },
  { name: 'CREATE TEMP in the same string counts for the next statements', text: 'create temp table s2 (a int); insert into s2 values (1); select a from s2', temp: [], tables: [[], ['pg_temp.s2'], ['pg_temp.s2']] },
  { name: 'SELECT INTO TEMP and CREATE TEMP TABLE AS make temporary tables', text: 'select 1 as a into temp s3; create temp table s4 as select 1 as b; select * from s3, s4', temp: [], tables: [[], [], ['pg_temp.s3', 'pg_temp.s4']] },
  { name: 'after DROP the name is no longer the temporary table', text: 'drop table s1; select * from s1', temp: ['s1'], tables: [[], ['public.s1']] },
  { name: 'after DISCARD TEMP neither', text: 'discard temp; select * from s1', temp: ['s1'], tables: [[], ['public.s1']] },
  { name: 'an index is not a relation one selects from', text: 'create index i1 on s1 (a); select * from i1', temp: ['s1'], tables: [[], ['public.i1']] },
];

describe('temporary relations', () => {
  for (const c of cases) {
    it(c.name, () => {
      const as = analyse(c.text, { catalog: testCatalog(), searchPath: ['public'], tempRelations: new Set(c.temp) });
      assert.deepEqual(
        as.map((a) => [...new Set(a.tables.map((t) => `${t.relation.schema}.${t.relation.name}`))].sort()),
        c.tables,
      );
      if (c.unsupported) assert.match(as[as.length - 1].unsupported ?? '', c.unsupported);
      else assert.deepEqual(as.map((a) => a.unsupported), as.map(() => undefined));
    });
  }
});
