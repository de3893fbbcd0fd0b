/**
 * A simple Query sent after extended-protocol messages with no Sync between them: PostgreSQL
 * answers the extended messages first, then runs the Query, whose end also ends their implicit
 * transaction. A refused Query (or FunctionCall, or one over the size limit) must be answered in
 * the same place, as a statement failing there would be: after the results before it, and
 * failing that transaction. It used to be answered at once, ahead of the earlier results, and the
 * earlier messages then ran and committed at the next Sync.
 *
 * Each case runs the same bytes directly (where the Query fails on the server: a division by
 * zero) and through the gateway (where the policy refuses it), and compares the message tags and
 * SQLSTATE classes, and what the table holds afterwards.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { RawClient, message, type RawMessage } from '../helpers/raw-client.ts';
import { SYNC, encodeBind, encodeExecute, encodeParse, encodeQuery } from '../../src/protocol/index.ts';

let t: TestGateway;

before(async () => {
  t = await startTestGateway({
    postgres: { auth: 'password' },
    config: (raw) => {
      raw.policies = [{ name: 'writers', match: { subjects: ['writer'] }, allow: [{ tables: ['public.*'], operations: 'all' }] }];
    },
  });
  t.pg.psql(
    `create table public.pipe(v text); alter table public.pipe owner to gw_app;
     create schema secret authorization gw_app; create table secret.t(v text); insert into secret.t values ('SECRET-ROW');`,
    'app',
  );
  await t.gw.reloadCatalogs();
});
after(async () => {
  await t?.stop();
});

async function session(side: 'direct' | 'gateway'): Promise<RawClient> {
  if (side === 'gateway') return RawClient.connect(t.port, await t.issuer.sign({ sub: 'writer' }));
  const c = await RawClient.open(t.pg.port, { user: 'gw_app', database: 'app' });
  await c.next('R');
  c.send(message('p', Buffer.from(`${t.upstreamPassword}\0`)));
  await c.until('Z');
  return c;
}

function shape(ms: RawMessage[]): string {
  return ms.map((m) => (m.tag === 'E' ? `E${m.fields?.S}` : m.tag === 'Z' ? `Z${m.frame.toString('latin1', 5, 6)}` : m.tag)).join(' ');
}

async function run(side: 'direct' | 'gateway', failing: Buffer, row: string): Promise<{ first: string; second: string; bytes: string; rows: string }> {
  const c = await session(side);
  try {
    c.send(Buffer.concat([encodeParse('', 'insert into public.pipe values ($1)'), encodeBind('', '', [row]), encodeExecute(''), failing]));
    const first = await c.until('Z');
    c.send(SYNC);
    const second = await c.until('Z');
    c.send(encodeQuery(`select count(*) from public.pipe where v = '${row}'`));
    const check = await c.until('Z');
    const count = check.find((m) => m.tag === 'D')!.frame.toString('latin1', 11);
    return { first: shape(first), second: shape(second), bytes: Buffer.concat([...first, ...second].map((m) => m.frame)).toString('latin1'), rows: count };
  } finally {
    c.end();
  }
}

describe('a refused Query after unsynced extended messages is answered in their place', () => {
  const cases: [string, Buffer][] = [
    ['a refused read', encodeQuery('select * from secret.t')],
    ['a refused write', encodeQuery("insert into secret.t values ('x')")],
    ['a FunctionCall', message('F', Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))],
  ];
  for (const [name, bytes] of cases) {
    it(name, async () => {
      const row = `r-${Math.random().toString(36).slice(2)}`;
      const direct = await run('direct', encodeQuery('select 1/0'), `${row}-direct`);
      const gateway = await run('gateway', bytes, row);
      // Parse, Bind, the insert's result, then the error and ReadyForQuery; the Sync after it its own.
      assert.equal(direct.first, '1 2 C EERROR ZI');
      assert.equal(gateway.first, direct.first);
      assert.equal(gateway.second, direct.second);
      assert.ok(!gateway.bytes.includes('SECRET-ROW'));
      // The insert ended with the failed Query's transaction, on both.
      assert.equal(direct.rows, '0');
      assert.equal(gateway.rows, '0');
    });
  }
  it('an allowed Query in the same place runs after them and commits them, as directly', async () => {
    const row = `r-${Math.random().toString(36).slice(2)}`;
    const direct = await run('direct', encodeQuery('select 1'), `${row}-direct`);
    const gateway = await run('gateway', encodeQuery('select 1'), row);
    assert.equal(gateway.first, direct.first);
    assert.equal(gateway.second, direct.second);
    assert.equal(direct.rows, '1');
    assert.equal(gateway.rows, '1');
  });
});
