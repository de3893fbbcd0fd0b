/**
 * The `audit:` section of `pgwarden.yaml`. Every field has a default, so `audit: {}` (or no
 * section at all) means: a SQLite store next to the other state, no streaming sink, no result
 * capture, 30 days of retention, fail closed.
 */
import { z } from 'zod';
import { exporterNameOf, httpSinkSchema, syslogSinkSchema, type ExportConfig } from './siem/schema.ts';

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

function durationMs(text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw new Error(`not a duration: ${text}`);
  return Math.round(Number(m[1]) * UNITS[m[2] as keyof typeof UNITS]);
}

/** A duration (`30d`, `12h`, `500ms`) or a bare number of seconds, in milliseconds. */
const duration = z
  .union([z.number().nonnegative(), z.string().regex(DURATION, 'a duration such as 500ms, 30s, 5m, 12h, 30d')])
  .transform((v) => (typeof v === 'number' ? v * 1000 : durationMs(v)));

/** `10MB`, `512kB`, `1GB` or a bare number of bytes. */
const size = z
  .union([z.number().int().positive(), z.string().regex(/^\d+\s*(B|kB|KB|MB|GB)$/, 'a size such as 512kB, 100MB or 1GB')])
  .transform((v) => {
    if (typeof v === 'number') return v;
    const m = /^(\d+)\s*(B|kB|KB|MB|GB)$/.exec(v) as RegExpExecArray;
    const unit = { B: 1, kB: 1024, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[m[2] as 'B' | 'kB' | 'KB' | 'MB' | 'GB'];
    return Number(m[1]) * unit;
  });

export const auditStoreUrl = z
  .string()
  .regex(/^(sqlite:.+|postgres(ql)?:\/\/.+|memory)$/, 'sqlite:PATH, postgres://… or memory');

export const jsonlSinkSchema = z
  .object({
    /** A file path, or `-` for standard output. */
    jsonl: z.string().min(1),
    /** Rotate the file once it reaches this size (`file` → `file.1` → `file.2` …). Files only. */
    rotate_bytes: size.optional(),
    /** How many rotated files to keep. */
    keep: z.number().int().min(1).max(1000).default(5),
  })
  .strict();

export const auditSchema = z
  .object({
    /** Where records are kept: `sqlite:PATH` (relative to the config file), `postgres://…` (shared), `memory`. */
    store: auditStoreUrl.default('sqlite:./pgwarden-data/audit.db'),
    /**
     * Journal durability: `normal` (a record has reached the OS before the statement runs, so it
     * survives a crash of the gateway; the OS writes it to disk shortly after) or `full` (also
     * fdatasynced before the statement runs: survives an OS crash or power loss, one per group).
     */
    sync: z.enum(['normal', 'full']).default('normal'),
    /**
     * Directory of the write-ahead journal (relative to the config file): segment files a
     * statement's record is appended to before the statement runs; the store is the index fed
     * from it. Default: `journal` next to the SQLite file, `./pgwarden-data/journal` with a
     * PostgreSQL store; with `store: memory` no journal unless one is set.
     */
    journal: z.string().min(1).optional(),
    /** A journal segment is closed and a new one begun once it passes this size. */
    journal_segment_size: size.default(64 * 1024 * 1024),
    /** Password for a `postgres://` store (use `${env:…}` or `${file:…}`). */
    password: z.string().optional(),
    /**
     * Streaming copies for a SIEM: `jsonl` (a file or stdout, written after each store commit,
     * best effort), `syslog` and `http` (exported from the store at least once, see siem/).
     */
    sinks: z
      .array(z.union([jsonlSinkSchema, syslogSinkSchema, httpSinkSchema]))
      .default([])
      .superRefine((sinks, ctx) => {
        // Each exporter keeps its own cursor file, named after it: two may not share one.
        const seen = new Map<string, number>();
        sinks.forEach((s, i) => {
          if ('jsonl' in s) return;
          const name = exporterNameOf(s as ExportConfig);
          if (seen.has(name)) ctx.addIssue({ code: 'custom', path: [i, 'syslog' in s ? 'syslog' : 'http', 'name'], message: `sinks[${seen.get(name)}] has the same name "${name}": give one of them another name (it names the cursor file)` });
          else seen.set(name, i);
        });
      }),
    /** Record the rows a client received, masked exactly as it saw them. */
    capture_results: z.enum(['none', 'masked']).default('none'),
    /** At most this many rows are captured per statement. */
    capture_rows: z.number().int().min(0).default(100),
    /** Records older than this are deleted (the chain stays verifiable from an anchor). `0` keeps everything. */
    retention: duration.default(30 * 86_400_000),
    /** Refuse a statement whose audit record cannot be written. */
    fail_closed: z.boolean().default(true),
    /**
     * How long a record waits at rest for others to share its commit. 0 (the default) commits at
     * once; records that arrive while a commit runs share the next one anyway.
     */
    group_commit_ms: z.number().min(0).max(1000).default(0),
    /**
     * Secret key of the signed head checkpoints and retention anchors (HMAC-SHA256), kept out of
     * the store: use `${env:…}` or `${file:…}`. At least 32 characters. `pgwarden audit verify`
     * needs the same key to check signatures.
     */
    checkpoint_key: z.string().min(32, 'at least 32 characters (e.g. 32 random bytes, base64)').optional(),
    /** How often a head checkpoint is written to the log and the sinks (also at shutdown). */
    checkpoint_every: duration.default(60_000),
    /** Name of this gateway's hash chain in a shared store (default: the host name). */
    instance: z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/).optional(),
  })
  .strict();

export type AuditConfig = z.infer<typeof auditSchema>;
export type AuditConfigInput = z.input<typeof auditSchema>;
export type JsonlSinkConfig = z.infer<typeof jsonlSinkSchema>;
export type SinkConfig = AuditConfig['sinks'][number];

/** The defaults, for callers with no `audit:` section. */
export function defaultAuditConfig(): AuditConfig {
  return auditSchema.parse({});
}
