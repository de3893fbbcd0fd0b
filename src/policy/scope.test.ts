import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicies, describeNoScope, policySchema, scopeFor, type PolicyInput } from './index.ts';
import { identity, scopeOf } from './test-builders.ts';

const compiled = (policies: PolicyInput[]) => compilePolicies(policies.map((p) => policySchema.parse(p)));

describe('scopeFor: which policies match', () => {
  const policies: PolicyInput[] = [
    { name: 'by-group', match: { groups: ['analysts'] }, allow: [{ tables: ['public.a'], operations: ['select'] }] },
    { name: 'by-subject', match: { subjects: ['bot-7'] }, allow: [{ tables: ['public.b'], operations: ['select'] }] },
    { name: 'by-issuer-name', match: { issuers: ['ci'] }, allow: [{ tables: ['public.c'], operations: ['select'] }] },
    { name: 'by-issuer-url', match: { issuers: ['https://idp.example.com/k8s'] }, allow: [{ tables: ['public.d'], operations: ['select'] }] },
    { name: 'issuer-and-group', match: { issuers: ['corp'], groups: ['dba'] }, allow: [{ tables: ['public.e'], operations: ['select'] }] },
    { name: 'shop-only', match: { groups: ['shoppers'] }, databases: ['shop'], allow: [{ tables: ['public.f'], operations: ['select'] }] },
  ];
  const c = compiled(policies);
  const cases: [string, ReturnType<typeof identity>, string, string[] | null][] = [
    ['no policy matches: no scope (default deny)', identity('stranger', ['visitors']), 'shop', null],
    ['a group matches', identity('ann', ['analysts']), 'shop', ['by-group']],
    ['group names are case-sensitive', identity('ann', ['Analysts']), 'shop', null],
    ['a subject matches', identity('bot-7'), 'shop', ['by-subject']],
    ['a subject or a group suffices', identity('bot-7', ['analysts']), 'shop', ['by-group', 'by-subject']],
    ['an issuer matches by its configured name', identity('job', [], 'ci'), 'shop', ['by-issuer-name']],
    ['an issuer matches by its URL', identity('pod', [], 'k8s'), 'shop', ['by-issuer-url']],
    ['issuer and group must both match', identity('d', ['dba'], 'corp'), 'shop', ['issuer-and-group']],
    ['the right group from another issuer does not match', identity('d', ['dba'], 'other'), 'shop', null],
    ['a database list restricts the policy', identity('s', ['shoppers']), 'warehouse', null],
    ['a listed database matches', identity('s', ['shoppers']), 'shop', ['shop-only']],
  ];
  for (const [name, who, db, expected] of cases) {
    it(name, () => assert.deepEqual(scopeFor(c, who, db)?.policies ?? null, expected));
  }
  it('the identity label is the subject', () => assert.equal(scopeFor(c, identity('ann', ['analysts']), 'shop')?.identityLabel, 'ann'));
  it('explains a missing scope', () => {
    assert.equal(describeNoScope(c, identity('stranger'), 'shop'), 'pgwarden: no policy grants stranger access to database shop');
  });
  it('no policies at all: nobody connects', () => assert.equal(scopeFor(compilePolicies([]), identity('ann', ['analysts']), 'shop'), null));
});

describe('scopeFor: limits combine to the most restrictive', () => {
  const base = (name: string, limits: PolicyInput['limits'], role?: string): PolicyInput => ({
    name,
    match: { groups: [name] },
    allow: [{ tables: ['public.t'], operations: ['select'] }],
    ...(limits !== undefined && { limits }),
    ...(role !== undefined && { role }),
  });
  const policies = [
    base('a', { statement_timeout: '30s', max_rows: 500 }),
    base('b', { statement_timeout: 10, read_only: true }, 'reader'),
    base('c', undefined),
    base('d', { max_rows: 100 }, 'reader'),
    base('e', undefined, 'writer'),
  ];
  const c = compiled(policies);
  const limits = (...groups: string[]) => scopeFor(c, identity('x', groups), 'db')?.limits ?? null;
  it('one policy: its limits, durations in ms', () => assert.deepEqual(limits('a'), { readOnly: false, statementTimeoutMs: 30_000, maxRows: 500 }));
  it('no limits: read-write, nothing else', () => assert.deepEqual(limits('c'), { readOnly: false }));
  it('the lowest timeout and row limit, read-only if any', () => assert.deepEqual(limits('a', 'b', 'c'), { readOnly: true, statementTimeoutMs: 10_000, maxRows: 500, role: 'reader' }));
  it('an unlimited policy does not lift another\'s limit', () => assert.deepEqual(limits('c', 'd'), { readOnly: false, maxRows: 100, role: 'reader' }));
  it('policies naming the same role agree', () => assert.equal(limits('b', 'd')?.role, 'reader'));
  it('policies naming different roles give no scope', () => assert.equal(limits('b', 'e'), null));
  it('and say why', () => {
    assert.equal(describeNoScope(c, identity('x', ['b', 'e']), 'db'), 'pgwarden: policies b, e map x to different upstream roles (reader, writer) on database db');
  });
});

describe('scopeOf builder', () => {
  it('parses through the schema', () => assert.ok(scopeOf([{ name: 'p', match: { subjects: ['s'] } }], identity('s'))));
});
