/**
 * The scanner forwards the server's responses as the same bytes and hands over only the messages
 * marked interesting. Whatever the TCP split, what it emits (pass-through runs and interesting
 * frames, in emission order) MUST be the input byte for byte: one byte lost, duplicated or
 * reordered desynchronises the client. Chunks are overwritten after each push, as a reused read
 * buffer would be, so a scanner that carried a view instead of a copy fails here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BE } from './constants.ts';
import { MessageTooLargeError } from './framer.ts';
import { decodeRowDescription, encodeCommandComplete, encodeErrorResponse, encodeNoticeResponse, encodeParameterStatus, encodeReadyForQuery } from './backend.ts';
import { ProtocolError } from './reader.ts';
import { type ScanSink, StreamScanner } from './scanner.ts';
import { Writer } from './writer.ts';
import { prng, randomSizes } from './test-random.ts';

/** mulberry32: a tiny seeded PRNG, so a failing random run can be replayed from its seed. */
/** Each two-chunk split, one-byte chunks and 300 seeded random chunkings of a stream. */
function chunkings(total: number, seed: number): { name: string; runs: { name: string; sizes: number[] }[] }[] {
  const splits = [];
  for (let cut = 0; cut <= total; cut++) splits.push({ name: `split at ${cut}`, sizes: [cut, total - cut] });
  const rnd = prng(seed);
  const random = [];
  for (let i = 0; i < 300; i++) random.push({ name: `random chunking ${i}`, sizes: randomSizes(total, rnd) });
  return [
    { name: `split in two at each of the ${total + 1} positions`, runs: splits },
    { name: 'fed one byte at a time', runs: [{ name: 'one-byte chunks', sizes: new Array<number>(total).fill(1) }] },
    { name: `fed in 300 random chunkings (seed ${seed})`, runs: random },
  ];
}

// ---- A server response stream, built by hand ---------------------------------------------------

interface Column {
  name: string;
  tableOid: number;
  attnum: number;
  typeOid: number;
  typeSize: number;
}

function rowDescription(columns: Column[]): Buffer {
  const w = new Writer().message(BE.RowDescription).int16(columns.length);
  for (const c of columns) w.cstring(c.name).uint32(c.tableOid).int16(c.attnum).uint32(c.typeOid).int16(c.typeSize).int32(-1).int16(0);
  return w.end();
}

function dataRow(cells: (string | Buffer | null)[]): Buffer {
  const w = new Writer().message(BE.DataRow).int16(cells.length);
  for (const c of cells) {
    if (c === null) w.int32(-1);
    else {
      const b = typeof c === 'string' ? Buffer.from(c) : c;
      w.int32(b.length).bytes(b);
    }
  }
  return w.end();
}

function notification(pid: number, channel: string, payload: string): Buffer {
  return new Writer().message(BE.NotificationResponse).int32(pid).cstring(channel).cstring(payload).end();
}

const ID: Column = { name: 'id', tableOid: 16384, attnum: 1, typeOid: 23, typeSize: 4 };
const NAME: Column = { name: 'name', tableOid: 16384, attnum: 2, typeOid: 25, typeSize: -1 };
const SSN: Column = { name: 'ssn', tableOid: 16384, attnum: 3, typeOid: 25, typeSize: -1 };

const rows: Buffer[] = [];
for (let i = 0; i < 120; i++) rows.push(dataRow([String(i), i % 7 === 0 ? null : `customer ${i}`, i % 5 === 0 ? '' : `${100 + i}-00-${1000 + i}`]));
rows.push(dataRow([])); // a row of no columns is legal
rows.push(dataRow(['999', Buffer.alloc(2500, 0x5a), '999-99-9999'])); // spans many chunks

