import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildMasker, emailText, partialText, phoneBytes } from './maskers.ts';
import { OID } from './pg-types.ts';
import type { MaskerKind, MaskerOptions } from './schema.ts';
import { KEY } from './test-builders.ts';

const key = Buffer.from(KEY);

function run(kind: MaskerKind, typeOid: number, format: 0 | 1, input: string, options: MaskerOptions = {}, textLike = [OID.text, OID.varchar, OID.bpchar, OID.name, OID.unknown].includes(typeOid as never)): string | null | 'same' {
  const m = buildMasker({ kind, options }, typeOid, format, textLike, key, kind);
  const v = Buffer.from(input, 'utf8');
  const r = m.mask(v);
  if (r === v) return 'same';
  return r === null ? null : r.toString('utf8');
}

const TEXT_TYPES = [
  ['text', OID.text],
  ['varchar', OID.varchar],
  ['bpchar', OID.bpchar],
  ['name', OID.name],
  ['unknown', OID.unknown],
] as const;

describe('maskers on text-like types give the same bytes in text and binary format', () => {
  const cases: [MaskerKind, MaskerOptions, string, string | null][] = [
    ['redact', {}, 'secret', '****'],
    ['redact', { text: '[hidden]' }, 'secret', '[hidden]'],
    ['null', {}, 'secret', null],
    ['partial', { keep_first: 1, keep_last: 4 }, '4111111111111111', '4***********1111'],
    ['partial', { keep_first: 1, keep_last: 4, text: '****' }, '4111111111111111', '4****1111'],
    ['partial', { keep_first: 2, keep_last: 2 }, 'abcd', '****'],
    ['partial', { keep_first: 1 }, 'Zoë Ångström', 'Z***********'],
    ['email', {}, 'jane.doe@example.com', 'j***@example.com'],
    ['email', { keep_domain: false }, 'jane.doe@example.com', 'j***@***'],
    ['email', {}, 'not an address', '***'],
    ['email', {}, 'j@example.com', '***@example.com'],
    ['phone', {}, '+1 (555) 123-4567', '+* (***) ***-**67'],
    ['phone', { keep_last: 4 }, '+1 (555) 123-4567', '+* (***) ***-4567'],
    ['phone', { keep_last: 4 }, '12345', '*****'],
  ];
  for (const [name, oid] of TEXT_TYPES) {
    for (const format of [0, 1] as const) {
      for (const [kind, options, input, expected] of cases) {
        it(`${kind} ${JSON.stringify(options)} on ${name}, ${format === 0 ? 'text' : 'binary'}: ${input}`, () => {
          assert.equal(run(kind, oid, format, input, options), expected);
        });
      }
    }
  }
});

describe('hash', () => {
  it('is deterministic, keyed, 16 hex characters by default', () => {
    const a = run('hash', OID.text, 0, 'jane@example.com');
    assert.match(String(a), /^[0-9a-f]{16}$/);
    assert.equal(run('hash', OID.varchar, 1, 'jane@example.com'), a, 'the same value hashes the same in another type and format, so joins still match');
    assert.notEqual(run('hash', OID.text, 0, 'john@example.com'), a);
    const other = buildMasker({ kind: 'hash', options: {} }, OID.text, 0, true, Buffer.from('another-key-0123456789'), 'hash').mask(Buffer.from('jane@example.com'));
    assert.notEqual(other?.toString(), a, 'another key gives another digest');
  });
  it('ignores bpchar trailing blanks, as bpchar equality does', () => {
    assert.equal(run('hash', OID.bpchar, 0, 'abc   '), run('hash', OID.text, 0, 'abc'));
  });
  it('base64 and length options', () => {
    assert.match(String(run('hash', OID.text, 0, 'x', { encoding: 'base64', length: 10 })), /^[A-Za-z0-9_-]{10}$/);
  });
  it('without a key gives NULL rather than an unkeyed digest', () => {
    assert.equal(buildMasker({ kind: 'hash', options: {} }, OID.text, 0, true, undefined, 'hash').mask(Buffer.from('x')), null);
  });
});

