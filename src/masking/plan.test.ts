import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { analyse, loadParser } from '../sql/index.ts';
import { testCatalog } from '../sql/fixture.ts';
import { planFor, planForCopy, refusalFor, type RelationInfo } from './plan.ts';
import { OID } from './pg-types.ts';
import { dateText } from './binary-fake.ts';
import type { MaskPlan, MaskingScope, PlanRefusal } from './types.ts';
import { field, identity, KEY, out, scopeOf } from './test-builders.ts';

const RULES = {
  hash_key: KEY,
  rules: [
    { column: 'public.customers.email', with: 'email' as const, except: { groups: ['support'] } },
    { column: '*.*.ssn', with: 'redact' as const },
    { column: 'public.customers.phone', with: 'phone' as const, only: { groups: ['analysts'] } },
    { column: 'public.customers.birth_date', with: 'fake' as const },
  ],
};

const CUSTOMERS: RelationInfo = {
  schema: 'public',
  name: 'customers',
  columns: [
    { name: 'id', attnum: 1 },
    { name: 'email', attnum: 2 },
    { name: 'ssn', attnum: 3 },
    { name: 'phone', attnum: 4 },
    { name: 'birth_date', attnum: 5 },
    { name: 'nick', attnum: 6, typeName: 'public.citext' },
  ],
};
const ORDERS: RelationInfo = { schema: 'public', name: 'orders', columns: [{ name: 'id', attnum: 1 }, { name: 'note', attnum: 2 }] };
const lookup = (oid: number) => (oid === 100 ? CUSTOMERS : oid === 200 ? ORDERS : undefined);

const analyst = scopeOf(RULES, identity('analyst', ['analysts']));
const support = scopeOf(RULES, identity('support-bot', ['support']));
const outsider = scopeOf(RULES, identity('batch-job', []));

function plan(r: MaskPlan | PlanRefusal): MaskPlan {
  if ('refuse' in r) throw new Error(`unexpected refusal: ${r.refuse}`);
  return r;
}

/** Masker label per field ('-' when untouched). */
function labels(p: MaskPlan): string[] {
  return p.columns.map((m) => (m === null ? '-' : m.label.split(' ')[0]));
}

const customer = (name: string, attnum: number, typeOid: number = OID.text, format = 0) => field(name, typeOid, { tableOid: 100, attnum, format });

