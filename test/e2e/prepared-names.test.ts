/**
 * Prepared statement and portal names, re-bound behind the gateway's back, against a real
 * PostgreSQL. The server has one namespace of prepared statements for the protocol (Parse,
 * Close) and SQL (PREPARE, DEALLOCATE [ALL], DISCARD ALL), and one of portals for Bind and SQL
 * cursors; each side can run what the other made. Every attack here re-binds a name to a
 * statement reading a masked column through an expression (so only the statement's provenance
 * can mask it) and then runs the name: judged by effect, no clear value may be in any byte the
 * client received — the rows come back masked, or the statement is refused.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { RawClient, type RawMessage } from '../helpers/raw-client.ts';
import { encodeBind, encodeClose, encodeDescribe, encodeExecute, encodeParse, encodeQuery, SYNC } from '../../src/protocol/index.ts';

let t: TestGateway;
const SECRETS: string[] = [];
/** One text column computed from ssn: masked only by the statement's provenance. */
const LEAKY = 'select upper(ssn) as v from customers order by id';
const SAFE = 'select upper(name) as v from customers order by id';

before(async () => {
  t = await startTestGateway({
    config: (raw) => {
      raw.policies = [
        { name: 'readers', match: { groups: ['analysts'] }, allow: [{ tables: ['public.customers'], operations: ['select'] }] },
        { name: 'scripters', match: { groups: ['scripters'] }, allow: [{ tables: ['public.customers'], operations: ['select'] }, { do_blocks: ['plpgsql'] }] },
      ];
      raw.masking = { hash_key: 'test-mask-key-0123456789abcdef', rules: [{ column: 'public.customers.ssn', with: 'redact', filter: 'deny' }] };
    },
  });
  t.pg.psql(
    `create table customers (id int primary key, name text, ssn text);
     insert into customers select g, 'name ' || g, '901-37-' || lpad(g::text, 4, '0') from generate_series(1, 20) g;
     alter table customers owner to gw_app;`,
    'app',
  );
  for (let g = 1; g <= 20; g++) SECRETS.push(`901-37-${String(g).padStart(4, '0')}`);
});
after(async () => {
  await t?.stop();
});

/** A raw connection that keeps every byte it received. */
async function connect(groups = ['analysts']): Promise<{ c: RawClient; received: () => string }> {
  const c = await RawClient.connect(t.port, await t.issuer.sign({ sub: 'analyst', groups }));
  const chunks: Buffer[] = [];
  c.socket.on('data', (d: Buffer) => chunks.push(Buffer.from(d)));
  return { c, received: () => Buffer.concat(chunks).toString('latin1') };
}

function assertNoSecrets(bytes: string, what: string): void {
  for (const s of SECRETS) assert.ok(!bytes.includes(s), `${what}: a clear ssn (${s}) reached the client`);
}

/** Send and wait for the ReadyForQuery that ends it; returns the messages. */
async function round(c: RawClient, ...frames: Buffer[]): Promise<RawMessage[]> {
  c.send(Buffer.concat(frames));
  return c.until('Z');
}

const errorOf = (got: RawMessage[]) => got.find((m) => m.tag === 'E')?.fields;
const rowsOf = (got: RawMessage[]) => got.filter((m) => m.tag === 'D').length;

/** Bind + Describe + Execute of a statement name, in one batch. */
const run = (name: string) => [encodeBind('', name, []), encodeDescribe('P', ''), encodeExecute(''), SYNC];

/**
 * The attack's last step: run `name` over the protocol. Either it runs ('ran': all 20 rows; the
 * caller checks no clear ssn is among the bytes) or it is refused; the client is in a usable
 * state afterwards either way.
 */
async function runName(c: RawClient, name: string): Promise<'ran' | 'refused'> {
  const got = await round(c, ...run(name));
  const err = errorOf(got);
  if (err) {
    assert.match(err.M ?? '', /pgwarden|does not exist/, `refused by the gateway or the server: ${err.M}`);
    const after = await round(c, encodeQuery('select 1'));
    assert.ok(!errorOf(after) || (after.some((m) => m.tag === 'Z' && m.frame[5] === 0x45)), 'session usable');
    return 'refused';
  }
  assert.equal(rowsOf(got), 20);
  return 'ran';
}

