/**
 * A gateway whose audit store fills up (the SQLite file capped as a full disk would cap it):
 * statements are refused with 58000 and never reach the database, `/readyz` says not ready with
 * the store's error, and a new connection is refused saying that the session start could not be
 * recorded, not a statement.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import pg from 'pg';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';

const dir = mkdtempSync(join(tmpdir(), 'pgwarden-ready-'));
let t: TestGateway | undefined;
after(async () => {
  await t?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a full audit store makes the gateway not ready, and says what failed', { timeout: 60_000 }, async () => {
  t = await startTestGateway({
    auditMaxPageCount: 60,
    config: (raw) => {
      raw.audit = { store: `sqlite:${join(dir, 'audit.db')}`, retention: 0 };
    },
  });
  const gw = t;
  const ready = async () => {
    const res = await fetch(`http://127.0.0.1:${gw.gw.http.port}/readyz`);
    return { status: res.status, body: (await res.json()) as { status: string; reason?: string } };
  };
  assert.equal((await ready()).status, 200);
  gw.pg.psql('create table public.marks (n int)', 'app');
  gw.pg.psql('grant all on public.marks to gw_app', 'app');
  const client = new pg.Client(gw.client(await gw.issuer.sign({ sub: 'analyst' })));
  await client.connect();
  client.on('error', () => {});
  let refused: (Error & { code?: string }) | null = null;
  let n = 0;
  // Each statement's record carries its 1.5 kB text: the capped file fills after a few dozen.
  const pad = 'x'.repeat(1500);
  for (; n < 2000 && !refused; n++) {
    try {
      await client.query(`insert into public.marks select ${n} where '${pad}' <> ''`);
    } catch (err) {
      refused = err as Error & { code?: string };
    }
  }
  await client.end().catch(() => {});
  assert.ok(refused, 'the store never filled up');
  assert.equal(refused.code, '58000');
  // Nothing the gateway could not record reached the database.
  const rows = Number(gw.pg.psql('select count(*) from public.marks', 'app').trim());
  assert.equal(rows, n - 1, 'every row in the database has its audit record; the refused one is not there');

  const r = await ready();
  assert.equal(r.status, 503);
  assert.equal(r.body.status, 'unavailable');
  assert.match(r.body.reason ?? '', /audit store cannot write: .*(full|disk)/i);

  // Small session-start records may still fit in the last pages' free space; once they do not,
  // connections are refused.
  let err: (Error & { code?: string }) | null = null;
  for (let i = 0; i < 300 && !err; i++) {
    const late = new pg.Client(gw.client(await gw.issuer.sign({ sub: 'analyst' })));
    late.on('error', () => {});
    err = await late.connect().then(
      () => null,
      (e: Error & { code?: string }) => e,
    );
    await late.end().catch(() => {});
  }
  assert.ok(err, 'a new connection is refused while the store cannot write');
  assert.equal(err.code, '58000');
  assert.match(err.message, /could not record the start of the session .* so the connection was refused/);
  assert.doesNotMatch(err.message, /statement/);
});