describe('planFor', () => {
  it('masks by RowDescription table OID + attnum alone (no analysis), whatever the label', () => {
    const p = plan(planFor(analyst, [customer('id', 1, OID.int4), customer('x', 2), customer('y', 3), customer('z', 4)], undefined, lookup, undefined, []));
    assert.deepEqual(labels(p), ['-', 'email', 'redact', 'phone']);
    assert.deepEqual(p.described.map((d) => d.evidence), ['row_description', 'row_description', 'row_description']);
  });
  it('masks by the analysis alone when RowDescription has no origin', () => {
    const fields = [field('id', OID.int4), field('e', OID.text), field('l', OID.text), field('n', OID.int8), field('s', OID.text)];
    const outputs = [out('id', 'column', 'public.customers.id'), out('e', 'column', 'public.customers.email'), out('l', 'expression', 'public.customers.ssn'), out('n', 'aggregate', 'public.customers.ssn'), out('s', 'expression', 'public.customers.id')];
    const p = plan(planFor(analyst, fields, outputs, lookup));
    assert.deepEqual(labels(p), ['-', 'email', 'redact', '-', '-']);
    assert.equal(p.columns[2]?.mask(Buffer.from('123-45-6789'))?.toString(), '****', 'lower(ssn) is redacted');
  });
  it('an expression of a masked column is NULL when it is not text', () => {
    const p = plan(planFor(analyst, [field('n', OID.int4)], [out('n', 'expression', 'public.customers.ssn')], lookup));
    assert.equal(p.columns[0]?.mask(Buffer.from('123')), null);
  });
  it('COALESCE of two masked columns with different rules is redacted', () => {
    const p = plan(planFor(analyst, [field('c', OID.text)], [out('c', 'column', 'public.customers.email', 'public.customers.ssn')], lookup));
    assert.equal(p.columns[0]?.mask(Buffer.from('a@b.io'))?.toString(), '****');
  });
  it('RowDescription wins over an analysis that missed the column', () => {
    const p = plan(planFor(analyst, [customer('email', 2)], [out('email', 'column', 'public.customers.id')], lookup));
    assert.deepEqual(labels(p), ['email']);
  });
  it('the analysis masks a view column RowDescription attributes to the view', () => {
    const view = (oid: number) => (oid === 300 ? { schema: 'public', name: 'customer_view', columns: [{ name: 'email', attnum: 1 }] } : undefined);
    const p = plan(planFor(analyst, [field('email', OID.text, { tableOid: 300, attnum: 1 })], [out('email', 'column', 'public.customers.email')], view));
    assert.deepEqual(labels(p), ['email']);
  });
  it('refuses a masked column inside a whole row or JSON', () => {
    const r = planFor(analyst, [field('c', 16386)], [out('c', 'opaque', 'public.customers.id', 'public.customers.ssn')], lookup);
    assert.deepEqual(r, { refuse: 'pgwarden: analyst may not read public.customers.ssn inside a whole row, JSON or aggregate; select the columns by name' });
  });
  it('passes a whole row with no masked column', () => {
    assert.deepEqual(labels(plan(planFor(analyst, [field('o', 16390)], [out('o', 'opaque', 'public.orders.id', 'public.orders.note')], lookup))), ['-']);
  });

  describe('when the analysis does not match the fields', () => {
    const fields = [customer('id', 1, OID.int4), customer('email', 2), field('lower', OID.text), field('n', OID.int8), field('row', 16386)];
    for (const [name, outputs] of [['missing', undefined], ['a different count', [out('id', 'column', 'public.customers.id')]]] as const) {
      it(`${name}: masks every field not proven clean, and notes it`, () => {
        const p = plan(planFor(analyst, fields, outputs, lookup, undefined, [{ schema: 'public', name: 'customers' }]));
        assert.deepEqual(labels(p), ['-', 'email', 'redact', 'redact', 'redact']);
        assert.equal(p.columns[3]?.mask(Buffer.from('12')), null, 'a non-text computed field is NULL');
        assert.equal(p.notes.length, 1, 'the fallback is noted');
        assert.deepEqual(p.described.slice(1).map((d) => d.evidence), ['fallback', 'fallback', 'fallback']);
      });
    }
    it('no fallback when no relation of the statement is sensitive', () => {
      const orders = [{ schema: 'public', name: 'orders', columns: ['id', 'note'] }];
      const p = plan(planFor(analyst, [field('id', OID.int4), field('note', OID.text)], undefined, lookup, undefined, orders));
      assert.equal(p.any, false);
    });
    it('a relation whose columns are not given is sensitive when a wildcard rule could name it', () => {
      assert.deepEqual(labels(plan(planFor(analyst, [field('note', OID.text)], undefined, lookup, undefined, [{ schema: 'public', name: 'orders' }]))), ['redact']);
    });
    it('relations unknown: assumed sensitive', () => {
      assert.deepEqual(labels(plan(planFor(analyst, [field('note', OID.text)], undefined, lookup))), ['redact']);
    });
  });

  describe('casts, as the analysis sees them (fixture catalog)', () => {
    before(async () => {
      await loadParser();
    });
    const planOf = (sql: string) => {
      const [a] = analyse(sql, { catalog: testCatalog(), searchPath: ['public'] });
      return plan(planFor(analyst, (a.outputs ?? []).map((o) => field(o.name, OID.text)), a.outputs, lookup));
    };
    it('a cast that cuts a masked value is masked as computed from it, not by the column\'s own masker', () => {
      // phone::varchar(k) for k = 1, 2, … would each show the last characters the partial masker keeps.
      const p = planOf('SELECT phone::varchar(3), phone::char(4), email::varchar(5), phone::char FROM customers');
      assert.deepEqual(labels(p), ['redact', 'redact', 'redact', 'redact']);
      assert.equal(p.columns[0]?.mask(Buffer.from('+1-'))?.toString(), '****');
    });
    it('a cast to text without a length keeps the column\'s masker', () => {
      assert.deepEqual(labels(planOf('SELECT phone::text, email::varchar, phone::bpchar FROM customers')), ['phone', 'email', 'phone']);
    });
  });

  describe('identities', () => {
    const fields = [customer('email', 2), customer('phone', 4)];
    it('except: support sees email in clear', () => assert.deepEqual(labels(plan(planFor(support, fields, undefined, lookup, undefined, [])))  , ['-', '-']));
    it('only: phone is masked for analysts only', () => assert.deepEqual(labels(plan(planFor(outsider, fields, undefined, lookup, undefined, []))), ['email', '-']));
    it('an identity no rule applies to gets an empty plan', () => {
      const none = scopeOf({ rules: [{ column: 'public.customers.email', with: 'email', except: { subjects: ['root'] } }] }, identity('root'));
      assert.equal(none.empty, true);
      const p = plan(planFor(none, fields, undefined, lookup));
      assert.equal(p.any, false);
      assert.equal(p.columns.length, 2);
    });
  });

  describe('formats and types', () => {
    it('Bind result formats: one code for all columns', () => {
      const p = plan(planFor(analyst, [customer('ssn', 3), customer('birth_date', 5, OID.date)], undefined, lookup, [1], []));
      assert.equal(p.columns[0]?.mask(Buffer.from('123-45-6789'))?.toString(), '****', 'text in binary is still text');
      assert.match(String(dateText(p.columns[1]!.mask(Buffer.alloc(4))!)), /^\d{4}-\d{2}-\d{2}$/, 'a binary date is faked in binary');
    });
    it('Bind result formats: per column; none means text', () => {
      const fields = [customer('birth_date', 5, OID.date), customer('birth_date', 5, OID.date)];
      const per = plan(planFor(analyst, fields, undefined, lookup, [0, 1], []));
      assert.match(String(per.columns[0]?.mask(Buffer.from('1984-07-21'))), /^\d{4}-\d{2}-\d{2}$/, 'fake date in text');
      assert.match(String(dateText(per.columns[1]!.mask(Buffer.alloc(4))!)), /^\d{4}-\d{2}-\d{2}$/, 'fake date in binary');
      const none = plan(planFor(analyst, fields, undefined, lookup, [], []));
      assert.match(String(none.columns[1]?.mask(Buffer.from('1984-07-21'))), /^\d{4}-\d{2}-\d{2}$/);
    });
    it("RowDescription's own format code when no Bind formats are given", () => {
      const p = plan(planFor(analyst, [customer('birth_date', 5, OID.date, 1)], undefined, lookup, undefined, []));
      assert.match(String(dateText(p.columns[0]!.mask(Buffer.alloc(4))!)), /^\d{4}-\d{2}-\d{2}$/, 'fake date in binary');
      assert.equal(p.columns[0]?.mask(Buffer.from('1984-07-21')), null, 'a text cell is not a binary date');
    });
    it('citext named by the catalog is text-like', () => {
      const s = scopeOf({ rules: [{ column: 'public.customers.nick', with: 'partial' }] });
      const p = plan(planFor(s, [customer('nick', 6, 91234)], undefined, lookup, undefined, []));
      assert.equal(p.columns[0]?.mask(Buffer.from('Bobby'))?.toString(), 'B****');
    });
  });

  describe('content detection', () => {
    const s = scopeOf({ rules: [{ column: '*.*.ssn', with: 'redact' }], detect: { kinds: ['email', 'credit_card'] } });
    it('applies to text fields no rule covers', () => {
      const p = plan(planFor(s, [field('note', OID.text, { tableOid: 200, attnum: 2 }), field('id', OID.int4, { tableOid: 200, attnum: 1 })], undefined, lookup, undefined, []));
      assert.deepEqual(p.described.map((d) => d.evidence), ['detect']);
      assert.equal(p.columns[0]?.mask(Buffer.from('mail jane@x.io or pay 4111 1111 1111 1111'))?.toString(), 'mail **** or pay ****');
      const clean = Buffer.from('nothing to see');
      assert.equal(p.columns[0]?.mask(clean), clean, 'a clean value is returned as is');
    });
    it('is off for identities its except names', () => {
      const d = scopeOf({ detect: { except: { subjects: ['auditor'] } } }, identity('auditor'));
      assert.equal(d.empty, true);
    });
  });
});

