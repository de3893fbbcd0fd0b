/**
 * A refused statement that PostgreSQL would treat as ending the transaction block: when COMMIT or
 * PREPARE TRANSACTION fails, PostgreSQL rolls the block back and reports Idle. Two-phase commit
 * is refused for every identity, so through the gateway the refusal must end the block the same
 * way — on the client's side (ReadyForQuery `I`) and on the server's (rolled back, the backend
 * idle, nothing prepared, the refused statement never in the server's log) — while a refused
 * COMMIT PREPARED inside a block leaves it aborted, as PostgreSQL's own error does.
 *
 * Each scenario runs directly (on a cluster without prepared transactions, where PREPARE
 * TRANSACTION fails on its own) and through the gateway, and the transaction statuses compared.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { encodeBind, encodeDescribe, encodeExecute, encodeParse, encodeQuery, SYNC } from '../../src/protocol/index.ts';

let t: TestGateway;
before(async () => {
  t = await startTestGateway({
    postgres: {
      // Cleartext for the raw client's direct runs; the gateway signs in the same way.
      auth: 'password',
      conf: ['max_prepared_transactions = 0', 'log_statement = all', 'logging_collector = on', "log_directory = 'log'", "log_filename = 'server.log'"],
    },
  });
  t.pg.psql('create table ledger (a int)', 'app');
  t.pg.psql('grant all on ledger to gw_app', 'app');
});
after(async () => {
  await t?.stop();
});

function serverLog(): string {
  const f = join(t.pg.dataDir, 'log', 'server.log');
  return existsSync(f) ? readFileSync(f, 'utf8') : '';
}

type Step = { simple: string } | { extended: string; execute?: boolean };

/** Runs the steps; per step: the ReadyForQuery status and the SQLSTATE of an error, if any. */
async function run(c: RawClient, steps: Step[]): Promise<string[]> {
  const out: string[] = [];
  for (const s of steps) {
    if ('simple' in s) c.send(encodeQuery(s.simple));
    else {
      const parts = [encodeParse('', s.extended)];
      if (s.execute !== false) parts.push(encodeBind('', '', []), encodeDescribe('P', ''), encodeExecute(''));
      parts.push(SYNC);
      c.send(Buffer.concat(parts));
    }
    const got = await c.until('Z');
    const err = got.find((m) => m.tag === 'E');
    const z = got[got.length - 1];
    out.push(`${err ? `${err.fields?.C} ` : ''}${String.fromCharCode(z.frame[5])}`);
  }
  return out;
}

async function both(steps: Step[], name: string): Promise<{ direct: string[]; gateway: string[] }> {
  t.pg.psql('truncate ledger', 'app');
  const d = await RawClient.open(t.pg.port, { user: 'gw_app', database: 'app', application_name: `direct-${name}` });
  await d.authenticate(t.upstreamPassword);
  const direct = await run(d, steps);
  d.end();
  t.pg.psql('truncate ledger', 'app');
  const g = await RawClient.connect(t.port, await t.issuer.sign({ sub: `block-${name}` }), 'app', { application_name: `gw-${name}` });
  const gateway = await run(g, steps);
  // The server's side of the gateway's session: not in a transaction, nothing kept.
  const state = t.pg.psql(`select state from pg_stat_activity where application_name = 'gw-${name}'`, 'app').trim();
  const rows = t.pg.psql('select count(*) from ledger', 'app').trim();
  g.end();
  return { direct, gateway: [...gateway, `server:${state}`, `rows:${rows}`] };
}

/** The status letter of a step, without the error's SQLSTATE. */
const status = (s: string): string => s.slice(-1);

