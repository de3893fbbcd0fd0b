import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../config/index.ts';
import type { Outcome } from './policy-eval.ts';
import { parseStatementLines } from './policy.ts';
import { differences, parseTests, type TestCase } from './policy-tests.ts';

const base: TestCase = { name: 'c', identity: 'a', sql: 'select 1', expect: 'allow' };
const allow = (masks?: [string, string][], rule = 'analysts, readers'): Outcome => ({ verdict: 'allow', rule, notes: [], ...(masks && { masks: masks.map(([column, masker]) => ({ column, masker })) }) });
const deny: Outcome = { verdict: 'deny', rule: 'limits:read-only', message: 'pgwarden: analyst may not update public.orders: the access is read-only', notes: [] };
const review: Outcome = { verdict: 'review', rule: 'destructive', message: 'pgwarden: this statement needs approval under rule "destructive"', notes: [] };

describe('differences between a case and what the gateway decides', () => {
  const cases: [string, Partial<TestCase>, Outcome, string[]][] = [
    ['same verdict', {}, allow(), []],
    ['allowed but expected refused', { expect: 'deny' }, allow(), ['expected deny, got allow']],
    ['refused but expected allowed', {}, deny, ['expected allow, got deny']],
    ['held for review but expected refused', { expect: 'deny' }, review, ['expected deny, got review']],
    ['rule of a refusal', { expect: 'deny', rule: 'limits:read-only' }, deny, []],
    ['wrong rule of a refusal', { expect: 'deny', rule: 'analysts' }, deny, ['expected rule analysts, got limits:read-only']],
    ['an allow names one of its policies', { rule: 'readers' }, allow(), []],
    ['an allow by other policies', { rule: 'writers' }, allow(), ['expected rule writers, got analysts, readers']],
    ['review rule', { expect: 'review', rule: 'destructive' }, review, []],
    ['message contains', { expect: 'deny', message: 'read-only' }, deny, []],
    ['message does not contain', { expect: 'deny', message: 'masked' }, deny, ['expected the message to contain "masked"']],
    ['masks by name, kind or label', { masks: { id: 'none', email: 'email', ssn: 'redact (public.customers.ssn)' } }, allow([['id', 'none'], ['email', 'email (public.customers.email)'], ['ssn', 'redact (public.customers.ssn)']]), []],
    ['a column in clear expected masked', { masks: { email: 'email' } }, allow([['email', 'none']]), ['column email: expected email, got none']],
    ['a masked column expected in clear', { masks: { email: 'none' } }, allow([['email', 'email (public.customers.email)']]), ['column email: expected none, got email (public.customers.email)']],
    ['a column not in the result', { masks: { phone: 'none' } }, allow([['id', 'none']]), ['column phone: not in the result (columns: id)']],
    ['masks by position', { masks: ['none', 'redact'] }, allow([['id', 'none'], ['x', 'redact (computed from a masked column)']]), []],
    ['masks by position, wrong count and kind', { masks: ['redact'] }, allow([['id', 'none'], ['x', 'none']]), ['expected masks of 1 columns, got 2 (id, x)', 'column 1 (id): expected redact, got none']],
    ['masks of a statement without rows', { masks: { id: 'none' } }, allow(), ['expected masks, but the statement returns no rows']],
    ['masks refused', { masks: { id: 'none' } }, { ...allow(), maskRefusal: 'pgwarden: no' }, ['expected masks, but masking refuses the result: pgwarden: no']],
  ];
  for (const [name, c, o, expected] of cases) {
    test(name, () => assert.deepEqual(differences({ ...base, ...c }, o), expected));
  }
});

