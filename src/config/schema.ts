/**
 * The configuration schema (zod). This file is the single source of truth for the shape of
 * `pgwarden.yaml`; `load.ts` reads, interpolates and validates a file against it and reports
 * problems as `file:line path: problem`.
 */
import { z } from 'zod';
import { policySchema } from '../policy/schema.ts';
import { auditSchema } from '../audit/schema.ts';
import { maskingSchema } from '../masking/schema.ts';
import { consoleSchema } from '../console/schema.ts';
import { reviewsSchema } from '../review/schema.ts';

const duration = z
  .union([z.number().nonnegative(), z.string().regex(/^\d+(\.\d+)?\s*(ms|s|m|h|d)$/, 'a duration such as 500ms, 30s, 5m, 1h')])
  .transform((v) => (typeof v === 'number' ? v * 1000 : parseDuration(v)));

/** Parse `500ms`, `30s`, `5m`, `1h`, `2d` into milliseconds. A bare number is seconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) throw new Error(`not a duration: ${text}`);
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Math.round(n * unit);
}

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'host:port, e.g. 127.0.0.1:6432');

const tlsFiles = z
  .object({
    cert: z.string().min(1),
    key: z.string().min(1),
  })
  .strict();

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

export const issuerSchema = z
  .object({
    issuer: z.string().url(),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    /** JWKS location; discovered from `${issuer}/.well-known/openid-configuration` when absent. */
    jwks_uri: z.string().url().optional(),
    algorithms: z
      .array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']))
      .min(1)
      .default(['RS256', 'PS256', 'ES256', 'EdDSA']),
    /** Claims tried in order for the subject. */
    subject_claims: z.array(z.string().min(1)).min(1).default(['sub', 'client_id', 'azp']),
    /** Dotted path to the groups claim (e.g. `realm_access.roles`); string or array values. */
    groups_claim: z.string().min(1).default('groups'),
    clock_tolerance: duration.default(30_000),
    /** Shorter name used in policies (`match.issuer`) and logs. */
    name: z.string().optional(),
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
    identity: z
      .object({
        issuers: z.array(issuerSchema).min(1),
        /** After a token expires, an open session may finish for this long before it is ended. */
        expiry_grace: duration.default(0),
        /** Cooldown between JWKS refetches triggered by an unknown `kid`, and between retries of a failed discovery or key fetch. */
        jwks_cooldown: duration.default(30_000),
        /**
         * Startup user names a wire client may give besides its token's subject (which is always
         * accepted). Any other name is refused with 28000, as PostgreSQL refuses a wrong role.
         * Default `agent`, the generic name of the examples and published MCP server configs.
         */
        user_names: z.array(z.string().min(1)).optional(),
      })
      .strict(),
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
        first_byte_timeout: 3_000,
        shutdown_grace: 10_000,
      }),
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
      })
      .strict()
      .prefault({}),
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
export type UpstreamConfig = z.infer<typeof upstreamSchema>;
export type IssuerConfig = z.infer<typeof issuerSchema>;
