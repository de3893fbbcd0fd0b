/**
 * Who is connected: open sessions, connection counts per source address, per identity and per
 * upstream, and the cancel keys the gateway minted for its clients.
 *
 * Upstream capacity is shared: the gateway counts its sessions on each upstream and refuses a new
 * one (53300, naming the limit) before connecting when the upstream's limit is reached, so the
 * database never runs out of connections behind the gateway's back. An identity may hold at most
 * `max_connections_per_identity` sessions; unless configured, that is half the capacity of the
 * upstream it connects to (at least 1), so no single identity can take every connection.
 *
 * Each client gets its own BackendKeyData (a gateway pid and a random secret); a CancelRequest is
 * matched against it in constant time and, when it matches, turned into a CancelRequest with the
 * upstream's own key. A CancelRequest with an unknown key does nothing, as in PostgreSQL.
 *
 * Under several worker processes each registry mints pids from its worker's own range (`keys`),
 * so a key says which worker owns the session; a CancelRequest for a pid outside the range is
 * handed to `keys.forward` (to the owning worker, which matches the secret itself) and is never
 * matched against this worker's sessions.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../errors.ts';
import type { Identity } from '../identity/types.ts';

export interface RegisteredSession {
  identity: Identity;
  terminate(err: GatewayError): void;
  /** Cancel what the session runs; settles once the server has the cancel (or it was dropped). */
  cancel(): Promise<void> | void;
}

export interface Limits {
  max_connections: number;
  /** Unset: half the capacity of the upstream a session goes to (at least 1). */
  max_connections_per_identity?: number;
  max_connections_per_source: number;
  /** Connections still in their handshake (not yet authenticated), in all and per source. */
  max_unauthenticated: number;
  max_unauthenticated_per_source: number;
}

/** A socket waiting to sign in: `start` is called with its release when a slot of its source is free. */
interface Waiter {
  evict: () => void;
  start: (release: () => void) => void;
}

/** The most sessions one identity may hold, given the capacity of the upstream it connects to. */
export function identityLimit(limits: Pick<Limits, 'max_connections_per_identity'>, upstreamCapacity: number): number {
  return limits.max_connections_per_identity ?? Math.max(1, Math.floor(upstreamCapacity / 2));
}

export function identityKey(identity: Pick<Identity, 'issuer' | 'subject'>): string {
  return `${identity.issuer}\u0000${identity.subject}`;
}

function bump(map: Map<string, number>, key: string, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}

/** The cancel-key pids this registry mints, and where a key minted elsewhere goes. */
export interface KeySpace {
  first: number;
  last: number;
  /** A CancelRequest whose pid is outside [first, last]: deliver it to the session's owner. */
  forward(pid: number, secret: Buffer): void;
}

export class SessionRegistry {
  private readonly sessions = new Set<RegisteredSession>();
  private readonly bySource = new Map<string, number>();
  private readonly pendingBySource = new Map<string, number>();
  /** Sockets still signing in, oldest first (insertion order). */
  private readonly pendingQueue = new Set<{ evict: () => void; release: (wake?: boolean) => void }>();
  /** Sockets over their source's limit of sign-ins, waiting for a slot, oldest first. */
  private readonly waiting = new Map<string, Set<Waiter>>();
  private waitingCount = 0;
  private readonly byIdentity = new Map<string, number>();
  private readonly byUpstream = new Map<string, number>();
  private readonly keys = new Map<number, { secret: Buffer; session: RegisteredSession }>();
  private connections = 0;
  private readonly first: number;
  private readonly last: number;
  private nextPid: number;

  constructor(
    private limits: () => Limits,
    private readonly keySpace?: KeySpace,
  ) {
    this.first = keySpace?.first ?? 1;
    this.last = keySpace?.last ?? 0x7fffffff;
    const start = keySpace ? randomBytes(2).readUInt16BE(0) : randomBytes(2).readUInt16BE(0) << 8;
    this.nextPid = this.first + (start % (this.last - this.first + 1));
  }

  get size(): number {
    return this.sessions.size;
  }

  get openConnections(): number {
    return this.connections;
  }

