/**
 * A small, seeded round-trip fuzz. Valid frames are mutated at random (bytes flipped, NULs and
 * counts planted, bytes inserted, deleted, cut or appended) and fed to the decoders. Each decoder
 * MUST either decode or throw ProtocolError: any other exception (a RangeError from a Buffer read,
 * a TypeError) would escape the gateway's error conversion and is a bug. What does decode MUST
 * survive a round trip through the matching encoder. The framer and scanner get mutated streams
 * and MUST deliver only whole, self-consistent frames, or throw ProtocolError.
 *
 * Every run is bounded and seeded, so a failure names a seed and iteration that replay exactly.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AUTH, BE, FE, PROTOCOL_3_0 } from './constants.ts';
import {
  decodeAuthentication,
  decodeBackendKeyData,
  decodeCommandComplete,
  decodeFields,
  decodeParameterStatus,
  decodeReadyForQuery,
  decodeRowDescription,
  encodeAuthentication,
  encodeBackendKeyData,
  encodeCommandComplete,
  encodeErrorResponse,
  encodeFieldMap,
  encodeParameterStatus,
  encodeReadyForQuery,
} from './backend.ts';
import { MessageFramer } from './framer.ts';
import {
  SYNC,
  decodeBind,
  decodeExecute,
  decodeParse,
  decodePassword,
  decodeQuery,
  decodeStartupPacket,
  decodeTarget,
  encodeBind,
  encodeCancelRequest,
  encodeDescribe,
  encodeExecute,
  encodeParse,
  encodePassword,
  encodeQuery,
  encodeSSLRequest,
  encodeStartup,
} from './frontend.ts';
import { ProtocolError } from './reader.ts';
import { StreamScanner } from './scanner.ts';
import { Writer } from './writer.ts';
import { prng } from './test-random.ts';

/** mulberry32: a tiny seeded PRNG, so a failing run can be replayed from its seed. */
const ITERATIONS = 4000;

/** One to four random mutations of `input`; the length field is re-patched half of the time. */
function mutate(input: Buffer, rnd: (n: number) => number, lengthAt: number | null): Buffer {
  let b = Buffer.from(input);
  const ops = 1 + rnd(4);
  for (let k = 0; k < ops; k++) {
    const at = b.length === 0 ? 0 : rnd(b.length);
    switch (rnd(9)) {
      case 0:
        if (b.length) b[at] = rnd(256);
        break;
      case 1:
        if (b.length) b[at] = 0; // plant a string terminator
        break;
      case 2:
        if (b.length) b[at] = 0xff; // negative lengths and counts
        break;
      case 3:
        b = Buffer.concat([b.subarray(0, at), Buffer.from([rnd(256)]), b.subarray(at)]);
        break;
      case 4:
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
        break;
      case 5:
        b = b.subarray(0, rnd(b.length + 1));
        break;
      case 6:
        b = Buffer.concat([b, Buffer.from(Array.from({ length: 1 + rnd(8) }, () => rnd(256)))]);
        break;
      case 7:
        if (at + 2 <= b.length) b.writeUInt16BE([0, 1, 2, 0x7fff, 0x8000, 0xffff, rnd(0x10000)][rnd(7)], at); // a count
        break;
      case 8: {
        const end = at + rnd(16);
        b = Buffer.concat([b.subarray(0, end), b.subarray(at, end), b.subarray(end)]); // repeat a slice
        break;
      }
    }
  }
  if (lengthAt !== null && b.length >= lengthAt + 4 && rnd(2) === 0) b.writeInt32BE(b.length - lengthAt, lengthAt);
  return Buffer.from(b);
}

