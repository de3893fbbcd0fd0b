/**
 * What a prepared statement promised: the parts of a RowDescription PostgreSQL compares when it
 * analyses a statement again, and a Parse carrying the types the statement was first given.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BE, encodeParse, FE, Reader, Writer, type FieldDescription } from '../protocol/index.ts';
import { RESULT_TYPE_CHANGED, resultShape, withParamTypes } from './result-shape.ts';

function rowDescription(cols: Partial<FieldDescription>[]): Buffer {
  const w = new Writer().message(BE.RowDescription).int16(cols.length);
  for (const c of cols) {
    w.cstring(c.name ?? 'a').uint32(c.tableOid ?? 16384).int16(c.attnum ?? 1).uint32(c.typeOid ?? 23).int16(c.typeSize ?? 4).int32(c.typeMod ?? -1).int16(c.format ?? 0);
  }
  return w.end();
}

function parameterDescription(types: number[]): Buffer {
  const w = new Writer().message(BE.ParameterDescription).int16(types.length);
  for (const t of types) w.uint32(t);
  return w.end();
}

describe('resultShape: what PostgreSQL compares of a statement result', () => {
  const base: Partial<FieldDescription>[] = [{ name: 'id', typeOid: 23 }, { name: 'note', typeOid: 25 }];
  const same: [string, Partial<FieldDescription>[]][] = [
    ['the table made again (another table OID)', [{ name: 'id', typeOid: 23, tableOid: 99999 }, { name: 'note', typeOid: 25, tableOid: 99999 }]],
    ['the columns at other positions in their table', [{ name: 'id', typeOid: 23, attnum: 3 }, { name: 'note', typeOid: 25, attnum: 1 }]],
    ['a portal asking for binary results', [{ name: 'id', typeOid: 23, format: 1 }, { name: 'note', typeOid: 25, format: 1 }]],
  ];
  for (const [what, cols] of same) {
    it(`the same result: ${what}`, () => assert.equal(resultShape(rowDescription(cols)), resultShape(rowDescription(base))));
  }
  const other: [string, Partial<FieldDescription>[]][] = [
    ['a column added', [...base, { name: 'extra', typeOid: 23 }]],
    ['a column dropped', [base[0]]],
    ['a column renamed', [{ name: 'id', typeOid: 23 }, { name: 'remark', typeOid: 25 }]],
    ['a column of another type', [{ name: 'id', typeOid: 20, typeSize: 8 }, { name: 'note', typeOid: 25 }]],
    ['an array where there was a scalar', [{ name: 'id', typeOid: 1007, typeSize: -1 }, { name: 'note', typeOid: 25 }]],
    ['another typmod (varchar(10) → varchar(20))', [{ name: 'id', typeOid: 23 }, { name: 'note', typeOid: 25, typeMod: 24 }]],
    ['the columns in another order', [base[1], base[0]]],
  ];
  for (const [what, cols] of other) {
    it(`another result: ${what}`, () => assert.notEqual(resultShape(rowDescription(cols)), resultShape(rowDescription(base))));
  }
  it('a malformed RowDescription is refused', () => {
    assert.throws(() => resultShape(rowDescription(base).subarray(0, 12)));
  });
});

describe('withParamTypes: the Parse with the types the statement was first given', () => {
  const cases: [string, number[], number[]][] = [
    ['types left to the server', [], [23, 25]],
    ['some declared, the rest inferred', [23], [23, 1043]],
    ['all declared', [23, 25], [23, 25]],
    ['no parameters', [], []],
  ];
  for (const [what, declared, described] of cases) {
    it(what, () => {
      const out = withParamTypes(encodeParse('pgw_abc', 'select $1, $2', declared), parameterDescription(described));
      assert.deepEqual(out, encodeParse('pgw_abc', 'select $1, $2', described));
      assert.equal(out.readInt32BE(1), out.length - 1);
    });
  }
  it('the unnamed statement', () => {
    assert.deepEqual(withParamTypes(encodeParse('', 'select $1'), parameterDescription([21])), encodeParse('', 'select $1', [21]));
  });
  it('refuses what is not a Parse', () => {
    assert.throws(() => withParamTypes(Buffer.from([FE.Sync, 0, 0, 0, 4]), parameterDescription([])), /not a Parse/);
  });
});

describe("RESULT_TYPE_CHANGED: PostgreSQL's own error", () => {
  it('carries the SQLSTATE, message and routine clients look at', () => {
    const r = new Reader(RESULT_TYPE_CHANGED, 5);
    const fields = new Map<string, string>();
    for (let t = r.byte(); t !== 0; t = r.byte()) fields.set(String.fromCharCode(t), r.cstring());
    assert.equal(RESULT_TYPE_CHANGED[0], BE.ErrorResponse);
    assert.equal(RESULT_TYPE_CHANGED.readInt32BE(1), RESULT_TYPE_CHANGED.length - 1);
    assert.equal(fields.get('C'), '0A000');
    assert.equal(fields.get('M'), 'cached plan must not change result type');
    assert.equal(fields.get('R'), 'RevalidateCachedQuery');
    assert.equal(fields.get('S'), 'ERROR');
  });
});