  /**
   * Count a new socket that has not authenticated yet, against a budget of its own: sockets that
   * never sign in cannot use the capacity authenticated sessions need. When the whole budget is
   * full, the oldest socket still signing in is evicted (`evict` is called) to make room, so a
   * flood from many addresses delays newcomers by at most one handshake instead of locking them
   * out. Returns the release (call it at authentication or close, whichever comes first).
   *
   * Over the per-source limit the socket waits, first come first served, for one of its source's
   * sign-ins to end, and `start` is called with its release then: a client library opening its
   * pool at once (twenty connections from one address) signs in as fast as the limit lets it, as
   * all of them would on PostgreSQL. A source may have as many sockets waiting as it could still
   * have sessions (max_connections_per_source less its sessions), and all sources together as
   * many as the gateway could still take (max_connections less its sessions); beyond that the
   * socket is refused (conn.too_many). Returns a function that stops the wait (call it when the
   * socket closes or its handshake times out; it does nothing once `start` was called).
   */
  signIn(source: string, evict: () => void, start: (release: () => void) => void): () => void {
    const l = this.limits();
    const queue = this.waiting.get(source);
    if (!queue && (this.pendingBySource.get(source) ?? 0) < l.max_unauthenticated_per_source) {
      start(this.#pending(source, evict));
      return () => {};
    }
    const waitingHere = queue?.size ?? 0;
    if (waitingHere >= l.max_connections_per_source - (this.bySource.get(source) ?? 0) || this.waitingCount >= l.max_connections - this.connections) {
      throw new GatewayError('conn.too_many', `pgwarden: too many connections still signing in from ${source} (limit ${l.max_unauthenticated_per_source}, and ${waitingHere} waiting)`, {
        hint: 'Open fewer connections at once, or ask the operator to raise limits.max_unauthenticated_per_source.',
      });
    }
    const waiter: Waiter = { evict, start };
    if (queue) queue.add(waiter);
    else this.waiting.set(source, new Set([waiter]));
    this.waitingCount++;
    return () => this.#unwait(source, waiter);
  }

  #unwait(source: string, waiter: Waiter): boolean {
    const queue = this.waiting.get(source);
    if (!queue?.delete(waiter)) return false;
    this.waitingCount--;
    if (queue.size === 0) this.waiting.delete(source);
    return true;
  }

  /** Sockets waiting for a sign-in slot of their source. */
  get waitingConnections(): number {
    return this.waitingCount;
  }

