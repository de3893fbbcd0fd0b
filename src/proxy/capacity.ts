/**
 * How many sessions the gateway may hold on each upstream.
 *
 * `upstreams.<name>.max_connections` when configured; otherwise learned from the server at the
 * first connection that needs it: `max_connections` less the slots PostgreSQL reserves
 * (`superuser_reserved_connections`, and `reserved_connections` from PostgreSQL 16), bounded by
 * the connection limits of the gateway's upstream role and of its database, less the one
 * connection the gateway keeps for reading the catalog. This assumes the gateway is the
 * database's only client; when it is not (other applications, several gateway instances),
 * configure `max_connections` explicitly.
 */
import { GatewayError } from '../errors.ts';
import type { SqlSession } from '../upstream/index.ts';

/** What the server says of its connection limits (-1: no limit, as in the catalogs). */
export interface ServerConnectionLimits {
  maxConnections: number;
  reserved: number;
  roleLimit: number;
  databaseLimit: number;
}

/** Connections the gateway itself keeps on each upstream besides sessions (the catalog reader). */
const OWN_CONNECTIONS = 1;

/** The sessions the gateway may open on a server with these limits (at least 1). */
export function capacityFrom(l: ServerConnectionLimits): number {
  let n = l.maxConnections - l.reserved;
  if (l.roleLimit >= 0) n = Math.min(n, l.roleLimit);
  if (l.databaseLimit >= 0) n = Math.min(n, l.databaseLimit);
  return Math.max(1, n - OWN_CONNECTIONS);
}

export const LIMITS_QUERY = `select current_setting('max_connections'),
  current_setting('superuser_reserved_connections'),
  coalesce(current_setting('reserved_connections', true), '0'),
  (select rolconnlimit from pg_catalog.pg_roles where rolname = current_user),
  (select datconnlimit from pg_catalog.pg_database where datname = current_database())`;

/** Ask a server for its connection limits over a session of the gateway's own. */
export async function readServerLimits(session: SqlSession): Promise<ServerConnectionLimits> {
  const rows = await session.query(LIMITS_QUERY);
  const r = rows[0];
  const num = (v: string | null | undefined, dflt: number) => {
    const n = v === null || v === undefined ? dflt : Number(v);
    if (!Number.isInteger(n)) throw new Error(`unexpected connection limit ${String(v)}`);
    return n;
  };
  if (!r) throw new Error('the server returned no connection limits');
  return { maxConnections: num(r[0], NaN), reserved: num(r[1], 0) + num(r[2], 0), roleLimit: num(r[3], -1), databaseLimit: num(r[4], -1) };
}

export interface CapacityDeps {
  /** The configured `max_connections` of an upstream, if any. */
  configured(upstream: string): number | undefined;
  /** Open a session of the gateway's own on an upstream (closed by the caller). */
  connect(upstream: string): Promise<SqlSession>;
}

/** Capacities per upstream, learned once each (single flight); `forget()` after a config reload. */
export class UpstreamCapacities {
  private readonly known = new Map<string, number>();
  private readonly pending = new Map<string, Promise<number>>();

  constructor(private readonly deps: CapacityDeps) {}

  /** The capacity when it is known without asking the server. */
  peek(upstream: string): number | undefined {
    return this.deps.configured(upstream) ?? this.known.get(upstream);
  }

  async get(upstream: string): Promise<number> {
    const now = this.peek(upstream);
    if (now !== undefined) return now;
    let p = this.pending.get(upstream);
    if (!p) {
      p = this.learn(upstream).finally(() => this.pending.delete(upstream));
      this.pending.set(upstream, p);
    }
    return p;
  }

  private async learn(upstream: string): Promise<number> {
    let session: SqlSession;
    try {
      session = await this.deps.connect(upstream);
    } catch (err) {
      throw err instanceof GatewayError ? err : new GatewayError('upstream.unavailable', 'pgwarden: could not reach upstream', { cause: err });
    }
    try {
      const n = capacityFrom(await readServerLimits(session));
      this.known.set(upstream, n);
      return n;
    } catch (err) {
      throw new GatewayError('upstream.unavailable', `pgwarden: could not read the connection limits of upstream "${upstream}"`, {
        cause: err,
        hint: `Configure upstreams.${upstream}.max_connections.`,
      });
    } finally {
      void session.close().catch(() => {});
    }
  }

  forget(): void {
    this.known.clear();
  }
}
