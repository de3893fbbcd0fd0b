/**
 * Framing must survive any TCP split: a recorded client conversation is cut at every byte
 * position, into one-byte chunks and into seeded random chunkings, and the framers must deliver
 * exactly the original messages, in order. Chunks are overwritten right after each push, the way a
 * socket may reuse its read buffer, so a framer that kept a view of a caller's chunk instead of a
 * copy fails here too.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FE, MAX_STARTUP_PACKET } from './constants.ts';
import { MessageFramer, MessageTooLargeError, StartupFramer } from './framer.ts';
import {
  FLUSH,
  SYNC,
  TERMINATE,
  encodeBind,
  encodeDescribe,
  encodeExecute,
  encodeParse,
  encodePassword,
  encodeQuery,
  encodeSASLInitialResponse,
  encodeSSLRequest,
  encodeStartup,
} from './frontend.ts';
import { ProtocolError } from './reader.ts';
import { Writer } from './writer.ts';
import { prng, randomSizes } from './test-random.ts';

function sizesAt(total: number, cuts: number[]): number[] {
  const sizes: number[] = [];
  let prev = 0;
  for (const c of [...cuts, total]) {
    sizes.push(c - prev);
    prev = c;
  }
  return sizes;
}

/** The chunkings every stream is replayed with: each two-chunk split, one-byte chunks, random. */
function chunkings(total: number, seed: number): { name: string; runs: { name: string; sizes: number[] }[] }[] {
  const splits = [];
  for (let cut = 0; cut <= total; cut++) splits.push({ name: `split at ${cut}`, sizes: sizesAt(total, [cut]) });
  const rnd = prng(seed);
  const random = [];
  for (let i = 0; i < 300; i++) random.push({ name: `random chunking ${i}`, sizes: randomSizes(total, rnd) });
  return [
    { name: `split in two at each of the ${total + 1} positions`, runs: splits },
    { name: 'fed one byte at a time', runs: [{ name: 'one-byte chunks', sizes: new Array<number>(total).fill(1) }] },
    { name: `fed in 300 random chunkings (seed ${seed})`, runs: random },
  ];
}

/** Feed `stream` in chunks of `sizes`, each a fresh copy that is scribbled over after the push. */
function feed(stream: Buffer, sizes: number[], push: (chunk: Buffer) => void): void {
  let pos = 0;
  for (const size of sizes) {
    const chunk = Buffer.from(stream.subarray(pos, pos + size));
    pos += size;
    push(chunk);
    chunk.fill(0xee);
  }
  assert.equal(pos, stream.length);
}

function message(tag: number, body: Buffer | string = Buffer.alloc(0)): Buffer {
  return new Writer().message(tag).bytes(typeof body === 'string' ? Buffer.from(body) : body).end();
}

/** Binary-format parameters are not expressible with `encodeBind`, so this Bind is built by hand. */
function binaryBind(): Buffer {
  const w = new Writer().message(FE.Bind).cstring('').cstring('s1');
  w.int16(2).int16(1).int16(0); // parameter formats: binary, text
  w.int16(3).int32(4).int32(42).int32(-1).int32(3).bytes(Buffer.from('abc')); // int4 42, NULL, 'abc'
  w.int16(1).int16(1); // all results binary
  return w.end();
}

const copyRow = Buffer.from('1\tAda Lovelace\t\\N\n');
// A body made of bytes that look like headers: 'd', then a length of 4, over and over.
const headerLike = Buffer.alloc(3000);
for (let i = 0; i < headerLike.length; i++) headerLike[i] = [FE.CopyData, 0, 0, 0, 4][i % 5];

const STARTUP = encodeStartup({ user: 'agent@example.com', database: 'app', application_name: 'psql', options: '-c statement_timeout=5s' });
const CONVERSATION: Buffer[] = [
  encodePassword('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2ln'),
  encodeQuery('SELECT 1'),
  encodeQuery(''),
  encodeParse('', 'SELECT $1::int, $2::bytea, $3::text', [23, 17, 25]),
  encodeBind('', '', ['42', Buffer.from([0x00, 0x01, 0xff, 0x00, 0x05]), null], [0, 1, 0]),
  encodeDescribe('P', ''),
  encodeExecute('', 0),
  SYNC,
  encodeParse('s1', 'INSERT INTO t VALUES ($1, $2, $3) RETURNING id', [23, 0, 0]),
  encodeDescribe('S', 's1'),
  binaryBind(),
  encodeExecute('', 100),
  FLUSH,
  SYNC,
  encodeQuery("COPY t FROM STDIN -- naïve ünïcödé"),
  message(FE.CopyData, copyRow),
  message(FE.CopyData, headerLike),
  message(FE.CopyData),
  message(FE.CopyDone),
  TERMINATE,
];
const TAGGED = Buffer.concat(CONVERSATION);