describe('a prepared statement name re-bound behind the gateway', () => {
  // `expect`: what the gateway can know. After a failed cycle that touched the name it cannot
  // tell whether the change happened, so it refuses the name.
  const attacks: { name: string; steps: Buffer[][]; expect: 'ran' | 'refused' }[] = [
    { name: 'DEALLOCATE and PREPARE in one query string', steps: [[encodeQuery('deallocate s1; prepare s1 as ' + LEAKY)]], expect: 'ran' },
    { name: 'DEALLOCATE and PREPARE in separate queries', steps: [[encodeQuery('deallocate s1')], [encodeQuery('prepare s1 as ' + LEAKY)]], expect: 'ran' },
    { name: 'DEALLOCATE ALL, then PREPARE', steps: [[encodeQuery('deallocate all')], [encodeQuery('prepare s1 as ' + LEAKY)]], expect: 'ran' },
    { name: 'inside a committed transaction', steps: [[encodeQuery('begin')], [encodeQuery('deallocate s1')], [encodeQuery('prepare s1 as ' + LEAKY)], [encodeQuery('commit')]], expect: 'ran' },
    { name: 'inside a rolled-back transaction (PREPARE is not transactional)', steps: [[encodeQuery('begin; deallocate s1; prepare s1 as ' + LEAKY)], [encodeQuery('rollback')]], expect: 'ran' },
    { name: 'with a failure after the re-bind in the same string', steps: [[encodeQuery('deallocate s1; prepare s1 as ' + LEAKY + '; select 1/0')]], expect: 'refused' },
    { name: 'with a failure between DEALLOCATE and PREPARE', steps: [[encodeQuery('deallocate s1; select 1/0; prepare s1 as ' + LEAKY)], [encodeQuery('prepare s1 as ' + LEAKY)]], expect: 'ran' },
    { name: 'in a failed transaction, then a new one', steps: [[encodeQuery('begin; deallocate s1; select 1/0')], [encodeQuery('rollback')], [encodeQuery('prepare s1 as ' + LEAKY)]], expect: 'ran' },
    { name: 'protocol Close, then SQL PREPARE', steps: [[encodeClose('S', 's1'), SYNC], [encodeQuery('prepare s1 as ' + LEAKY)]], expect: 'ran' },
    { name: 'PREPARE over the name without DEALLOCATE (the server refuses it)', steps: [[encodeQuery('prepare s1 as ' + LEAKY)]], expect: 'refused' },
    { name: 'DEALLOCATE and PREPARE through the extended protocol', steps: [[encodeParse('', 'deallocate s1'), encodeBind('', '', []), encodeExecute(''), encodeParse('', 'prepare s1 as ' + LEAKY), encodeBind('', '', []), encodeExecute(''), SYNC]], expect: 'ran' },
  ];

  for (const a of attacks) {
    it(`${a.name}: runs with ssn masked, or is refused`, async () => {
      const { c, received } = await connect();
      await round(c, encodeParse('s1', SAFE), SYNC);
      for (const step of a.steps) await round(c, ...step);
      assert.equal(await runName(c, 's1'), a.expect);
      assertNoSecrets(received(), a.name);
      c.end();
    });
  }

  it('pipelined: the re-bind and the run are sent in one write, before any answer', async () => {
    const { c, received } = await connect();
    c.send(Buffer.concat([encodeParse('s1', SAFE), SYNC, encodeQuery('deallocate s1; prepare s1 as ' + LEAKY), ...run('s1')]));
    await c.until('Z');
    await c.until('Z');
    const got = await c.until('Z');
    assert.ok(errorOf(got) || rowsOf(got) === 20);
    assertNoSecrets(received(), 'pipelined');
    c.end();
  });

  it('SQL PREPARE, then protocol Bind of that name: masked', async () => {
    const { c, received } = await connect();
    await round(c, encodeQuery('prepare s2 as ' + LEAKY));
    assert.equal(await runName(c, 's2'), 'ran');
    assertNoSecrets(received(), 'SQL PREPARE + Bind');
    c.end();
  });

  it('SQL PREPARE, a protocol Parse of the same name (the server refuses it), then Bind', async () => {
    const { c, received } = await connect();
    await round(c, encodeQuery('prepare s2 as ' + LEAKY));
    const parsed = await round(c, encodeParse('s2', SAFE), SYNC);
    assert.match(errorOf(parsed)?.M ?? '', /already exists/);
    assert.equal(await runName(c, 's2'), 'refused', 'either statement could be under the name');
    assertNoSecrets(received(), 'Parse over a SQL PREPARE');
    c.end();
  });

  it('protocol Parse, then SQL EXECUTE of that name: masked', async () => {
    const { c, received } = await connect();
    await round(c, encodeParse('s3', LEAKY), SYNC);
    const got = await round(c, encodeQuery('execute s3'));
    assert.equal(rowsOf(got), 20);
    assertNoSecrets(received(), 'Parse + EXECUTE');
    c.end();
  });

  it('SQL EXECUTE of a name the connection does not have: 26000 as on PostgreSQL, the session usable', async () => {
    const { c } = await connect();
    await round(c, encodeQuery('prepare s4 as ' + SAFE));
    await round(c, encodeQuery('deallocate s4'));
    for (const [text, name] of [['execute s4', 's4'], ['execute never_made', 'never_made'], ['select 1; execute never_made', 'never_made']]) {
      const err = errorOf(await round(c, encodeQuery(text)));
      assert.equal(err?.C, '26000', `${text}: ${err?.M}`);
      assert.equal(err?.M, `pgwarden: prepared statement "${name}" does not exist on this connection`);
    }
    // A Parse of "EXECUTE …" is decided when it runs.
    await round(c, encodeParse('e4', 'execute s4'), SYNC);
    assert.equal(errorOf(await round(c, ...run('e4')))?.C, '26000');
    assert.equal(rowsOf(await round(c, encodeQuery('select 1'))), 1);
    c.end();
  });

  it('a DO block that PREPAREs a new name: EXECUTE of it is refused, not run', async () => {
    const { c, received } = await connect(['scripters']);
    const done = await round(c, encodeQuery(`do $$ begin execute 'prepare s5 as ${LEAKY}'; end $$`));
    assert.equal(errorOf(done), undefined, 'the DO block ran');
    const got = await round(c, encodeQuery('execute s5'));
    assert.ok(errorOf(got), 'refused');
    assert.equal(rowsOf(got), 0);
    assertNoSecrets(received(), 'EXECUTE of a name made by a DO block');
    c.end();
  });

  it('a Parse of "EXECUTE s1" runs what s1 is when it is executed, not when it was parsed', async () => {
    const { c, received } = await connect();
    await round(c, encodeParse('s1', SAFE), encodeParse('e', 'execute s1'), SYNC);
    await round(c, encodeQuery('deallocate s1; prepare s1 as ' + LEAKY));
    await runName(c, 'e');
    assertNoSecrets(received(), 'Parse of EXECUTE');
    c.end();
  });

  it('a SQL cursor run by a protocol Execute: masked or refused', async () => {
    const { c, received } = await connect();
    await round(c, encodeQuery('begin'));
    await round(c, encodeQuery('declare cur cursor for ' + LEAKY));
    const got = await round(c, encodeDescribe('P', 'cur'), encodeExecute('cur'), SYNC);
    assert.ok(errorOf(got) || rowsOf(got) === 20);
    await round(c, encodeQuery('rollback'));
    assertNoSecrets(received(), 'cursor via Execute');
    c.end();
  });

  it('a portal name re-bound by a later Bind while the first one\'s rows are still coming', async () => {
    const { c, received } = await connect();
    c.send(Buffer.concat([encodeParse('a', LEAKY), encodeParse('b', SAFE), SYNC, encodeBind('', 'a', []), encodeExecute(''), SYNC, encodeBind('', 'b', []), encodeExecute(''), SYNC]));
    for (let i = 0; i < 3; i++) await c.until('Z');
    assertNoSecrets(received(), 'pipelined portals');
    c.end();
  });

  for (const [how, parse] of [
    ['a DO block (simple query)', false],
    ['a DO block prepared and executed over the extended protocol', true],
  ] as const) {
    it(`${how} that re-prepares the name with EXECUTE 'PREPARE …': the name is refused afterwards`, async () => {
      const { c, received } = await connect(['scripters']);
      await round(c, encodeParse('s1', SAFE), SYNC);
      const block = `do $$ begin execute 'deallocate s1'; execute 'prepare s1 as ${LEAKY}'; end $$`;
      const done = parse ? await round(c, encodeParse('', block), encodeBind('', '', []), encodeExecute(''), SYNC) : await round(c, encodeQuery(block));
      assert.equal(errorOf(done), undefined, 'the DO block ran');
      assert.equal(await runName(c, 's1'), 'refused');
      // Closing the name and preparing it again makes it usable (once search_path, which the
      // block may have changed too, is set again).
      await round(c, encodeQuery('reset search_path'));
      await round(c, encodeClose('S', 's1'), SYNC);
      await round(c, encodeParse('s1', LEAKY), SYNC);
      assert.equal(await runName(c, 's1'), 'ran');
      assertNoSecrets(received(), how);
      c.end();
    });
  }

  it('pg: a named statement whose run failed at the server is reused as drivers do (Bind only)', async () => {
    const c = new pg.Client(t.client(await t.issuer.sign({ sub: 'analyst', groups: ['analysts'] })));
    await c.connect();
    try {
      const text = 'select 10 / (id - 5) as v, upper(ssn) as s from customers where id = $1';
      await assert.rejects(c.query({ name: 'div', text, values: [5] }), (e: any) => e.code === '22012');
      const ok = await c.query({ name: 'div', text, values: [6] });
      assert.equal(ok.rows[0].v, 10);
      assertNoSecrets(JSON.stringify(ok.rows), 'reused statement');
    } finally {
      await c.end();
    }
  });

  it('pg: a named statement keeps working, and is masked after it is re-prepared by SQL', async () => {
    const c = new pg.Client(t.client(await t.issuer.sign({ sub: 'analyst', groups: ['analysts'] })));
    await c.connect();
    try {
      const first = await c.query({ name: 'n1', text: SAFE });
      assert.equal(first.rows[0].v, 'NAME 1');
      assert.equal((await c.query({ name: 'n1', text: SAFE })).rows.length, 20, 'a prepared statement is reused');
      await c.query('deallocate n1; prepare n1 as ' + LEAKY);
      const again = await c.query({ name: 'n1', text: SAFE }).catch((e: Error) => e);
      if (!(again instanceof Error)) assertNoSecrets(JSON.stringify(again.rows), 'pg re-prepared');
      else assert.match(again.message, /pgwarden|does not exist/);
    } finally {
      await c.end();
    }
  });
});