describe('a refused statement that would end the transaction block', () => {
  it('PREPARE TRANSACTION in an open block: refused, the block rolled back and ended (I), as PostgreSQL does when it fails', async () => {
    const steps: Step[] = [{ simple: 'begin' }, { simple: 'insert into ledger values (1)' }, { simple: "prepare transaction 'p1'" }, { simple: 'select count(*) from ledger' }];
    const r = await both(steps, 'simple');
    assert.deepEqual(r.direct.map(status), ['T', 'T', 'I', 'I']);
    assert.deepEqual(r.gateway.slice(0, 4), ['T', 'T', '42501 I', 'I']);
    assert.equal(r.gateway[4], 'server:idle');
    assert.equal(r.gateway[5], 'rows:0');
  });

  it('PREPARE TRANSACTION over the extended protocol (Parse/Bind/Execute/Sync): refused, block ended', async () => {
    const steps: Step[] = [{ simple: 'begin' }, { extended: 'insert into ledger values (2)' }, { extended: "prepare transaction 'p2'" }, { extended: 'select 1' }];
    const r = await both(steps, 'extended');
    assert.deepEqual(r.direct.map(status), ['T', 'T', 'I', 'I']);
    assert.deepEqual(r.gateway.slice(0, 4), ['T', 'T', '42501 I', 'I']);
    assert.deepEqual(r.gateway.slice(4), ['server:idle', 'rows:0']);
  });

  it('PREPARE TRANSACTION in an aborted block: the block ends (PostgreSQL answers it with ROLLBACK)', async () => {
    const steps: Step[] = [{ simple: 'begin' }, { simple: 'insert into ledger values (3)' }, { simple: 'select 1/0' }, { simple: "prepare transaction 'p3'" }, { simple: 'select 1' }];
    const r = await both(steps, 'aborted');
    assert.deepEqual(r.direct, ['T', 'T', '22012 E', 'I', 'I']);
    assert.deepEqual(r.gateway, ['T', 'T', '22012 E', '42501 I', 'I', 'server:idle', 'rows:0']);
  });

  it('pipelined: PREPARE TRANSACTION sent behind BEGIN before its answer', async () => {
    const g = await RawClient.connect(t.port, await t.issuer.sign({ sub: 'block-pipelined' }), 'app', { application_name: 'gw-pipelined' });
    g.send(Buffer.concat([encodeQuery('begin'), encodeQuery('insert into ledger values (4)'), encodeQuery("prepare transaction 'p4'"), encodeQuery('select 1')]));
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      const got = await g.until('Z');
      const err = got.find((m) => m.tag === 'E');
      seen.push(`${err ? `${err.fields?.C} ` : ''}${String.fromCharCode(got[got.length - 1].frame[5])}`);
    }
    assert.deepEqual(seen, ['T', 'T', '42501 I', 'I']);
    // Nothing but what was asked reached the client: no ROLLBACK tag, no warning.
    assert.equal(g.messages.length, 0);
    assert.equal(t.pg.psql("select state from pg_stat_activity where application_name = 'gw-pipelined'", 'app').trim(), 'idle');
    g.end();
  });

  it('a multi-statement string ending in PREPARE TRANSACTION inside a block rolls back the block, as its failure would', async () => {
    const steps: Step[] = [{ simple: 'begin' }, { simple: 'insert into ledger values (5)' }, { simple: "insert into ledger values (6); prepare transaction 'p5'" }, { simple: 'select 1' }];
    const r = await both(steps, 'multi');
    assert.deepEqual(r.direct.map(status), ['T', 'T', 'I', 'I']);
    assert.deepEqual(r.gateway, ['T', 'T', '42501 I', 'I', 'server:idle', 'rows:0']);
  });

  it('COMMIT PREPARED / ROLLBACK PREPARED inside a block: refused and the block left aborted, as PostgreSQL refuses them there', async () => {
    for (const stmt of ["commit prepared 'x'", "rollback prepared 'x'"]) {
      const steps: Step[] = [{ simple: 'begin' }, { simple: 'insert into ledger values (7)' }, { simple: stmt }, { simple: 'rollback' }];
      const r = await both(steps, stmt.split(' ')[0]);
      assert.deepEqual(r.direct.map(status), ['T', 'T', 'E', 'I']);
      assert.deepEqual(r.gateway, ['T', 'T', '42501 E', 'I', 'server:idle', 'rows:0']);
    }
  });

  it('a refused PREPARE TRANSACTION that is only parsed (never executed) does not end the block', async () => {
    const g = await RawClient.connect(t.port, await t.issuer.sign({ sub: 'block-parse-only' }), 'app', { application_name: 'gw-parse-only' });
    const seen = await run(g, [{ simple: 'begin' }, { extended: "prepare transaction 'p6'", execute: false }]);
    // The refusal fails the block where the Parse stood; nothing ends it.
    assert.deepEqual(seen, ['T', '42501 E']);
    assert.equal(t.pg.psql("select state from pg_stat_activity where application_name = 'gw-parse-only'", 'app').trim(), 'idle in transaction (aborted)');
    g.end();
  });

  it('the refused statements never reached the server', () => {
    const log = serverLog();
    for (const gid of ['p1', 'p2', 'p3', 'p4', 'p5', 'p6']) {
      const lines = log.split('\n').filter((l) => l.includes(`prepare transaction '${gid}'`));
      // Only the direct runs' statements (p4 and p6 ran only through the gateway).
      if (gid === 'p4' || gid === 'p6') assert.deepEqual(lines, [], `${gid} reached the server`);
      else assert.ok(lines.length >= 1 && lines.length <= 2, `${gid}: ${lines.join(' | ')}`);
    }
  });

  it('postgres.js: sql.begin with sql.prepare() rejects, and the same one-connection client goes on at once', async () => {
    for (const [name, options] of [
      ['direct', { host: '127.0.0.1', port: t.pg.port, user: 'gw_app', password: t.upstreamPassword, database: 'app' }],
      ['gateway', { ...t.client(await t.issuer.sign({ sub: 'block-postgresjs' })), username: 'agent' }],
    ] as const) {
      t.pg.psql('truncate ledger', 'app');
      const sql = postgres({ ...options, max: 1, onnotice: () => {} });
      try {
        const failed = await sql
          .begin(async (tx) => {
            await tx`insert into ledger values (8)`;
            tx.prepare('tx1');
          })
          .then(
            () => 'committed',
            (e: any) => e.code,
          );
        assert.equal(failed, name === 'direct' ? '55000' : '42501', name);
        let timer: NodeJS.Timeout | undefined;
        const hung = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`${name}: the client hung`)), 3000)));
        const next = await Promise.race([sql`select count(*)::int as n from ledger`, hung]).finally(() => clearTimeout(timer));
        assert.deepEqual([...next], [{ n: 0 }], name);
      } finally {
        await sql.end({ timeout: 1 });
      }
    }
  });
});
