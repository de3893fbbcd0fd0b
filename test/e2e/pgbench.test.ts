/**
 * pgbench through the gateway in every query mode and with a reconnect per transaction: it
 * initialises its tables (COPY FROM STDIN), runs without failed transactions, and the database
 * shows exactly the work pgbench reports.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { pgbench } from '../helpers/clients.ts';

let t: TestGateway;
let env: Record<string, string>;
let conn: string[];

before(async () => {
  t = await startTestGateway();
  // A long-lived token: pgbench -C opens a connection per transaction, each verified anew.
  env = { PGPASSWORD: await t.issuer.sign({ sub: 'bench', exp: Math.floor(Date.now() / 1000) + 3600 }) };
  conn = ['-h', '127.0.0.1', '-p', String(t.port), '-U', 'agent'];
  const init = await pgbench(['-i', '-s', '1', '-q', ...conn, 'app'], env);
  assert.equal(init.code, 0, init.stderr);
});
after(async () => {
  await t?.stop();
});

function processed(out: string): number {
  const m = /number of transactions actually processed: (\d+)/.exec(out);
  assert.ok(m, out);
  return Number(m[1]);
}

describe('pgbench', () => {
  for (const mode of ['simple', 'extended', 'prepared']) {
    it(`select-only in ${mode} mode`, async () => {
      const r = await pgbench(['-S', '-M', mode, '-c', '4', '-j', '2', '-t', '200', '-n', ...conn, 'app'], env);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.equal(processed(r.stdout), 800);
      assert.match(r.stdout, /number of failed transactions: 0/);
    });
  }

  it('tpcb-like writes land exactly once', async () => {
    const before = Number(t.pg.psql('select count(*) from pgbench_history', 'app'));
    const r = await pgbench(['-M', 'extended', '-c', '2', '-t', '50', '-n', ...conn, 'app'], env);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(processed(r.stdout), 100);
    assert.equal(Number(t.pg.psql('select count(*) from pgbench_history', 'app')) - before, 100);
  });

  it('reconnects per transaction (-C)', async () => {
    const r = await pgbench(['-S', '-C', '-c', '2', '-t', '50', '-n', ...conn, 'app'], env);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(processed(r.stdout), 100);
  });
});