/** Run `decode` on `ITERATIONS` mutations of the seeds; it decodes (then `roundTrip` holds) or throws ProtocolError. */
function fuzz<T>(seed: number, seeds: Buffer[], lengthAt: number | null, decode: (b: Buffer) => T, roundTrip?: (value: T) => void): void {
  const rnd = prng(seed);
  let decoded = 0;
  let refused = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const input = mutate(seeds[rnd(seeds.length)], rnd, lengthAt);
    let value: T;
    try {
      value = decode(input);
    } catch (err) {
      if (err instanceof ProtocolError) {
        refused++;
        continue;
      }
      assert.fail(`seed ${seed}, iteration ${i}: ${String(err)} on ${input.toString('hex')}`);
    }
    decoded++;
    try {
      roundTrip?.(value);
    } catch (err) {
      assert.fail(`seed ${seed}, iteration ${i}: round trip of ${input.toString('hex')} failed: ${String(err)}`);
    }
  }
  // A fuzz whose inputs all fail (or all pass) checks nothing interesting; both paths must run.
  assert.ok(refused > 0 && decoded > 0, `seed ${seed}: ${decoded} mutations decoded, ${refused} refused`);
}

const clientBind = new Writer()
  .message(FE.Bind)
  .cstring('p')
  .cstring('s')
  .int16(2).int16(1).int16(0)
  .int16(2).int32(4).int32(7).int32(-1)
  .int16(1).int16(1)
  .end();

describe('frontend decoders under random mutation decode or throw ProtocolError, and what decodes round-trips', { timeout: 60_000 }, () => {
  it('decodeStartupPacket', () => {
    const seeds = [
      encodeStartup({ user: 'agent', database: 'app', options: '-c x=1' }),
      encodeStartup({ user: 'u' }),
      encodeSSLRequest(),
      encodeCancelRequest(77, Buffer.from([1, 2, 3, 4])),
      new Writer().untagged().int32(PROTOCOL_3_0 | 2).cstring('user').cstring('u').byte(0).end(),
    ];
    fuzz(0xf00d, seeds, 0, decodeStartupPacket, (p) => {
      if (p.kind === 'startup') {
        const again = decodeStartupPacket(encodeStartup(Object.fromEntries(p.params)));
        assert.ok(again.kind === 'startup');
        assert.deepEqual([...again.params], [...p.params]);
      } else if (p.kind === 'cancel') {
        assert.deepEqual(decodeStartupPacket(encodeCancelRequest(p.pid, p.secret)), p);
      }
    });
  });

  it('decodeParse', () => {
    const seeds = [encodeParse('s1', 'SELECT $1, $2', [23, 25]), encodeParse('', 'SELECT 1'), encodeParse('x', 'ünïcödé ✓', [0, 0, 0])];
    fuzz(0xa1, seeds, 1, decodeParse, (m) => assert.deepEqual(decodeParse(encodeParse(m.name, m.text, m.paramTypes)), m));
  });

  it('decodeQuery', () => {
    fuzz(0xa2, [encodeQuery('SELECT 1'), encodeQuery(''), encodeQuery('SELECT \'✓\'')], 1, decodeQuery, (t) => assert.equal(decodeQuery(encodeQuery(t)), t));
  });

  it('decodeBind', () => {
    const seeds = [encodeBind('', '', ['42', null, Buffer.from([0, 1, 2])], [0, 1]), encodeBind('p', 's', []), clientBind];
    fuzz(0xa3, seeds, 1, decodeBind, (m) => {
      // encodeBind sends text formats only; the rest of the message must survive.
      const again = decodeBind(encodeBind(m.portal, m.statement, m.params, m.resultFormats));
      assert.deepEqual({ ...again, paramFormats: m.paramFormats }, m);
    });
  });

  it('decodeTarget (Describe and Close)', () => {
    const close = Buffer.from(encodeDescribe('P', 'portal'));
    close[0] = FE.Close;
    const seeds = [encodeDescribe('S', 's1'), encodeDescribe('P', ''), close];
    fuzz(0xa4, seeds, 1, (b) => decodeTarget(b, 'Describe'), (t) => assert.deepEqual(decodeTarget(encodeDescribe(t.target, t.name), 'Describe'), t));
  });

  it('decodeExecute', () => {
    fuzz(0xa5, [encodeExecute('', 0), encodeExecute('p1', 100)], 1, decodeExecute, (m) => assert.deepEqual(decodeExecute(encodeExecute(m.portal, m.maxRows)), m));
  });

  it('decodePassword', () => {
    fuzz(0xa6, [encodePassword('eyJhbGciOiJFUzI1NiJ9.e30.c2ln'), encodePassword('')], 1, decodePassword, (pw) => assert.equal(decodePassword(encodePassword(pw)), pw));
  });
});