/** A client's whole byte stream: startup packet, then tagged messages, as the gateway sees it. */
function runConversation(stream: Buffer, sizes: number[]): { startup: Buffer | null; frames: Buffer[] } {
  const startupFramer = new StartupFramer(MAX_STARTUP_PACKET);
  const framer = new MessageFramer(64 * 1024);
  let startup: Buffer | null = null;
  const frames: Buffer[] = [];
  const onFrame = (tag: number, frame: Buffer) => {
    assert.equal(tag, frame[0]);
    frames.push(Buffer.from(frame));
  };
  feed(stream, sizes, (chunk) => {
    if (startup !== null) return framer.push(chunk, onFrame);
    const packet = startupFramer.push(chunk);
    if (packet === null) return;
    startup = Buffer.from(packet);
    const rest = startupFramer.drainRemainder();
    if (rest !== null) framer.push(rest, onFrame);
  });
  assert.equal(framer.buffered, 0, 'no bytes left over after the last message');
  return { startup, frames };
}

describe('MessageFramer and StartupFramer survive any split of a recorded conversation', () => {
  const stream = Buffer.concat([STARTUP, TAGGED]);
  for (const group of chunkings(stream.length, 0x5eed)) {
    it(group.name, () => {
      for (const { name, sizes } of group.runs) {
        const { startup, frames } = runConversation(stream, sizes);
        assert.deepEqual(startup, STARTUP, name);
        assert.equal(frames.length, CONVERSATION.length, name);
        for (let i = 0; i < frames.length; i++) assert.deepEqual(frames[i], CONVERSATION[i], `${name}: frame ${i}`);
      }
    });
  }
});

describe('MessageFramer', () => {
  it('delivers a frame that lies inside one chunk as a view of that chunk, without a copy', () => {
    const framer = new MessageFramer(1024);
    const chunk = Buffer.concat([encodeQuery('SELECT 1'), SYNC]);
    const seen: Buffer[] = [];
    framer.push(chunk, (_tag, frame) => seen.push(frame));
    assert.equal(seen.length, 2);
    assert.equal(seen[0].buffer, chunk.buffer);
    assert.equal(seen[0].byteOffset, chunk.byteOffset);
    assert.equal(seen[1].byteOffset, chunk.byteOffset + chunk.length - SYNC.length);
  });

  it('keeps an incomplete message and reports it as buffered', () => {
    const framer = new MessageFramer(1024);
    const q = encodeQuery('SELECT 1');
    const seen: Buffer[] = [];
    framer.push(q.subarray(0, 7), (_t, f) => seen.push(Buffer.from(f)));
    assert.equal(framer.buffered, 7);
    assert.equal(seen.length, 0);
    framer.push(q.subarray(7), (_t, f) => seen.push(Buffer.from(f)));
    assert.equal(framer.buffered, 0);
    assert.deepEqual(seen, [q]);
  });

  it('hands the incomplete remainder over on drainRemainder()', () => {
    const framer = new MessageFramer(1024);
    const q = encodeQuery('SELECT 1');
    framer.push(Buffer.concat([SYNC, q.subarray(0, 6)]), () => {});
    assert.deepEqual(framer.drainRemainder(), q.subarray(0, 6));
    assert.equal(framer.drainRemainder(), null);
    const seen: Buffer[] = [];
    framer.push(Buffer.from(SYNC), (_t, f) => seen.push(Buffer.from(f)));
    assert.deepEqual(seen, [SYNC], 'after draining, the framer starts at a message boundary');
  });

  const tooShort = [3, 2, 1, 0, -1, -4, -0x80000000];
  for (const len of tooShort) {
    it(`refuses a length of ${len}, which cannot even cover itself`, () => {
      const header = Buffer.from([FE.Query, 0, 0, 0, 0]);
      header.writeInt32BE(len, 1);
      const framer = new MessageFramer(1024);
      assert.throws(
        () => framer.push(Buffer.concat([SYNC, header]), () => {}),
        (e: unknown) => e instanceof ProtocolError && !(e instanceof MessageTooLargeError) && /invalid message length/.test(e.message),
      );
    });
  }

  // [cap, tag, declared length (excluding the tag byte), per-tag caps, refused?]
  const sizes: [number, number, number, [number, number][], boolean][] = [
    [1000, FE.Query, 999, [], false],
    [1000, FE.Query, 1000, [], true],
    [1000, FE.Query, 0x7fffffff, [], true],
    [1000, FE.Password, 99, [[FE.Password, 100]], false],
    [1000, FE.Password, 100, [[FE.Password, 100]], true],
    [1000, FE.Query, 500, [[FE.Password, 100]], false],
    [1000, FE.Password, 1500, [[FE.Password, 2000]], false],
  ];
  for (const [cap, tag, len, caps, refused] of sizes) {
    const tagCaps = caps.map(([t, c]) => `'${String.fromCharCode(t)}' ≤ ${c}`).join(', ') || 'none';
    it(`${refused ? 'refuses' : 'accepts'} a '${String.fromCharCode(tag)}' header of length ${len} (cap ${cap}, per-tag caps ${tagCaps}) from the header alone`, () => {
      const header = Buffer.from([tag, 0, 0, 0, 0]);
      header.writeInt32BE(len, 1);
      const limit = caps.find(([t]) => t === tag)?.[1] ?? cap;
      // Only the header is ever fed: the verdict must not wait for the body.
      for (let cut = 0; cut <= header.length; cut++) {
        const framer = new MessageFramer(cap);
        for (const [t, c] of caps) framer.capTag(t, c);
        const push = () => {
          framer.push(Buffer.from(header.subarray(0, cut)), () => assert.fail('no frame expected'));
          framer.push(Buffer.from(header.subarray(cut)), () => assert.fail('no frame expected'));
        };
        if (!refused) {
          push();
          assert.equal(framer.buffered, 5);
          continue;
        }
        assert.throws(push, (e: unknown) => {
          assert.ok(e instanceof MessageTooLargeError, `split at ${cut}: ${String(e)}`);
          assert.equal(e.size, len + 1);
          assert.equal(e.limit, limit);
          assert.equal(e.tag, tag);
          return true;
        });
      }
    });
  }

  it('applies a per-tag cap only to that tag, and the general cap to the whole frame', () => {
    const framer = new MessageFramer(64);
    framer.capTag(FE.Password, 20);
    const frames: Buffer[] = [];
    const exact = encodeQuery('x'.repeat(64 - 6)); // 1 + 4 + 58 + 1 = 64 bytes
    assert.equal(exact.length, 64);
    framer.push(exact, (_t, f) => frames.push(f));
    framer.push(encodePassword('x'.repeat(14)), (_t, f) => frames.push(f)); // 20 bytes
    assert.equal(frames.length, 2);
    assert.throws(() => framer.push(encodePassword('x'.repeat(15)), () => {}), MessageTooLargeError);
    assert.throws(() => new MessageFramer(64).push(encodeQuery('x'.repeat(59)), () => {}), MessageTooLargeError);
    const sasl = encodeSASLInitialResponse('SCRAM-SHA-256', Buffer.alloc(32));
    const capped = new MessageFramer(1024);
    capped.capTag(FE.Password, 32);
    assert.throws(() => capped.push(sasl.subarray(0, 5), () => {}), MessageTooLargeError);
  });
});