describe('the tests file', () => {
  const problems = (text: string): string[] => {
    try {
      parseTests(text, 'T');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems;
    }
    assert.fail('expected problems');
  };

  test('a good file: defaults, named and inline identities, the line of each case', () => {
    const t = parseTests(
      'database: shop\nidentities:\n  a: { subject: analyst, groups: [g] }\ncases:\n  - name: one\n    identity: a\n    sql: select 1\n    expect: allow\n  - name: two\n    identity: { subject: x }\n    sql: select 2\n    expect: deny\n',
      'T',
    );
    assert.equal(t.tests.database, 'shop');
    assert.deepEqual(t.tests.cases[1].identity, { subject: 'x', groups: [] });
    assert.deepEqual(t.lines, [5, 9]);
    assert.equal(t.lineOf(1, 'identity'), 10);
  });

  const bad: [string, string, string[]][] = [
    ['empty', '', ['T:1: the file is empty']],
    ['no cases', 'database: shop\n', ['T:1 cases: required']],
    ['YAML syntax', 'cases: [\n', ['T:2: Flow sequence in block collection must be sufficiently indented and end with a ]']],
    ['unknown verdict', 'cases:\n  - name: a\n    identity: { subject: x }\n    sql: s\n    expect: permit\n', ['T:5 cases[0].expect: expected one of "allow", "deny", "review"']],
    ['misspelt key', 'cases:\n  - name: a\n    identity: { subject: x }\n    sql: s\n    expect: allow\n    rules: x\n', ['T:6 cases[0].rules: unknown key (did you mean "rule"?)']],
    ['missing sql', 'cases:\n  - name: a\n    identity: { subject: x }\n    expect: allow\n', ['T:2 cases[0].sql: required']],
    ['unknown identity name', 'cases:\n  - name: a\n    identity: bob\n    sql: s\n    expect: allow\n', ['T:3 cases[0].identity: no identity "bob" under identities']],
    ['duplicate names', 'cases:\n  - { name: a, identity: { subject: x }, sql: s, expect: allow }\n  - { name: a, identity: { subject: x }, sql: s, expect: allow }\n', ['T:3 cases[1].name: the same name as case 1']],
    ['masks of a refusal', 'cases:\n  - { name: a, identity: { subject: x }, sql: s, expect: deny, masks: [none] }\n', ['T:2 cases[0].masks: masks can only be expected of an allowed statement']],
  ];
  for (const [name, text, expected] of bad) test(`refused: ${name}`, () => assert.deepEqual(problems(text), expected));
});

describe('recorded statements for policy diff', () => {
  test('audit export lines, JSON cases and plain SQL', () => {
    const text = [
      '{"at":1,"data":{"identity":{"issuer":"https://i","subject":"s","groups":["g"]},"database":"shop"},"id":"i:1","type":"session_start"}',
      '{"at":2,"data":{"kind":"query","text":"select 1","identity":{"issuer":"https://i","subject":"s","groups":["g"]},"database":"shop","decision":{"verdict":"allow"}},"id":"i:2","type":"statement"}',
      '{"at":3,"data":{"id":"i:2","rows":1},"id":"i:3","type":"statement_end"}',
      '{"sql":"select 2","identity":{"subject":"t","groups":[]},"database":"other"}',
      '-- a comment',
      'select 3',
      '',
    ].join('\n');
    assert.deepEqual(parseStatementLines(text, 'F', { identity: { subject: 'cli', groups: ['x'] }, database: 'db' }), [
      { who: { subject: 's', groups: ['g'], issuer: 'https://i' }, database: 'shop', sql: 'select 1' },
      { who: { subject: 't', groups: [] }, database: 'other', sql: 'select 2' },
      { who: { subject: 'cli', groups: ['x'] }, database: 'db', sql: 'select 3' },
    ]);
  });

  test('a plain line without --identity, or a broken line, names its line', () => {
    assert.throws(() => parseStatementLines('\nselect 1\n', 'F', {}), /^CliError: F:2: a plain SQL line needs --identity/);
    assert.throws(() => parseStatementLines('{"sql": ', 'F', {}), /F:1: not valid JSON/);
    assert.throws(() => parseStatementLines('{"type":"statement","data":{"kind":"query"}}', 'F', {}), /F:1: no statement text/);
  });
});
