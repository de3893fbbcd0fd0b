/**
 * The SIEM exporters' entries in `audit.sinks`, next to `jsonl`:
 *
 * ```yaml
 * sinks:
 *   - syslog: { url: tls://siem.example.com:6514, ca: ./siem-ca.pem }
 *   - http: { url: https://splunk.example.com:8088, format: splunk_hec, token: ${env:HEC_TOKEN} }
 * ```
 *
 * Unlike a `jsonl` sink, an exporter delivers at least once: it reads from the audit store from a
 * durable cursor and retries until the receiver has the records.
 */
import { z } from 'zod';

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/;
const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** A duration (`500ms`, `30s`, `5m`) or a bare number of seconds, in milliseconds. */
const duration = z
  .union([z.number().nonnegative(), z.string().regex(DURATION, 'a duration such as 500ms, 30s or 5m')])
  .transform((v) => {
    if (typeof v === 'number') return Math.round(v * 1000);
    const m = DURATION.exec(v.trim()) as RegExpExecArray;
    return Math.round(Number(m[1]) * UNITS[m[2] as keyof typeof UNITS]);
  });

const size = z
  .union([z.number().int().positive(), z.string().regex(/^\d+\s*(B|kB|KB|MB)$/, 'a size such as 512kB or 4MB')])
  .transform((v) => {
    if (typeof v === 'number') return v;
    const m = /^(\d+)\s*(B|kB|KB|MB)$/.exec(v) as RegExpExecArray;
    return Number(m[1]) * { B: 1, kB: 1024, KB: 1024, MB: 1024 ** 2 }[m[2] as 'B' | 'kB' | 'KB' | 'MB'];
  });

/** Names a cursor file, so it must stay a plain file name. */
const exporterName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, "_", "." and "-" (at most 64)');

const batchSchema = z
  .object({
    /** Most records (and checkpoints) in one batch. */
    max_records: z.number().int().min(1).max(10_000).default(500),
    /** Most bytes of encoded messages in one batch (a single larger record still goes alone). */
    max_bytes: size.default(1024 * 1024),
    /** How long a new record waits for others to share its batch (a full batch goes at once). */
    interval: duration.default(1000),
  })
  .strict();

const retrySchema = z
  .object({
    /** Delay after the first failure; it doubles at each failure after that… */
    initial: duration.default(500),
    /** …up to this. Each delay is drawn at random between half of it and all of it. */
    max: duration.default(60_000),
  })
  .strict();

/** Options every exporter has. */
const common = {
  /** Names the cursor file (default: from the URL, e.g. `syslog-siem.example.com-6514`). */
  name: exporterName.optional(),
  /**
   * Where the durable cursor is kept (default: next to a SQLite audit log, else in
   * `./pgwarden-data/`, as `siem-NAME.cursor`).
   */
  cursor: z.string().min(1).optional(),
  /** Where a new exporter (no cursor yet) starts: every record the store holds, or the head. */
  from: z.enum(['oldest', 'now']).default('oldest'),
  batch: batchSchema.default({ max_records: 500, max_bytes: 1024 * 1024, interval: 1000 }),
  retry: retrySchema.default({ initial: 500, max: 60_000 }),
  /** Look at the store this often even when no commit was announced. */
  poll: duration.default(2000),
  /** At shutdown, keep delivering for at most this long before the cursor is saved. */
  shutdown_grace: duration.default(3000),
};

export const SYSLOG_FACILITIES = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11, ntp: 12, audit: 13, alert: 14, clock: 15,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
} as const;

