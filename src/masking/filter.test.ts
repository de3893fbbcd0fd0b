import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ColumnUse } from '../sql/types.ts';
import { filterRefusal, filterRefusalHint } from './filter.ts';
import { identity, scopeOf } from './test-builders.ts';

const scope = scopeOf(
  {
    rules: [
      { column: 'public.customers.ssn', with: 'redact', filter: 'deny' },
      { column: 'public.customers.email', with: 'email' }, // filter: equality by default
      { column: 'public.customers.phone', with: 'phone', filter: 'allow' },
      { column: 'public.customers.notes', with: 'redact', except: { subjects: ['analyst'] }, filter: 'deny' },
    ],
  },
  identity('analyst', ['analysts']),
);

function use(column: string, u: ColumnUse['use'], operator?: string): ColumnUse {
  return { relation: { schema: 'public', name: 'customers', resolved: true }, column, use: u, ...(operator !== undefined && { operator }) };
}

describe('filterRefusal', () => {
  const cases: [string, ColumnUse[], string | null][] = [
    // deny
    ['deny: refuses even equality', [use('ssn', 'filter', '=')], 'pgwarden: analyst may not filter on masked column public.customers.ssn with =: its masking rule allows no filtering, joining, grouping or ordering on it'],
    ['deny: refuses a join', [use('ssn', 'join', '=')], 'pgwarden: analyst may not join on masked column public.customers.ssn with =: its masking rule allows no filtering, joining, grouping or ordering on it'],
    ['deny: refuses IS NULL', [use('ssn', 'filter', 'is null')], 'pgwarden: analyst may not filter on masked column public.customers.ssn with IS NULL: its masking rule allows no filtering, joining, grouping or ordering on it'],
    // equality
    ['equality: = passes', [use('email', 'filter', '=')], null],
    ['equality: IN passes', [use('email', 'filter', 'in')], null],
    ['equality: = ANY passes', [use('email', 'filter', '= any')], null],
    ['equality: IS NULL passes', [use('email', 'filter', 'is null')], null],
    ['equality: <> and NOT IN pass (a negation tells what the equality tells)', [use('email', 'filter', '<>'), use('email', 'filter', 'not in')], null],
    ['equality: a join by equality passes', [use('email', 'join', '=')], null],
    ['equality: LIKE is refused', [use('email', 'filter', 'like')], 'pgwarden: analyst may not filter on masked column public.customers.email with LIKE; only equality lookups (=, IN, IS NULL) are allowed on it'],
    ['equality: ILIKE is refused', [use('email', 'filter', 'ilike')], 'pgwarden: analyst may not filter on masked column public.customers.email with ILIKE; only equality lookups (=, IN, IS NULL) are allowed on it'],
    ['equality: a range is refused', [use('email', 'filter', '<')], 'pgwarden: analyst may not filter on masked column public.customers.email with <; only equality lookups (=, IN, IS NULL) are allowed on it'],
    ['equality: BETWEEN is refused', [use('email', 'filter', 'between')], 'pgwarden: analyst may not filter on masked column public.customers.email with BETWEEN; only equality lookups (=, IN, IS NULL) are allowed on it'],
    ['equality: a regex is refused', [use('email', 'filter', '~')], 'pgwarden: analyst may not filter on masked column public.customers.email with ~; only equality lookups (=, IN, IS NULL) are allowed on it'],
    ['equality: a function of it is refused', [use('email', 'filter', 'lower')], 'pgwarden: analyst may not filter on masked column public.customers.email inside lower(); only equality lookups (=, IN, IS NULL) are allowed on it'],
    ['equality: inside an expression is refused', [use('email', 'filter')], 'pgwarden: analyst may not filter on masked column public.customers.email inside an expression; only equality lookups (=, IN, IS NULL) are allowed on it'],
    ['equality: ORDER BY is refused', [use('email', 'order')], 'pgwarden: analyst may not order by masked column public.customers.email; only equality lookups (=, IN, IS NULL) are allowed on it'],
    ['equality: GROUP BY is refused', [use('email', 'group')], 'pgwarden: analyst may not group by masked column public.customers.email; only equality lookups (=, IN, IS NULL) are allowed on it'],
    ['equality: a join by range is refused', [use('email', 'join', '>')], 'pgwarden: analyst may not join on masked column public.customers.email with >; only equality lookups (=, IN, IS NULL) are allowed on it'],
    // allow
    ['allow: LIKE, ORDER BY and GROUP BY pass', [use('phone', 'filter', 'like'), use('phone', 'order'), use('phone', 'group')], null],
    // not masked for this identity / not masked at all
    ['a column the rule excepts this identity from', [use('notes', 'filter', 'like')], null],
    ['an unmasked column', [use('id', 'order'), use('name', 'filter', 'like')], null],
    ['the first refused use is reported', [use('email', 'filter', '='), use('ssn', 'order'), use('email', 'order')], 'pgwarden: analyst may not order by masked column public.customers.ssn: its masking rule allows no filtering, joining, grouping or ordering on it'],
  ];
  for (const [name, uses, want] of cases) it(name, () => assert.equal(filterRefusal(scope, uses, 'analyst'), want));

  it('every column of a relation the catalog does not know (`*`) is refused when a rule could mask one of them', () => {
    const star = (table: string): ColumnUse => ({ relation: { schema: 'public', name: table, resolved: false }, column: '*', use: 'filter' });
    assert.equal(filterRefusal(scope, [star('customers')], 'analyst'), 'pgwarden: analyst may not filter on the columns of public.customers inside an expression; the gateway does not know its columns, and masked ones may be among them');
    assert.match(String(filterRefusalHint(scope, [star('customers')])), /Name the columns you compare/);
    assert.equal(filterRefusal(scope, [star('audit')], 'analyst'), null, 'a relation no rule names');
  });
  it('names the subject it is given', () => {
    assert.match(String(filterRefusal(scope, [use('email', 'filter', 'like')], 'svc-42')), /^pgwarden: svc-42 may not/);
  });
  it('an empty scope refuses nothing', () => {
    assert.equal(filterRefusal(scopeOf({ rules: [] }), [use('ssn', 'filter', 'like')], 'x'), null);
  });
});

