/**
 * One entry of the `upstreams:` section of `pgwarden.yaml` (the config loader composes it into
 * the whole schema; this part owns its shape).
 */
import { z } from 'zod';
import { duration } from '../duration.ts';

export const upstreamSchema = z
  .object({
    /** postgres://user@host:port/dbname — the password, if any, is in `password`. */
    url: z.string().regex(/^postgres(ql)?:\/\//, 'a postgres:// URL'),
    password: z.string().optional(),
    /** Client-facing database names that route to this upstream (default: the upstream's key). */
    databases: z.array(z.string().min(1)).optional(),
    tls: z
      .object({
        mode: z.enum(['disable', 'require', 'verify-ca', 'verify-full']).default('disable'),
        ca: z.string().optional(),
        servername: z.string().optional(),
      })
      .strict()
      .default({ mode: 'disable' }),
    connect_timeout: duration.default(10_000),
    /**
     * Most sessions the gateway holds on this upstream; beyond it a new session is refused with
     * 53300. Default: learned from the server (max_connections less reserved slots, bounded by
     * the role's and database's connection limits, less the catalog connection).
     */
    max_connections: z.number().int().positive().optional(),
    /**
     * Reuse server connections between client sessions (see src/upstream/pool.ts). Absent: each
     * session opens a connection of its own and closes it when it ends.
     */
    pool: z
      .object({
        /**
         * `session`: a server connection serves one client session at a time and is reset with
         * DISCARD ALL before another gets it. `transaction`: a server connection is lent for one
         * transaction (or one statement outside a transaction); see src/upstream/transaction-lease.ts.
         */
        mode: z.enum(['session', 'transaction']).default('session'),
        /**
         * Transaction mode: what to do with a statement that leaves state a server connection
         * cannot hand on (a temporary table, LISTEN, a session advisory lock, a WITH HOLD cursor,
         * SQL-level PREPARE, SET ROLE): `pin` keeps the session on its connection until it ends;
         * `refuse` refuses the statement (0A000).
         */
        on_session_state: z.enum(['pin', 'refuse']).default('pin'),
        /**
         * Transaction mode: most sessions of one identity pinned to a server connection of this
         * pool at once (default: half of `size`, at least 1); a statement that would pin one more
         * is refused (53400), so one identity cannot take every connection of the pool.
         */
        max_pinned_per_identity: z.number().int().positive().optional(),
        /**
         * Transaction mode: most client sessions on this upstream (they no longer each hold a
         * server connection, so max_connections does not bound them).
         */
        max_clients: z.number().int().positive().default(1000),
        /** Most server connections open (leased, idle or opening); never more than max_connections. */
        size: z.number().int().positive().default(20),
        /** Idle connections kept open for the next sessions. */
        min_idle: z.number().int().min(0).default(0),
        /** An idle connection beyond min_idle is closed after this long. */
        idle_timeout: duration.default(60_000),
        /** A session that finds no free connection waits this long, then gets 53300. */
        max_client_wait: duration.default(5_000),
      })
      .strict()
      .optional(),
  })
  .strict();

export type UpstreamConfig = z.infer<typeof upstreamSchema>;
