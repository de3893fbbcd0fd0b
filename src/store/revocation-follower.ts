/**
 * Keeps this instance's revocation list equal to a shared store's: revocations and lifts made by
 * any instance sharing a PostgreSQL store reach this one within a second — at once through
 * NOTIFY, and by a poll of the revocations table every second for what a lost listening
 * connection missed. A new revocation is applied as a local one is: the subject is denied and its
 * open sessions end (`add`); a lifted one is removed (`remove`).
 *
 * A local revoke or unrevoke runs through `local()`: while one is in flight (in effect here, not
 * yet stored), what the store says is not applied, and a read that began before a local change
 * ended is dropped, so a stale read never undoes a change made here.
 */
import type { Logger } from '../log.ts';
import type { AuditStore, StoredRevocation } from './audit-store.ts';

export interface RevocationFollowerOptions {
  store: AuditStore;
  /** The revocations in effect here. */
  list(): StoredRevocation[];
  /** A revocation made elsewhere: apply it here (deny, end the sessions); returns sessions ended. */
  add(r: StoredRevocation): number;
  /** A revocation lifted elsewhere. */
  remove(r: StoredRevocation): void;
  logger: Logger;
  pollMs?: number;
}

export interface RevocationFollower {
  /** Run a local revoke/unrevoke (in effect here first, then stored). */
  local<T>(change: () => Promise<T>): Promise<T>;
  /** Read the store now and apply what differs (tests, and the poll). */
  sync(): Promise<void>;
  close(): Promise<void>;
}

const keyOf = (r: { subject: string; issuer?: string }) => JSON.stringify([r.subject, r.issuer ?? null]);

export function followRevocations(o: RevocationFollowerOptions): RevocationFollower {
  let inFlight = 0;
  let generation = 0;
  let closed = false;
  let running: Promise<void> | null = null;
  let again = false;

  const once = async () => {
    const startedAt = generation;
    const stored = await o.store.revocations();
    if (closed || inFlight > 0 || generation !== startedAt) return;
    const here = new Map(o.list().map((r) => [keyOf(r), r]));
    const there = new Map(stored.map((r) => [keyOf(r), r]));
    for (const [key, r] of there) {
      if (here.has(key)) continue;
      const terminated = o.add(r);
      o.logger.warn({ subject: r.subject, issuer: r.issuer, terminated }, 'subject revoked by another instance');
    }
    for (const [key, r] of here) {
      if (there.has(key)) continue;
      o.remove(r);
      o.logger.warn({ subject: r.subject, issuer: r.issuer }, 'revocation lifted by another instance');
    }
  };
  // One read at a time; a request during a read makes one more after it.
  const sync = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await once();
        } while (again && !closed);
      } finally {
        running = null;
      }
    })();
    return running;
  };
  const quiet = () =>
    void sync().catch((err: unknown) => o.logger.warn({ err: (err as Error).message }, 'the shared revocations could not be read; retrying'));

  const listener = o.store.watchRevocations?.(quiet);
  const poll = setInterval(quiet, o.pollMs ?? 1000);
  poll.unref();

  return {
    async local(change) {
      inFlight++;
      try {
        return await change();
      } finally {
        inFlight--;
        generation++;
      }
    },
    sync,
    async close() {
      closed = true;
      clearInterval(poll);
      await listener?.close();
      await running?.catch(() => undefined);
    },
  };
}