describe('fake', () => {
  it('preserves the format of a text: digits, letters and case', () => {
    const f = String(run('fake', OID.text, 0, 'AB-12 cd@x.io'));
    assert.match(f, /^[A-Z]{2}-\d{2} [a-z]{2}@[a-z]\.[a-z]{2}$/);
    assert.notEqual(f, 'AB-12 cd@x.io');
    assert.equal(run('fake', OID.text, 1, 'AB-12 cd@x.io'), f, 'deterministic, same in binary format');
  });
  it('replaces non-ASCII letters by one ASCII letter each', () => {
    assert.match(String(run('fake', OID.text, 0, 'Zoë')), /^[A-Z][a-z]{2}$/);
  });
  const typed: [string, number, string, RegExp][] = [
    ['int2', OID.int2, '32767', /^1\d{4}$/],
    ['int4', OID.int4, '-2147483648', /^-1\d{9}$/],
    ['int4 short', OID.int4, '42', /^[1-9]\d$/],
    ['int8', OID.int8, '9223372036854775807', /^1\d{18}$/],
    ['numeric', OID.numeric, '-1234.50', /^-[1-9]\d{3}\.\d{2}$/],
    ['float8 with exponent', OID.float8, '1.5e+300', /^\d\.\de\+300$/],
    ['date', OID.date, '1984-07-21', /^(19[3-9]\d|200\d)-(0[1-9]|1[0-2])-(0[1-9]|1\d|2[0-8])$/],
    ['uuid', OID.uuid, '7f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/],
  ];
  for (const [name, oid, input, shape] of typed) {
    it(`gives a valid ${name} literal in text format`, () => {
      const f = run('fake', oid, 0, input, {}, false);
      assert.match(String(f), shape);
      assert.notEqual(f, input);
    });
    // In binary format the same fake, encoded (binary-fake.test.ts); a cell that is not a valid
    // binary value of the type (here its text) is NULL, never passed.
    it(`gives NULL for an invalid ${name} cell in binary format`, () => assert.equal(run('fake', oid, 1, 'x', {}, false), null));
  }
  it('passes NaN and infinity (they reveal nothing)', () => {
    assert.equal(run('fake', OID.numeric, 0, 'NaN', {}, false), 'same');
    assert.equal(run('fake', OID.date, 0, 'infinity', {}, false), 'same');
  });
  it('gives NULL for a date in a non-ISO DateStyle and for types with no fake', () => {
    assert.equal(run('fake', OID.date, 0, '21/07/1984', {}, false), null);
    assert.equal(run('fake', OID.jsonb, 0, '{"a":1}', {}, false), null);
  });
  const noFake: [string, number, string][] = [
    ['bool', OID.bool, 't'],
    ['time', OID.time, '13:14:15'],
    ['timestamp', OID.timestamp, '2021-03-04 05:06:07'],
    ['timestamptz', OID.timestamptz, '2021-03-04 05:06:07+00'],
    ['interval', OID.interval, '1 day'],
  ];
  for (const [name, oid, input] of noFake) {
    for (const format of [0, 1] as const) {
      it(`gives NULL for ${name} in ${format === 0 ? 'text' : 'binary'} format (no fake of that type)`, () => assert.equal(run('fake', oid, format, input, {}, false), null));
    }
  }
});

describe('non-text types', () => {
  const kinds: MaskerKind[] = ['redact', 'null', 'partial', 'email', 'phone', 'hash'];
  const types: [string, number, string][] = [
    ['int4', OID.int4, '123456789'],
    ['numeric', OID.numeric, '12.5'],
    ['date', OID.date, '1984-07-21'],
    ['jsonb', OID.jsonb, '{"ssn":"123-45-6789"}'],
    ['bytea', OID.bytea, '\\x0102'],
  ];
  for (const kind of kinds) {
    for (const [name, oid, input] of types) {
      for (const format of [0, 1] as const) {
        it(`${kind} on ${name} in ${format === 0 ? 'text' : 'binary'} format is NULL`, () => assert.equal(run(kind, oid, format, input, {}, false), null));
      }
    }
  }
});

describe('string helpers', () => {
  it('partial with nothing hidden hides everything', () => assert.equal(partialText('ab', { keep_first: 1, keep_last: 1 }), '**'));
  it('partial of the empty string is empty', () => assert.equal(partialText('', {}), ''));
  it('email keeps the last @ as the domain separator', () => assert.equal(emailText('"a@b"@example.com', {}), '"***@example.com'));
  it('phone with no digits is unchanged', () => {
    const v = Buffer.from('n/a');
    assert.equal(phoneBytes(v, {}), v);
  });
});
