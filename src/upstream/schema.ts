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
  })
  .strict();

export type UpstreamConfig = z.infer<typeof upstreamSchema>;
