import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { claimAt, pickGroups, pickSubject } from './claims.ts';

describe('pickSubject', () => {
  const cases: { name: string; claims: Record<string, unknown>; names: string[]; expected: string | undefined }[] = [
    { name: 'the first configured claim present wins', claims: { sub: 's', client_id: 'c' }, names: ['client_id', 'sub'], expected: 'c' },
    { name: 'falls through to the next claim', claims: { azp: 'a' }, names: ['sub', 'client_id', 'azp'], expected: 'a' },
    { name: 'an empty string is not a subject', claims: { sub: '', client_id: 'c' }, names: ['sub', 'client_id'], expected: 'c' },
    { name: 'a number is not a subject', claims: { sub: 42 }, names: ['sub'], expected: undefined },
    { name: 'none present', claims: { aud: 'x' }, names: ['sub'], expected: undefined },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(pickSubject(c.claims, c.names)?.value, c.expected));
  }
});

describe('pickGroups', () => {
  const cases: { name: string; claims: Record<string, unknown>; path: string; expected: string[] }[] = [
    { name: 'an array of strings', claims: { groups: ['a', 'b'] }, path: 'groups', expected: ['a', 'b'] },
    { name: 'non-string members are dropped', claims: { groups: ['a', 1, null, { x: 1 }, ''] }, path: 'groups', expected: ['a'] },
    { name: 'a single string is one group, spaces and all', claims: { groups: 'team a' }, path: 'groups', expected: ['team a'] },
    { name: 'a nested path', claims: { realm_access: { roles: ['dba'] } }, path: 'realm_access.roles', expected: ['dba'] },
    { name: 'a claim named with dots wins over the walk', claims: { 'https://x.dev/roles': ['r'], https: { '//x': 'no' } }, path: 'https://x.dev/roles', expected: ['r'] },
    { name: 'a scope claim is space-separated', claims: { scope: 'read  write' }, path: 'scope', expected: ['read', 'write'] },
    { name: 'a missing path', claims: { realm_access: {} }, path: 'realm_access.roles', expected: [] },
    { name: 'a path through a non-object', claims: { realm_access: 'x' }, path: 'realm_access.roles', expected: [] },
    { name: 'an object is no groups', claims: { groups: { admin: true } }, path: 'groups', expected: [] },
    { name: 'inherited properties are not claims', claims: {}, path: 'constructor', expected: [] },
  ];
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(pickGroups(c.claims, c.path), c.expected));
  }

  it('never reads the prototype chain on the walk', () => {
    assert.equal(claimAt({ a: {} }, 'a.__proto__'), undefined);
    assert.equal(claimAt({ a: {} }, 'a.toString'), undefined);
  });
});
