/**
 * The configuration schema (zod): the shape of `pgwarden.yaml`, composed here from the sections
 * each part owns in its own `schema.ts` (identity, upstream, policy, masking, audit, console,
 * review); no part imports this file back. `load.ts` reads, interpolates and validates a file
 * against it and reports problems as `file:line path: problem`.
 */
import { z } from 'zod';
import { policySchema } from '../policy/schema.ts';
import { auditSchema } from '../audit/schema.ts';
import { maskingSchema } from '../masking/schema.ts';
import { consoleSchema } from '../console/schema.ts';
import { reviewsSchema } from '../review/schema.ts';
import { metricsSchema } from '../metrics/schema.ts';
import { tracingSchema } from '../tracing/schema.ts';
import { identitySchema, issuerSchema, type IssuerConfig } from '../identity/schema.ts';
import { upstreamSchema, type UpstreamConfig } from '../upstream/schema.ts';
import { duration, parseDuration } from '../duration.ts';

export { issuerSchema, upstreamSchema, parseDuration, type IssuerConfig, type UpstreamConfig };

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'host:port, e.g. 127.0.0.1:6432');

const tlsFiles = z
  .object({
    cert: z.string().min(1),
    key: z.string().min(1),
  })
  .strict();

export const configSchema = z
  .object({
    listen: z
      .object({
        postgres: hostPort.default('127.0.0.1:6432'),
        http: hostPort.default('127.0.0.1:8080'),
        tls: tlsFiles.optional(),
        /**
         * Require TLS from every client (tokens travel as passwords). Default: on when TLS is
         * configured and `postgres` is off loopback, so a client cannot be downgraded to plaintext.
         */
        require_tls: z.boolean().optional(),
        /** TLS for the HTTP listener (console cookies, admin and approver tokens, `/mcp`). */
        http_tls: tlsFiles.optional(),
        /** Listening off loopback without TLS must be asked for explicitly. */
        allow_insecure_remote: z.boolean().default(false),
        /**
         * Host names (`name` or `name:port`) the HTTP listener answers to besides its listen
         * address, the loopback names and the configured public URLs (DNS-rebinding protection).
         */
        http_hosts: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .default({ postgres: '127.0.0.1:6432', http: '127.0.0.1:8080', allow_insecure_remote: false, http_hosts: [] }),
    upstreams: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/), upstreamSchema).refine((r) => Object.keys(r).length > 0, 'at least one upstream'),
    identity: identitySchema,
    admin: z
      .object({
        /** Subjects or groups allowed to use the admin API. */
        subjects: z.array(z.string()).default([]),
        groups: z.array(z.string()).default([]),
        /**
         * The issuers (URLs or configured names) those subjects and groups belong to; required
         * when several issuers are configured (see checks.ts), default the only one.
         */
        issuers: z.array(z.string().min(1)).min(1).optional(),
        /**
         * Audiences the admin API accepts (a token's `aud` must contain one); default: each
         * issuer's `audience`. Never the MCP resource.
         */
        audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
      })
      .strict()
      .default({ subjects: [], groups: [] }),
    limits: z
      .object({
        /**
         * Largest protocol message a client may send (a Bind with its parameters, a CopyData);
         * a larger one ends the connection (the stream cannot be framed past it).
         */
        max_message_size: z.number().int().min(1024).default(16 * 1024 * 1024),
        /**
         * Largest statement text (Query, Parse) the gateway reads; a longer one is refused with
         * 54000 before it is buffered or parsed, and the session goes on.
         */
        max_statement_size: z.number().int().min(1024).default(1024 * 1024),
        /**
         * Most nodes a statement's parse tree may have (counted off the event loop, for texts of
         * 16 KiB or more); a denser statement is refused with 54000 before its tree is read,
         * since reading and analysing it holds the event loop every session shares (about 0.5 to
         * 1 µs a node).
         */
        max_statement_nodes: z.number().int().min(10_000).default(50_000),
        /** Client bytes the gateway holds (unfinished messages, queued ones) for one identity's sessions together. */
        max_buffered_per_identity: z.number().int().min(1024).default(64 * 1024 * 1024),
        /** Client bytes the gateway holds for all sessions together. */
        max_buffered_total: z.number().int().min(1024).default(256 * 1024 * 1024),
        handshake_timeout: duration.default(10_000),
        max_connections: z.number().int().positive().default(1000),
        /** Default: half the capacity of the upstream a session goes to (at least 1). */
        max_connections_per_identity: z.number().int().positive().optional(),
        max_connections_per_source: z.number().int().positive().default(200),
        /**
         * Connections that have not authenticated yet have a budget of their own, apart from
         * max_connections, so sockets that never sign in cannot take the slots sessions need;
         * when it is full the oldest is dropped for a newcomer.
         */
        max_unauthenticated: z.number().int().positive().default(256),
        max_unauthenticated_per_source: z.number().int().positive().default(16),
        /**
         * Open connections to the HTTP listener (and the metrics listener) from one source
         * address; one more is answered 429 and closed (over TLS, closed), so that one client
         * cannot hold every connection the listener takes.
         */
        max_http_connections_per_source: z.number().int().positive().default(64),
        /** A connection that sends nothing within this time is closed (as PostgreSQL does, silently). */
        first_byte_timeout: duration.default(3_000),
        shutdown_grace: duration.default(10_000),
      })
      .strict()
      .default({
        max_message_size: 16 * 1024 * 1024,
        max_statement_size: 1024 * 1024,
        max_statement_nodes: 50_000,
        max_buffered_per_identity: 64 * 1024 * 1024,
        max_buffered_total: 256 * 1024 * 1024,
        handshake_timeout: 10_000,
        max_connections: 1000,
        max_connections_per_source: 200,
        max_unauthenticated: 256,
        max_unauthenticated_per_source: 16,
        max_http_connections_per_source: 64,
        first_byte_timeout: 3_000,
        shutdown_grace: 10_000,
      }),
    /**
     * Processes serving sessions under `pgwarden start` (see src/cluster/index.ts): `auto` (the
     * available cores, at most 8) or a number. `1` runs the gateway in one process, with no
     * cluster. Read at start only; a reload that changes it is applied at the next start.
     */
    workers: z.union([z.literal('auto'), z.number().int().min(1).max(64)]).default(1),
    log: z
      .object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info') })
      .strict()
      .default({ level: 'info' }),
    /** Who may do what (see src/policy/schema.ts); none = no identity may connect. */
    policies: z.array(policySchema).default([]),
    /** Masking of sensitive columns (see src/masking/schema.ts); none = nothing masked. */
    masking: maskingSchema.optional(),
    /** The audit log: store, streaming sinks, result capture, retention (see src/audit/schema.ts). */
    audit: auditSchema.prefault({}),
    /** The MCP endpoint on the HTTP listener (`/mcp`): see src/mcp/index.ts. */
    mcp: z
      .object({
        enabled: z.boolean().default(true),
        /**
         * The resource identifier tokens are minted for, as clients reach `/mcp`; default
         * `<console.public_url origin>/mcp`, else `<scheme>://<first listen.http_hosts>/mcp`, else
         * `<scheme>://<listen.http>/mcp` (required when listen.http is a wildcard address).
         */
        resource: z.string().url().optional(),
        /**
         * Audiences accepted on `/mcp` (a token's `aud` must contain one), in place of the
         * issuers' `audience`; default: the resource.
         */
        audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
        /** The database tools use when a call names none; default: the first routed one. */
        database: z.string().min(1).optional(),
        /** Most rows a query tool returns (a policy's lower max_rows wins). */
        max_rows: z.number().int().positive().max(100_000).default(500),
        /** An MCP session with no request for this long is closed. */
        idle_timeout: duration.default(30 * 60_000),
        max_sessions: z.number().int().positive().default(1000),
        /**
         * Most open MCP sessions of one identity, so one identity cannot take every session: an
         * initialize beyond it closes that identity's least recently used session when it has
         * been idle for a quarter of idle_timeout (at most a minute), and is refused (429) when
         * none has.
         */
        max_sessions_per_identity: z.number().int().positive().default(100),
      })
      .strict()
      .prefault({}),
    /** Prometheus metrics at `/metrics` (see src/metrics/schema.ts). */
    metrics: metricsSchema.prefault({}),
    /** OpenTelemetry spans per statement over OTLP/HTTP (see src/tracing/schema.ts); off when absent. */
    tracing: tracingSchema.optional(),
    /** The web console for humans (sign-in, roles, cookie secret; see src/console/schema.ts). */
    console: consoleSchema.optional(),
    /** Human review of privileged statements: store, rules, webhooks (see src/review/schema.ts). */
    reviews: reviewsSchema.prefault({}),
    /**
     * Set by `pgwarden demo`: serve the built-in development issuer (and the console's
     * password-less development login). Never in production: `enabled` needs the loud opt-in
     * `unsafe_anyone_can_mint_tokens: true`, and both listeners must be on loopback (see checks.ts).
     */
    dev_issuer: z
      .object({ enabled: z.boolean().default(false), key_file: z.string().optional(), unsafe_anyone_can_mint_tokens: z.boolean().default(false) })
      .strict()
      .optional(),
  })
  .strict();

export type GatewayConfig = z.infer<typeof configSchema>;
