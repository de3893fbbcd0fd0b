import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { carrierOf, contentMasker } from './detect-encodings.ts';
import { OID } from './pg-types.ts';
import { DETECT_KINDS, type DetectKind } from './schema.ts';
import type { DetectScope } from './types.ts';

const ALL = new Set<DetectKind>(DETECT_KINDS);
const REDACT: DetectScope = { kinds: ALL, spec: { kind: 'redact', options: {} } };
const NULLS: DetectScope = { kinds: ALL, spec: { kind: 'null', options: {} } };

const EMAIL = 'jane.doe@example.com';
const CARD = '4111 1111 1111 1111';
const IP = '192.168.10.20';
const IBAN = 'GB82 WEST 1234 5698 7654 32';
const STATUS = `shipped; contact ${EMAIL}, card ${CARD}, from ${IP}, refund to ${IBAN}`;
const SECRETS = [EMAIL, CARD, IP, IBAN];

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const hex = (s: string | Buffer) => Buffer.from(s).toString('hex');
/** encode(…, 'base64') breaks lines every 76 characters. */
const pgBase64 = (s: string) => b64(s).replace(/(.{76})/g, '$1\n');
/** bytea's escape output format. */
const escapeFormat = (s: string) => [...Buffer.from(s)].map((b) => (b === 0x5c ? '\\\\' : b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\${b.toString(8).padStart(3, '0')}`)).join('');

/** Every form a secret could be read back from: clear, hex, base64 (each of the secrets). */
function assertNoSecret(out: Buffer | null, what: string): void {
  if (out === null) return;
  const forms = [out.toString('latin1'), out.toString('utf8')];
  for (const s of SECRETS) {
    for (const f of forms) {
      assert.ok(!f.includes(s), `${what}: ${s} in clear`);
      assert.ok(!f.toLowerCase().includes(hex(s)), `${what}: ${s} as hex`);
      assert.ok(!f.replace(/\n/g, '').includes(b64(s).slice(4, -4)), `${what}: ${s} as base64`);
    }
  }
}

function mask(d: DetectScope, type: number, format: 0 | 1, value: Buffer | string, textLike = false): Buffer | null {
  const m = contentMasker(d, undefined, type, format, textLike);
  assert.ok(m, 'a masker for this type');
  return m.mask(Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8'));
}

describe('content detection reads every output encoding', () => {
  const textCases: [string, string][] = [
    ['plain text', STATUS],
    ['bytea cast to text (\\x hex)', `\\x${hex(STATUS)}`],
    ["encode(…, 'hex')", hex(STATUS)],
    ["encode(…, 'base64') with line breaks", pgBase64(STATUS)],
    ['base64 after a prefix that shifts its alignment', `abc${b64(STATUS)}`],
    ['base64 of the hex', b64(hex(STATUS))],
    ['hex of the base64', hex(b64(STATUS))],
    ['url-safe base64', b64(STATUS).replace(/\+/g, '-').replace(/\//g, '_')],
    ['percent-encoded', encodeURIComponent(STATUS)],
    ['\\u escapes', STATUS.replace(/[@.]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`)],
    ['bytea escape format as text', escapeFormat(`${STATUS}\u00e9`)],
  ];
  for (const [what, value] of textCases) {
    it(`text: ${what}`, () => {
      for (const format of [0, 1] as const) {
        const out = mask(REDACT, OID.text, format, value, true);
        assert.notEqual(out?.toString('utf8'), value, 'changed');
        assertNoSecret(out, what);
      }
    });
  }

  it('text: clean values pass as the same Buffer, words and ids included', () => {
    for (const v of ['nothing personal here', 'internationalisation of the catalogue', 'order 1234 shipped', 'deadbeef', 'Q29uZ3JhdHVsYXRpb25z']) {
      const b = Buffer.from(v);
      assert.equal(contentMasker(REDACT, undefined, OID.text, 0, true)!.mask(b), b, v);
    }
  });

  it('text: findings in clear keep the rest of the text', () => {
    assert.equal(mask(REDACT, OID.text, 0, `mail ${EMAIL} now`, true)?.toString(), 'mail **** now');
    assert.equal(mask(REDACT, OID.text, 0, `b64 ${b64(EMAIL)} end`, true)?.toString(), 'b64 **** end');
  });

  it('bytea, text format hex: the result is valid bytea hex with the findings masked', () => {
    const out = mask(REDACT, OID.bytea, 0, `\\x${hex(STATUS)}`);
    assert.match(out!.toString(), /^\\x([0-9a-f]{2})*$/);
    const decoded = Buffer.from(out!.toString().slice(2), 'hex').toString();
    assert.ok(decoded.startsWith('shipped; contact ****'), decoded);
    assertNoSecret(out, 'bytea hex');
    assertNoSecret(Buffer.from(decoded), 'bytea hex decoded');
  });

  it('bytea, text format escape: masked and still in escape format', () => {
    const value = escapeFormat(`${STATUS}\u00e9\\`);
    const out = mask(REDACT, OID.bytea, 0, value);
    assert.ok(out!.toString().startsWith('shipped; contact ****'), out!.toString());
    assert.match(out!.toString(), /\\303\\251\\\\$/);
    assertNoSecret(out, 'bytea escape');
  });

  it('bytea, binary format: the raw bytes are masked; binary content around them is kept', () => {
    const raw = Buffer.concat([Buffer.from([0, 1, 0xff]), Buffer.from(STATUS)]);
    const out = mask(REDACT, OID.bytea, 1, raw);
    assert.deepEqual([...out!.subarray(0, 3)], [0, 1, 0xff]);
    assertNoSecret(out, 'bytea binary');
    const nested = mask(REDACT, OID.bytea, 1, Buffer.from(b64(STATUS)));
    assertNoSecret(nested, 'bytea holding base64');
  });

  it('bytea: clean values pass as the same Buffer', () => {
    const v = Buffer.from(`\\x${hex('just a note')}`);
    assert.equal(contentMasker(REDACT, undefined, OID.bytea, 0, false)!.mask(v), v);
  });

  it('json: strings masked in place, numbers replaced by strings, the result still parses', () => {
    const doc = JSON.stringify({ status: STATUS, card: 4111111111111111, nested: [{ ip: IP }], b: b64(EMAIL) });
    for (const type of [OID.json, OID.jsonb]) {
      const out = mask(REDACT, type, 0, doc);
      const parsed = JSON.parse(out!.toString());
      assert.equal(parsed.card, '****');
      assert.ok(String(parsed.status).startsWith('shipped; contact ****'));
      assertNoSecret(out, 'json');
      assertNoSecret(Buffer.from(JSON.stringify(parsed)), 'json parsed');
    }
  });

  it('json: to_json of a text (a JSON string) and \\u escapes', () => {
    const out = mask(REDACT, OID.json, 0, JSON.stringify(STATUS));
    assert.equal(typeof JSON.parse(out!.toString()), 'string');
    assertNoSecret(out, 'to_json');
    const escaped = `"${EMAIL.replace('@', '\\u0040')}"`;
    const out2 = mask(REDACT, OID.json, 0, escaped);
    assert.equal(JSON.parse(out2!.toString()), '****');
  });

  it('jsonb, binary format: the version byte is kept, the text after it masked', () => {
    const v = Buffer.concat([Buffer.from([1]), Buffer.from(JSON.stringify({ s: STATUS }))]);
    const out = mask(REDACT, OID.jsonb, 1, v);
    assert.equal(out![0], 1);
    JSON.parse(out!.subarray(1).toString());
    assertNoSecret(out, 'jsonb binary');
    assert.equal(mask(REDACT, OID.jsonb, 1, Buffer.concat([Buffer.from([9]), Buffer.from(JSON.stringify(STATUS))])), null, 'unknown jsonb version: withheld');
  });

  it('arrays, records, xml and user types: NULL when they hold a finding, unchanged otherwise', () => {
    const TEXT_ARRAY = 1009;
    const RECORD = 2249;
    const binaryArray = Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 25, 0, 0, 0, 1, 0, 0, 0, 1]), Buffer.from([0, 0, 0, STATUS.length]), Buffer.from(STATUS)]);
    const cases: [string, number, 0 | 1, Buffer | string][] = [
      ['text[] text format', TEXT_ARRAY, 0, `{"${STATUS}",b}`],
      ['text[] binary format', TEXT_ARRAY, 1, binaryArray],
      ['bytea[] text format', 1001, 0, `{"\\\\x${hex(STATUS)}"}`],
      ['record', RECORD, 0, `(1,"${STATUS}")`],
      ['xml', OID.xml, 0, `<s>${STATUS}</s>`],
      ['enum or domain of another OID', 16_500, 0, EMAIL],
      ['inet text', 869, 0, IP],
      ['inet binary', 869, 1, Buffer.from([2, 32, 0, 4, 192, 168, 10, 20])],
    ];
    for (const [what, type, format, value] of cases) assert.equal(mask(REDACT, type, format, value), null, what);
    const clean = Buffer.from('{a,b,c}');
    assert.equal(contentMasker(REDACT, undefined, TEXT_ARRAY, 0, false)!.mask(clean), clean);
  });

  it('types that cannot carry text are not scanned', () => {
    for (const t of [OID.int8, OID.numeric, OID.date, OID.timestamptz, OID.bool, OID.uuid, 1016]) {
      assert.equal(carrierOf(t, false), 'none');
      assert.equal(contentMasker(REDACT, undefined, t, 0, false), undefined);
    }
  });

  it('the null masker makes any value holding a finding NULL, in every encoding', () => {
    assert.equal(mask(NULLS, OID.text, 0, b64(STATUS), true), null);
    assert.equal(mask(NULLS, OID.bytea, 0, `\\x${hex(STATUS)}`), null);
    assert.equal(mask(NULLS, OID.json, 0, JSON.stringify(STATUS)), null);
  });
});