const RESPONSES: Buffer[] = [
  encodeParameterStatus('application_name', 'psql'),
  encodeNoticeResponse({ severity: 'NOTICE', code: '00000', message: 'relation "t" already exists, skipping' }),
  rowDescription([ID, NAME, SSN]),
  ...rows,
  encodeCommandComplete(`SELECT ${rows.length}`),
  encodeReadyForQuery('I'),
  notification(4242, 'jobs', '{"id":7}'),
  encodeErrorResponse({ severity: 'ERROR', code: '42501', message: 'permission denied for table t', hint: 'ask for a grant' }),
  encodeReadyForQuery('E'),
  encodeParameterStatus('TimeZone', 'Europe/Berlin'),
  encodeReadyForQuery('I'),
];
const STREAM = Buffer.concat(RESPONSES);
/** Offsets of the message boundaries in STREAM, 0 and the end included. */
const BOUNDARIES = new Set<number>([0]);
{
  let off = 0;
  for (const m of RESPONSES) BOUNDARIES.add((off += m.length));
}

interface Emitted {
  kind: 'pass' | 'message';
  tag: number;
  bytes: Buffer;
}

/** A sink that copies what it is given (pass views are only valid during the call). */
function recorder(onMessage?: (tag: number, frame: Buffer) => void): { sink: ScanSink; out: Emitted[] } {
  const out: Emitted[] = [];
  return {
    out,
    sink: {
      pass: (bytes) => {
        assert.ok(bytes.length > 0, 'pass() with no bytes');
        out.push({ kind: 'pass', tag: -1, bytes: Buffer.from(bytes) });
      },
      message: (tag, frame) => {
        assert.equal(tag, frame[0]);
        out.push({ kind: 'message', tag, bytes: Buffer.from(frame) });
        onMessage?.(tag, frame);
      },
    },
  };
}

/**
 * Scan `stream` in chunks of `sizes` and check the invariants that hold for any split: the
 * emission is the input byte for byte, each interesting frame is emitted whole exactly where it
 * stood in the input, and `atBoundary` is true exactly between messages.
 */
function scan(scanner: StreamScanner, stream: Buffer, sizes: number[], boundaries: Set<number>, name: string, onMessage?: (tag: number, frame: Buffer) => void): Emitted[] {
  const { sink, out } = recorder(onMessage);
  let pos = 0;
  for (const size of sizes) {
    const chunk = Buffer.from(stream.subarray(pos, pos + size));
    scanner.push(chunk, sink);
    chunk.fill(0xee);
    pos += size;
    assert.equal(scanner.atBoundary, boundaries.has(pos), `${name}: atBoundary after ${pos} bytes`);
  }
  assert.deepEqual(Buffer.concat(out.map((e) => e.bytes)), stream, `${name}: emission differs from the input`);
  let off = 0;
  for (const e of out) {
    if (e.kind === 'message') {
      assert.ok(boundaries.has(off), `${name}: message at ${off} does not start at a boundary`);
      assert.equal(e.bytes.readInt32BE(1) + 1, e.bytes.length, `${name}: message at ${off} is not whole`);
    }
    off += e.bytes.length;
  }
  return out;
}

function messagesOf(out: Emitted[]): Buffer[] {
  return out.filter((e) => e.kind === 'message').map((e) => e.bytes);
}

describe('StreamScanner over a server response stream', () => {
  // [what is marked interesting, the frames it must deliver]
  const cases: [string, number[]][] = [
    ["'Z' (ReadyForQuery)", [BE.ReadyForQuery]],
    ["'D' (DataRow)", [BE.DataRow]],
    ["'T', 'E' and 'A'", [BE.RowDescription, BE.ErrorResponse, BE.NotificationResponse]],
    ['nothing', []],
    ['every tag in the stream', [...new Set(RESPONSES.map((m) => m[0]))]],
  ];
  for (const [what, tags] of cases) {
    const expected = RESPONSES.filter((m) => tags.includes(m[0]));
    describe(`with ${what} interesting`, () => {
      for (const group of chunkings(STREAM.length, 0xc0ffee + tags.length)) {
        it(`emits the input unchanged and ${expected.length} whole frames in order, ${group.name}`, () => {
          for (const { name, sizes } of group.runs) {
            const scanner = new StreamScanner(64 * 1024);
            for (const t of tags) scanner.interesting[t] = 1;
            const out = scan(scanner, STREAM, sizes, BOUNDARIES, name);
            assert.deepEqual(messagesOf(out), expected, `${name}: interesting frames`);
          }
        });
      }
    });
  }

  it('passes a stream with nothing interesting as one view of the chunk (no copy)', () => {
    const scanner = new StreamScanner(1024);
    const seen: Buffer[] = [];
    scanner.push(STREAM, { pass: (b) => seen.push(b), message: () => assert.fail('nothing is interesting') });
    assert.equal(seen.length, 1);
    assert.equal(seen[0].buffer, STREAM.buffer);
    assert.equal(seen[0].byteOffset, STREAM.byteOffset);
    assert.equal(seen[0].length, STREAM.length);
  });

  it('streams a non-interesting message larger than the cap, which applies to interesting messages only', () => {
    const scanner = new StreamScanner(100);
    scanner.interesting[BE.ReadyForQuery] = 1;
    const big = dataRow([Buffer.alloc(5000, 1)]);
    const stream = Buffer.concat([big, encodeReadyForQuery('I')]);
    const out = scan(scanner, stream, [7, 1000, 4000, stream.length - 5007], new Set([0, big.length, stream.length]), 'large DataRow');
    assert.deepEqual(messagesOf(out), [encodeReadyForQuery('I')]);
  });
});