  #pending(source: string, evict: () => void): () => void {
    const l = this.limits();
    while (this.pendingQueue.size >= l.max_unauthenticated) {
      const [oldest] = this.pendingQueue;
      this.pendingQueue.delete(oldest);
      // An eviction wakes no waiter of the evicted socket's source: that waiter would evict the
      // next oldest in turn, and so on through every socket signing in.
      oldest.release(false);
      oldest.evict();
    }
    const entry = { evict, release: (_wake?: boolean) => {} };
    let released = false;
    entry.release = (wake = true) => {
      if (released) return;
      released = true;
      this.pendingQueue.delete(entry);
      bump(this.pendingBySource, source, -1);
      if (wake) this.#wake(source);
    };
    this.pendingQueue.add(entry);
    bump(this.pendingBySource, source, 1);
    return () => entry.release();
  }

  /** A sign-in of `source` ended: the first of its waiting sockets may sign in now. */
  #wake(source: string): void {
    const queue = this.waiting.get(source);
    if (!queue || (this.pendingBySource.get(source) ?? 0) >= this.limits().max_unauthenticated_per_source) return;
    const [next] = queue;
    this.#unwait(source, next);
    next.start(this.#pending(source, next.evict));
  }

  get pendingConnections(): number {
    return this.pendingQueue.size;
  }

  /** Count an authenticated connection from `source`; throws conn.too_many over a limit. Returns its release. */
  openConnection(source: string): () => void {
    const l = this.limits();
    if (this.connections >= l.max_connections) {
      throw new GatewayError('conn.too_many', `pgwarden: too many connections (limit ${l.max_connections})`);
    }
    if ((this.bySource.get(source) ?? 0) >= l.max_connections_per_source) {
      throw new GatewayError('conn.too_many', `pgwarden: too many connections from ${source} (limit ${l.max_connections_per_source})`);
    }
    this.connections++;
    bump(this.bySource, source, 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.connections--;
      bump(this.bySource, source, -1);
    };
  }

  /**
   * Count an authenticated identity's session on `upstream`, whose capacity is `capacity`
   * sessions; throws conn.too_many (53300) over the identity's or the upstream's limit, before
   * anything is opened upstream. Returns its release.
   */
  /** `setting`: the setting that bounds `capacity`, named in the refusal's hint. */
  admit(identity: Identity, upstream: string, capacity: number, setting = `upstreams.${upstream}.max_connections`): () => void {
    const l = this.limits();
    const key = identityKey(identity);
    const perIdentity = identityLimit(l, capacity);
    if ((this.byIdentity.get(key) ?? 0) >= perIdentity) {
      const why = l.max_connections_per_identity === undefined ? `limit ${perIdentity}, half the capacity of upstream "${upstream}"` : `limit ${perIdentity}`;
      throw new GatewayError('conn.too_many', `pgwarden: too many connections for ${identity.subject} (${why})`, {
        hint: 'Close idle connections, or ask the operator to raise limits.max_connections_per_identity.',
      });
    }
    if ((this.byUpstream.get(upstream) ?? 0) >= capacity) {
      throw new GatewayError('conn.too_many', `pgwarden: upstream "${upstream}" has no free connections (limit ${capacity})`, {
        hint: `The gateway holds ${capacity} sessions to this database already; try again when one closes, or ask the operator to raise ${setting}.`,
      });
    }
    bump(this.byIdentity, key, 1);
    bump(this.byUpstream, upstream, 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      bump(this.byIdentity, key, -1);
      bump(this.byUpstream, upstream, -1);
    };
  }

  /** Sessions the gateway holds on an upstream. */
  upstreamSessions(upstream: string): number {
    return this.byUpstream.get(upstream) ?? 0;
  }

  /** Random bytes for cancel secrets, drawn in bulk: one randomBytes() call costs ~20 µs. */
  #random = Buffer.alloc(0);
  #randomAt = 0;

  /** A cancel secret: 4 bytes of its own (a copy, not a view of the shared pool). */
  #secret(): Buffer {
    if (this.#randomAt + 4 > this.#random.length) {
      this.#random = randomBytes(4096);
      this.#randomAt = 0;
    }
    const secret = Buffer.from(this.#random.subarray(this.#randomAt, this.#randomAt + 4));
    this.#randomAt += 4;
    return secret;
  }

  /** Register a running session and mint its client-facing cancel key. */
  register(session: RegisteredSession): { pid: number; secret: Buffer; unregister: () => void } {
    let pid = this.nextPid;
    while (this.keys.has(pid)) pid = pid >= this.last ? this.first : pid + 1;
    this.nextPid = pid >= this.last ? this.first : pid + 1;
    const secret = this.#secret();
    this.keys.set(pid, { secret, session });
    this.sessions.add(session);
    return {
      pid,
      secret,
      unregister: () => {
        this.sessions.delete(session);
        if (this.keys.get(pid)?.session === session) this.keys.delete(pid);
      },
    };
  }

  /**
   * Handle a CancelRequest: true when the key matched a session. `delivered` gets a promise that
   * settles once the session's server has the cancel (see `RegisteredSession.cancel`).
   */
  cancel(pid: number, secret: Buffer, delivered?: (done: Promise<void>) => void): boolean {
    if (this.keySpace && (pid < this.first || pid > this.last)) {
      this.keySpace.forward(pid, secret);
      return false;
    }
    return this.cancelHere(pid, secret, delivered);
  }

  /** A CancelRequest matched against this registry's own sessions only (never forwarded). */
  cancelHere(pid: number, secret: Buffer, delivered?: (done: Promise<void>) => void): boolean {
    const entry = this.keys.get(pid);
    if (!entry || entry.secret.length !== secret.length || !timingSafeEqual(entry.secret, secret)) return false;
    const done = Promise.resolve(entry.session.cancel());
    delivered?.(done);
    return true;
  }

  /** Is `pid` one this registry mints (not another worker's)? */
  owns(pid: number): boolean {
    return !this.keySpace || (pid >= this.first && pid <= this.last);
  }

  /** Terminate every session whose identity matches; returns how many. */
  terminateWhere(match: (identity: Identity) => boolean, err: () => GatewayError): number {
    let n = 0;
    for (const s of [...this.sessions]) {
      if (match(s.identity)) {
        s.terminate(err());
        n++;
      }
    }
    return n;
  }

  all(): RegisteredSession[] {
    return [...this.sessions];
  }
}
