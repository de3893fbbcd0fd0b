/**
 * Decoders against the encoders, both directions, and the malformed input a hostile client may
 * send: every decoder MUST refuse a truncated or padded frame with ProtocolError, and MUST check
 * a count against the bytes that could hold it before allocating for it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AUTH, BE, CANCEL_REQUEST_CODE, FE, GSSENC_REQUEST_CODE, PROTOCOL_3_0, SSL_REQUEST_CODE } from './constants.ts';
import {
  AUTH_CLEARTEXT,
  AUTH_OK,
  type FieldMap,
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
  encodeNegotiateProtocolVersion,
  encodeNoticeResponse,
  encodeParameterStatus,
  encodeReadyForQuery,
} from './backend.ts';
import {
  FLUSH,
  SYNC,
  TERMINATE,
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
  encodeSASLInitialResponse,
  encodeSSLRequest,
  encodeStartup,
} from './frontend.ts';
import { ProtocolError, Reader } from './reader.ts';
import { Writer } from './writer.ts';

/** Assert `fn` throws a ProtocolError whose message matches `re`. */
function refuses(fn: () => unknown, re: RegExp, what = ''): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ProtocolError, `${what}: expected ProtocolError, got ${String(e)}`);
    assert.match(e.message, re, what);
    return true;
  });
}

/** A copy of a tagged frame with its length field patched to the new size. */
function withLength(frame: Buffer): Buffer {
  const out = Buffer.from(frame);
  if (out.length >= 5) out.writeInt32BE(out.length - 1, 1);
  return out;
}

/** Every proper prefix (from the end of the header) and the frame with one trailing byte. */
function damaged(frame: Buffer, headerSize: number): { name: string; frame: Buffer }[] {
  const out = [];
  for (let n = headerSize; n < frame.length; n++) out.push({ name: `cut to ${n} bytes`, frame: withLength(frame.subarray(0, n)) });
  out.push({ name: 'one trailing byte', frame: withLength(Buffer.concat([frame, Buffer.from([0x41])])) });
  return out;
}

/** Untagged packets carry their length at 0, not 1. */
function untaggedWithLength(packet: Buffer): Buffer {
  const out = Buffer.from(packet);
  if (out.length >= 4) out.writeInt32BE(out.length, 0);
  return out;
}