describe('StartupFramer', () => {
  it('returns the SSLRequest alone and hands a pipelined startup packet over as the remainder', () => {
    const framer = new StartupFramer(MAX_STARTUP_PACKET);
    const ssl = encodeSSLRequest();
    const packet = framer.push(Buffer.concat([ssl, STARTUP.subarray(0, 10)]));
    assert.deepEqual(packet, ssl);
    assert.deepEqual(framer.drainRemainder(), STARTUP.subarray(0, 10));
  });

  it('accepts a packet of exactly the cap, delivered in many chunks', () => {
    const w = new Writer().untagged().int32(196608).cstring('user').cstring('u').cstring('application_name');
    const packet = w.cstring('x'.repeat(100 - 4 - 4 - 5 - 2 - 17 - 1 - 1)).byte(0).end();
    assert.equal(packet.length, 100);
    const framer = new StartupFramer(100);
    let out: Buffer | null = null;
    feed(packet, new Array<number>(100).fill(1), (chunk) => {
      assert.equal(out, null, 'nothing before the last byte');
      const p = framer.push(chunk);
      if (p) out = Buffer.from(p);
    });
    assert.deepEqual(out, packet);
  });

  // [declared length, refused as too large (else as invalid)]
  const refused: [number, boolean][] = [
    [7, false],
    [4, false],
    [0, false],
    [-1, false],
    [-0x80000000, false],
    [MAX_STARTUP_PACKET + 1, true],
    [0x7fffffff, true],
  ];
  for (const [len, tooLarge] of refused) {
    it(`refuses a startup length of ${len} as ${tooLarge ? 'too large' : 'invalid'} as soon as the 4-byte header is complete, however it is split`, () => {
      const header = Buffer.alloc(4);
      header.writeInt32BE(len);
      for (const sizes of [[4], [1, 3], [2, 2], [3, 1], [1, 1, 1, 1]]) {
        const framer = new StartupFramer(MAX_STARTUP_PACKET);
        assert.throws(
          () => feed(header, sizes, (chunk) => assert.equal(framer.push(chunk), null)),
          (e: unknown) => e instanceof ProtocolError && (e instanceof MessageTooLargeError) === tooLarge,
          `chunks ${sizes.join('+')}`,
        );
      }
    });
  }

  it('accepts the smallest legal packet (8 bytes)', () => {
    const packet = encodeSSLRequest();
    assert.equal(packet.length, 8);
    assert.deepEqual(new StartupFramer(8).push(packet), packet);
  });
});

