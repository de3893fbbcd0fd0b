/**
 * The startup user name against real clients: the token's subject and the configured generic
 * names (default `agent`) connect; any other name is refused with FATAL 28000 naming the
 * identity, and the client is told which names work.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { psql } from '../helpers/clients.ts';

let t: TestGateway;
let custom: TestGateway;
let token: string;
let policy: (raw: Record<string, any>) => void;

before(async () => {
  policy = (raw: Record<string, any>) => {
    raw.policies = [{ name: 'readers', match: { subjects: ['analyst'] }, allow: [{ tables: ['public.*'], operations: ['select'] }] }];
  };
  t = await startTestGateway({ config: policy });
  token = await t.issuer.sign({ sub: 'analyst' });
});
after(async () => {
  await custom?.stop();
  await t?.stop();
});

async function connectAs(gw: TestGateway, user: string): Promise<string> {
  const c = new pg.Client({ ...gw.client(token), user });
  try {
    await c.connect();
    return (await c.query('select 1 as ok')).rows[0].ok === 1 ? 'ok' : 'no rows';
  } catch (err: any) {
    return `${err.code}: ${err.message} | ${err.hint ?? ''}`;
  } finally {
    await c.end().catch(() => undefined);
  }
}

describe('startup user name', () => {
  it('the token subject connects (pg)', async () => {
    assert.equal(await connectAs(t, 'analyst'), 'ok');
  });
  it('the default generic name "agent" connects (pg)', async () => {
    assert.equal(await connectAs(t, 'agent'), 'ok');
  });
  it('another name is refused with 28000 naming the identity and the names that work (pg)', async () => {
    const got = await connectAs(t, 'migrator');
    assert.match(got, /^28000: pgwarden: the token is for "analyst", not for user "migrator" \| Connect as user "analyst" or "agent"/);
  });
  it('psql with a wrong user gets the FATAL and exits non-zero', async () => {
    const r = await psql(`postgres://postgres:${encodeURIComponent(token)}@127.0.0.1:${t.port}/app`, 'select 1');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /FATAL: {2}pgwarden: the token is for "analyst", not for user "postgres"/);
    const ok = await psql(`postgres://analyst:${encodeURIComponent(token)}@127.0.0.1:${t.port}/app`, 'select 1');
    assert.equal(ok.code, 0, ok.stderr);
  });
  it('a token put in the user name (and so the default database) is never echoed to the client or the log', async () => {
    // A common mistake: the client's whole token as its user name. PostgreSQL's default database
    // is the user name, so it reaches the database name too.
    const seen = t.logs.length;
    const asUser = await connectAs(t, token);
    assert.match(asUser, /^28000: pgwarden: the token is for "analyst", not for user "eyJ\S… \(\d+ characters, looks like a token: not shown\)" \| .*The token goes in the password/);
    const c = new pg.Client({ ...t.client(token), user: token, database: token });
    const asDatabase = await c.connect().then(
      () => 'connected',
      (err: any) => `${err.code}: ${err.message}`,
    );
    await c.end().catch(() => undefined);
    assert.match(asDatabase, /^3D000: pgwarden: database "eyJ\S… \(\d+ characters, looks like a token: not shown\)" is not served by this gateway$/);
    const r = await psql(`postgres://${encodeURIComponent(token)}:${encodeURIComponent(token)}@127.0.0.1:${t.port}`, 'select 1');
    assert.notEqual(r.code, 0);
    assert.doesNotMatch(r.stderr, new RegExp(token.split('.')[1]), 'psql shows no part of the token');
    const logged = t.logs.slice(seen).join('');
    assert.match(logged, /connection refused/);
    for (const part of token.split('.')) assert.ok(!asUser.includes(part) && !asDatabase.includes(part) && !logged.includes(part), 'no segment of the token is quoted');
  });
  it('a long user name is shortened in the message', async () => {
    const got = await connectAs(t, `x${'y'.repeat(200)}`);
    assert.match(got, /not for user "xyyy… \(201 characters: not shown\)"/);
  });
  // Last: a second gateway on the same cluster takes over the upstream role's password.
  it('configured names replace the default', async () => {
    custom = await startTestGateway({
      pg: t.pg,
      issuer: t.issuer,
      config: (raw) => {
        policy(raw);
        raw.identity.user_names = ['reporting'];
      },
    });
    assert.equal(await connectAs(custom, 'reporting'), 'ok');
    assert.equal(await connectAs(custom, 'analyst'), 'ok');
    assert.match(await connectAs(custom, 'agent'), /^28000: /);
  });
});