describe('decodeStartupPacket', () => {
  it('decodes an SSLRequest and a GSSENCRequest', () => {
    assert.deepEqual(decodeStartupPacket(encodeSSLRequest()), { kind: 'ssl' });
    assert.deepEqual(decodeStartupPacket(new Writer().untagged().int32(GSSENC_REQUEST_CODE).end()), { kind: 'gssenc' });
  });

  // [secret length, accepted?]: 3.0 keys are 4 bytes; 3.2 allows up to 256.
  const keys: [number, boolean][] = [
    [4, true],
    [32, true],
    [256, true],
    [0, false],
    [3, false],
    [257, false],
  ];
  for (const [len, ok] of keys) {
    it(`${ok ? 'decodes' : 'refuses'} a CancelRequest with a ${len}-byte key`, () => {
      const secret = Buffer.alloc(len, 0xa5);
      const packet = encodeCancelRequest(-123456, secret);
      if (!ok) return refuses(() => decodeStartupPacket(packet), /cancel key length/);
      const p = decodeStartupPacket(packet);
      assert.deepEqual(p, { kind: 'cancel', pid: -123456, secret });
      packet.fill(0, 12);
      assert.ok(p.kind === 'cancel' && p.secret.equals(Buffer.alloc(len, 0xa5)), 'the key is copied out of the packet');
    });
  }

  it('refuses a CancelRequest without a process id', () => {
    refuses(() => decodeStartupPacket(new Writer().untagged().int32(CANCEL_REQUEST_CODE).int16(1).end()), /too short/);
  });

  it('decodes a StartupMessage with its parameters, in order, including UTF-8 and empty values', () => {
    const params = { user: 'agent@example.com', database: 'app', application_name: 'psql ✓', options: '-c search_path=public', client_encoding: '' };
    const p = decodeStartupPacket(encodeStartup(params));
    assert.equal(p.kind, 'startup');
    if (p.kind !== 'startup') return;
    assert.equal(p.major, 3);
    assert.equal(p.minor, 0);
    assert.deepEqual([...p.params], Object.entries(params));
  });

  it('reports the minor version a 3.x client asks for', () => {
    const packet = new Writer().untagged().int32(PROTOCOL_3_0 | 2).cstring('user').cstring('u').byte(0).end();
    const p = decodeStartupPacket(packet);
    assert.ok(p.kind === 'startup' && p.major === 3 && p.minor === 2);
  });

  const startup = (code: number, ...kv: string[]) => {
    const w = new Writer().untagged().int32(code);
    for (const s of kv) w.cstring(s);
    return w;
  };
  // [verdict, packet, error]
  const malformed: [string, Buffer, RegExp][] = [
    ['a duplicate parameter is refused', startup(PROTOCOL_3_0, 'user', 'a', 'user', 'b').byte(0).end(), /duplicate startup parameter "user"/],
    ['a packet without user is refused', startup(PROTOCOL_3_0, 'database', 'app').byte(0).end(), /no PostgreSQL user name/],
    ['an empty parameter list is refused', startup(PROTOCOL_3_0).byte(0).end(), /no PostgreSQL user name/],
    ['protocol 2.0 is refused', startup(2 << 16, 'user', 'u').byte(0).end(), /unsupported frontend protocol 2\.0/],
    ['protocol 4.0 is refused', startup(4 << 16, 'user', 'u').byte(0).end(), /unsupported frontend protocol 4\.0/],
    ['an unknown request code is refused', startup(SSL_REQUEST_CODE + 10, 'user', 'u').byte(0).end(), /unsupported frontend protocol 1234\./],
    ['a missing list terminator is refused', startup(PROTOCOL_3_0, 'user', 'u').end(), /unterminated string/],
    ['a key without a value is refused', startup(PROTOCOL_3_0, 'user', 'u', 'database').end(), /unterminated string/],
    ['bytes after the terminator are refused', startup(PROTOCOL_3_0, 'user', 'u').byte(0).byte(0x41).end(), /trailing bytes/],
    ['a packet with no version is refused', new Writer().untagged().end(), /too short/],
  ];
  for (const [verdict, packet, re] of malformed) it(verdict, () => refuses(() => decodeStartupPacket(packet), re));

  it('refuses every truncation of a valid StartupMessage', () => {
    const packet = encodeStartup({ user: 'u', database: 'd' });
    for (let n = 4; n < packet.length; n++) refuses(() => decodeStartupPacket(untaggedWithLength(packet.subarray(0, n))), /./, `cut to ${n}`);
  });
});

