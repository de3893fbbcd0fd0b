import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { binaryCellText, dateBinary, dateText, numericBinary, numericText } from './binary-fake.ts';
import { floatText } from './float-text.ts';
import { buildMasker } from './maskers.ts';
import { OID } from './pg-types.ts';
import { KEY } from './test-builders.ts';

// The exact comparison with the server's send functions is test/e2e/masking-binary.test.ts; the
// expectations below are what PostgreSQL 15 prints and sends for these values.

const key = Buffer.from(KEY);
const hex = (h: string) => Buffer.from(h.replace(/ /g, ''), 'hex');
const f8 = (x: number) => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(x);
  return b;
};
const f4 = (x: number) => {
  const b = Buffer.alloc(4);
  b.writeFloatBE(x);
  return b;
};

describe('float text is what float4out / float8out print (extra_float_digits >= 1)', () => {
  const cases: [number, boolean, string][] = [
    [0.1, false, '0.1'],
    [1e15, false, '1e+15'],
    [1e14, false, '100000000000000'],
    [1e-5, false, '1e-05'],
    [1e-4, false, '0.0001'],
    [1.5e300, false, '1.5e+300'],
    [-0, false, '-0'],
    [0, false, '0'],
    [NaN, false, 'NaN'],
    [-Infinity, false, '-Infinity'],
    [5e-324, false, '5e-324'],
    [123456789012345678, false, '1.2345678901234568e+17'],
    // The shortest form that reads back needs the interval's upper end here; Ryu as built into
    // PostgreSQL excludes the ends, so it prints 17 digits where JavaScript prints 16.
    [-3.8461179467802317e17, false, '-3.8461179467802317e+17'],
    [Math.fround(0.1), true, '0.1'],
    [1e6, true, '1e+06'],
    [123456, true, '123456'],
    [Math.fround(3.14159), true, '3.14159'],
    [16777216, true, '1.6777216e+07'],
    [Math.fround(3.4028235e38), true, '3.4028235e+38'],
    [Math.fround(1.4e-45), true, '1e-45'],
    // A tie between two 8-digit forms: the even one.
    [-131356.375, true, '-131356.38'],
  ];
  for (const [x, single, text] of cases) it(`${single ? 'float4' : 'float8'} ${x} → ${text}`, () => assert.equal(floatText(x, single), text));
});

describe('numeric text and binary (numeric_out, numeric_in + numeric_send)', () => {
  const cases: [string, string][] = [
    ['-1234.50', '0002 0000 4000 0002 04d2 1388'],
    ['0', '0000 0000 0000 0000'],
    ['0.00', '0000 0000 0000 0002'],
    ['10000', '0001 0001 0000 0000 0001'],
    ['0.0001', '0001 ffff 0000 0004 0001'],
    ['12345678.9012345', '0004 0001 0000 0007 04d2 162e 2334 0d7a'],
  ];
  for (const [text, bin] of cases) {
    it(`${text}`, () => {
      assert.deepEqual(numericBinary(text), hex(bin));
      assert.equal(numericText(hex(bin)), text);
    });
  }
  it('a negative zero is stored as zero, as make_result stores it', () => assert.deepEqual(numericBinary('-0.0'), hex('0000 0000 0000 0001')));
  it('NaN and infinities', () => {
    assert.equal(numericText(hex('0000 0000 c000 0000')), 'NaN');
    assert.equal(numericText(hex('0000 0000 d000 0000')), 'Infinity');
    assert.equal(numericText(hex('0000 0000 f000 0000')), '-Infinity');
  });
  it('a malformed cell is not read', () => {
    assert.equal(numericText(hex('0002 0000 4000 0002 04d2')), null, 'fewer digits than ndigits says');
    assert.equal(numericText(hex('0001 0000 0000 0000 2710')), null, 'a digit of 10000');
    assert.equal(numericText(hex('0000 0000 1234 0000')), null, 'an unknown sign');
  });
});