describe('StreamScanner: rows handed over as offsets into the chunk', () => {
  for (const group of chunkings(STREAM.length, 0x0ff5e7)) {
    it(`emits the input unchanged with every row whole, ${group.name}`, () => {
      for (const { name, sizes } of group.runs) {
        const scanner = new StreamScanner(64 * 1024);
        scanner.interesting[BE.DataRow] = 1;
        const { sink, out } = recorder();
        let viaOffsets = 0;
        sink.row = (chunk, start, end) => {
          viaOffsets++;
          sink.message(chunk[start], chunk.subarray(start, end));
        };
        let pos = 0;
        for (const size of sizes) {
          const chunk = Buffer.from(STREAM.subarray(pos, pos + size));
          scanner.push(chunk, sink);
          chunk.fill(0xee);
          pos += size;
        }
        assert.deepEqual(Buffer.concat(out.map((e) => e.bytes)), STREAM, `${name}: emission differs from the input`);
        assert.deepEqual(messagesOf(out), rows, `${name}: rows`);
        assert.ok(viaOffsets <= rows.length);
      }
    });
  }
});

describe('StreamScanner: DataRows counted from their headers under an allowance', () => {
  // [allowance, how many DataRows pass (counted, under a finite allowance) before the rest is delivered]
  const cases: [number, number][] = [
    [0, 0],
    [1, 1],
    [50, 50],
    [rows.length - 1, rows.length - 1],
    [rows.length, rows.length],
    [Infinity, rows.length],
  ];
  for (const [allowance, passing] of cases) {
    describe(`with an allowance of ${allowance}`, () => {
      for (const group of chunkings(STREAM.length, 0xa110 + passing)) {
        it(`passes ${passing} rows, delivers the other ${rows.length - passing} whole, ${group.name}`, () => {
          for (const { name, sizes } of group.runs) {
            const scanner = new StreamScanner(64 * 1024);
            scanner.rowAllowance = allowance;
            const out = scan(scanner, STREAM, sizes, BOUNDARIES, name);
            assert.equal(scanner.passedRows, allowance === Infinity ? 0 : passing, `${name}: rows counted`);
            assert.deepEqual(messagesOf(out), rows.slice(passing), `${name}: rows delivered`);
          }
        });
      }
    });
  }
});