describe('frontend messages round-trip through their encoders', () => {
  const parses: [string, string, number[]][] = [
    ['', 'SELECT 1', []],
    ['s1', 'SELECT $1::int, $2::text', [23, 25]],
    ['stmt with spaces ✓', 'SELECT $1 -- ünïcödé', [0]],
    ['big oids', 'SELECT $1, $2', [0xffffffff, 0x80000000]],
    ['many', 'SELECT 1', Array.from({ length: 500 }, (_, i) => i)],
  ];
  for (const [name, text, paramTypes] of parses) {
    it(`Parse "${name}" with ${paramTypes.length} parameter types`, () => {
      const frame = encodeParse(name, text, paramTypes);
      assert.equal(frame[0], FE.Parse);
      assert.deepEqual(decodeParse(frame), { name, text, paramTypes });
      for (const d of damaged(frame, 5)) refuses(() => decodeParse(d.frame), /./, d.name);
    });
  }

  const queries = ['SELECT 1', '', 'SELECT \'ünïcödé ✓\'', 'x'.repeat(70_000)];
  for (const text of queries) {
    it(`Query of ${text.length} characters`, () => {
      const frame = encodeQuery(text);
      assert.equal(decodeQuery(frame), text);
      if (text.length < 100) for (const d of damaged(frame, 5)) refuses(() => decodeQuery(d.frame), /./, d.name);
    });
  }

  const binds: [string, string, (Buffer | string | null)[], number[]][] = [
    ['', '', [], []],
    ['p1', 's1', ['42', null, Buffer.from([0, 0xff, 0, 1]), ''], [0, 1]],
    ['', 'only nulls', [null, null, null], [1]],
    ['', 'big value', [Buffer.alloc(20_000, 7)], []],
  ];
  for (const [portal, statement, params, resultFormats] of binds) {
    it(`Bind "${statement}" with ${params.length} parameters`, () => {
      const frame = encodeBind(portal, statement, params, resultFormats);
      const b = decodeBind(frame);
      assert.equal(b.portal, portal);
      assert.equal(b.statement, statement);
      assert.deepEqual(b.paramFormats, []);
      assert.deepEqual(
        b.params,
        params.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)),
      );
      assert.deepEqual(b.resultFormats, resultFormats);
      for (const p of b.params) if (p) assert.equal(p.buffer, frame.buffer, 'parameter values are views into the frame');
      if (frame.length < 1000) for (const d of damaged(frame, 5)) refuses(() => decodeBind(d.frame), /./, d.name);
    });
  }

  it('Bind with binary and text parameter formats (built by hand: encodeBind sends text only)', () => {
    const frame = new Writer()
      .message(FE.Bind)
      .cstring('portal')
      .cstring('stmt')
      .int16(2).int16(1).int16(0)
      .int16(3).int32(4).int32(42).int32(-1).int32(2).bytes(Buffer.from('hi'))
      .int16(1).int16(1)
      .end();
    assert.deepEqual(decodeBind(frame), {
      portal: 'portal',
      statement: 'stmt',
      paramFormats: [1, 0],
      params: [Buffer.from([0, 0, 0, 42]), null, Buffer.from('hi')],
      resultFormats: [1],
    });
    for (const d of damaged(frame, 5)) refuses(() => decodeBind(d.frame), /./, d.name);
  });

  it('Bind with more than 32767 parameters, which PostgreSQL accepts (its counts are unsigned)', () => {
    // libpq allows 65535 parameters and PostgreSQL reads the count with pq_getmsgint(…, 2), unsigned.
    const n = 40_000;
    const w = new Writer(8 + 4 * n).message(FE.Bind).cstring('').cstring('').int16(0);
    w.int16(n - 0x10000); // the same two bytes as the unsigned 40000
    for (let i = 0; i < n; i++) w.int32(-1);
    const frame = w.int16(0).end();
    const b = decodeBind(frame);
    assert.equal(b.params.length, n);
    assert.ok(b.params.every((p) => p === null));
  });

  const targets: ['S' | 'P', string][] = [
    ['S', ''],
    ['S', 's1'],
    ['P', ''],
    ['P', 'portal ✓'],
  ];
  for (const [target, name] of targets) {
    it(`Describe and Close of ${target} "${name}"`, () => {
      const describe = encodeDescribe(target, name);
      assert.deepEqual(decodeTarget(describe, 'Describe'), { target, name });
      const close = Buffer.from(describe);
      close[0] = FE.Close;
      assert.deepEqual(decodeTarget(close, 'Close'), { target, name });
      for (const d of damaged(describe, 5)) refuses(() => decodeTarget(d.frame, 'Describe'), /./, d.name);
    });
  }

  it('refuses a Describe of anything but a statement or a portal, naming the message', () => {
    refuses(() => decodeTarget(new Writer().message(FE.Close).byte(0x58).cstring('x').end(), 'Close'), /invalid Close target 'X'/);
    refuses(() => decodeTarget(new Writer().message(FE.Describe).byte(0x73).cstring('x').end(), 'Describe'), /invalid Describe target 's'/);
  });

  const executes: [string, number][] = [
    ['', 0],
    ['p1', 100],
    ['p', 0x7fffffff],
  ];
  for (const [portal, maxRows] of executes) {
    it(`Execute "${portal}" of at most ${maxRows} rows`, () => {
      const frame = encodeExecute(portal, maxRows);
      assert.deepEqual(decodeExecute(frame), { portal, maxRows });
      for (const d of damaged(frame, 5)) refuses(() => decodeExecute(d.frame), /./, d.name);
    });
  }

  const passwords = ['secret', '', 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2ln', 'pässwörd ✓'];
  for (const pw of passwords) {
    it(`PasswordMessage of ${pw.length} characters`, () => {
      const frame = encodePassword(pw);
      assert.equal(decodePassword(frame), pw);
      for (const d of damaged(frame, 5)) refuses(() => decodePassword(d.frame), /./, d.name);
    });
  }

  it('a SASLInitialResponse is not mistaken for a cleartext password', () => {
    refuses(() => decodePassword(encodeSASLInitialResponse('SCRAM-SHA-256', Buffer.from('n,,n=,r=abc'))), /trailing bytes in PasswordMessage/);
  });

  it('Sync, Flush and Terminate are five-byte frames of their tag', () => {
    assert.deepEqual(SYNC, Buffer.from('S\0\0\0\x04', 'latin1'));
    assert.deepEqual(FLUSH, Buffer.from('H\0\0\0\x04', 'latin1'));
    assert.deepEqual(TERMINATE, Buffer.from('X\0\0\0\x04', 'latin1'));
  });
});

