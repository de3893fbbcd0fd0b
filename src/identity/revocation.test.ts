import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RevocationList } from './revocation.ts';
import type { Identity } from './types.ts';

const identity = (subject: string, issuer = 'https://idp.example.com', issuerName = 'corp'): Identity => ({
  issuer,
  issuerName,
  subject,
  groups: [],
  claims: {},
  expiresAt: Date.now() + 60_000,
});

describe('RevocationList', () => {
  it('matches a subject of any issuer when no issuer is given', () => {
    const r = new RevocationList();
    r.revoke('agent-1');
    assert.equal(r.isRevoked(identity('agent-1')), true);
    assert.equal(r.isRevoked(identity('agent-1', 'https://other.example', 'other')), true);
    assert.equal(r.isRevoked(identity('agent-2')), false);
  });

  it('matches by issuer URL or by configured name, and only that issuer', () => {
    const r = new RevocationList();
    r.revoke('agent-1', 'corp');
    r.revoke('agent-2', 'https://idp.example.com');
    assert.equal(r.isRevoked(identity('agent-1')), true);
    assert.equal(r.isRevoked(identity('agent-2')), true);
    assert.equal(r.isRevoked(identity('agent-1', 'https://other.example', 'other')), false);
    assert.equal(r.isRevoked(identity('agent-2', 'https://other.example', 'other')), false);
  });

  it('unrevokes exactly the entry named, and lists what is revoked with its time', () => {
    const at = new Date('2026-01-02T03:04:05.000Z');
    const r = new RevocationList({ now: () => at });
    r.revoke('agent-1');
    r.revoke('agent-1', 'corp');
    r.revoke('agent-1', 'corp');
    assert.deepEqual(r.list(), [
      { subject: 'agent-1', at: at.toISOString() },
      { subject: 'agent-1', issuer: 'corp', at: at.toISOString() },
    ]);
    r.unrevoke('agent-1');
    assert.equal(r.isRevoked(identity('agent-1')), true, 'the issuer-specific entry remains');
    r.unrevoke('agent-1', 'corp');
    assert.equal(r.isRevoked(identity('agent-1')), false);
    assert.deepEqual(r.list(), []);
  });

  it('keeps subjects that look alike apart', () => {
    const r = new RevocationList();
    r.revoke('b', 'a');
    assert.equal(r.isRevoked(identity('b', 'x', 'a')), true);
    assert.equal(r.isRevoked(identity('a\u0000b', 'x', '')), false);
    assert.throws(() => r.revoke(''), /needs a subject/);
  });
});
