import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { analyse, loadParser } from '../sql/index.ts';
import { testCatalog } from '../sql/fixture.ts';
import { poolEffectOf } from './pool-effects.ts';

before(() => loadParser());
const catalog = testCatalog();
const effect = (sql: string) => poolEffectOf(analyse(sql, { catalog, searchPath: ['public'] }));

describe('what a statement leaves on its server connection', () => {
  const pins: [string, RegExp][] = [
    ['create temp table t (v int)', /temporary table/],
    ['create temporary view v as select 1', /temporary view/],
    ['create table pg_temp.t (v int)', /temporary table/],
    ['select 1 as v into temp t', /temporary table/],
    ['listen ch', /LISTEN/],
    ['select pg_advisory_lock(1)', /advisory lock/],
    ['select pg_try_advisory_lock_shared(1, 2)', /advisory lock/],
    ['declare c cursor with hold for select 1', /WITH HOLD/],
    ['prepare p as select 1', /PREPARE/],
    ['set role other', /SET ROLE/],
    ['reset role', /SET ROLE/],
    ['set session authorization other', /SESSION AUTHORIZATION/],
    ["select set_config('work_mem', '1MB', false)", /set_config/],
    ["select set_config('work_mem', '1MB', $1)", /set_config/],
    ['set work_mem from current', /FROM CURRENT/],
    ["set work_mem = '1MB'; select 1", /in one Query with other statements/],
    ["explain analyze select pg_advisory_lock(1)", /advisory lock/],
  ];
  for (const [sql, why] of pins) {
    it(`${sql}: pins the session (${why.source})`, () => assert.match(effect(sql)?.pin ?? '', why));
  }

  it('a temporary table both pins and changes what names mean on the connection; a lock only pins', () => {
    assert.deepEqual(effect('create temp table t (v int)'), { pin: 'a temporary table', schema: true });
    assert.deepEqual(effect('select 1 as v into temp t'), { pin: 'a temporary table', schema: true });
    assert.deepEqual(effect('select pg_advisory_lock(1)'), { pin: 'a session advisory lock (pg_advisory_lock)' });
  });

  it('a lone SET / RESET / RESET ALL / SET SESSION CHARACTERISTICS is replayed, with its own text', () => {
    assert.deepEqual(effect("set work_mem = '1MB'"), { settings: [{ name: 'work_mem', action: 'set', text: "set work_mem = '1MB'" }] });
    assert.deepEqual(effect('reset work_mem'), { settings: [{ name: 'work_mem', action: 'reset', text: 'reset work_mem' }] });
    assert.deepEqual(effect('reset all'), { settings: [{ name: null, action: 'reset_all', text: 'reset all' }] });
    assert.equal(effect('set session characteristics as transaction read only')?.settings?.[0].name, 'default_transaction_read_only');
  });

  it('what ends with its transaction leaves nothing', () => {
    for (const sql of ["set local work_mem = '1MB'", 'begin isolation level serializable', 'set transaction read only', 'declare c cursor for select 1', "select set_config('work_mem', '1MB', true)", 'select pg_advisory_xact_lock(1)', 'select 1']) {
      assert.equal(effect(sql), undefined, sql);
    }
  });

  it('DDL, DO and CALL may change what other statements return: statements prepared after them get fresh plans', () => {
    for (const sql of ['create table t2 (v int)', 'alter table customers add column v int', 'drop table customers', "do $$ begin perform 1; end $$", 'call p()']) {
      assert.equal(effect(sql)?.schema, true, sql);
    }
    for (const sql of ['select 1', "set work_mem = '1MB'", 'insert into customers (id) values (1)']) assert.equal(effect(sql)?.schema, undefined, sql);
  });

  it('DISCARD ALL and DEALLOCATE drop the server\'s prepared statements', () => {
    assert.equal(effect('discard all')?.dropsPrepared, true);
    assert.equal(effect('deallocate all')?.dropsPrepared, true);
  });
});