export const syslogOptionsSchema = z
  .object({
    /** `tcp://HOST:PORT` (RFC 6587 octet counting) or `tls://HOST:PORT` (RFC 5425). */
    url: z.string().regex(/^(tcp|tls):\/\/(\[[0-9a-fA-F:]+\]|[^:/\s]+):\d{1,5}$/, 'tcp://HOST:PORT or tls://HOST:PORT'),
    /** PEM file of the CA that signed the receiver's certificate (TLS; default: the system's CAs). */
    ca: z.string().min(1).optional(),
    /** Client certificate and key (PEM files), for a receiver that requires mutual TLS. */
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    /** The name the receiver's certificate must carry (default: the URL's host). */
    server_name: z.string().min(1).optional(),
    facility: z.enum(Object.keys(SYSLOG_FACILITIES) as [keyof typeof SYSLOG_FACILITIES, ...(keyof typeof SYSLOG_FACILITIES)[]]).default('audit'),
    /** SD-ID of the structured data element (`name@private-enterprise-number`). */
    sd_id: z.string().regex(/^[!-~]{1,32}$/, 'at most 32 printable characters without spaces').refine((s) => !/[=\]"]/.test(s), 'must not contain =, ] or "').default('pgwarden@32473'),
    /**
     * Syslog over TCP has no acknowledgement: a batch counts as delivered once it was written and
     * the connection stayed up this long after (a receiver that closes or resets the connection
     * sooner gets it again).
     */
    confirm_after: duration.default(1000),
    /** Give up a connection attempt after this long. */
    connect_timeout: duration.default(10_000),
    ...common,
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.url.startsWith('tcp:')) {
      for (const k of ['ca', 'cert', 'key', 'server_name'] as const) if (s[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: 'only with a tls:// url' });
    }
    if ((s.cert === undefined) !== (s.key === undefined)) ctx.addIssue({ code: 'custom', path: [s.cert === undefined ? 'cert' : 'key'], message: 'cert and key go together' });
  });

export const HTTP_FORMATS = ['splunk_hec', 'elastic_bulk', 'ndjson'] as const;

export const httpOptionsSchema = z
  .object({
    /**
     * The receiver: for `splunk_hec` and `elastic_bulk`, a URL with no path gets the format's
     * (`/services/collector/event`, `/_bulk`).
     */
    url: z.string().url().regex(/^https?:\/\//, 'an http:// or https:// URL'),
    format: z.enum(HTTP_FORMATS),
    /**
     * Sent as `Authorization: Splunk <token>` (splunk_hec), `ApiKey <token>` (elastic_bulk) or
     * `Bearer <token>` (ndjson). Use ${env:…} or ${file:…}.
     */
    token: z.string().min(1).optional(),
    /** More request headers (e.g. `Authorization: Basic …` instead of `token`). */
    headers: z.record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'an HTTP header name'), z.string()).default({}),
    /** PEM file of the CA that signed the receiver's certificate (https; default: the system's CAs). */
    ca: z.string().min(1).optional(),
    /** elastic_bulk: the index (or data stream) the records are created in. */
    index: z.string().min(1).optional(),
    /** splunk_hec: `source`, `sourcetype` and optional `index` of the events. */
    source: z.string().min(1).default('pgwarden'),
    sourcetype: z.string().min(1).default('pgwarden:audit'),
    /** Give up a request after this long (then retry). */
    timeout: duration.default(10_000),
    ...common,
  })
  .strict()
  .superRefine((h, ctx) => {
    if (h.token !== undefined && Object.keys(h.headers).some((k) => k.toLowerCase() === 'authorization')) {
      ctx.addIssue({ code: 'custom', path: ['headers'], message: 'an Authorization header and a token: give one of them' });
    }
    if (h.format !== 'elastic_bulk' && h.format !== 'splunk_hec' && h.index !== undefined) ctx.addIssue({ code: 'custom', path: ['index'], message: 'only with format splunk_hec or elastic_bulk' });
  });

export const syslogSinkSchema = z.object({ syslog: syslogOptionsSchema }).strict();
export const httpSinkSchema = z.object({ http: httpOptionsSchema }).strict();

export type SyslogExportConfig = z.infer<typeof syslogOptionsSchema>;
export type HttpExportConfig = z.infer<typeof httpOptionsSchema>;
export type ExportConfig = { syslog: SyslogExportConfig } | { http: HttpExportConfig };

/** The exporter's default name, from its URL: what its cursor file is called. */
export function exporterNameOf(c: ExportConfig): string {
  if ('syslog' in c) {
    if (c.syslog.name) return c.syslog.name;
    const u = new URL(c.syslog.url);
    return safeName(`syslog-${u.hostname}-${u.port}`);
  }
  if (c.http.name) return c.http.name;
  const u = new URL(c.http.url);
  return safeName(`${c.http.format}-${u.hostname}-${u.port || (u.protocol === 'https:' ? '443' : '80')}`);
}

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64);
}
