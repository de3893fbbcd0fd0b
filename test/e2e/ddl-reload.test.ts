/**
 * When DDL reloads the catalog. The catalog is read on a connection of its own, which sees a
 * change once it committed: DDL inside a transaction block reloads when the block ends, and a
 * failed DDL statement sent on its own (which committed nothing) does not reload at all. Anything
 * that may have committed part of its work reloads, failed or not.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

let t: TestGateway;
let c: pg.Client;

before(async () => {
  t = await startTestGateway();
  c = new pg.Client(t.client(await t.issuer.sign({ sub: 'migrator' })));
  await c.connect();
});
after(async () => {
  await c?.end();
  await t?.stop();
});

const loads = () => t.logs.filter((l) => l.includes('"catalog loaded"')).length;

/** Wait until a reload the last statement started has finished (the next statement waits for it too). */
async function settled(): Promise<void> {
  await c.query('select 1');
}

describe('catalog reloads after DDL', () => {
  it('a DDL statement that fails on its own reloads nothing; one that succeeds reloads', async () => {
    await settled();
    const before = loads();
    for (const sql of ['create table bad_type (a no_such_type)', 'alter table no_such_table add column b int', 'create index on no_such_table (a)', 'drop table no_such_table']) {
      await assert.rejects(c.query(sql), (err: Error & { code?: string }) => err.code === '42704' || err.code === '42P01');
    }
    await settled();
    assert.equal(loads() - before, 0, 'failed DDL statements reloaded the catalog');
    await c.query('create table made_ok (a int)');
    await settled();
    assert.ok(loads() - before >= 1, 'a successful CREATE TABLE did not reload the catalog');
    assert.deepEqual((await c.query('select count(*)::int as n from made_ok')).rows, [{ n: 0 }]);
  });

  it('DDL inside a transaction block reloads once the block commits, and what it made is known', async () => {
    await settled();
    const before = loads();
    await c.query('begin');
    await c.query('create table in_block_a (a int)');
    await c.query('create table in_block_b (b int)');
    await c.query('alter table in_block_a add column c text');
    assert.equal(loads() - before, 0, 'DDL inside the open block reloaded the catalog, which cannot see it yet');
    await c.query('commit');
    await settled();
    assert.ok(loads() - before >= 1, 'the COMMIT of a block with DDL did not reload the catalog');
    // Known without a lookup of an unknown name: the reload after the COMMIT read them.
    const afterCommit = loads();
    await c.query("insert into in_block_a values (1, 'x')");
    await c.query('select a, c from in_block_a');
    await c.query('select b from in_block_b');
    assert.equal(loads() - afterCommit, 0, 'the tables made in the block were unknown after its COMMIT');
  });

  it('a block that fails after DDL, then rolls back, leaves the catalog as it was and the session usable', async () => {
    await c.query('begin');
    await c.query('create table rolled_back (a int)');
    await assert.rejects(c.query('select 1 / 0'), (err: Error & { code?: string }) => err.code === '22012');
    await c.query('rollback');
    await assert.rejects(c.query('select * from rolled_back'), (err: Error & { code?: string }) => err.code === '42P01');
    assert.deepEqual((await c.query('select 1 as one')).rows, [{ one: 1 }]);
  });

  it('a failed query string that committed part of its DDL reloads', async () => {
    await settled();
    const before = loads();
    // COMMIT ends the implicit transaction of the string: the first table stays, the error after it changes nothing of that.
    await assert.rejects(c.query('create table committed_part (a int); commit; select 1 / 0'), (err: Error & { code?: string }) => err.code === '22012');
    await settled();
    assert.ok(loads() - before >= 1, 'the committed part of a failed string did not reload the catalog');
    const afterFail = loads();
    assert.deepEqual((await c.query('select count(*)::int as n from committed_part')).rows, [{ n: 0 }]);
    assert.equal(loads() - afterFail, 0, 'the committed table was unknown after the failed string');
  });

  it('a failed CREATE INDEX CONCURRENTLY (which commits in stages) reloads', async () => {
    await c.query('create table conc (a int)');
    await c.query('insert into conc values (1), (1)');
    await settled();
    const before = loads();
    // An expression index (a plain-column one changes nothing the catalog holds, see below).
    await assert.rejects(c.query('create unique index concurrently conc_a on conc ((a + 0))'), (err: Error & { code?: string }) => err.code === '23505');
    await settled();
    assert.ok(loads() - before >= 1, 'a failed CREATE INDEX CONCURRENTLY did not reload the catalog');
  });

  it('a prepared DDL statement run again reloads each time, and the statements prepared on its table keep running', async () => {
    await c.query({ name: 'make_again', text: 'create table again_t (x int)' });
    await c.query({ name: 'fill_again', text: 'insert into again_t values (1)' });
    await c.query('drop table again_t');
    await settled();
    const before = loads();
    // The client keeps both statements: this is a Bind and an Execute of each, with no Parse.
    await c.query({ name: 'make_again', text: 'create table again_t (x int)' });
    await c.query({ name: 'fill_again', text: 'insert into again_t values (1)' });
    assert.ok(loads() - before >= 1, 'running a prepared CREATE TABLE again did not reload the catalog');
    const afterMake = loads();
    assert.deepEqual((await c.query('select count(*)::int as n from again_t')).rows, [{ n: 1 }]);
    assert.equal(loads() - afterMake, 0, 'the table made by the prepared statement was unknown afterwards');
  });

  it('COMMENT, GRANT, REVOKE and a CREATE INDEX of plain columns reload nothing; a unique index, or one with an expression or a predicate, reloads', async () => {
    await c.query('create table quiet (a int, b text)');
    await settled();
    const before = loads();
    for (const sql of [
      "comment on table quiet is 'no reload'",
      "comment on column quiet.b is 'nor this'",
      'grant select on quiet to public',
      'revoke select on quiet from public',
      'create index quiet_a on quiet (a)',
      'create index concurrently quiet_ab on quiet (a, b)',
      'drop index quiet_ab',
    ]) {
      await c.query(sql);
    }
    await c.query("insert into quiet values (1, 'x')");
    assert.deepEqual((await c.query('select a, b from quiet')).rows, [{ a: 1, b: 'x' }]);
    assert.equal(loads() - before - 1, 0, 'only the DROP INDEX reloaded the catalog');
    for (const sql of ['create index quiet_expr on quiet (lower(b))', 'create index quiet_part on quiet (a) where a > 0', 'create unique index quiet_key on quiet (a)']) {
      const at = loads();
      await c.query(sql);
      await settled();
      assert.ok(loads() - at >= 1, `${sql} did not reload the catalog`);
    }
  });
});