describe('frontend decoders check counts before allocating', () => {
  const bind = (build: (w: Writer) => Writer) => build(new Writer().message(FE.Bind).cstring('').cstring('')).end();
  // [verdict, decode, error]
  const cases: [string, () => unknown, RegExp][] = [
    ['a Bind claiming 30000 parameters in a 20-byte body', () => decodeBind(bind((w) => w.int16(0).int16(30000).int32(-1).int32(-1).int32(-1).int16(0))), /bad parameter count 30000/],
    ['a Bind claiming 65535 parameters with none', () => decodeBind(bind((w) => w.int16(0).int16(-1))), /bad parameter count 65535/],
    ['a Bind claiming 30000 parameter formats', () => decodeBind(bind((w) => w.int16(30000).int16(0).int16(0))), /bad parameter format count 30000/],
    ['a Bind claiming 30000 result formats', () => decodeBind(bind((w) => w.int16(0).int16(0).int16(30000).int16(0))), /bad result format count 30000/],
    ['a Bind parameter longer than the message', () => decodeBind(bind((w) => w.int16(0).int16(1).int32(1000).bytes(Buffer.alloc(10)).int16(0))), /too short for 1000 bytes/],
    ['a Bind parameter of length -2', () => decodeBind(bind((w) => w.int16(0).int16(1).int32(-2).int16(0))), /invalid parameter length -2/],
    ['a Bind parameter of length -2147483648', () => decodeBind(bind((w) => w.int16(0).int16(1).int32(-0x80000000).int16(0))), /invalid parameter length/],
    ['a Parse claiming 30000 parameter types', () => decodeParse(new Writer().message(FE.Parse).cstring('').cstring('SELECT 1').int16(30000).uint32(23).end()), /bad parameter type count 30000/],
    ['a Parse claiming 2 types with room for 1', () => decodeParse(new Writer().message(FE.Parse).cstring('').cstring('SELECT 1').int16(2).uint32(23).int16(0).end()), /bad parameter type count 2/],
    ['a RowDescription claiming 30000 fields', () => decodeRowDescription(new Writer().message(BE.RowDescription).int16(30000).cstring('a').bytes(Buffer.alloc(18)).end()), /bad field count 30000/],
  ];
  for (const [verdict, decode, re] of cases) it(`${verdict} is refused`, () => refuses(decode, re));
});