describe('refusalFor', () => {
  const cases: [string, MaskingScope, Parameters<typeof refusalFor>[1], string | null][] = [
    ['no outputs', analyst, undefined, null],
    ['row_to_json(c) with ssn inside', analyst, [out('j', 'opaque', 'public.customers.id', 'public.customers.ssn')], 'pgwarden: analyst may not read public.customers.ssn inside a whole row, JSON or aggregate; select the columns by name'],
    ['string_agg(email) for an identity that sees email', support, [out('s', 'opaque', 'public.customers.email')], null],
    ['count(ssn) is an aggregate that passes', analyst, [out('n', 'aggregate', 'public.customers.ssn')], null],
  ];
  for (const [name, scope, outputs, want] of cases) it(name, () => assert.equal(refusalFor(scope, outputs), want));
});

describe('planForCopy', () => {
  const cols = [
    { schema: 'public', table: 'customers', column: 'id', typeOid: OID.int4 },
    { schema: 'public', table: 'customers', column: 'ssn', typeOid: OID.text },
  ];
  it('text and CSV: masks the masked columns', () => {
    for (const f of ['text', 'csv'] as const) assert.deepEqual(labels(plan(planForCopy(analyst, cols, f))), ['-', 'redact']);
  });
  it('binary: refuses a masked column', () => {
    assert.deepEqual(planForCopy(analyst, cols, 'binary'), { refuse: 'pgwarden: analyst may not copy masked column public.customers.ssn in binary format; use COPY … (FORMAT text) or (FORMAT csv)' });
  });
  it('binary with no masked column is allowed', () => {
    assert.equal(plan(planForCopy(support, [cols[0]], 'binary')).any, false);
  });
  it('COPY (query): outputs with their derivations, unknown type treated as text', () => {
    const p = plan(planForCopy(analyst, [{ output: out('l', 'expression', 'public.customers.email'), typeOid: 0 }], 'csv'));
    assert.equal(p.columns[0]?.mask(Buffer.from('a@b.io'))?.toString(), '****');
  });
  it('COPY (query) of a whole row is refused', () => {
    assert.ok('refuse' in planForCopy(analyst, [{ output: out('c', 'opaque', 'public.customers.ssn'), typeOid: 0 }], 'text'), 'a whole row with ssn must be refused');
  });
});
