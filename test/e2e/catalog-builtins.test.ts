/**
 * A reload keeps the built-in objects it read before while their fingerprint is unchanged, and
 * reads them again when a superuser altered one. Either way, it gives the same contents as a full
 * load of the same database.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadCatalogContents, type BuiltinCache, type CatalogContents, type CatalogQueryable } from '../../src/catalog/load.ts';
import { SimpleQuerySession } from '../../src/upstream/simple-query.ts';
import { connectUpstream, targetFromUrl } from '../../src/upstream/connect.ts';
import { ScramKeyCache } from '../../src/upstream/scram.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';

let pg: TestPostgres;
let db: SimpleQuerySession;
const sent: string[] = [];
// As the gateway's catalog connection: the queries go together, in one round trip.
const recorded: CatalogQueryable = {
  query(text) {
    sent.push(text);
    return db.query(text);
  },
  queryAll(text) {
    sent.push(text);
    return db.queryAll(text);
  },
};

before(async () => {
  pg = await startPostgres();
  pg.psql(`create role gw_app login password 'catalog-secret'`);
  pg.psql('create database app owner gw_app');
  const target = targetFromUrl('app', `postgres://gw_app@127.0.0.1:${pg.port}/app`, { password: 'catalog-secret', tls: { mode: 'disable' }, connectTimeoutMs: 5000 });
  db = new SimpleQuerySession((await connectUpstream(target, { application_name: 'catalog-test' }, new ScramKeyCache())).socket);
});
after(async () => {
  await db?.close();
  await pg?.stop();
});

/** Contents in a canonical order, to compare loads. */
function canonical(c: CatalogContents): CatalogContents {
  const byOid = <T extends { oid: number }>(list: T[]) => [...list].sort((a, b) => a.oid - b.oid);
  return { ...c, relations: byOid(c.relations), functions: byOid(c.functions), operators: byOid(c.operators), casts: byOid(c.casts), schemas: [...c.schemas].sort() };
}

/** Load with the cache; whether the built-in objects were read again; and a full load to compare. */
async function load(cache: BuiltinCache): Promise<{ contents: CatalogContents; readBuiltins: boolean }> {
  sent.length = 0;
  const contents = await loadCatalogContents(recorded, cache);
  // The queries are prepared per connection: the full ones are named `relations` and `functions`.
  const readBuiltins = sent.some((q) => /\bpgwarden_catalog_(relations|functions)\b/.test(q));
  assert.deepEqual(canonical(contents), canonical(await loadCatalogContents(db)), 'the load differs from a full load');
  return { contents, readBuiltins };
}

/** Make the catalog's user a member of the role that owns what initdb made (OID 10). */
function grantBuiltinOwner(): void {
  pg.psql("do $$ begin execute format('grant %I to gw_app', (select rolname from pg_roles where oid = 10)); end $$", 'app');
}

describe('the built-in part, for a catalog user that cannot change it', () => {
  it('is kept without reading its fingerprint, which is read again as soon as the user can change it', async () => {
    const cache: BuiltinCache = {};
    assert.equal((await load(cache)).readBuiltins, true, 'the first load reads everything');
    const second = await load(cache);
    assert.equal(second.readBuiltins, false);
    assert.ok(!sent.some((q) => /pgwarden_catalog_fingerprint/.test(q)), 'a user that cannot change built-in objects made the load read their fingerprint');
    grantBuiltinOwner();
    const third = await load(cache);
    assert.equal(third.readBuiltins, true, 'a user that became able to change built-in objects did not have them read again');
    const fourth = await load(cache);
    assert.equal(fourth.readBuiltins, false);
    assert.ok(sent.some((q) => /pgwarden_catalog_fingerprint/.test(q)), 'the fingerprint was not read for a user that can change built-in objects');
  });
});

describe('the built-in part of the catalog, for a user that can change it', () => {
  const cache: BuiltinCache = {};
  before(() => grantBuiltinOwner());

  it('is read by the first load, then kept while user objects come and go', async () => {
    assert.equal((await load(cache)).readBuiltins, true);
    pg.psql('create table people (id int, ssn text); create view people_v as select ssn from people; create function f(int) returns int language sql as $$ select $1 $$', 'app');
    const second = await load(cache);
    assert.equal(second.readBuiltins, false, 'nothing built-in changed: the cached part is used');
    assert.ok(second.contents.relations.some((r) => r.name === 'people_v' && r.viewDependencies?.some((d) => d.name === 'people')));
    assert.ok(second.contents.functions.some((f) => f.name === 'f' && f.origin === 'user'));
    assert.ok(second.contents.functions.some((f) => f.name === 'pg_read_file' && f.origin === 'builtin'));
  });

  it('is read again after a superuser renamed a built-in view', async () => {
    pg.psql('alter view information_schema.tables rename to tables_renamed', 'app');
    const after = await load(cache);
    assert.equal(after.readBuiltins, true);
    assert.ok(after.contents.relations.some((r) => r.schema === 'information_schema' && r.name === 'tables_renamed'));
    assert.equal((await load(cache)).readBuiltins, false, 'then kept again');
  });

  it('is read again after a superuser altered a built-in function', async () => {
    pg.psql('alter function pg_catalog.pg_sleep(double precision) stable', 'app');
    const after = await load(cache);
    assert.equal(after.readBuiltins, true);
    assert.equal(after.contents.functions.find((f) => f.schema === 'pg_catalog' && f.name === 'pg_sleep')?.volatility, 's');
  });

  it('is read again after a superuser added a column to a built-in table', async () => {
    pg.psql('alter table information_schema.sql_features add column extra int', 'app');
    const after = await load(cache);
    assert.equal(after.readBuiltins, true);
    const table = after.contents.relations.find((r) => r.schema === 'information_schema' && r.name === 'sql_features');
    assert.ok(table?.columns.some((c) => c.name === 'extra'));
  });
});