describe('MessageFramer skip caps', () => {
  const big = encodeQuery('select ' + "'x'".padEnd(5000, ' '));
  const stream = Buffer.concat([encodeQuery('select 1'), big, encodeParse('', 'select 2'), SYNC, encodeQuery('select 3')]);
  it('reports an oversized message at its header, discards its body and frames what follows, at every split', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const f = new MessageFramer(1 << 20);
      f.skipOver(FE.Query, 1000);
      const seen: string[] = [];
      f.onOversize = (tag, size) => seen.push(`over ${String.fromCharCode(tag)} ${size}`);
      const onFrame = (tag: number, frame: Buffer) => seen.push(`${String.fromCharCode(tag)} ${frame.length}`);
      for (const part of [stream.subarray(0, cut), stream.subarray(cut)]) {
        const copy = Buffer.from(part);
        f.push(copy, onFrame);
        copy.fill(0);
      }
      assert.deepEqual(seen, [`Q ${encodeQuery('select 1').length}`, `over Q ${big.length}`, `P ${encodeParse('', 'select 2').length}`, 'S 5', `Q ${encodeQuery('select 3').length}`], `cut at ${cut}`);
      // Nothing of the skipped body is held.
      assert.equal(f.buffered, 0);
    }
  });
  it('keeps no more than a header while skipping a body sent in small chunks', () => {
    const f = new MessageFramer(1 << 20);
    f.skipOver(FE.Query, 1000);
    let over = 0;
    f.onOversize = () => over++;
    for (let i = 0; i < big.length; i += 7) {
      f.push(big.subarray(i, i + 7), () => assert.fail('no frame expected'));
      assert.ok(f.buffered < 5, `buffered ${f.buffered}`);
    }
    assert.equal(over, 1);
  });
  it('other tags keep the fatal cap', () => {
    const f = new MessageFramer(100);
    f.skipOver(FE.Query, 50);
    f.onOversize = () => {};
    assert.throws(() => f.push(encodeParse('', 'x'.repeat(200)), () => {}), MessageTooLargeError);
  });
});

describe('MessageFramer with a large message', () => {
  it('delivers a message of 1 MiB split over many reads whole and exact, with what follows it in the same read', () => {
    const body = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    const big = Buffer.concat([Buffer.from([FE.Bind]), Buffer.alloc(4), body]);
    big.writeInt32BE(big.length - 1, 1);
    const stream = Buffer.concat([encodeQuery('select 1'), big, SYNC, encodeQuery('select 2')]);
    for (const step of [1000, 65536, 300_000, 1024 * 1024 + 7]) {
      const f = new MessageFramer(1 << 24);
      const seen: Buffer[] = [];
      for (let i = 0; i < stream.length; i += step) {
        const copy = Buffer.from(stream.subarray(i, i + step));
        f.push(copy, (_tag, frame) => seen.push(Buffer.from(frame)));
        copy.fill(0);
        if (i + step < stream.length) assert.ok(f.buffered <= big.length && f.reserved <= big.length);
      }
      assert.deepEqual(Buffer.concat(seen), stream, `step ${step}`);
      assert.equal(f.reserved, 0);
      assert.equal(seen.length, 4);
      assert.equal(f.buffered, 0);
    }
  });
});

describe('MessageFramer reserved bytes', () => {
  it('counts the whole buffer of a large message from its header on, so a claim costs what it allocates', () => {
    const f = new MessageFramer(1 << 24);
    const head = Buffer.alloc(15);
    head[0] = FE.Bind;
    head.writeInt32BE(4 * 1024 * 1024 - 1, 1);
    f.push(head, () => assert.fail('no frame expected'));
    assert.equal(f.buffered, 15);
    assert.equal(f.reserved, 4 * 1024 * 1024);
    f.drainRemainder();
    assert.equal(f.reserved, 0);
  });
  it('counts a small incomplete message by what arrived', () => {
    const f = new MessageFramer(1 << 24);
    f.push(encodeQuery('select 1').subarray(0, 8), () => assert.fail('no frame expected'));
    assert.equal(f.reserved, 8);
  });
});
