/** The startup user name must name the identity the token proves (or a configured generic name). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayError } from '../errors.ts';
import type { Identity } from '../identity/types.ts';
import { checkUserName } from './handshake.ts';

const id: Identity = { issuer: 'https://idp', issuerName: 'idp', subject: 'analyst', groups: [], claims: {}, expiresAt: 0 };

const cases: { name: string; user: string; accepted: string[]; ok: boolean }[] = [
  { name: 'the subject is accepted', user: 'analyst', accepted: [], ok: true },
  { name: 'a configured generic name is accepted', user: 'agent', accepted: ['agent'], ok: true },
  { name: 'another identity\'s name is refused', user: 'migrator', accepted: ['agent'], ok: false },
  { name: 'names are compared exactly, as PostgreSQL compares role names', user: 'Analyst', accepted: ['agent'], ok: false },
  { name: 'the generic name is refused when none is configured', user: 'agent', accepted: [], ok: false },
  { name: 'a missing user name is refused', user: '', accepted: ['agent'], ok: false },
];

describe('startup user name', () => {
  for (const c of cases) {
    it(c.name, () => {
      if (c.ok) return checkUserName(c.user, id, c.accepted);
      assert.throws(
        () => checkUserName(c.user, id, c.accepted),
        (e: unknown) => e instanceof GatewayError && e.code === 'auth.wrong_user' && e.sqlstate === '28000' && /analyst/.test(e.hint ?? ''),
      );
    });
  }
});
