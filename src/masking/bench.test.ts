/**
 * A micro-benchmark, not a test of speed: prints ns/row for DataRow rewriting of a 10-column row
 * with 2 masked columns, beside a row whose masked cells are NULL (forwarded as the same Buffer)
 * and content detection on a clean text. Asserts only that the output is still masked.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { maskDataRow } from './data-row.ts';
import { planFor } from './plan.ts';
import { OID } from './pg-types.ts';
import type { MaskPlan } from './types.ts';
import { cellsOf, dataRow, field, KEY, scopeOf } from './test-builders.ts';

const N = 200_000;

function time(label: string, fn: () => unknown): number {
  for (let i = 0; i < 10_000; i++) fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn();
  const ns = Number(process.hrtime.bigint() - t0) / N;
  console.log(`# masking bench: ${label}: ${ns.toFixed(0)} ns/row`);
  return ns;
}

describe('masking micro-benchmark', () => {
  const types = [OID.int4, OID.text, OID.text, OID.varchar, OID.int8, OID.numeric, OID.date, OID.text, OID.bool, OID.timestamptz];
  const fields = types.map((t, i) => field(`c${i}`, t, { tableOid: 100, attnum: i + 1 }));
  const rel = { schema: 'public', name: 'customers', columns: types.map((_, i) => ({ name: i === 1 ? 'email' : i === 3 ? 'ssn' : `c${i}`, attnum: i + 1 })) };
  const cells = ['12345', 'jane.doe@example.com', 'Jane Doe', '123-45-6789', '9876543210', '1234.56', '2024-03-15', 'some free text note', 't', '2024-03-15 10:11:12+00'];

  it('10 columns, 2 masked (email, redact)', () => {
    const scope = scopeOf({ hash_key: KEY, rules: [{ column: 'public.customers.email', with: 'email' }, { column: 'public.customers.ssn', with: 'redact' }] });
    const plan = planFor(scope, fields, undefined, () => rel, undefined, []) as MaskPlan;
    const row = dataRow(cells);
    const masked = cellsOf(maskDataRow(row, plan));
    assert.equal(masked[1]?.toString(), 'j***@example.com');
    assert.equal(masked[3]?.toString(), '****');
    time('10 columns, 2 masked (email, redact)', () => maskDataRow(row, plan));
    const nulls = dataRow(cells.map((c, i) => (i === 1 || i === 3 ? null : c)));
    assert.equal(maskDataRow(nulls, plan), nulls, 'a row with only NULL masked cells is the same Buffer');
    time('10 columns, masked cells NULL (same Buffer)', () => maskDataRow(nulls, plan));
  });

  it('10 columns, 2 hashed', () => {
    const scope = scopeOf({ hash_key: KEY, rules: [{ column: 'public.customers.email', with: 'hash' }, { column: 'public.customers.ssn', with: 'hash' }] });
    const plan = planFor(scope, fields, undefined, () => rel, undefined, []) as MaskPlan;
    const row = dataRow(cells);
    assert.match(String(cellsOf(maskDataRow(row, plan))[1]), /^[0-9a-f]{16}$/);
    time('10 columns, 2 hashed', () => maskDataRow(row, plan));
  });

  it('content detection on 4 text columns of clean text', () => {
    const scope = scopeOf({ detect: {} });
    const plan = planFor(scope, fields, undefined, () => undefined, undefined, []) as MaskPlan;
    const clean = dataRow(cells.map((c, i) => (types[i] === OID.text || types[i] === OID.varchar ? 'nothing personal here' : c)));
    assert.equal(maskDataRow(clean, plan), clean, 'clean text passes as the same Buffer');
    time('content detection, 4 clean text columns', () => maskDataRow(clean, plan));
    const dirty = dataRow(cells);
    assert.ok(!cellsOf(maskDataRow(dirty, plan)).some((c) => c?.toString().includes('jane.doe@example.com')), 'the e-mail address is masked by detection');
    time('content detection, e-mail and SSN found', () => maskDataRow(dirty, plan));
  });
});
