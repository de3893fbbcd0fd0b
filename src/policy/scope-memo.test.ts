import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicies, policySchema, scopeFor, type PolicyInput } from './index.ts';
import { identity } from './test-builders.ts';

const policies: PolicyInput[] = [
  { name: 'readers', match: { groups: ['analysts'] }, allow: [{ tables: ['public.a'], operations: ['select'] }] },
  { name: 'shop-only', match: { groups: ['analysts'] }, databases: ['shop'], allow: [{ tables: ['public.b'], operations: ['select'] }] },
];
const compile = () => compilePolicies(policies.map((p) => policySchema.parse(p)));

describe('scopeFor is built once per compiled policies, identity object and database', () => {
  const c = compile();
  const ann = identity('ann', ['analysts']);
  it('the same identity object on the same database gets the very same scope', () => assert.equal(scopeFor(c, ann, 'shop'), scopeFor(c, ann, 'shop')));
  it('another database is its own scope', () => {
    assert.deepEqual(scopeFor(c, ann, 'shop')?.policies, ['readers', 'shop-only']);
    assert.deepEqual(scopeFor(c, ann, 'warehouse')?.policies, ['readers']);
  });
  it('a recompiled policy set (a reload) builds the scope again', () => {
    const again = compile();
    assert.notEqual(scopeFor(again, ann, 'shop'), scopeFor(c, ann, 'shop'));
    assert.deepEqual(scopeFor(again, ann, 'shop')?.policies, scopeFor(c, ann, 'shop')?.policies);
    assert.deepEqual(scopeFor(again, ann, 'shop')?.limits, scopeFor(c, ann, 'shop')?.limits);
  });
  it('another identity object (another token) never gets this one\'s scope object', () => {
    const bob = identity('bob', ['visitors']);
    assert.equal(scopeFor(c, bob, 'shop'), null);
    assert.notEqual(scopeFor(c, identity('ann', ['analysts']), 'shop'), scopeFor(c, ann, 'shop'));
  });
  it('no scope is remembered as no scope', () => {
    const eve = identity('eve');
    assert.equal(scopeFor(c, eve, 'shop'), null);
    assert.equal(scopeFor(c, eve, 'shop'), null);
  });
});
