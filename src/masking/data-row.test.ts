import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ByteGather, ProtocolError } from '../protocol/index.ts';
import { directGrowth, maskDataRow, maskDataRowDirect } from './data-row.ts';
import { buildMasker, constantMasker, nullMasker } from './maskers.ts';
import { OID } from './pg-types.ts';
import type { CellMasker, MaskerSpec, MaskPlan } from './types.ts';
import { cellsOf, dataRow } from './test-builders.ts';
import { numericBinary, numericText } from './binary-fake.ts';

function plan(columns: (CellMasker | null)[]): MaskPlan {
  return { columns, any: columns.some((c) => c !== null), described: [], notes: [] };
}

const upper: CellMasker = { label: 'upper', mask: (v) => Buffer.from(v.toString().toUpperCase()) };
const same: CellMasker = { label: 'same', mask: (v) => v };
const longer: CellMasker = { label: 'longer', mask: (v) => Buffer.from(`<<${v.toString()}>>`) };

describe('maskDataRow', () => {
  const cases: { name: string; cells: (string | null)[]; plan: (CellMasker | null)[]; want: (string | null)[] }[] = [
    { name: 'masks the middle cell, longer', cells: ['1', 'jane@x.io', 'ok'], plan: [null, longer, null], want: ['1', '<<jane@x.io>>', 'ok'] },
    { name: 'masks to a shorter value', cells: ['1', 'a long secret value', 'ok'], plan: [null, constantMasker('r', '*'), null], want: ['1', '*', 'ok'] },
    { name: 'masks to NULL', cells: ['1', 'secret', 'ok'], plan: [null, nullMasker('n'), null], want: ['1', null, 'ok'] },
    { name: 'masks the first and last cells', cells: ['a', 'b', 'c'], plan: [upper, null, upper], want: ['A', 'b', 'C'] },
    { name: 'keeps a NULL cell NULL', cells: ['1', null, 'x'], plan: [null, constantMasker('r', '****'), upper], want: ['1', null, 'X'] },
    { name: 'masks an empty string', cells: ['', 'x'], plan: [constantMasker('r', '****'), null], want: ['****', 'x'] },
    { name: 'keeps untouched multi-byte cells byte-identical', cells: ['Zoë', 'ñ', '日本'], plan: [null, longer, null], want: ['Zoë', '<<ñ>>', '日本'] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const frame = dataRow(c.cells);
      const before = Buffer.from(frame);
      const out = maskDataRow(frame, plan(c.plan));
      assert.notEqual(out, frame, 'a changed row is a new frame');
      assert.deepEqual(frame, before, 'the input frame is not modified');
      const got = cellsOf(out);
      assert.deepEqual(got.map((b) => (b === null ? null : b.toString('utf8'))), c.want);
      const orig = cellsOf(frame);
      c.plan.forEach((m, i) => {
        if (m === null) assert.deepEqual(got[i], orig[i], `untouched cell ${i} is byte-identical`);
      });
    });
  }

  it('returns the SAME Buffer when the plan masks nothing', () => {
    const frame = dataRow(['1', 'x']);
    assert.equal(maskDataRow(frame, plan([null, null])), frame);
  });
  it('returns the SAME Buffer when every masked cell is NULL or unchanged', () => {
    const frame = dataRow(['1', null, 'x']);
    assert.equal(maskDataRow(frame, plan([null, upper, same])), frame);
  });
  it('rewrites binary cells as bytes', () => {
    const frame = dataRow([Buffer.from([0, 0, 0, 7]), 'secret']);
    const out = cellsOf(maskDataRow(frame, plan([null, constantMasker('r', 'xx')])));
    assert.deepEqual(out[0], Buffer.from([0, 0, 0, 7]));
    assert.equal(out[1]?.toString(), 'xx');
  });
  it('handles a row of 1000 columns with a few masked', () => {
    const cells = Array.from({ length: 1000 }, (_, i) => `v${i}`);
    const masks = cells.map((_, i) => (i % 250 === 7 ? upper : null));
    const out = cellsOf(maskDataRow(dataRow(cells), plan(masks)));
    assert.equal(out[7]?.toString(), 'V7');
    assert.equal(out[999]?.toString(), 'v999');
  });

  const broken: [string, Buffer, number][] = [
    ['a column count that differs from the plan', dataRow(['a', 'b']), 3],
    ['a cell length past the end', (() => { const f = dataRow(['abc']); f.writeInt32BE(99, 7); return f; })(), 1],
    ['a negative cell length other than -1', (() => { const f = dataRow(['abc']); f.writeInt32BE(-2, 7); return f; })(), 1],
    ['trailing bytes', Buffer.concat([dataRow(['abc']), Buffer.from([1])]), 1],
    ['a truncated header', Buffer.from([0x44, 0, 0, 0, 4]), 1],
  ];
  for (const [name, frame, n] of broken) {
    it(`refuses ${name} with a ProtocolError`, () => {
      assert.throws(() => maskDataRow(frame, plan(Array.from({ length: n }, () => upper))), ProtocolError);
    });
  }
});

