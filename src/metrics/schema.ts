/** The `metrics:` section of the config: Prometheus metrics at `/metrics`. */
import { z } from 'zod';

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'host:port, e.g. 127.0.0.1:9187');

export const metricsSchema = z
  .object({
    /**
     * Default: served when its listener is on loopback or `bearer_token` is set (a listener off
     * loopback with no token serves no metrics). `true` off loopback needs `bearer_token`.
     */
    enabled: z.boolean().optional(),
    /**
     * Serve `/metrics` on a listener of its own (only `/metrics` there); default: on the HTTP
     * listener (`listen.http`).
     */
    listen: hostPort.optional(),
    /**
     * A secret scrapers send as `Authorization: Bearer …`. Required when the listener serving
     * `/metrics` is off loopback; when set, every scrape must carry it.
     */
    bearer_token: z.string().min(16, 'at least 16 characters').optional(),
    /**
     * Time each statement's pipeline stages for `pgwarden_stage_seconds` (a few µs per statement:
     * off by default).
     */
    stage_timings: z.boolean().default(false),
    /** Label statement counters with the identity's subject (unbounded with many identities). */
    identity_labels: z.boolean().default(false),
  })
  .strict();

export type MetricsConfig = z.infer<typeof metricsSchema>;
