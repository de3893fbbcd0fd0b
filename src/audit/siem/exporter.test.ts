/**
 * The SIEM exporters against real receivers on free ports (syslog over TCP and TLS, Splunk HEC,
 * Elastic `_bulk`, NDJSON), fed by a real audit log (SQLite): every record arrives, in order,
 * exactly once when nothing fails; across a receiver outage or a restart of the log every record
 * still arrives, and a record sent twice carries the same id both times.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { selfSignedCert, startHttpReceiver, startSyslogReceiver, type HttpFormat, type Received, type Receiver } from '../../../test/helpers/siem-receivers.ts';
import { waitFor } from '../../../test/helpers/wait.ts';
import { silentLogger } from '../../log.ts';
import { MemoryAuditStore } from '../../store/memory-audit-store.ts';
import { GENESIS_HASH, seal } from '../chain.ts';
import { Exporter } from './exporter.ts';
import { HttpTransport } from './transport.ts';
import { httpOptionsSchema } from './schema.ts';
import { writeCursor } from './cursor.ts';
import { auditSchema, openAudit, type OpenedAudit } from '../index.ts';
import { sessionStart, statement, statementEnd } from '../test-events.ts';

const root = mkdtempSync(join(tmpdir(), 'pgwarden-siem-'));
const cert = selfSignedCert();
after(() => {
  rmSync(root, { recursive: true, force: true });
  cert.cleanup();
});
const KEY = 'a-checkpoint-key-of-more-than-32-characters';
let n = 0;

/** Fast settings for tests: small batches, short waits. */
const FAST = { batch: { max_records: 20, interval: '20ms' }, retry: { initial: '20ms', max: '200ms' }, poll: '100ms', shutdown_grace: '2s' };

