/**
 * What each worker may hold, and which worker a cancel key belongs to: pure functions of the
 * worker's number (1 … count) and the configured numbers.
 *
 * Limits are split, not counted centrally: worker n of N may hold `share(limit, n, N)` of each
 * count limit, and the shares add up to exactly the limit, so the whole gateway never holds more
 * than configured. The price: a worker whose share is used up refuses a connection even when
 * another worker still has room (the kernel's round robin spreads sessions evenly, so this bites
 * only near a limit, or with limits smaller than the number of workers).
 */
import type { Limits } from '../proxy/index.ts';

/** Most workers: the worker number is the high byte of a cancel key's pid (1 … 127). */
export const MAX_WORKERS = 64;
/** `auto` takes the available cores, at most this many. */
export const AUTO_WORKERS_CAP = 8;

/** `workers: auto|N` for a machine with `cores` available cores. */
export function resolveWorkers(setting: 'auto' | number, cores: number): number {
  if (setting === 'auto') return Math.max(1, Math.min(AUTO_WORKERS_CAP, Math.floor(cores)));
  if (!Number.isInteger(setting) || setting < 1 || setting > MAX_WORKERS) throw new Error(`workers must be auto or 1 … ${MAX_WORKERS}, not ${setting}`);
  return setting;
}

/** Worker `n`'s share of `limit` (n is 1 … count); the shares of all workers add up to `limit`. */
export function share(limit: number, n: number, count: number): number {
  if (!Number.isFinite(limit)) return limit;
  const base = Math.floor(limit / count);
  return base + (n <= limit % count ? 1 : 0);
}

type CountLimits = Limits & { max_buffered_per_identity?: number; max_buffered_total?: number };

/** The count limits worker `n` applies to its own sessions; every other setting unchanged. */
export function shareLimits<L extends CountLimits>(l: L, n: number, count: number): L {
  if (count === 1) return l;
  const s = (v: number) => share(v, n, count);
  return {
    ...l,
    max_connections: s(l.max_connections),
    ...(l.max_connections_per_identity === undefined ? {} : { max_connections_per_identity: s(l.max_connections_per_identity) }),
    max_connections_per_source: s(l.max_connections_per_source),
    max_unauthenticated: s(l.max_unauthenticated),
    max_unauthenticated_per_source: s(l.max_unauthenticated_per_source),
    ...(l.max_buffered_per_identity === undefined ? {} : { max_buffered_per_identity: s(l.max_buffered_per_identity) }),
    ...(l.max_buffered_total === undefined ? {} : { max_buffered_total: s(l.max_buffered_total) }),
  };
}

/** The count limits some worker's share of which is 0: that worker refuses every connection they count. */
export function emptyShares(l: CountLimits, count: number): string[] {
  if (count === 1) return [];
  const named: [string, number | undefined][] = [
    ['max_connections', l.max_connections],
    ['max_connections_per_identity', l.max_connections_per_identity],
    ['max_connections_per_source', l.max_connections_per_source],
    ['max_unauthenticated', l.max_unauthenticated],
    ['max_unauthenticated_per_source', l.max_unauthenticated_per_source],
  ];
  return named.filter(([, v]) => v !== undefined && v < count).map(([k, v]) => `limits.${k} (${v})`);
}

/**
 * Worker `n`'s share of an upstream's session capacity. A learned capacity already leaves one
 * connection for the catalog reader; each further worker keeps one more, so those come off first.
 */
export function shareCapacity(capacity: number, learned: boolean, n: number, count: number): number {
  if (count === 1) return capacity;
  return share(learned ? Math.max(1, capacity - (count - 1)) : capacity, n, count);
}

/** Cancel keys: the pid's high byte names the worker, the low 24 bits count its sessions. */
export const KEY_PID_BITS = 24;

export function ownerOfPid(pid: number): number {
  return pid >>> KEY_PID_BITS;
}

/** The pids worker `n` mints: [first, last]. */
export function pidRange(n: number): { first: number; last: number } {
  if (!Number.isInteger(n) || n < 1 || n > 127) throw new Error(`no cancel-key range for worker ${n}`);
  return { first: (n << KEY_PID_BITS) + 1, last: (n << KEY_PID_BITS) + (1 << KEY_PID_BITS) - 1 };
}

/** The audit chain of worker `n`: one chain per worker in the shared store. */
export function workerInstance(base: string, n: number): string {
  return `${base}-w${n}`;
}
