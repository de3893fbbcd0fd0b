/**
 * SIEM export through a real gateway (SQLite audit log, real PostgreSQL, pg clients): statements
 * reach a syslog receiver and an Elastic `_bulk` receiver exactly once per record id, in order;
 * a receiver that goes down mid-run and comes back still gets every record (a repeat only with
 * the same id); and a gateway restarted while its exporter is behind resumes from its cursor.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { openAuditStore } from '../../src/store/index.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { startPostgres, type TestPostgres } from '../helpers/postgres.ts';
import { startTestIssuer, type TestIssuer } from '../helpers/issuer.ts';
import { startHttpReceiver, startSyslogReceiver, type Received } from '../helpers/siem-receivers.ts';
import { waitFor } from '../helpers/wait.ts';

const root = mkdtempSync(join(tmpdir(), 'pgwarden-siem-e2e-'));
let postgres: TestPostgres;
let issuer: TestIssuer;
let n = 0;
const FAST = { batch: { max_records: 25, interval: '20ms' }, retry: { initial: '20ms', max: '200ms' }, poll: '100ms', shutdown_grace: '3s' };
const INSTANCE = 'gw-siem';

before(async () => {
  postgres = await startPostgres();
  postgres.psql("create role gw_app login password 'x'");
  postgres.psql('create database app owner gw_app');
  postgres.psql('create table items (id int primary key, note text)', 'app');
  postgres.psql('grant all on items to gw_app', 'app');
  issuer = await startTestIssuer();
});
after(async () => {
  await issuer?.stop();
  await postgres?.stop();
  rmSync(root, { recursive: true, force: true });
});

function gateway(dir: string, sinks: Record<string, unknown>[]): Promise<TestGateway> {
  return startTestGateway({
    pg: postgres,
    issuer,
    config: (raw) => {
      raw.audit = { store: `sqlite:${join(dir, 'audit.db')}`, instance: INSTANCE, retention: 0, checkpoint_every: 0, sinks };
    },
  });
}

/** `count` statements by one client session, numbered from `from`. */
async function statements(t: TestGateway, from: number, count: number): Promise<void> {
  const c = new pg.Client(t.client(await issuer.sign({ sub: 'agent-7' })));
  await c.connect();
  try {
    for (let i = from; i < from + count; i++) {
      await c.query('insert into items values ($1, $2) on conflict (id) do update set note = excluded.note', [i, `note ${i}`]);
      await c.query('select note from items where id = $1', [i]);
    }
  } finally {
    await c.end();
  }
}

/** Every record of the chain, in seq order (read from the SQLite file). */
async function chain(dir: string): Promise<{ id: string; seq: number; type: string }[]> {
  const store = await openAuditStore(`sqlite:${join(dir, 'audit.db')}`, { readOnly: true });
  try {
    const out: { id: string; seq: number; type: string }[] = [];
    for await (const page of store.scan(INSTANCE)) for (const r of page) out.push({ id: r.id, seq: r.seq, type: r.type });
    return out;
  } finally {
    await store.close();
  }
}

function recordsOf(received: Received[]): Received[] {
  return received.filter((r) => r.type !== 'checkpoint' && r.type !== 'gap');
}

/** Every record, first arrivals in seq order; `once`: no repeats at all; otherwise a repeat is the same record. */
function assertDelivered(received: Received[], records: { id: string; seq: number }[], once: boolean): void {
  const first = new Map<string, Received>();
  for (const r of recordsOf(received)) {
    const seen = first.get(r.id);
    if (seen) {
      assert.ok(!once, `record ${r.id} (seq ${r.seq}) arrived twice`);
      assert.deepEqual(r.json, seen.json, 'a repeat carries the same id and content');
    } else first.set(r.id, r);
  }
  assert.deepEqual([...first.keys()], records.map((r) => r.id), 'every record of the chain, in seq order');
}

