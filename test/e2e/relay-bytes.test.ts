/**
 * Results of statements that mask nothing reach the client as the server's own bytes: the same
 * protocol conversation, sent directly and through the gateway, gets byte-identical answers —
 * many small rows, rows larger than a socket read, COPY OUT, an error in the middle of a result,
 * notices, a multi-statement Query, extended-protocol portals run in batches — for an identity
 * with masking rules on other columns, a row limit and the audit capturing rows (every reader of
 * the response stream on), and for one with none of them.
 *
 * And the relay writes at most once to the client per read from the server (counted on the
 * socket's own write calls, not timed), for untouched, row-limited and masked results.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startTestGateway, allowEverything, type TestGateway } from '../helpers/gateway.ts';
import { RawClient } from '../helpers/raw-client.ts';
import { ScramKeyCache, connectUpstream, leaseConnection, targetFromUrl } from '../../src/upstream/index.ts';
import { BE, MessageFramer, encodeQuery } from '../../src/protocol/index.ts';
import { Writer } from '../../src/protocol/writer.ts';
import { Session } from '../../src/engine/session.ts';
import { maskingPort } from '../../src/engine/masking-port.ts';
import { createLogger } from '../../src/log.ts';
import { identity, scopeOf } from '../../src/masking/test-builders.ts';
import { Writable } from 'node:stream';

let t: TestGateway;

/** Everything, and COPY TO STDOUT under a row limit. */
function limited(issuers: string[]): Record<string, any> {
  const p = allowEverything(issuers) as { allow: unknown[] };
  return { ...p, allow: [...p.allow, { session: ['copy_to_stdout'] }] };
}

before(async () => {
  t = await startTestGateway({
    config: (raw) => {
      const issuers = raw.identity.issuers.map((i: { issuer: string }) => i.issuer);
      raw.policies = [
        { ...limited(issuers), name: 'limited', match: { subjects: ['limited'] }, limits: { max_rows: 1_000_000 } },
        { ...allowEverything(issuers), name: 'plain', match: { subjects: ['plain'] } },
      ];
      raw.masking = { rules: [{ column: 'public.secrets.ssn', with: 'redact', except: { subjects: ['plain'] } }] };
      raw.audit = { store: 'memory', capture_results: 'masked', capture_rows: 3 };
    },
  });
  t.pg.psql(
    `create table secrets (id int, ssn text); insert into secrets values (1, '123-45-6789');
     create table people (id int primary key, name text, email text);
     insert into people select g, 'person ' || g, 'person' || g || '@example.com' from generate_series(1, 5000) g;
     alter table secrets owner to gw_app; alter table people owner to gw_app;`,
    'app',
  );
  await t.gw.reloadCatalogs();
});
after(async () => {
  await t?.stop();
});

/** Collects every byte a socket receives; `exchange` sends bytes and waits for n ReadyForQuery. */
class Collector {
  private chunks: Buffer[] = [];
  private rfq = 0;
  private wake: (() => void) | null = null;
  private readonly framer = new MessageFramer(1 << 30);

  constructor(readonly socket: net.Socket) {
    socket.removeAllListeners('data');
    socket.on('data', (c: Buffer) => {
      this.chunks.push(Buffer.from(c));
      this.framer.push(c, (tag) => {
        if (tag === BE.ReadyForQuery) this.rfq++;
      });
      this.wake?.();
    });
  }

  async exchange(bytes: Buffer, n: number): Promise<Buffer> {
    this.chunks = [];
    this.rfq = 0;
    this.socket.write(bytes);
    const deadline = Date.now() + 20_000;
    while (this.rfq < n) {
      if (Date.now() > deadline) throw new Error(`timed out after ${this.rfq} of ${n} ReadyForQuery`);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, 200);
        this.wake = () => {
          clearTimeout(timer);
          r();
        };
      });
    }
    return Buffer.concat(this.chunks);
  }
}

async function direct(): Promise<Collector> {
  const target = targetFromUrl('direct', t.directUrl(), { password: t.upstreamPassword, tls: { mode: 'disable' }, connectTimeoutMs: 5000 });
  const conn = await connectUpstream(target, { client_encoding: 'UTF8' }, new ScramKeyCache());
  const c = new Collector(conn.socket);
  conn.socket.resume();
  return c;
}

async function via(subject: string): Promise<Collector> {
  const c = await RawClient.connect(t.port, await t.issuer.sign({ sub: subject }));
  return new Collector(c.socket);
}

function query(sql: string): Buffer {
  return encodeQuery(sql);
}

/** Parse/Bind/Execute in batches of `batch` rows (PortalSuspended between them), then Sync. */
function portalInBatches(sql: string, batch: number, executes: number): Buffer {
  const parts = [new Writer().message(0x50).cstring('').cstring(sql).int16(0).end(), new Writer().message(0x42).cstring('p').cstring('').int16(0).int16(0).int16(0).end()];
  parts.push(new Writer().message(0x44).byte(0x50).cstring('p').end());
  for (let i = 0; i < executes; i++) parts.push(new Writer().message(0x45).cstring('p').int32(batch).end());
  parts.push(new Writer().message(0x53).end());
  return Buffer.concat(parts);
}