describe('backend decoders under random mutation decode or throw ProtocolError', { timeout: 60_000 }, () => {
  const sasl = Buffer.from('SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0');
  const rowDescription = new Writer().message(BE.RowDescription).int16(2).cstring('id').uint32(16384).int16(1).uint32(23).int16(4).int32(-1).int16(0).cstring('ssn').uint32(16384).int16(3).uint32(25).int16(-1).int32(-1).int16(0).end();
  // [decoder, seeds, seed]
  const cases: [string, (b: Buffer) => unknown, Buffer[], number][] = [
    ['decodeAuthentication', decodeAuthentication, [encodeAuthentication(AUTH.SASL, sasl), encodeAuthentication(AUTH.MD5Password, Buffer.from([1, 2, 3, 4])), encodeAuthentication(AUTH.SASLContinue, Buffer.from('r=a,s=b,i=4096'))], 0xb1],
    ['decodeFields', decodeFields, [encodeErrorResponse({ severity: 'ERROR', code: '42501', message: 'denied', detail: 'd', position: 3 }), encodeFieldMap(BE.NoticeResponse, { S: 'NOTICE', M: 'm' })], 0xb2],
    ['decodeRowDescription', decodeRowDescription, [rowDescription], 0xb3],
    ['decodeReadyForQuery', decodeReadyForQuery, [encodeReadyForQuery('I'), encodeReadyForQuery('T'), encodeReadyForQuery('E')], 0xb4],
    ['decodeParameterStatus', decodeParameterStatus, [encodeParameterStatus('TimeZone', 'UTC')], 0xb5],
    ['decodeBackendKeyData', decodeBackendKeyData, [encodeBackendKeyData(42, Buffer.from([1, 2, 3, 4]))], 0xb6],
    ['decodeCommandComplete', decodeCommandComplete, [encodeCommandComplete('SELECT 1')], 0xb7],
  ];
  for (const [name, decode, seeds, seed] of cases) it(name, () => void fuzz(seed, seeds, 1, decode));
});

// ---- Framing of mutated streams -------------------------------------------------------------------

const CLIENT_STREAM = Buffer.concat([
  encodeQuery('SELECT 1'),
  encodeParse('', 'SELECT $1', [23]),
  encodeBind('', '', ['1']),
  encodeDescribe('P', ''),
  encodeExecute('', 0),
  SYNC,
  encodePassword('token'),
]);
const SERVER_STREAM = Buffer.concat([
  rowDescriptionOf('a'),
  dataRow('x'),
  dataRow('yy'),
  encodeCommandComplete('SELECT 2'),
  encodeReadyForQuery('I'),
  encodeErrorResponse({ severity: 'ERROR', code: '42P01', message: 'no such table' }),
  encodeReadyForQuery('I'),
]);

function rowDescriptionOf(name: string): Buffer {
  return new Writer().message(BE.RowDescription).int16(1).cstring(name).uint32(0).int16(0).uint32(25).int16(-1).int32(-1).int16(0).end();
}

function dataRow(v: string): Buffer {
  return new Writer().message(BE.DataRow).int16(1).int32(Buffer.byteLength(v)).bytes(Buffer.from(v)).end();
}

function chunks(b: Buffer, rnd: (n: number) => number): Buffer[] {
  const out: Buffer[] = [];
  for (let pos = 0; pos < b.length; ) {
    const n = Math.min(b.length - pos, 1 + rnd(rnd(2) ? 6 : 40));
    out.push(Buffer.from(b.subarray(pos, pos + n)));
    pos += n;
  }
  return out;
}

