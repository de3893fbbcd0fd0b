/**
 * Behind a transaction pool, server connections keep the statements sessions prepared on them,
 * so that a later session sending the same text need not prepare it again. Their texts are
 * readable by anyone on that connection in pg_prepared_statements, literals and all (psycopg2 and
 * hand-written SQL put values there). A connection lent to another identity is now cleared of
 * them first (also of statements code in the database prepared, which the gateway never saw): one
 * identity never reads another's statements there. Each case lets one identity
 * prepare statements carrying a value, lets another take the only server connection, and
 * searches everything the second received for the value.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import postgres from 'postgres';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { RawClient, type RawMessage } from '../helpers/raw-client.ts';
import { encodeQuery } from '../../src/protocol/index.ts';

let t: TestGateway;

before(async () => {
  t = await startTestGateway({
    config: (raw) => {
      raw.policies = [
        { name: 'readers', match: { subjects: ['owner', 'other', 'owner-too'] }, allow: [{ tables: ['public.*'], operations: ['select'] }] },
        { name: 'coder', match: { subjects: ['coder'] }, allow: [{ tables: ['public.*'], operations: ['select'] }, { functions: ['public.mkprep', 'public.mkprep_sql'] }, { do_blocks: ['plpgsql'] }] },
      ];
      raw.upstreams.app.pool = { mode: 'transaction', size: 1 };
    },
  });
  t.pg.psql(
    `create table public.people(email text); insert into public.people values ('alice@example.com'); alter table public.people owner to gw_app;
     create function public.mkprep() returns int language plpgsql as $f$ begin execute 'prepare by_plpgsql as select ''secret-literal-4'''; return 1; end $f$;
     create function public.mkprep_sql() returns int language sql as $f$ prepare by_sql as select 'secret-literal-5'; select 1 $f$;`,
    'app',
  );
  await t.gw.reloadCatalogs();
});
after(async () => {
  await t?.stop();
});

async function pgClient(sub: string): Promise<pg.Client> {
  const c = new pg.Client(t.client(await t.issuer.sign({ sub })));
  c.on('error', () => {});
  await c.connect();
  return c;
}

/** Everything a raw client of `sub` receives for a read of pg_prepared_statements. */
async function readPrepared(sub: string): Promise<string> {
  const c = await RawClient.connect(t.port, await t.issuer.sign({ sub }));
  try {
    c.send(encodeQuery('select name, statement from pg_catalog.pg_prepared_statements'));
    const got: RawMessage[] = await c.until('Z');
    assert.ok(!got.some((m) => m.tag === 'E'), 'the read itself is allowed');
    return Buffer.concat(got.map((m) => m.frame)).toString('latin1');
  } finally {
    c.end();
  }
}

describe("another identity's prepared statements are not on the connection it is lent", () => {
  it('named statements of node-postgres, the owner still connected and idle', async () => {
    const owner = await pgClient('owner');
    try {
      await owner.query({ name: 'lookup', text: "select * from people where email = 'secret-literal-1@example.com'" });
      const seen = await readPrepared('other');
      assert.ok(!seen.includes('secret-literal-1'), 'the other identity read the owner\'s statement');
      // The owner's statement still works: prepared again on the connection as it is used.
      const again = await owner.query({ name: 'lookup', text: "select * from people where email = 'secret-literal-1@example.com'" });
      assert.equal(again.rowCount, 0);
      assert.deepEqual((await owner.query({ name: 'all', text: 'select email from people' })).rows, [{ email: 'alice@example.com' }]);
    } finally {
      await owner.end();
    }
  });

  it("postgres.js's prepared statements, after the owner left", async () => {
    const sql = postgres(t.url(await t.issuer.sign({ sub: 'owner' })), { max: 1 });
    await sql`select * from people where email = ${'x'} and 'secret-literal-2' <> ''`;
    await sql.end();
    const seen = await readPrepared('other');
    assert.ok(!seen.includes('secret-literal-2'));
  });

  // The gateway never saw these PREPAREs: code in the database ran them.
  for (const [how, sql, literal] of [
    ['a DO block', "DO $$ BEGIN EXECUTE 'PREPARE by_do AS SELECT ''secret-literal-3'''; END $$", 'secret-literal-3'],
    ['a PL/pgSQL function', 'select public.mkprep()', 'secret-literal-4'],
    ['a SQL function', 'select public.mkprep_sql()', 'secret-literal-5'],
  ]) {
    it(`statements prepared by ${how}, the owner still connected`, async () => {
      const coder = await RawClient.connect(t.port, await t.issuer.sign({ sub: 'coder' }));
      try {
        coder.send(encodeQuery(sql));
        const got = await coder.until('Z');
        assert.ok(!got.some((m) => m.tag === 'E'), `${how} ran`);
        const seen = await readPrepared('other');
        assert.ok(!seen.includes(literal), `the other identity read a statement ${how} prepared`);
      } finally {
        coder.end();
      }
    });
  }

  it('the same identity keeps them (a later session of it finds its plans)', async () => {
    const owner = await pgClient('owner-too');
    await owner.query({ name: 'mine', text: "select * from people where email = 'own-literal'" });
    await owner.end();
    const seen = await readPrepared('owner-too');
    assert.ok(seen.includes('own-literal'));
  });
});
