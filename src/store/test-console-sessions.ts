/** Console-session cases every audit store must pass (used by the stores' tests). */
import assert from 'node:assert/strict';
import type { AuditStore, StoredConsoleSession } from './audit-store.ts';

export function consoleSession(id: string, subject: string, o: Partial<StoredConsoleSession> = {}): StoredConsoleSession {
  return { id, subject, issuer: 'https://idp.example.com', issuerName: 'staff', groups: ['auditors'], csrf: `csrf-${id}`, createdAt: Date.now(), expiresAt: Date.now() + 3_600_000, ...o };
}

/** The cases every store must pass; `other` sees the same data (another instance), or is `store`. */
export async function consoleSessionCases(store: AuditStore, other: AuditStore = store): Promise<void> {
  const alice = consoleSession('id-alice', "o'alice\\x", { name: 'Alice "A"' });
  await store.putConsoleSession(alice);
  assert.deepEqual(await other.consoleSession('id-alice'), alice, 'stored and found by id, quotes intact');
  assert.equal(await other.consoleSession('id-nobody'), null);
  await other.deleteConsoleSession('id-alice');
  assert.equal(await store.consoleSession('id-alice'), null, 'ended by id');

  await store.putConsoleSession(consoleSession('b1', 'bob'));
  await store.putConsoleSession(consoleSession('b2', 'bob', { issuer: 'https://other.example.com', issuerName: 'other' }));
  await store.putConsoleSession(consoleSession('c1', 'carol'));
  assert.equal(await other.deleteConsoleSessionsOf('bob', 'nowhere'), 0, 'another issuer ends nothing');
  assert.equal(await other.deleteConsoleSessionsOf('bob', 'staff'), 1, 'by configured name');
  assert.equal(await store.consoleSession('b1'), null);
  assert.ok(await store.consoleSession('b2'), "bob of the other issuer stays");
  assert.equal(await other.deleteConsoleSessionsOf('bob', 'https://other.example.com'), 1, 'by issuer URL');
  await store.putConsoleSession(consoleSession('c2', 'carol', { issuer: 'https://other.example.com', issuerName: 'other' }));
  assert.equal(await other.deleteConsoleSessionsOf('carol'), 2, 'without an issuer: every issuer');

  await store.putConsoleSession(consoleSession('old', 'dave', { expiresAt: Date.now() - 1 }));
  await store.putConsoleSession(consoleSession('new', 'dave'));
  assert.equal(await store.consoleSession('old'), null, 'an expired session is dropped when another is stored');
  assert.ok(await store.consoleSession('new'));
  await store.deleteConsoleSession('new');
}