const CONVERSATIONS: { name: string; bytes: Buffer; cycles: number }[] = [
  { name: 'many small rows', bytes: query("select g, 'row ' || g from generate_series(1, 30000) g"), cycles: 1 },
  { name: 'rows larger than a socket read', bytes: query("select g, repeat(md5(g::text), 40000) from generate_series(1, 6) g"), cycles: 1 },
  { name: 'a table scan', bytes: query('select * from people'), cycles: 1 },
  { name: 'the unmasked column of a table with a masked one', bytes: query('select id from secrets'), cycles: 1 },
  { name: 'COPY OUT', bytes: query('copy (select g, md5(g::text) from generate_series(1, 20000) g) to stdout'), cycles: 1 },
  { name: 'an error in the middle of a result', bytes: query('select 100 / (g - 15000) from generate_series(1, 20000) g'), cycles: 1 },
  {
    name: 'notices between results',
    bytes: query("do $$ begin for i in 1..300 loop raise notice 'notice %', i; end loop; end $$; select g from generate_series(1, 2000) g; select 'x'"),
    cycles: 1,
  },
  { name: 'a portal run in batches', bytes: portalInBatches('select g, repeat(g::text, 20) from generate_series(1, 5000) g', 700, 8), cycles: 1 },
  { name: 'pipelined queries', bytes: Buffer.concat([query('select 1'), query("select g from generate_series(1, 3000) g"), query('select 1/0'), query("select 'after'")]), cycles: 4 },
];

describe('unmasked results are the server’s bytes', () => {
  for (const subject of ['limited', 'plain']) {
    it(`for ${subject === 'limited' ? 'an identity with masking rules, a row limit and row capture' : 'an identity with none of them'}`, async () => {
      const d = await direct();
      const g = await via(subject);
      try {
        for (const c of CONVERSATIONS) {
          const want = await d.exchange(c.bytes, c.cycles);
          const got = await g.exchange(c.bytes, c.cycles);
          assert.ok(want.length > 0);
          assert.ok(got.equals(want), `${c.name}: ${got.length} bytes through the gateway, ${want.length} directly, first difference at ${firstDifference(got, want)}`);
        }
      } finally {
        d.socket.destroy();
        g.socket.destroy();
      }
    });
  }
});

function firstDifference(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

// ---- writes per read -----------------------------------------------------------------------------

interface Relay {
  collector: Collector;
  reads: () => number;
  writes: () => number;
  close(): void;
}

/** A Session on a real upstream connection and a real loopback socket, counting both sides. */
async function relay(options: { masking?: boolean; maxRows?: number }): Promise<Relay> {
  const target = targetFromUrl('direct', t.directUrl(), { password: t.upstreamPassword, tls: { mode: 'disable' }, connectTimeoutMs: 5000 });
  const up = await connectUpstream(target, { client_encoding: 'UTF8' }, new ScramKeyCache());
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const outside = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  const inside = await accepted;
  let reads = 0;
  let writes = 0;
  up.socket.on('data', () => reads++);
  const proto = inside as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
  const w = proto._write.bind(inside);
  const wv = proto._writev.bind(inside);
  proto._write = (...a) => {
    writes++;
    w(...a);
  };
  proto._writev = (...a) => {
    writes++;
    wv(...a);
  };
  const who = identity('relay-test');
  const session = new Session({
    client: inside,
    upstream: leaseConnection(up, target),
    identity: who,
    logger: createLogger('warn', new Writable({ write: (_c, _e, cb) => cb() })),
    maxMessageSize: 64 * 1024 * 1024,
    expiresAt: Date.now() + 3_600_000,
    masking: options.masking ? maskingPort(scopeOf({ detect: {} }, who), () => null) : undefined,
    maxRows: options.maxRows === undefined ? undefined : () => options.maxRows,
  });
  session.start();
  return {
    collector: new Collector(outside),
    reads: () => reads,
    writes: () => writes,
    close() {
      outside.destroy();
      inside.destroy();
      up.socket.destroy();
      server.close();
    },
  };
}

describe('one write to the client per read from the server', () => {
  const cases: { name: string; options: Parameters<typeof relay>[0]; sql: string; masked?: boolean }[] = [
    { name: 'an untouched result', options: {}, sql: 'select * from people' },
    { name: 'a result under a row limit', options: { maxRows: 1_000_000 }, sql: 'select * from people' },
    { name: 'a result whose rows are masked', options: { masking: true }, sql: 'select * from people', masked: true },
    { name: 'COPY OUT', options: { maxRows: 1_000_000 }, sql: 'copy people to stdout' },
  ];
  for (const c of cases) {
    it(`for ${c.name}`, async () => {
      const r = await relay(c.options);
      try {
        const readsBefore = r.reads();
        const writesBefore = r.writes();
        const got = await r.collector.exchange(query(c.sql), 1);
        const reads = r.reads() - readsBefore;
        const writes = r.writes() - writesBefore;
        assert.ok(reads > 1, `the result came in ${reads} reads`);
        assert.ok(writes <= reads, `${writes} writes to the client for ${reads} reads from the server`);
        const text = got.toString('latin1');
        if (c.masked) assert.ok(!text.includes('person4999@example.com'), 'the addresses are masked');
        else assert.ok(text.includes('person4999@example.com'));
      } finally {
        r.close();
      }
    });
  }
});