describe('StreamScanner: the interesting table changes between messages', () => {
  // Three queries; only the second selects a column that must be masked. The sink marks DataRow
  // interesting when it sees that RowDescription and unmarks it at CommandComplete, the way the
  // engine does: the change must apply from the very next header, whatever the split.
  const query = (columns: Column[], n: number): Buffer[] => [
    rowDescription(columns),
    ...Array.from({ length: n }, (_, i) => dataRow(columns.map((c) => `${c.name}-${i}`))),
    encodeCommandComplete(`SELECT ${n}`),
    encodeReadyForQuery('I'),
  ];
  const q1 = query([ID, NAME], 4);
  const q2 = query([ID, SSN], 5);
  const q3 = query([NAME], 3);
  const messages = [...q1, ...q2, ...q3];
  const stream = Buffer.concat(messages);
  const boundaries = new Set<number>([0]);
  let off = 0;
  for (const m of messages) boundaries.add((off += m.length));
  const expected = messages.filter((m) => m[0] !== BE.DataRow || q2.includes(m));

  const onMessage = (scanner: StreamScanner) => (tag: number, frame: Buffer) => {
    if (tag === BE.RowDescription) scanner.interesting[BE.DataRow] = decodeRowDescription(frame).some((c) => c.name === 'ssn') ? 1 : 0;
    if (tag === BE.CommandComplete) scanner.interesting[BE.DataRow] = 0;
  };
  for (const group of chunkings(stream.length, 0xd47a)) {
    it(`delivers exactly the DataRows of the masked query, ${group.name}`, () => {
      for (const { name, sizes } of group.runs) {
        const scanner = new StreamScanner(1024);
        scanner.interesting[BE.RowDescription] = 1;
        scanner.interesting[BE.CommandComplete] = 1;
        scanner.interesting[BE.ReadyForQuery] = 1;
        const out = scan(scanner, stream, sizes, boundaries, name, onMessage(scanner));
        assert.deepEqual(messagesOf(out), expected, name);
      }
    });
  }

  it('keeps passing a message already under way when its tag becomes interesting', () => {
    const scanner = new StreamScanner(1024);
    const row = dataRow(['a', 'b']);
    const stream = Buffer.concat([row, row]);
    const { sink, out } = recorder();
    scanner.push(stream.subarray(0, 8), sink);
    scanner.interesting[BE.DataRow] = 1;
    scanner.push(stream.subarray(8), sink);
    assert.deepEqual(Buffer.concat(out.map((e) => e.bytes)), stream);
    assert.deepEqual(messagesOf(out), [row], 'only the second row, whose header came after the change');
  });
});

describe('StreamScanner refuses invalid headers', () => {
  const headerOf = (tag: number, len: number) => {
    const h = Buffer.from([tag, 0, 0, 0, 0]);
    h.writeInt32BE(len, 1);
    return h;
  };
  const prefix = encodeReadyForQuery('I');

  // [tag, declared length, interesting?, refused as too large (else as invalid)]
  const cases: [number, number, boolean, boolean][] = [
    [BE.DataRow, 101, true, true],
    [BE.DataRow, 0x7fffffff, true, true],
    [BE.DataRow, 3, true, false],
    [BE.DataRow, 3, false, false],
    [BE.DataRow, 0, false, false],
    [BE.DataRow, -1, false, false],
    [BE.DataRow, -0x80000000, true, false],
  ];
  for (const [tag, len, interesting, tooLarge] of cases) {
    it(`refuses ${interesting ? 'an interesting' : 'a passed'} header of length ${len} as ${tooLarge ? 'too large' : 'invalid'}, from the header alone, however it is split`, () => {
      const header = headerOf(tag, len);
      // The header follows a whole message, so both the in-chunk and the carried-header paths run.
      const stream = Buffer.concat([prefix, header]);
      for (let cut = 0; cut <= stream.length; cut++) {
        const scanner = new StreamScanner(100);
        scanner.interesting[tag] = interesting ? 1 : 0;
        const { sink } = recorder();
        assert.throws(
          () => {
            scanner.push(Buffer.from(stream.subarray(0, cut)), sink);
            scanner.push(Buffer.from(stream.subarray(cut)), sink);
          },
          (e: unknown) => {
            assert.ok(e instanceof ProtocolError, `split at ${cut}: ${String(e)}`);
            assert.equal(e instanceof MessageTooLargeError, tooLarge, `split at ${cut}: ${e.message}`);
            if (e instanceof MessageTooLargeError) assert.equal(e.limit, 100);
            return true;
          },
        );
      }
    });
  }

  it('accepts an interesting message of exactly the cap', () => {
    const row = dataRow([Buffer.alloc(100 - 11)]);
    assert.equal(row.length, 100);
    const scanner = new StreamScanner(100);
    scanner.interesting[BE.DataRow] = 1;
    const out = scan(scanner, row, [3, 50, 47], new Set([0, 100]), 'exact cap');
    assert.deepEqual(messagesOf(out), [row]);
  });
});
