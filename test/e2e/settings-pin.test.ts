/**
 * pg_settings through the gateway: a read pinned by `WHERE name = '…'` / `name IN (…)` to
 * settings current_setting may read answers exactly as PostgreSQL does directly; every other read
 * gets 42501 and the session goes on. The gateway's upstream role may see a server path setting
 * holding a secret (pg_read_all_settings) and has a custom setting holding it too: judged by
 * effect, the secret never reaches the client, whatever was decided before (the analysis cache
 * is shared), over the simple and the extended protocol.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';

const SECRET = 'pinned-settings-secret-3390';

let pgs: TestPostgres;
let t: TestGateway;
let c: pg.Client;
let d: pg.Client;
/** Everything the gateway's client received: rows, errors, notices. */
const seen: string[] = [];

function configure(raw: Record<string, any>): void {
  raw.policies = [{ name: 'apps', match: { groups: ['apps'] }, allow: [{ tables: ['public.*'], operations: ['select'] }] }];
}

/** Whether the server was asked to run exactly this text (simple or extended protocol). */
function logged(text: string): boolean {
  const log = readFileSync(join(pgs.dataDir, 'log', 'pg.log'), 'utf8');
  return log.split('\n').some((l) => /(statement|execute [^:]*): /.test(l) && l.endsWith(`: ${text}`));
}

async function through(q: string | pg.QueryConfig): Promise<unknown[]> {
  const r = await c.query(q);
  seen.push(JSON.stringify(r.rows));
  return r.rows;
}

async function refused(q: string | pg.QueryConfig): Promise<void> {
  const text = typeof q === 'string' ? q : q.text;
  try {
    const r = await c.query(q);
    seen.push(JSON.stringify(r.rows));
  } catch (err) {
    const e = err as { code?: string; message: string; hint?: string };
    seen.push(JSON.stringify(e));
    assert.equal(e.code, '42501', `${text}: ${e.message}`);
    assert.match(e.message, /^pgwarden: \S+ may not read (pg_catalog\.pg_settings|column pg_catalog\.pg_settings\.sourcefile)$/, text);
    // The session goes on.
    assert.deepEqual((await c.query('select 1 as one')).rows, [{ one: 1 }]);
    return;
  }
  assert.fail(`allowed: ${text}`);
}

before(async () => {
  pgs = await startPostgres({ conf: ['logging_collector = on', "log_directory = 'log'", "log_filename = 'pg.log'", 'log_file_mode = 0644', "log_statement = 'all'"] });
  pgs.psql("create role gw_app login password 'x'");
  pgs.psql('create database app owner gw_app');
  pgs.psql(`grant pg_read_all_settings to gw_app; alter role gw_app set dynamic_library_path = '$libdir:/${SECRET}'; alter role gw_app set app.secret = '${SECRET}'`);
  t = await startTestGateway({ pg: pgs, config: configure });
  c = new pg.Client(t.client(await t.issuer.sign({ sub: 'app-1', groups: ['apps'] })));
  c.on('error', () => {});
  c.on('notice', (n) => seen.push(JSON.stringify(n)));
  await c.connect();
  d = new pg.Client(t.directUrl('app'));
  await d.connect();
});
after(async () => {
  await c?.end().catch(() => {});
  await d?.end().catch(() => {});
  await t?.stop();
  await pgs?.stop();
});

describe('pg_settings pinned to readable settings', () => {
  it('the upstream role can see the secret directly (the test would catch a leak)', async () => {
    const r = await d.query("select setting as direct from pg_settings where name = 'dynamic_library_path'");
    assert.match(r.rows[0].direct, new RegExp(SECRET));
  });

  it('allowed reads answer as PostgreSQL directly (simple and extended)', async () => {
    for (const text of [
      "SELECT setting FROM pg_catalog.pg_settings WHERE name='max_index_keys'",
      "select name, setting from pg_settings where name = 'server_version_num'",
      "select name, setting from pg_settings where name in ('max_identifier_length', 'server_encoding') order by name",
      "select s.name, s.setting, s.unit, s.vartype from pg_catalog.pg_settings as s where 'DateStyle' = s.name",
      "select name, setting, unit, vartype, sourceline from pg_settings where name = 'work_mem'::text and vartype = 'integer'",
      "select setting from pg_settings where name = 'datestyle'",
    ]) {
      const expected = (await d.query(text)).rows;
      assert.deepEqual(await through(text), expected, text);
      assert.deepEqual(await through({ text, values: [], name: `p${seen.length}` }), expected, `${text} (prepared)`);
    }
    assert.deepEqual(await through("SELECT setting FROM pg_catalog.pg_settings WHERE name='max_index_keys'"), [{ setting: '32' }]);
  });

  it('other reads get 42501 and the session goes on', async () => {
    for (const text of [
      "select setting from pg_settings where name = 'dynamic_library_path'",
      "select setting from pg_settings where name = 'app.secret'",
      "select setting from pg_settings where name in ('max_index_keys', 'dynamic_library_path')",
      "select setting from pg_settings where name = 'max_index_keys' or true",
      "select setting from pg_settings where name like 'dyn%'",
      "select setting from pg_settings where name <> 'max_index_keys'",
      'select * from pg_settings',
      // The file a setting comes from is a server path, whatever the setting.
      "select * from pg_settings where name = 'work_mem'",
      "select sourcefile from pg_settings where name = 'work_mem'",
      "select s.setting from pg_settings s join pg_settings t on true where s.name = 'max_index_keys'",
      "select setting from pg_settings where name = 'max_index_keys' and (case when name = 'dynamic_library_path' then setting else '1' end)::int > 0",
      "with s as (select * from pg_settings) select setting from s where name = 'max_index_keys'",
    ]) {
      await refused(text);
      assert.equal(logged(text), false, `${text} reached the server`);
    }
  });

  it('a parameter is not a pin: the value is not known at Parse', async () => {
    await refused({ text: 'select setting from pg_settings where name = $1', values: ['max_index_keys'] });
    await refused({ text: 'select setting from pg_settings where name = $1', values: ['dynamic_library_path'] });
  });

  it("the allowed text's analysis is never used for a secret name, in either order", async () => {
    const q = (n: string) => `select setting from pg_catalog.pg_settings where name = '${n}'`;
    const allowed = q('max_index_keys');
    for (const secret of [q('dynamic_library_path'), q('app.secret')]) {
      for (const order of [[allowed, secret], [secret, allowed]]) {
        for (const text of order) {
          if (text === allowed) assert.deepEqual(await through(text), [{ setting: '32' }]);
          else await refused(text);
        }
        // The extended protocol, after the simple one warmed the cache.
        for (const text of order) {
          const cfg = { text, values: [], name: `x${seen.length}` };
          if (text === allowed) assert.deepEqual(await through(cfg), [{ setting: '32' }]);
          else await refused(cfg);
        }
      }
      assert.equal(logged(secret), false, `${secret} reached the server`);
    }
  });

  it('the secret reached the client in no row, error or notice', () => {
    const all = seen.join('\n');
    assert.ok(all.includes('32'), 'something was received');
    assert.equal(all.includes(SECRET), false);
  });
});
