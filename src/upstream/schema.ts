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
         * DISCARD ALL before another gets it. (Transaction pooling is not available yet.)
         */
        mode: z.literal('session', { error: 'only session pooling is available (transaction mode is not implemented yet)' }).default('session'),
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
