/**
 * A search_path default stored while sessions are open (ALTER DATABASE … SET search_path, through
 * the gateway or directly on the database) changes the path of new server sessions only. The
 * gateway must go on analysing each open session under the path its server session has, and new
 * sessions under the new one. Two schemas hold a table of the same name: `a.items` may be read
 * whole, `b.items` only by id, and its `tag` holds a value that must never reach the client.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { allowEverything, startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { judgePath, watchedClient, type WatchedClient } from '../helpers/path-judge.ts';

let t: TestGateway;
let analyst: string;
let owner: string;
const SECRET = 'b-secret-tag-5521';
const open: pg.Client[] = [];

before(async () => {
  t = await startTestGateway({
    config: (raw) => {
      raw.policies = [
        {
          name: 'paths',
          match: { subjects: ['analyst'] },
          allow: [
            { tables: ['a.items'], operations: ['select'] },
            { tables: ['b.items'], operations: ['select'], columns: ['id'] },
          ],
        },
        { ...allowEverything(raw.identity.issuers.map((i: { issuer: string }) => i.issuer)), name: 'owner', match: { subjects: ['owner'] } },
      ];
    },
  });
  t.pg.psql(
    `create schema a authorization gw_app; create schema b authorization gw_app;
     create table a.items (id int, tag text); create table b.items (id int, tag text);
     insert into a.items values (1, 'a-tag'); insert into b.items values (1, '${SECRET}');
     alter table a.items owner to gw_app; alter table b.items owner to gw_app;
     alter database app set search_path = a`,
    'app',
  );
  await t.gw.reloadCatalogs();
  analyst = await t.issuer.sign({ sub: 'analyst' });
  owner = await t.issuer.sign({ sub: 'owner' });
});
after(async () => {
  for (const c of open) await c.end().catch(() => {});
  await t?.stop();
});

const session = (token: string): Promise<WatchedClient> => watchedClient(t.client(token), open);
const ITEMS = { query: 'select tag from items', allowedUnder: 'a', rows: [{ tag: 'a-tag' }], secret: SECRET };
const judge = (s: WatchedClient, what: string): Promise<string> => judgePath(s, ITEMS, what);

describe('a search_path default stored while sessions are open', () => {
  it('set directly on the database: open sessions keep their path, new ones get the new one', async () => {
    const before = await session(analyst);
    assert.equal(await judge(before, 'opened under a'), 'a');
    t.pg.psql('alter database app set search_path = b', 'app');
    // The periodic reload (forced here) reads the new default.
    await t.gw.reloadCatalogs();
    assert.equal(await judge(before, 'opened under a, after the default became b'), 'a');
    const later = await session(analyst);
    assert.equal(await judge(later, 'opened after the default became b'), 'b');
  });

  it('set through the gateway (ALTER ROLE … SET): the same, at once', async () => {
    t.pg.psql('alter database app set search_path = b', 'app');
    await t.gw.reloadCatalogs();
    const before = await session(analyst);
    assert.equal(await judge(before, 'opened under b'), 'b');
    const o = await session(owner);
    // The role's default outranks the database's.
    await o.c.query('alter role current_user set search_path = a');
    // The owner's next statement waits for the reload its ALTER started.
    await o.c.query('select 1');
    assert.equal(await judge(before, 'opened under b, after the default became a'), 'b');
    const later = await session(analyst);
    assert.equal(await judge(later, 'opened after the default became a'), 'a');
    t.pg.psql('alter role gw_app reset search_path; alter database app set search_path = a', 'app');
    await t.gw.reloadCatalogs();
  });

  it('RESET search_path and DISCARD ALL go back to the path the session started with', async () => {
    const s = await session(analyst);
    assert.equal(await judge(s, 'opened under a'), 'a');
    t.pg.psql('alter database app set search_path = b', 'app');
    await t.gw.reloadCatalogs();
    await s.c.query('set search_path = b');
    assert.equal(await judge(s, 'after SET'), 'b');
    await s.c.query('reset search_path');
    assert.equal(await judge(s, 'after RESET'), 'a');
    await s.c.query('set search_path = b');
    await s.c.query('discard all');
    assert.equal(await judge(s, 'after DISCARD ALL'), 'a');
    t.pg.psql('alter database app set search_path = a', 'app');
    await t.gw.reloadCatalogs();
  });
});
