/**
 * Subjects whose access an administrator has revoked, held in memory (the gateway keeps them
 * durable in its store and restores them at start).
 *
 * A revocation names a subject and, optionally, the issuer it belongs to (by URL or by its
 * configured short name); without an issuer it matches that subject from every issuer. The
 * verifier consults the list after a token verifies, so a revoked subject is refused even with a
 * token that is otherwise valid; open sessions are the caller's to end (`isRevoked` on their
 * identity).
 */
import type { Identity } from './types.ts';

export interface Revocation {
  subject: string;
  /** Issuer URL or configured name; absent means every issuer. */
  issuer?: string;
  /** ISO 8601 time the revocation was made. */
  at: string;
}

export class RevocationList {
  readonly #entries = new Map<string, Revocation>();
  readonly #now: () => Date;

  constructor(options: { now?: () => Date } = {}) {
    this.#now = options.now ?? (() => new Date());
  }

  /** Revoke `subject` (of `issuer`, or of any issuer). Revoking again keeps the first time. */
  revoke(subject: string, issuer?: string): void {
    if (subject === '') throw new TypeError('a revocation needs a subject');
    const key = keyOf(subject, issuer);
    if (this.#entries.has(key)) return;
    this.#entries.set(key, issuer === undefined ? { subject, at: this.#now().toISOString() } : { subject, issuer, at: this.#now().toISOString() });
  }

  /** Put back a revocation read from the store, with its original time. */
  restore(r: Revocation): void {
    if (r.subject === '') return;
    this.#entries.set(keyOf(r.subject, r.issuer), { ...r });
  }

  /** Remove exactly the revocation made with the same subject and issuer (or lack of one). */
  unrevoke(subject: string, issuer?: string): void {
    this.#entries.delete(keyOf(subject, issuer));
  }

  isRevoked(identity: Identity): boolean {
    if (this.#entries.size === 0) return false;
    return (
      this.#entries.has(keyOf(identity.subject, undefined)) ||
      this.#entries.has(keyOf(identity.subject, identity.issuer)) ||
      this.#entries.has(keyOf(identity.subject, identity.issuerName))
    );
  }

  list(): Revocation[] {
    return [...this.#entries.values()].map((r) => ({ ...r }));
  }
}

// JSON keeps the key unambiguous whatever characters the subject or the issuer hold.
function keyOf(subject: string, issuer: string | undefined): string {
  return JSON.stringify([issuer ?? null, subject]);
}