// ---- Backend ------------------------------------------------------------------------------------

interface Col {
  name: string;
  tableOid: number;
  attnum: number;
  typeOid: number;
  typeSize: number;
  typeMod: number;
  format: number;
}

function rowDescription(cols: Col[]): Buffer {
  const w = new Writer().message(BE.RowDescription).int16(cols.length);
  for (const c of cols) w.cstring(c.name).uint32(c.tableOid).int16(c.attnum).uint32(c.typeOid).int16(c.typeSize).int32(c.typeMod).int16(c.format);
  return w.end();
}

describe('backend messages', () => {
  const descriptions: [string, Col[]][] = [
    ['no columns (a statement without a result)', []],
    [
      'table columns, an expression and a high OID',
      [
        { name: 'id', tableOid: 16384, attnum: 1, typeOid: 23, typeSize: 4, typeMod: -1, format: 0 },
        { name: 'ssn', tableOid: 16384, attnum: 3, typeOid: 1043, typeSize: -1, typeMod: 15, format: 1 },
        { name: '?column?', tableOid: 0, attnum: 0, typeOid: 0xfffffff0, typeSize: -2, typeMod: -1, format: 0 },
        { name: '', tableOid: 0x80000000, attnum: -1, typeOid: 25, typeSize: -1, typeMod: -1, format: 0 },
      ],
    ],
  ];
  for (const [what, cols] of descriptions) {
    it(`decodeRowDescription: ${what}`, () => {
      const frame = rowDescription(cols);
      assert.deepEqual(decodeRowDescription(frame), cols);
      for (const d of damaged(frame, 5)) refuses(() => decodeRowDescription(d.frame), /./, d.name);
    });
  }

  const fieldMaps: [string, number, FieldMap][] = [
    ['a server ErrorResponse with every common field', BE.ErrorResponse, { S: 'ERROR', V: 'ERROR', C: '42501', M: 'permission denied for table customers', D: 'detail ✓', H: 'hint', P: '15', s: 'public', t: 'customers', c: 'ssn', F: 'aclchk.c', L: '2843', R: 'aclcheck_error' }],
    ['a NoticeResponse', BE.NoticeResponse, { S: 'NOTICE', V: 'NOTICE', C: '00000', M: 'table "t" does not exist, skipping' }],
    ['an empty field map', BE.ErrorResponse, {}],
  ];
  for (const [what, tag, fields] of fieldMaps) {
    it(`decodeFields/encodeFieldMap round-trip ${what}, in field order`, () => {
      const frame = encodeFieldMap(tag, fields);
      assert.equal(frame[0], tag);
      const decoded = decodeFields(frame);
      assert.deepEqual(decoded, fields);
      assert.deepEqual(Object.keys(decoded), Object.keys(fields));
      assert.deepEqual(encodeFieldMap(tag, decoded), frame, 're-encoding a decoded frame gives the same bytes');
    });
  }

  it('decodeFields refuses a field list without its terminator', () => {
    const frame = encodeFieldMap(BE.ErrorResponse, { S: 'ERROR', M: 'x' });
    refuses(() => decodeFields(withLength(frame.subarray(0, frame.length - 1))), /too short/);
    refuses(() => decodeFields(withLength(frame.subarray(0, frame.length - 2))), /unterminated/);
  });

  // [verdict, encoded, expected fields, tag]
  const errors: [string, Buffer, FieldMap, number][] = [
    [
      'an ErrorResponse carries severity (both forms), SQLSTATE and message',
      encodeErrorResponse({ severity: 'FATAL', code: '28000', message: 'token expired' }),
      { S: 'FATAL', V: 'FATAL', C: '28000', M: 'token expired' },
      BE.ErrorResponse,
    ],
    [
      'an ErrorResponse carries detail, hint and position when given',
      encodeErrorResponse({ severity: 'ERROR', code: '42501', message: 'analyst may not read column public.customers.ssn', detail: 'policy p1', hint: 'ask', position: 8 }),
      { S: 'ERROR', V: 'ERROR', C: '42501', M: 'analyst may not read column public.customers.ssn', D: 'policy p1', H: 'ask', P: '8' },
      BE.ErrorResponse,
    ],
    [
      'a NoticeResponse uses the notice tag',
      encodeNoticeResponse({ severity: 'WARNING', code: '01000', message: 'masked 1 column' }),
      { S: 'WARNING', V: 'WARNING', C: '01000', M: 'masked 1 column' },
      BE.NoticeResponse,
    ],
  ];
  for (const [verdict, frame, fields, tag] of errors) {
    it(verdict, () => {
      assert.equal(frame[0], tag);
      assert.equal(frame.readInt32BE(1), frame.length - 1);
      assert.deepEqual(decodeFields(frame), fields);
    });
  }

  for (const status of ['I', 'T', 'E'] as const) {
    it(`decodeReadyForQuery reads status '${status}'`, () => {
      const frame = encodeReadyForQuery(status);
      assert.deepEqual(frame, Buffer.from(`Z\0\0\0\x05${status}`, 'latin1'));
      assert.equal(decodeReadyForQuery(frame), status);
    });
  }

  const badReady: [string, Buffer, RegExp][] = [
    ["status 'X'", Buffer.from('Z\0\0\0\x05X', 'latin1'), /invalid transaction status 'X'/],
    ['status NUL', Buffer.from('Z\0\0\0\x05\0', 'latin1'), /invalid transaction status/],
    ["lowercase 'i'", Buffer.from('Z\0\0\0\x05i', 'latin1'), /invalid transaction status 'i'/],
    ['no status', Buffer.from('Z\0\0\0\x04', 'latin1'), /invalid ReadyForQuery length/],
    ['two status bytes', Buffer.from('Z\0\0\0\x06II', 'latin1'), /invalid ReadyForQuery length/],
  ];
  for (const [what, frame, re] of badReady) it(`decodeReadyForQuery refuses ${what}`, () => refuses(() => decodeReadyForQuery(frame), re));

  const sasl = (...mechanisms: string[]) => {
    const w = new Writer().untagged();
    for (const m of mechanisms) w.cstring(m);
    return w.byte(0).end().subarray(4);
  };
  // [verdict, frame, expected]
  const auths: [string, Buffer, object][] = [
    ['AuthenticationOk', AUTH_OK, { code: AUTH.Ok }],
    ['cleartext password', AUTH_CLEARTEXT, { code: AUTH.CleartextPassword }],
    ['md5 with its 4-byte salt', encodeAuthentication(AUTH.MD5Password, Buffer.from([1, 2, 0, 0xff])), { code: AUTH.MD5Password, salt: Buffer.from([1, 2, 0, 0xff]) }],
    ['SASL with both SCRAM mechanisms, in order', encodeAuthentication(AUTH.SASL, sasl('SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256')), { code: AUTH.SASL, mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'] }],
    ['SASL with no mechanism', encodeAuthentication(AUTH.SASL, sasl()), { code: AUTH.SASL, mechanisms: [] }],
    ['SASLContinue with its data', encodeAuthentication(AUTH.SASLContinue, Buffer.from('r=abc,s=c2FsdA==,i=4096')), { code: AUTH.SASLContinue, data: Buffer.from('r=abc,s=c2FsdA==,i=4096') }],
    ['SASLFinal with its data', encodeAuthentication(AUTH.SASLFinal, Buffer.from('v=xyz')), { code: AUTH.SASLFinal, data: Buffer.from('v=xyz') }],
    ['GSS as a bare code the caller refuses', encodeAuthentication(AUTH.GSS), { code: AUTH.GSS }],
  ];
  for (const [verdict, frame, expected] of auths) it(`decodeAuthentication: ${verdict}`, () => assert.deepEqual(decodeAuthentication(frame), expected));

  const badAuths: [string, Buffer, RegExp][] = [
    ['an md5 request with a 3-byte salt', encodeAuthentication(AUTH.MD5Password, Buffer.from([1, 2, 3])), /too short/],
    ['a SASL list without its terminator', encodeAuthentication(AUTH.SASL, Buffer.from('SCRAM-SHA-256\0')), /unterminated/],
    ['a SASL mechanism without its NUL', encodeAuthentication(AUTH.SASL, Buffer.from('SCRAM-SHA-256')), /unterminated/],
    ['a request without a code', new Writer().message(BE.Authentication).int16(0).end(), /too short/],
  ];
  for (const [verdict, frame, re] of badAuths) it(`decodeAuthentication refuses ${verdict}`, () => refuses(() => decodeAuthentication(frame), re));

  it('decodeAuthentication copies salt and SASL data out of the frame', () => {
    const md5 = encodeAuthentication(AUTH.MD5Password, Buffer.from([9, 9, 9, 9]));
    const a = decodeAuthentication(md5);
    md5.fill(0, 9);
    assert.ok('salt' in a);
    assert.deepEqual(a.salt, Buffer.from([9, 9, 9, 9]));
  });

  it('ParameterStatus, BackendKeyData and CommandComplete round-trip', () => {
    assert.deepEqual(decodeParameterStatus(encodeParameterStatus('TimeZone', 'Europe/Berlin')), { name: 'TimeZone', value: 'Europe/Berlin' });
    assert.deepEqual(decodeParameterStatus(encodeParameterStatus('application_name', '')), { name: 'application_name', value: '' });
    const secret = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
    assert.deepEqual(decodeBackendKeyData(encodeBackendKeyData(0x7fffffff, secret)), { pid: 0x7fffffff, secret });
    const longKey = Buffer.alloc(32, 3);
    assert.deepEqual(decodeBackendKeyData(encodeBackendKeyData(1, longKey)), { pid: 1, secret: longKey });
    for (const tag of ['SELECT 5', 'INSERT 0 1', 'COPY 3', '']) assert.equal(decodeCommandComplete(encodeCommandComplete(tag)), tag);
    refuses(() => decodeParameterStatus(withLength(encodeParameterStatus('a', 'b').subarray(0, 8))), /unterminated/);
  });

  it('NegotiateProtocolVersion names the newest minor version and the unrecognised options', () => {
    const frame = encodeNegotiateProtocolVersion(0, ['_pq_.compression', '_pq_.x']);
    assert.equal(frame[0], BE.NegotiateProtocolVersion);
    assert.equal(frame.readInt32BE(1), frame.length - 1);
    assert.equal(frame.readInt32BE(5), PROTOCOL_3_0);
    assert.equal(frame.readInt32BE(9), 2);
    assert.equal(frame.subarray(13).toString('latin1'), '_pq_.compression\0_pq_.x\0');
  });
});

describe('Reader stays inside its window', () => {
  // Bytes past `end` belong to the next message and MUST NOT be read.
  const buf = Buffer.from('abc\0def\0');
  const cases: [string, (r: Reader) => unknown, RegExp][] = [
    ['a string whose NUL lies past the end', (r) => r.cstring(), /unterminated string/],
    ['bytes past the end', (r) => r.bytes(4), /too short for 4 bytes/],
    ['a negative byte count', (r) => r.bytes(-1), /too short/],
    ['an Int32 across the end', (r) => (r.bytes(1), r.int32()), /too short for an Int32/],
  ];
  for (const [what, read, re] of cases) it(`refuses ${what}`, () => refuses(() => read(new Reader(buf, 0, 3)), re));

  it('reads up to the end and reports trailing bytes', () => {
    const r = new Reader(buf, 4);
    assert.equal(r.cstring(), 'def');
    r.done('x');
    const s = new Reader(buf, 0, 5);
    assert.equal(s.cstring(), 'abc');
    refuses(() => s.done('Query'), /1 trailing bytes in Query/);
  });
});