describe('filterRefusalHint says what the column\'s rule allows instead', () => {
  const flows = scopeOf(
    { rules: [{ column: 'public.customers.email', with: 'email', allow_flows: ['order'] }] },
    identity('analyst', ['analysts']),
  );
  const cases: [string, typeof scope, ColumnUse[], RegExp[], RegExp[]][] = [
    ['deny: selecting by name only', scope, [use('ssn', 'filter', '=')], [/Select public\.customers\.ssn by name/, /comes back masked/, /filter: deny/, /not even =/], [/Select the columns by name/]],
    ['equality: the comparisons allowed', scope, [use('email', 'filter', 'like')], [/Select public\.customers\.email by name/, /=, <>, IN, NOT IN, = ANY/, /IS \[NOT\] NULL/, /no LIKE/, /GROUP BY or ORDER BY/], []],
    ['equality: ORDER BY refused names the lookups', scope, [use('email', 'order')], [/compare it only with a value you already have/], []],
    ['allow_flows: order is said to be allowed', flows, [use('email', 'group')], [/ORDER BY it is allowed too \(allow_flows\)/], [/GROUP BY or ORDER BY/]],
  ];
  for (const [name, s, uses, want, not] of cases) {
    it(name, () => {
      const hint = filterRefusalHint(s, uses);
      assert.ok(hint, 'a hint for every refusal');
      for (const w of want) assert.match(hint, w);
      for (const n of not) assert.doesNotMatch(hint, n);
    });
  }
  it('no refusal, no hint', () => assert.equal(filterRefusalHint(scope, [use('email', 'filter', '=')]), null));
});
