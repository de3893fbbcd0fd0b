/**
 * What each statement does to search_path, read from its analysis as PostgreSQL runs it: SET and
 * set_config with their duration, transaction control with savepoint names, RESET ALL and
 * DISCARD ALL, code the gateway cannot see, and what it cannot follow (refused).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { analyse, loadParser } from '../sql/index.ts';
import { testCatalog } from '../sql/fixture.ts';
import { pathOpsOf } from './gate.ts';

before(async () => {
  await loadParser();
});

const cases: { sql: string; want: unknown }[] = [
  { sql: 'set search_path = app, "Public"', want: [{ k: 'set', value: ['app', 'Public'], local: false }] },
  { sql: "set search_path = 'a, b'", want: [{ k: 'set', value: ['a, b'], local: false }] },
  { sql: 'set session search_path = app', want: [{ k: 'set', value: ['app'], local: false }] },
  { sql: 'set local search_path to app', want: [{ k: 'set', value: ['app'], local: true }] },
  { sql: "set schema 'app'", want: [{ k: 'set', value: ['app'], local: false }] },
  { sql: 'reset search_path', want: [{ k: 'set', value: 'default', local: false }] },
  { sql: 'set search_path to default', want: [{ k: 'set', value: 'default', local: false }] },
  { sql: 'set search_path from current', want: [{ k: 'current', local: false }] },
  { sql: 'reset all', want: [{ k: 'set', value: 'default', local: false }] },
  { sql: 'discard all', want: [{ k: 'discard_all' }] },
  { sql: 'set statement_timeout = 1000', want: [] },
  { sql: "select set_config('search_path', 'app, public', false)", want: [{ k: 'set', value: ['app', 'public'], local: false }] },
  { sql: "select set_config('search_path', 'app', true) as x", want: [{ k: 'set', value: ['app'], local: true }] },
  { sql: "select set_config('search_path', 'app', false) from orders where false", want: [{ k: 'maybe', value: ['app'], local: false }] },
  { sql: "select case when random() > 0.5 then set_config('search_path', 'app', false) end", want: [{ k: 'maybe', value: ['app'], local: false }] },
  { sql: "select set_config('search_path', current_user, false)", want: 'refused' },
  { sql: "select set_config('search_path', 'app', $1)", want: 'refused' },
  { sql: 'begin', want: [{ k: 'begin' }] },
  { sql: 'start transaction read only', want: [{ k: 'begin' }] },
  { sql: 'commit', want: [{ k: 'commit', chain: false }] },
  { sql: 'end', want: [{ k: 'commit', chain: false }] },
  { sql: 'commit and chain', want: [{ k: 'commit', chain: true }] },
  { sql: 'abort', want: [{ k: 'rollback', chain: false }] },
  { sql: 'rollback and chain', want: [{ k: 'rollback', chain: true }] },
  { sql: 'savepoint s1', want: [{ k: 'savepoint', name: 's1' }] },
  { sql: 'release savepoint s1', want: [{ k: 'release', name: 's1' }] },
  { sql: 'release "S1"', want: [{ k: 'release', name: 'S1' }] },
  { sql: 'rollback to s1', want: [{ k: 'rollback_to', name: 's1' }] },
  { sql: 'do $$ begin perform 1; end $$', want: [] },
  { sql: "do $$ begin set search_path to other; end $$", want: [{ k: 'unknown' }] },
  { sql: "do $$ begin perform set_config('search_path', 'other', false); end $$", want: [{ k: 'unknown' }] },
  { sql: "do $$ begin execute 'set ' || 'search_path to other'; end $$", want: [{ k: 'unknown' }] },
  { sql: 'call public.refresh_stats()', want: [{ k: 'unknown' }] },
  { sql: 'select * from orders', want: [] },
];

describe('search_path changes of a statement', () => {
  for (const c of cases) {
    it(c.sql, () => {
      const [a] = analyse(c.sql, { catalog: testCatalog(), searchPath: ['public'] });
      const got = pathOpsOf(a);
      if (c.want === 'refused') assert.equal(typeof got, 'string');
      else assert.deepEqual(got, c.want);
    });
  }
});