function open(dir: string, sink: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<OpenedAudit> {
  const cfg = auditSchema.parse({ store: 'sqlite:./audit.db', retention: 0, checkpoint_key: KEY, checkpoint_every: 0, sinks: [sink], ...extra });
  return openAudit(cfg, { logger: silentLogger(), instance: 'gw1', baseDir: dir });
}

function newDir(): string {
  const dir = join(root, `d${++n}`);
  return dir;
}

/** `sessions` sessions of `per` statements with outcomes: 2 + 2×per records each. */
async function traffic(a: OpenedAudit, sessions: number, per: number, tag = 's'): Promise<void> {
  for (let s = 0; s < sessions; s++) {
    const sid = `${tag}${s}`;
    await a.sessionStart(sessionStart(sid));
    for (let i = 1; i <= per; i++) a.statementEnd(statementEnd(await a.statement(statement(sid, i, `SELECT ${i} /* "quoted" ] \\ é */`)), sid));
    a.sessionEnd({ sessionId: sid, at: Date.now(), reason: 'client closed' });
  }
  await a.flush();
}

/** The records of the store, in seq order. */
async function stored(a: OpenedAudit): Promise<{ id: string; seq: number }[]> {
  const out: { id: string; seq: number }[] = [];
  for await (const page of a.store.scan('gw1')) for (const r of page) out.push({ id: r.id, seq: r.seq });
  return out;
}

/** Every record exactly once, in seq order (first arrivals), and any repeat identical to the first. */
function assertComplete(received: Received[], records: { id: string; seq: number }[], o: { duplicates: 'none' | 'allowed' }): void {
  const firsts = new Map<string, Received>();
  const order: string[] = [];
  for (const r of received) {
    if (r.type === 'checkpoint' || r.type === 'gap') continue;
    const seen = firsts.get(r.id);
    if (seen) {
      assert.equal(o.duplicates, 'allowed', `record ${r.id} (seq ${r.seq}) arrived twice`);
      assert.deepEqual(r.json, seen.json, 'a repeated record is the same record, with the same id');
      continue;
    }
    firsts.set(r.id, r);
    order.push(r.id);
  }
  assert.deepEqual(order, records.map((r) => r.id), 'every record, in seq order');
  for (const r of records) assert.equal(firsts.get(r.id)?.seq, r.seq);
}

function checkpoints(received: Received[]): Received[] {
  return received.filter((r) => r.type === 'checkpoint');
}

/** The sink entry for a receiver. */
function sinkFor(kind: 'tcp' | 'tls' | HttpFormat, port: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  if (kind === 'tcp') return { syslog: { url: `tcp://127.0.0.1:${port}`, confirm_after: '50ms', ...FAST, ...over } };
  if (kind === 'tls') return { syslog: { url: `tls://127.0.0.1:${port}`, ca: cert.certPath, confirm_after: '50ms', ...FAST, ...over } };
  return { http: { url: `http://127.0.0.1:${port}`, format: kind, token: 'tok-123', ...FAST, ...over } };
}

async function receiverFor(kind: 'tcp' | 'tls' | HttpFormat): Promise<Receiver> {
  if (kind === 'tcp') return startSyslogReceiver();
  if (kind === 'tls') return startSyslogReceiver({ tls: { cert: cert.cert, key: cert.key } });
  return startHttpReceiver(kind);
}

const KINDS = ['tcp', 'tls', 'splunk_hec', 'elastic_bulk', 'ndjson'] as const;

describe('SIEM export: every record once, in order, checkpoints after the records they cover', () => {
  for (const kind of KINDS) {
    test(kind, { timeout: 20_000 }, async () => {
      const dir = newDir();
      const rx = await receiverFor(kind);
      const a = await open(dir, sinkFor(kind, rx.port));
      try {
        await traffic(a, 5, 6);
        const c = a.checkpoint();
        assert.ok(c);
        await traffic(a, 2, 3, 't');
        const records = await stored(a);
        await waitFor('every record and the checkpoint', () => rx.received.length >= records.length + 1, 10_000);
        assertComplete(rx.received, records, { duplicates: 'none' });
        const [cp] = checkpoints(rx.received);
        assert.equal(cp.json.checkpoint.seq, c.seq);
        assert.equal(cp.json.checkpoint.mac, c.mac, 'the checkpoint arrives signed, as the writer made it');
        // It comes right after the record it covers.
        const at = rx.received.indexOf(cp);
        assert.equal(rx.received[at - 1].seq, c.seq);
        // The receiver has them: the cursor follows once the batch is acknowledged.
        const status = await waitFor('the cursor at the head', () => (a.exporters()[0].cursor === records.length ? a.exporters()[0] : null));
        assert.equal(status.lag, 0);
        assert.equal(status.failures, 0);
        assert.equal(status.pendingCheckpoints, 0);
        const first = rx.received[0];
        if (kind === 'tcp' || kind === 'tls') {
          const s = first.syslog!;
          assert.equal(s.app, 'pgwarden');
          assert.equal(s.sdId, 'pgwarden@32473');
          assert.equal(s.pri, 13 * 8 + 6, 'facility audit, severity info');
          assert.equal(first.type, 'session_start');
          assert.equal(s.msgId, 'session_start');
          assert.deepEqual(Object.keys(s.sd).sort(), ['id', 'instance', 'seq', 'type']);
          const stmt = rx.received.find((r) => r.type === 'statement')!;
          assert.equal(stmt.json.data.text, 'SELECT 1 /* "quoted" ] \\ é */', 'UTF-8 and JSON escapes survive');
          assert.equal(stmt.syslog!.sd.instance, 'gw1');
          assert.equal(checkpoints(rx.received)[0].syslog!.msgId, 'checkpoint');
        } else {
          const req = first.request!;
          if (kind === 'splunk_hec') {
            assert.equal(req.path, '/services/collector/event');
            assert.equal(req.headers.authorization, 'Splunk tok-123');
            assert.equal(first.envelope!.source, 'pgwarden');
            assert.equal(first.envelope!.sourcetype, 'pgwarden:audit');
            assert.equal(first.envelope!.time, Number((first.json.at / 1000).toFixed(3)));
          } else if (kind === 'elastic_bulk') {
            assert.equal(req.path, '/_bulk');
            assert.equal(req.headers.authorization, 'ApiKey tok-123');
            assert.equal(req.headers['content-type'], 'application/x-ndjson');
            assert.equal(first.json['@timestamp'], new Date(first.json.at).toISOString());
          } else {
            assert.equal(req.path, '/');
            assert.equal(req.headers.authorization, 'Bearer tok-123');
          }
        }
      } finally {
        await a.close();
        await rx.stop();
      }
      // The cursor file is private, next to the audit log.
      const cursor = readdirSync(dir).find((f) => f.startsWith('siem-') && f.endsWith('.cursor'));
      assert.ok(cursor, 'a cursor file next to audit.db');
      assert.equal(statSync(join(dir, cursor)).mode & 0o777, 0o600);
    });
  }
});

describe('SIEM export survives an outage of the receiver', () => {
  for (const kind of KINDS) {
    test(`${kind}: down mid-run (connections refused${kind.includes('_') || kind === 'ndjson' ? ', then 503' : ''}), then back`, { timeout: 30_000 }, async () => {
      const dir = newDir();
      const rx = await receiverFor(kind);
      const a = await open(dir, sinkFor(kind, rx.port));
      try {
        await traffic(a, 3, 5, 'a');
        await waitFor('the first records', () => rx.received.length > 10);
        await rx.down();
        await traffic(a, 3, 5, 'b');
        await waitFor('a failed delivery', () => a.exporters()[0].failures > 0, 10_000);
        assert.ok(a.exporters()[0].lag > 0, 'records are behind while the receiver is down');
        assert.ok(a.exporters()[0].failing);
        await rx.up();
        if ('unavailable' in rx) {
          // Up, but answering 503 for a while.
          (rx as { unavailable: boolean }).unavailable = true;
          // A retry begun while the receiver was still down may fail with a refused connection
          // first: wait for the failure that is the 503.
          await waitFor('a 503', () => /503/.test(a.exporters()[0].lastError ?? ''), 10_000);
          assert.match(a.exporters()[0].lastError ?? '', /503/);
          (rx as { unavailable: boolean }).unavailable = false;
        }
        await traffic(a, 2, 5, 'c');
        const records = await stored(a);
        await waitFor('every record after the outage', () => new Set(rx.received.map((r) => r.id)).size >= records.length, 15_000);
        assertComplete(rx.received, records, { duplicates: 'allowed' });
        await waitFor('the cursor at the head', () => a.exporters()[0].lag === 0);
        assert.equal(a.exporters()[0].failing, false);
      } finally {
        await a.close();
        await rx.stop();
      }
    });
  }
});

test('a restart resumes from the cursor: nothing lost, nothing acknowledged sent again; the final checkpoint follows', { timeout: 30_000 }, async () => {
  const dir = newDir();
  const rx = await startHttpReceiver('ndjson');
  let a = await open(dir, sinkFor('ndjson', rx.port));
  await traffic(a, 3, 4, 'a');
  await waitFor('the first run delivered', () => a.exporters()[0].lag === 0);
  // The receiver goes away, more records come, the gateway stops (its final checkpoint cannot be
  // delivered either), then starts again with the receiver back.
  await rx.down();
  await traffic(a, 2, 4, 'b');
  const before = await stored(a);
  await a.close();
  const afterFirstRun = rx.received.length;
  await rx.up();
  a = await open(dir, sinkFor('ndjson', rx.port));
  try {
    await traffic(a, 1, 2, 'c');
    const records = await stored(a);
    assert.ok(records.length > before.length);
    await waitFor('everything after the restart', () => new Set(rx.received.filter((r) => r.type !== 'checkpoint').map((r) => r.id)).size >= records.length, 10_000);
    assertComplete(rx.received, records, { duplicates: 'none' });
    assert.ok(afterFirstRun < rx.received.length);
    // The checkpoint made at shutdown waited in the cursor file, and went after the records it covers.
    const [cp] = checkpoints(rx.received);
    assert.ok(cp, 'the shutdown checkpoint was delivered after the restart');
    assert.equal(cp.json.checkpoint.seq, before[before.length - 1].seq);
    const at = rx.received.indexOf(cp);
    assert.equal(rx.received[at - 1].seq, cp.json.checkpoint.seq);
  } finally {
    await a.close();
    await rx.stop();
  }
});

test('records deleted by retention before they could be exported are reported as a gap', { timeout: 20_000 }, async () => {
  const dir = newDir();
  const rx = await startHttpReceiver('ndjson');
  await rx.down();
  const t0 = Date.now() - 10 * 86_400_000;
  let a = await open(dir, sinkFor('ndjson', rx.port), { retention: '1d' });
  // Old records (10 days ago) that the receiver never got, then retention deletes them.
  await a.sessionStart(sessionStart('old', 'analyst', t0));
  for (let i = 1; i <= 4; i++) await a.statement({ ...statement('old', i, `SELECT ${i}`), at: t0 });
  await a.close();
  // Retention runs when the log opens, while the receiver is still away.
  a = await open(dir, sinkFor('ndjson', rx.port), { retention: '1d' });
  await rx.up();
  try {
    await traffic(a, 1, 2, 'new');
    const records = await stored(a);
    await waitFor('the gap and the remaining records', () => rx.received.filter((r) => r.type !== 'checkpoint').length >= records.length + 1, 10_000);
    const gap = rx.received.find((r) => r.type === 'gap');
    assert.ok(gap, 'a gap item');
    assert.equal(gap.json.gap.from, 1);
    assert.equal(gap.json.gap.reason, 'deleted by retention before they were exported');
    assert.equal(gap.json.gap.to, records[0].seq - 1);
    await waitFor('the gap acknowledged', () => a.exporters()[0].skipped === gap.json.gap.to);
    assertComplete(rx.received.filter((r) => r.seq > gap.json.gap.to), records, { duplicates: 'none' });
  } finally {
    await a.close();
    await rx.stop();
  }
});

test('a TLS receiver whose certificate is not trusted gets nothing', { timeout: 20_000 }, async () => {
  const dir = newDir();
  const rx = await startSyslogReceiver({ tls: { cert: cert.cert, key: cert.key } });
  const a = await open(dir, { syslog: { url: `tls://127.0.0.1:${rx.port}`, ...FAST } });
  try {
    await traffic(a, 1, 2);
    await waitFor('a failed delivery', () => a.exporters()[0].failures > 0, 10_000);
    assert.match(a.exporters()[0].lastError ?? '', /self[- ]signed|certificate/i);
    assert.equal(rx.received.length, 0);
  } finally {
    await a.close();
    await rx.stop();
  }
});

test('batches keep to max_records and max_bytes', { timeout: 20_000 }, async () => {
  const dir = newDir();
  const rx = await startHttpReceiver('ndjson');
  const a = await open(dir, sinkFor('ndjson', rx.port, { batch: { max_records: 7, max_bytes: 4000, interval: '50ms' } }));
  try {
    await traffic(a, 4, 8);
    const records = await stored(a);
    await waitFor('every record', () => rx.received.length >= records.length, 10_000);
    assertComplete(rx.received, records, { duplicates: 'none' });
    assert.ok(rx.requests.every((r) => r.items <= 7), `batch sizes ${rx.requests.map((r) => r.items).join(',')}`);
    assert.ok(rx.requests.every((r) => r.bytes <= 4000 || r.items === 1), `batch bytes ${rx.requests.map((r) => r.bytes).join(',')}`);
    assert.ok(rx.requests.some((r) => r.items > 1), 'records share batches');
  } finally {
    await a.close();
    await rx.stop();
  }
});

test('records a writer does not announce are found by polling the store', { timeout: 20_000 }, async () => {
  const dir = newDir();
  const rx = await startHttpReceiver('ndjson');
  const store = new MemoryAuditStore();
  const transport = new HttpTransport(httpOptionsSchema.parse({ url: `http://127.0.0.1:${rx.port}`, format: 'ndjson' }), dir);
  const e = new Exporter(
    { name: 'poll', batch: { max_records: 50, max_bytes: 1 << 20, interval: 10 }, retry: { initial: 20, max: 100 }, poll: 100, shutdown_grace: 1000, from: 'oldest' },
    { store, instance: 'gw1', logger: silentLogger(), cursorPath: join(dir, 'poll.cursor'), transport },
  );
  await e.start();
  try {
    let prev = GENESIS_HASH;
    const ids: { id: string; seq: number }[] = [];
    for (let seq = 1; seq <= 12; seq++) {
      const r = seal({ id: `r${seq}`, instance: 'gw1', seq, at: Date.now(), type: 'event', sessionId: null, data: { kind: 'test' } }, prev);
      prev = r.hash;
      ids.push({ id: r.id, seq });
      // Appended behind the exporter's back: no write() call.
      await store.append([r]);
    }
    await waitFor('the records, found by polling', () => rx.received.length >= 12, 5000);
    assertComplete(rx.received, ids, { duplicates: 'none' });
    await waitFor('the cursor at the head', () => e.status().cursor === 12);
  } finally {
    await e.close();
    await rx.stop();
  }
});

test('a cursor past the end of the chain (a new store) is moved back: the new records are not passed over', { timeout: 20_000 }, async () => {
  const dir = newDir();
  const rx = await startHttpReceiver('ndjson');
  // A cursor left by an earlier store that had reached seq 999, with a checkpoint of it.
  writeCursor(join(dir, `siem-ndjson-127.0.0.1-${rx.port}.cursor`), { instances: { gw1: { seq: 999 } }, checkpoints: [{ instance: 'gw1', seq: 999, hash: 'a'.repeat(64), at: 1 }] });
  const a = await open(dir, sinkFor('ndjson', rx.port));
  try {
    await traffic(a, 2, 3);
    const records = await stored(a);
    await waitFor('the new records', () => rx.received.length >= records.length, 10_000);
    assertComplete(rx.received, records, { duplicates: 'none' });
    assert.equal(checkpoints(rx.received).length, 0, 'the old checkpoint vouched for records this store never had');
    await waitFor('the cursor at the head', () => a.exporters()[0].cursor === records.length);
  } finally {
    await a.close();
    await rx.stop();
  }
});