test('statements through the gateway reach syslog and Elastic exactly once per record id, in order; the final checkpoint last', { timeout: 30_000 }, async () => {
  const dir = join(root, `d${++n}`);
  const syslog = await startSyslogReceiver();
  const elastic = await startHttpReceiver('elastic_bulk');
  const t = await gateway(dir, [
    { syslog: { url: `tcp://127.0.0.1:${syslog.port}`, confirm_after: '50ms', ...FAST } },
    { http: { url: `http://127.0.0.1:${elastic.port}`, format: 'elastic_bulk', index: 'pgwarden-e2e', token: 'es-key', ...FAST } },
  ]);
  try {
    await statements(t, 1, 15);
    await waitFor('the statements at both receivers', () => recordsOf(syslog.received).some((r) => r.json.data?.text?.startsWith('select note')) && recordsOf(elastic.received).length > 30, 10_000);
  } finally {
    await t.stop();
  }
  const records = await chain(dir);
  assert.ok(records.some((r) => r.type === 'statement') && records.at(-1)?.type === 'event', 'the chain ends with gateway_stop');
  for (const rx of [syslog, elastic]) {
    assertDelivered(rx.received, records, true);
    const last = rx.received.at(-1) as Received;
    assert.equal(last.type, 'checkpoint', 'the shutdown checkpoint comes last');
    assert.equal(last.json.checkpoint.seq, records.at(-1)?.seq);
  }
  const stmt = recordsOf(syslog.received).find((r) => r.type === 'statement' && r.json.data.text.startsWith('insert'));
  assert.equal(stmt?.syslog?.sd.instance, INSTANCE);
  assert.equal(stmt?.json.data.identity.subject, 'agent-7');
  assert.equal(elastic.requests[0].path, '/_bulk');
  assert.equal(elastic.requests[0].headers.authorization, 'ApiKey es-key');
  await syslog.stop();
  await elastic.stop();
});

test('receivers that go down mid-run (refused, then 503) and come back get every record', { timeout: 30_000 }, async () => {
  const dir = join(root, `d${++n}`);
  const syslog = await startSyslogReceiver();
  const hec = await startHttpReceiver('splunk_hec');
  const t = await gateway(dir, [
    { syslog: { url: `tcp://127.0.0.1:${syslog.port}`, confirm_after: '50ms', ...FAST } },
    { http: { url: `http://127.0.0.1:${hec.port}`, format: 'splunk_hec', token: 'hec-token', ...FAST } },
  ]);
  try {
    await statements(t, 100, 10);
    await waitFor('the first records', () => syslog.received.length > 10 && hec.received.length > 10, 10_000);
    await syslog.down();
    await hec.down();
    await statements(t, 200, 10);
    await syslog.up();
    await hec.up();
    hec.unavailable = true;
    await statements(t, 300, 5);
    await waitFor('a 503', () => hec.requests.some((r) => r.status === 503), 10_000);
    hec.unavailable = false;
    await statements(t, 400, 5);
    const partial = await chain(dir);
    await waitFor('everything at both', () => [syslog, hec].every((rx) => new Set(recordsOf(rx.received).map((r) => r.id)).size >= partial.length), 15_000);
  } finally {
    await t.stop();
  }
  const records = await chain(dir);
  for (const rx of [syslog, hec]) assertDelivered(rx.received, records, false);
  // HTTP counts a batch as delivered only on a 2xx: the outage brought no repeat there.
  assertDelivered(hec.received, records, true);
  assert.equal(hec.requests.find((r) => r.status === 200)?.headers.authorization, 'Splunk hec-token');
  await syslog.stop();
  await hec.stop();
});

test('a gateway restarted while its exporter is behind resumes from the cursor: nothing lost, nothing sent twice', { timeout: 30_000 }, async () => {
  const dir = join(root, `d${++n}`);
  const rx = await startHttpReceiver('ndjson');
  const sinks = [{ http: { url: `http://127.0.0.1:${rx.port}/ingest`, format: 'ndjson', headers: { 'X-Tenant': 'db-team' }, ...FAST } }];
  let t = await gateway(dir, sinks);
  try {
    await statements(t, 1000, 8);
    await waitFor('the first run delivered', () => recordsOf(rx.received).length > 16, 10_000);
    rx.unavailable = true;
    await statements(t, 2000, 8);
  } finally {
    await t.stop();
  }
  const stopped = await chain(dir);
  const deliveredBefore = new Set(recordsOf(rx.received).map((r) => r.id));
  assert.ok(deliveredBefore.size < stopped.length, 'the gateway stopped with records not exported');
  rx.unavailable = false;
  t = await gateway(dir, sinks);
  try {
    await statements(t, 3000, 4);
    const partial = await chain(dir);
    await waitFor('everything after the restart', () => new Set(recordsOf(rx.received).map((r) => r.id)).size >= partial.length, 10_000);
  } finally {
    await t.stop();
  }
  const records = await chain(dir);
  assertDelivered(rx.received, records, true);
  assert.equal(rx.requests.at(-1)?.path, '/ingest');
  assert.equal(rx.requests.at(-1)?.headers['x-tenant'], 'db-team');
  // Both runs' shutdown checkpoints arrived, each after the records it covers.
  const cps = rx.received.filter((r) => r.type === 'checkpoint');
  assert.deepEqual(cps.map((c) => c.json.checkpoint.seq), [stopped.at(-1)?.seq, records.at(-1)?.seq]);
  for (const c of cps) assert.equal(rx.received[rx.received.indexOf(c) - 1].seq, c.json.checkpoint.seq);
  await rx.stop();
});