/** The frontend decoder for a tag, as the engine would pick it. */
const clientDecoders: Record<number, (f: Buffer) => unknown> = {
  [FE.Query]: decodeQuery,
  [FE.Parse]: decodeParse,
  [FE.Bind]: decodeBind,
  [FE.Describe]: (f) => decodeTarget(f, 'Describe'),
  [FE.Close]: (f) => decodeTarget(f, 'Close'),
  [FE.Execute]: decodeExecute,
  [FE.Password]: decodePassword,
};

describe('framing of mutated streams', { timeout: 60_000 }, () => {
  it('MessageFramer delivers only whole, self-consistent frames of the input, which decode or throw ProtocolError', () => {
    const rnd = prng(0xc1);
    let refused = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const input = mutate(CLIENT_STREAM, rnd, null);
      const framer = new MessageFramer(256);
      framer.capTag(FE.Password, 32);
      const frames: Buffer[] = [];
      try {
        for (const c of chunks(input, rnd)) {
          framer.push(c, (tag, frame) => {
            assert.equal(tag, frame[0]);
            assert.equal(frame.readInt32BE(1) + 1, frame.length, `iteration ${i}: frame length`);
            assert.ok(frame.length <= (tag === FE.Password ? 32 : 256), `iteration ${i}: cap`);
            frames.push(Buffer.from(frame));
            try {
              clientDecoders[tag]?.(frame);
            } catch (err) {
              if (!(err instanceof ProtocolError)) throw err;
            }
          });
          c.fill(0xee);
        }
        const all = Buffer.concat(frames);
        assert.deepEqual(Buffer.concat([all, framer.drainRemainder() ?? Buffer.alloc(0)]), input, `iteration ${i}: frames + remainder`);
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        refused++;
        const all = Buffer.concat(frames);
        assert.deepEqual(all, input.subarray(0, all.length), `iteration ${i}: frames before the error are a prefix`);
      }
    }
    assert.ok(refused > 0);
  });

  it('StreamScanner emits a prefix of the input, all of it at a boundary, interesting frames whole, or throws ProtocolError', () => {
    const rnd = prng(0xc2);
    let refused = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const input = mutate(SERVER_STREAM, rnd, null);
      const scanner = new StreamScanner(256);
      scanner.interesting[BE.ReadyForQuery] = 1;
      scanner.interesting[BE.ErrorResponse] = 1;
      scanner.interesting[BE.RowDescription] = 1;
      const out: Buffer[] = [];
      const sink = {
        pass: (b: Buffer) => void out.push(Buffer.from(b)),
        message: (tag: number, frame: Buffer) => {
          assert.equal(frame.readInt32BE(1) + 1, frame.length, `iteration ${i}: frame length`);
          assert.ok(frame.length <= 256);
          out.push(Buffer.from(frame));
          if (tag === BE.RowDescription) scanner.interesting[BE.DataRow] = 1;
          try {
            if (tag === BE.ReadyForQuery) decodeReadyForQuery(frame);
            else if (tag === BE.ErrorResponse) decodeFields(frame);
            else if (tag === BE.RowDescription) decodeRowDescription(frame);
          } catch (err) {
            if (!(err instanceof ProtocolError)) throw err;
          }
        },
      };
      try {
        for (const c of chunks(input, rnd)) {
          scanner.push(c, sink);
          c.fill(0xee);
        }
        // What is not emitted yet is a carried partial header or interesting message.
        const all = Buffer.concat(out);
        assert.deepEqual(all, input.subarray(0, all.length), `iteration ${i}: emission is a prefix`);
        assert.ok(input.length - all.length < 256, `iteration ${i}: carry within the cap`);
        if (scanner.atBoundary) assert.equal(all.length, input.length, `iteration ${i}: at a boundary, everything is emitted`);
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        refused++;
        const all = Buffer.concat(out);
        assert.deepEqual(all, input.subarray(0, all.length), `iteration ${i}: emission before the error is a prefix`);
      }
    }
    assert.ok(refused > 0);
  });
});
