/**
 * Who is connected: open sessions, connection counts per source address and per identity, and
 * the cancel keys the gateway minted for its clients.
 *
 * Each client gets its own BackendKeyData (a gateway pid and a random secret); a CancelRequest is
 * matched against it in constant time and, when it matches, turned into a CancelRequest with the
 * upstream's own key. A CancelRequest with an unknown key does nothing, as in PostgreSQL.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../errors.ts';
import type { Identity } from '../identity/types.ts';

export interface RegisteredSession {
  identity: Identity;
  terminate(err: GatewayError): void;
  cancel(): void;
}

export interface Limits {
  max_connections: number;
  max_connections_per_identity: number;
  max_connections_per_source: number;
}

export function identityKey(identity: Pick<Identity, 'issuer' | 'subject'>): string {
  return `${identity.issuer}\u0000${identity.subject}`;
}

function bump(map: Map<string, number>, key: string, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}

export class SessionRegistry {
  private readonly sessions = new Set<RegisteredSession>();
  private readonly bySource = new Map<string, number>();
  private readonly byIdentity = new Map<string, number>();
  private readonly keys = new Map<number, { secret: Buffer; session: RegisteredSession }>();
  private connections = 0;
  private nextPid = 1 + (randomBytes(2).readUInt16BE(0) << 8);

  constructor(private limits: () => Limits) {}

  get size(): number {
    return this.sessions.size;
  }

  get openConnections(): number {
    return this.connections;
  }

  /** Count a new socket from `source`; throws conn.too_many over a limit. Returns its release. */
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

  /** Count an authenticated identity; throws conn.too_many over its limit. Returns its release. */
  admit(identity: Identity): () => void {
    const l = this.limits();
    const key = identityKey(identity);
    if ((this.byIdentity.get(key) ?? 0) >= l.max_connections_per_identity) {
      throw new GatewayError('conn.too_many', `pgwarden: too many connections for ${identity.subject} (limit ${l.max_connections_per_identity})`);
    }
    bump(this.byIdentity, key, 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      bump(this.byIdentity, key, -1);
    };
  }

  /** Register a running session and mint its client-facing cancel key. */
  register(session: RegisteredSession): { pid: number; secret: Buffer; unregister: () => void } {
    let pid = this.nextPid;
    while (this.keys.has(pid)) pid = pid >= 0x7fffffff ? 1 : pid + 1;
    this.nextPid = pid >= 0x7fffffff ? 1 : pid + 1;
    const secret = randomBytes(4);
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

  /** Handle a CancelRequest: true when the key matched a session. */
  cancel(pid: number, secret: Buffer): boolean {
    const entry = this.keys.get(pid);
    if (!entry || entry.secret.length !== secret.length || !timingSafeEqual(entry.secret, secret)) return false;
    entry.session.cancel();
    return true;
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