describe('date text and binary (DateStyle ISO)', () => {
  const cases: [string, string][] = [
    ['2000-01-01', '00000000'],
    ['1984-07-21', 'ffffe9f6'],
    ['0001-01-01', 'fff4dbf9'],
    ['0044-03-15 BC', 'fff49d7b'],
    ['9999-12-31', '002c95d3'],
  ];
  for (const [text, bin] of cases) {
    it(text, () => {
      assert.deepEqual(dateBinary(text), hex(bin));
      assert.equal(dateText(hex(bin)), text);
    });
  }
  it('infinities', () => {
    assert.equal(dateText(hex('7fffffff')), 'infinity');
    assert.equal(dateText(hex('80000000')), '-infinity');
  });
  it('an impossible day is not encoded', () => assert.equal(dateBinary('2001-02-29'), null));
});

describe('fake in binary format is the text-format fake, encoded', () => {
  const text = (oid: number, v: string) => buildMasker({ kind: 'fake', options: {} }, oid, 0, false, key, 'fake').mask(Buffer.from(v, 'latin1'));
  const binary = (oid: number, cell: Buffer) => buildMasker({ kind: 'fake', options: {} }, oid, 1, false, key, 'fake').mask(cell);
  const cases: [string, number, string, Buffer][] = [
    ['int2', OID.int2, '32767', hex('7fff')],
    ['int2 negative', OID.int2, '-7', hex('fff9')],
    ['int4', OID.int4, '-2147483648', hex('80000000')],
    ['int4 short', OID.int4, '42', hex('0000002a')],
    ['int8', OID.int8, '9223372036854775807', hex('7fffffffffffffff')],
    ['numeric', OID.numeric, '-1234.50', hex('0002 0000 4000 0002 04d2 1388')],
    ['float4', OID.float4, '3.14159', f4(3.14159)],
    ['float8', OID.float8, '1.5e+300', f8(1.5e300)],
    ['float8 small', OID.float8, '-0.0072973525', f8(-0.0072973525)],
    ['date', OID.date, '1984-07-21', hex('ffffe9f6')],
    ['uuid', OID.uuid, '7f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', hex('7f1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d')],
  ];
  for (const [name, oid, clear, cell] of cases) {
    it(name, () => {
      assert.equal(binaryCellText(oid, cell), clear, 'the cell reads as the server prints it');
      const t = text(oid, clear);
      const b = binary(oid, cell);
      assert.ok(t !== null && b !== null);
      assert.notDeepEqual(b, cell, 'the clear cell does not pass');
      const back = binaryCellText(oid, b)!;
      // A float fake prints in its own shortest form (`2.0` is read back as `2`): compare values.
      if (oid === OID.float4) assert.equal(Math.fround(Number(back)), Math.fround(Number(t.toString())));
      else if (oid === OID.float8) assert.equal(Number(back), Number(t.toString()));
      else assert.equal(back, t.toString());
      assert.deepEqual(binary(oid, Buffer.from(cell)), b, 'deterministic');
    });
  }
  it('passes NaN and infinity unchanged, as the text format does', () => {
    const nan = hex('0000 0000 c000 0000');
    assert.equal(binary(OID.numeric, nan), nan);
    const inf = hex('7fffffff');
    assert.equal(binary(OID.date, inf), inf);
    const f = f8(Infinity);
    assert.equal(binary(OID.float8, f), f);
  });
  it('gives NULL for a cell of the wrong length, a year the text fake refuses, and types without a binary fake', () => {
    assert.equal(binary(OID.int4, hex('0001')), null);
    assert.equal(binary(OID.uuid, hex('00')), null);
    assert.equal(binary(OID.date, dateBinary('12000-01-01')!), null, 'five-digit years have no text fake either');
    assert.equal(text(OID.date, '12000-01-01'), null);
    for (const oid of [OID.bool, OID.time, OID.timestamp, OID.timestamptz, OID.interval, OID.jsonb, OID.bytea, OID.oid]) {
      assert.equal(binary(oid, hex('0000000000000001')), null, `type ${oid}`);
    }
  });
  it('gives NULL in both formats for a float whose fake is past the type\'s range', () => {
    for (const [oid, clear, cell] of [[OID.float4, '3.3e+38', f4(3.3e38)], [OID.float8, '1e+308', f8(1e308)]] as const) {
      assert.equal(binaryCellText(oid, cell), clear);
      assert.equal(text(oid, clear), null, `${clear}: text format`);
      assert.equal(binary(oid, cell), null, `${clear}: binary format`);
    }
  });
  it('without a key gives NULL', () => {
    assert.equal(buildMasker({ kind: 'fake', options: {} }, OID.int4, 1, false, undefined, 'fake').mask(hex('0000002a')), null);
  });
});
