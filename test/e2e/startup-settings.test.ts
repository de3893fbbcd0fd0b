/**
 * Startup settings the server applies differently from what the gateway read. PostgreSQL reads a
 * setting's name without regard to case and applies the startup packet's settings in order, the
 * last one winning; a second spelling of `search_path` or `statement_timeout` would be what the
 * server runs with while the gateway decided on the first. Each case performs the attack and
 * judges the effect: the protected row never reaches the client, the scope's timeout holds.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { RawClient, type RawMessage } from '../helpers/raw-client.ts';
import { encodeQuery } from '../../src/protocol/index.ts';

let t: TestGateway;
let token: string;

before(async () => {
  t = await startTestGateway({
    config: (raw) => {
      raw.policies = [
        {
          name: 'readers',
          match: { subjects: ['analyst'] },
          allow: [{ tables: ['public.*'], operations: ['select'] }, { functions: ['pg_catalog.pg_sleep'] }],
          limits: { statement_timeout: '1s' },
        },
      ];
    },
  });
  t.pg.psql(
    `create schema secret authorization gw_app;
     create table secret.orders(v text); insert into secret.orders values ('SECRET-ROW');
     create table public.orders(v text); insert into public.orders values ('public-row');
     grant all on all tables in schema secret, public to gw_app;
     create role boss; grant boss to gw_app;`,
    'app',
  );
  await t.gw.reloadCatalogs();
  token = await t.issuer.sign({ sub: 'analyst' });
});
after(async () => {
  await t?.stop();
});

function bytes(ms: RawMessage[]): string {
  return Buffer.concat(ms.map((m) => m.frame)).toString('latin1');
}

async function session(params: Record<string, string>): Promise<RawClient | RawMessage[]> {
  const c = await RawClient.open(t.port, { user: 'agent', database: 'app', ...params });
  const got = await c.until('R').catch(async () => c.closedWith());
  const last = got[got.length - 1];
  if (last?.tag === 'R') {
    c.send(password(token));
    const after = await Promise.race([c.until('Z').then((m) => ({ ok: m })), c.closedWith().then((m) => ({ closed: m }))]);
    if ('ok' in after) return c;
    return [...got, ...after.closed];
  }
  return got.concat(await c.closedWith());
}

function password(tok: string): Buffer {
  const body = Buffer.from(tok + '\0');
  const head = Buffer.alloc(5);
  head[0] = 0x70;
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

async function query(c: RawClient, sql: string): Promise<RawMessage[]> {
  c.send(encodeQuery(sql));
  return c.until('Z');
}

describe('a startup setting named twice is refused (FATAL 08P01) before sign-in', () => {
  const cases: [string, Record<string, string>][] = [
    ['search_path then SEARCH_PATH', { search_path: 'public', SEARCH_PATH: 'secret' }],
    ['Search_Path then search_path', { Search_Path: 'public', search_path: 'secret' }],
    ['statement_timeout then STATEMENT_TIMEOUT=0', { statement_timeout: '500', STATEMENT_TIMEOUT: '0' }],
    ['options then OPTIONS', { options: '-c search_path=public', OPTIONS: '-c search_path=secret' }],
  ];
  for (const [name, params] of cases) {
    it(name, async () => {
      const got = await session(params);
      assert.ok(Array.isArray(got), 'the connection was accepted');
      const err = got.find((m) => m.tag === 'E');
      assert.equal(err?.fields?.C, '08P01');
      assert.equal(err?.fields?.S, 'FATAL');
      assert.match(err?.fields?.M ?? '', /is given more than once/);
      assert.ok(!bytes(got).includes('SECRET-ROW'));
    });
  }
});

describe('the server runs under the settings the gateway decided on', () => {
  it('search_path in options, last spelling wins on both sides: the secret table is refused, not read', async () => {
    const c = await session({ options: '-c search_path=public -c SEARCH_PATH=secret' });
    assert.ok(!Array.isArray(c));
    const got = await query(c, 'select * from orders');
    c.end();
    assert.ok(!bytes(got).includes('SECRET-ROW'), 'the secret row reached the client');
    assert.equal(got.find((m) => m.tag === 'E')?.fields?.C, '42501');
  });
  it('one upper-case search_path: decided as the server reads it', async () => {
    const c = await session({ SEARCH_PATH: 'secret' });
    assert.ok(!Array.isArray(c));
    const got = await query(c, 'select * from orders');
    c.end();
    assert.ok(!bytes(got).includes('SECRET-ROW'), 'the secret row reached the client');
    assert.equal(got.find((m) => m.tag === 'E')?.fields?.C, '42501');
  });
  it('the explicit search_path wins over options on both sides', async () => {
    const c = await session({ search_path: 'public', options: '-c SEARCH_PATH=secret' });
    assert.ok(!Array.isArray(c));
    const got = await query(c, 'select * from orders');
    c.end();
    assert.ok(!bytes(got).includes('SECRET-ROW'), 'the secret row reached the client');
    assert.ok(bytes(got).includes('public-row'));
  });
  it("an upper-case STATEMENT_TIMEOUT=0 does not lift the scope's 1s limit", async () => {
    const c = await session({ STATEMENT_TIMEOUT: '0' });
    assert.ok(!Array.isArray(c));
    const got = await query(c, 'select pg_sleep(1.5)');
    c.end();
    assert.equal(got.find((m) => m.tag === 'E')?.fields?.C, '57014', 'the sleep ran past the scope limit');
  });
});

describe("a client's startup statement_timeout under the scope's limit (1s)", () => {
  async function timeoutOf(params: Record<string, string>): Promise<string> {
    const c = await session(params);
    assert.ok(!Array.isArray(c), 'the connection was accepted');
    const got = await query(c, 'show statement_timeout');
    c.end();
    const row = got.find((m) => m.tag === 'D');
    assert.ok(row, bytes(got));
    return row.frame.subarray(11).toString('utf8');
  }
  it('a lower one is the session\'s, as a parameter or in options (as on PostgreSQL)', async () => {
    assert.equal(await timeoutOf({ statement_timeout: '250' }), '250ms');
    assert.equal(await timeoutOf({ options: '-c statement_timeout=300ms' }), '300ms');
    assert.equal(await timeoutOf({ statement_timeout: '0.5s', options: '-c statement_timeout=900ms' }), '500ms');
  });
  it('zero, a higher one or one the gateway cannot read leaves the limit', async () => {
    assert.equal(await timeoutOf({ statement_timeout: '0' }), '1s');
    assert.equal(await timeoutOf({ statement_timeout: '5s' }), '1s');
    assert.equal(await timeoutOf({ options: '-c statement_timeout=5min' }), '1s');
    assert.equal(await timeoutOf({ statement_timeout: 'soon' }), '1s');
  });
  it('the lower one holds', async () => {
    const c = await session({ statement_timeout: '200' });
    assert.ok(!Array.isArray(c));
    const got = await query(c, 'select pg_sleep(0.6)');
    c.end();
    assert.equal(got.find((m) => m.tag === 'E')?.fields?.C, '57014', 'the sleep outlasted the client\'s own 200 ms');
  });
});

describe('options are split as the server splits them', () => {
  // The server ends a word of options at every C space, vertical tab and form feed included: a
  // protected setting behind one is a setting of its own there.
  for (const [name, sep] of [['vertical tab', '\v'], ['form feed', '\f']]) {
    it(`a role switch behind a ${name} is refused, and the session never runs as that role`, async () => {
      const got = await session({ options: `-c application_name=x${sep}-crole=boss` });
      assert.ok(Array.isArray(got), 'the connection was accepted');
      const err = got.find((m) => m.tag === 'E');
      assert.equal(err?.fields?.C, '42501');
      assert.equal(err?.fields?.S, 'FATAL');
      assert.match(err?.fields?.M ?? '', /"role"/);
      assert.ok(!got.some((m) => m.tag === 'Z'));
    });
  }
  it('an escaped vertical tab stays inside the value, as on the server', async () => {
    const c = await session({ options: '-c application_name=x\\\vy' });
    assert.ok(!Array.isArray(c));
    const got = await query(c, "select current_user, current_setting('application_name')");
    c.end();
    // One word on both sides (the server prints the vertical tab of application_name as '?').
    assert.ok(bytes(got).includes('x?y'), bytes(got));
    assert.ok(bytes(got).includes('gw_app'));
  });
});