describe('maskDataRowDirect writes the bytes maskDataRow returns', () => {
  const email = (options: Record<string, unknown> = {}) => buildMasker({ kind: 'email', options } as MaskerSpec, OID.text, 0, true, undefined, 'email');
  const maskers: [string, CellMasker][] = [
    ['email', email()],
    ['email keep_first 3', email({ keep_first: 3 })],
    ['email, domain hidden, own text', email({ keep_domain: false, text: '[hidden]' })],
    ['redact', constantMasker('r', '****')],
    ['redact, multi-byte text', constantMasker('r', '‹masqué›')],
    ['null', nullMasker('n')],
  ];
  const values: (string | null)[] = ['jane.doe@example.com', 'a@b', '@example.com', 'jane@', 'no address', '', null, 'zoë.ñandú@exämple.org', 'x@y@z.io', 'j@@x', 'a'.repeat(300) + '@example.com'];
  for (const [name, m] of maskers) {
    it(`with ${name}`, () => {
      for (const v of values) {
        for (const shape of [[v], ['1', v, 'tail'], [v, null, v]]) {
          const frame = dataRow(shape);
          const p = plan(shape.map((_, i) => (i === 1 && shape.length === 3 && shape[2] === 'tail' ? m : i % 2 === 0 || shape.length === 1 ? m : null)));
          const want = maskDataRow(frame, p);
          const growth = directGrowth(p);
          assert.notEqual(growth, null);
          const g = new ByteGather();
          g.push(Buffer.from('before'));
          maskDataRowDirect(Buffer.concat([Buffer.from('xx'), frame, Buffer.from('yy')]), 2, 2 + frame.length, p, growth!, g);
          g.push(Buffer.from('after'));
          const got = Buffer.concat(g.take());
          assert.deepEqual(got, Buffer.concat([Buffer.from('before'), want, Buffer.from('after')]), `${name} of ${JSON.stringify(shape)}`);
        }
      }
    });
  }

  it('is not used for a masker that can only return buffers', () => {
    assert.equal(directGrowth(plan([null, upper])), null);
    assert.equal(directGrowth(plan([null, constantMasker('r', '**'), nullMasker('n')])), 2);
  });

  it('refuses a malformed row as maskDataRow does', () => {
    const p = plan([constantMasker('r', '*'), null]);
    const frame = dataRow(['a', 'b']);
    frame.writeInt16BE(3, 5);
    assert.throws(() => maskDataRowDirect(frame, 0, frame.length, p, 1, new ByteGather()), ProtocolError);
    const short = dataRow(['a', 'b']);
    short.writeInt32BE(99, 7);
    assert.throws(() => maskDataRowDirect(short, 0, short.length, p, 1, new ByteGather()), ProtocolError);
  });
});

describe('binary cells whose fake has another length', () => {
  it('rewrites the cell and message lengths around a binary numeric fake', () => {
    const key = Buffer.from('test-mask-key-0123456789abcdef');
    const fakeText = buildMasker({ kind: 'fake', options: {} }, OID.numeric, 0, false, key, 'fake');
    const fakeBinary = buildMasker({ kind: 'fake', options: {} }, OID.numeric, 1, false, key, 'fake');
    const id = Buffer.from('00000007', 'hex');
    // 10000 is one base-10000 digit (0001, weight 1); its fake has five digits, two groups.
    const clear = numericBinary('10000')!;
    const frame = dataRow([id, clear, Buffer.from('tail')]);
    const out = maskDataRow(frame, plan([null, fakeBinary, null]));
    assert.equal(out.readInt32BE(1), out.length - 1, 'the message length counts the new cell');
    const cells = cellsOf(out);
    assert.deepEqual(cells[0], id);
    assert.equal(cells[2]?.toString(), 'tail');
    assert.notEqual(cells[1]!.length, clear.length, 'the cell changed length');
    assert.equal(numericText(cells[1]!), fakeText.mask(Buffer.from('10000'))!.toString(), 'the binary fake is the text fake');
  });
});
