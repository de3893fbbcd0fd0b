/**
 * Errors the server sends before the Sync of their batch: describe-first drivers (postgres.js)
 * send Parse + Describe + Flush and wait for the description before they send Bind, Execute and
 * Sync, so a statement the server rejects at Parse fails while no request cycle of the gateway is
 * open. The error belongs to the cycle that Sync makes: the session's search_path stays known
 * (the failed block is followed through its rollback), and a refusal's marker failing there is
 * still turned into the refusal.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { encodeDescribe, encodeParse, encodeQuery, FE, SYNC } from '../../src/protocol/index.ts';

let t: TestGateway;
before(async () => {
  t = await startTestGateway();
  t.pg.psql('create table flushed (x int); grant all on flushed to gw_app', 'app');
});
after(async () => {
  await t?.stop();
});

const FLUSH = Buffer.from([FE.Flush, 0, 0, 0, 4]);

describe('an error before the Sync of its batch', () => {
  it('postgres.js: a statement rejected at Parse inside a transaction leaves the session able to name tables afterwards', async () => {
    const sql = postgres({ ...t.client(await t.issuer.sign({ sub: 'flushed-pgjs' })), username: 'agent', max: 1, onnotice: () => {} });
    try {
      // 42804 at Parse (a boolean into an int column): postgres.js has only flushed, not synced.
      const error = await sql.begin((tx) => tx`insert into flushed (x) values (${false})`).catch((e) => e);
      assert.equal(error.code, '42804');
      const rows = await sql`select count(*)::int as n from flushed`;
      assert.deepEqual([...rows], [{ n: 0 }]);
      // And again inside a block, with a savepoint: the path is still followed.
      const n = await sql.begin(async (tx) => {
        await tx`insert into flushed values (1)`;
        await tx.savepoint((sp) => sp`insert into flushed (x) values (${false})`).catch(() => null);
        return tx`select count(*)::int as n from flushed`;
      });
      assert.deepEqual([...n], [{ n: 1 }]);
    } finally {
      await sql.end({ timeout: 1 });
    }
  });

  it('a refused Parse flushed inside a block: the client gets the refusal (42501), never the marker, and the block is aborted', async () => {
    const c = await RawClient.connect(t.port, await t.issuer.sign({ sub: 'flushed-raw' }));
    c.send(encodeQuery('begin'));
    await c.until('Z');
    c.send(Buffer.concat([encodeParse('', "select pg_catalog.pg_read_file('/etc/hostname')"), encodeDescribe('S', ''), FLUSH]));
    const err = await c.next('E');
    assert.equal(err.fields?.C, '42501');
    assert.match(err.fields?.M ?? '', /pg_read_file/);
    assert.doesNotMatch(err.frame.toString('latin1'), /PGWARDEN_REFUSED/);
    c.send(SYNC);
    const z = await c.next('Z');
    assert.equal(String.fromCharCode(z.frame[5]), 'E');
    c.send(encodeQuery('rollback'));
    assert.equal(String.fromCharCode((await c.next('Z')).frame[5]), 'I');
    c.send(encodeQuery('select count(*) from flushed'));
    const rest = await c.until('Z');
    assert.ok(!rest.some((m) => m.tag === 'E'), `errors: ${rest.filter((m) => m.tag === 'E').map((m) => m.fields?.M)}`);
    c.end();
  });
});