describe('the catalog queries', () => {
  it('go in one round trip, in one read-only snapshot, where the connection can send several at once', async () => {
    const calls: string[] = [];
    const batching: CatalogQueryable = {
      query(text) {
        calls.push(`query: ${text}`);
        return db.query(text);
      },
      queryAll(text) {
        calls.push(`queryAll: ${text}`);
        return db.queryAll(text);
      },
    };
    const cache: BuiltinCache = {};
    const first = await loadCatalogContents(batching, cache);
    assert.deepEqual(canonical(first), canonical(await loadCatalogContents({ query: (text) => db.query(text) })), 'the same contents as one query at a time');
    // The second load prepares the queries that read the user part only (a cache is now held).
    await loadCatalogContents(batching, cache);
    calls.length = 0;
    pg.psql('create table batched_t (id int, note text)', 'app');
    const second = await loadCatalogContents(batching, cache);
    assert.equal(calls.length, 1, calls.join('\n'));
    assert.match(calls[0], /^queryAll: begin isolation level repeatable read, read only; execute pgwarden_catalog_fingerprint; execute pgwarden_catalog_user_relations; .*; commit$/);
    assert.ok(second.relations.some((r) => r.name === 'batched_t' && r.columns.some((c) => c.name === 'note')));
    assert.equal((await db.query('select 1'))[0][0], '1', 'the connection is out of the transaction');
  });

  it('in one round trip, fall back to text when a prepared statement went missing, and leave the connection usable', async () => {
    const texts: string[] = [];
    const forgetful: CatalogQueryable = {
      query(text) {
        texts.push(text);
        return db.query(text);
      },
      async queryAll(text) {
        texts.push(text);
        // A pooler handing the batch to a server connection that never saw the PREPAREs.
        await db.query('deallocate all');
        return db.queryAll(text);
      },
    };
    const cache: BuiltinCache = {};
    const contents = await loadCatalogContents(forgetful, cache);
    assert.deepEqual(canonical(contents), canonical(await loadCatalogContents({ query: (text) => db.query(text) })));
    // The aborted block was rolled back: a statement runs, outside any transaction.
    assert.deepEqual(await db.query('select 1, now() = statement_timestamp()'), [['1', 't']]);
    // And later loads on that connection run the texts, one at a time.
    texts.length = 0;
    await loadCatalogContents(forgetful, cache);
    assert.ok(texts.length > 0 && texts.every((q) => !/^(prepare|execute|begin) /.test(q)), texts.join(' | '));
  });

  it('are planned once per connection, and run as text where prepared statements go missing (a pooler between)', async () => {
    const texts: string[] = [];
    // A server connection that forgets what was prepared before each statement, as a pooler in
    // transaction mode that hands every statement another server connection would.
    const forgetful: CatalogQueryable = {
      async query(text) {
        texts.push(text);
        if (text.startsWith('execute ')) await db.query('deallocate all');
        return db.query(text);
      },
    };
    const first = await loadCatalogContents(forgetful);
    assert.deepEqual(canonical(first), canonical(await loadCatalogContents(db)));
    const again = texts.length;
    await loadCatalogContents(forgetful);
    assert.ok(
      texts.slice(again).every((q) => !/^(prepare|execute) /.test(q)),
      'after a prepared statement went missing, the connection runs the queries as text',
    );

    // On a connection that keeps them, a later load only executes what the first prepared.
    const kept: string[] = [];
    const keeping: CatalogQueryable = {
      query(text) {
        kept.push(text);
        return db.query(text);
      },
    };
    await db.query('deallocate all');
    await loadCatalogContents(keeping);
    const second = kept.length;
    await loadCatalogContents(keeping);
    assert.ok(kept.slice(second).length > 0 && kept.slice(second).every((q) => /^execute pgwarden_catalog_\w+$/.test(q)), kept.slice(second).join(' | '));
  });
});
