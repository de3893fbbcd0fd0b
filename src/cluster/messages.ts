/**
 * The messages between the primary and its workers (node:cluster IPC, JSON). Workers never talk
 * to each other directly: the primary routes cancels to the owning worker and fans broadcasts out.
 */

/** What one worker tells all the others. Each answers with a count (sessions it ended). */
export type Broadcast =
  /** A subject was revoked: deny it from now on and end its sessions here. */
  | { kind: 'revoke'; subject: string; issuer?: string }
  | { kind: 'unrevoke'; subject: string; issuer?: string }
  /** Review `id` stopped being pending (decided in the store): waiters here hear it. */
  | { kind: 'review'; id: string };

export type ToPrimary =
  | { pgw: 'ready'; postgres: { host: string; port: number }; http?: { host: string; port: number } }
  | { pgw: 'cancel'; pid: number; secret: string }
  | { pgw: 'call'; id: number; broadcast: Broadcast }
  | { pgw: 'answer'; id: number; n: number };

export type ToWorker =
  | { pgw: 'cancel'; pid: number; secret: string }
  | { pgw: 'apply'; id: number; broadcast: Broadcast }
  | { pgw: 'done'; id: number; n: number }
  | { pgw: 'reload' }
  | { pgw: 'stop' };

export function isMessage<T extends { pgw: string }>(m: unknown): m is T {
  return typeof m === 'object' && m !== null && typeof (m as { pgw?: unknown }).pgw === 'string';
}

/** Environment variables the primary gives each worker. */
export const ENV_WORKER = 'PGWARDEN_WORKER';
export const ENV_WORKERS = 'PGWARDEN_WORKERS';
/** The token of the run by which its workers share the SQLite store files (see file-lock.ts). */
export const ENV_LOCK_TOKEN = 'PGWARDEN_LOCK_TOKEN';
