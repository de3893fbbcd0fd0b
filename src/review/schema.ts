/**
 * The `reviews:` section of pgwarden.yaml: where reviews are kept, which statements need a human's
 * approval before they run, who may approve them, and who hears about them.
 *
 * ```yaml
 * reviews:
 *   store: sqlite:./pgwarden-data/reviews.db   # relative to the config file; postgres://… shared; `memory` for tests
 *   rules:
 *     - name: destructive
 *       when: [destructive, alter, grant, revoke, vacuum_full]
 *       tables: [public.*]                     # optional: only statements touching these
 *       match: { groups: [migrations] }        # optional: only these identities (default: every one)
 *       approvers: { groups: [dba], count: 1 }
 *       mode: wait                             # or defer
 *       timeout: 15m                           # how long a request waits for a decision
 *       window: 1h                             # how long an approval stays usable (once)
 *     - name: blast-radius
 *       when: [delete, update]
 *       max_rows: 1000                         # only when more rows than this would be affected
 *       approvers: { groups: [dba] }
 *   webhooks:
 *     - url: https://hooks.slack.com/services/…
 *       format: slack                          # or json
 *       secret: ${env:PGWARDEN_WEBHOOK_SECRET}
 *       events: [created, approved, rejected, expired, abandoned]
 * ```
 *
 * A bare list (`reviews: [ {name: …}, … ]`) is read as `rules:` with the other keys defaulted.
 * Messages describe expectations only and never echo the value found (config/issues.ts's rule).
 */
import { z } from 'zod';
import { patternProblem } from '../policy/pattern.ts';

/** What can trigger a review, read from the statement's analysis (see rules.ts for each). */
export const REVIEW_TRIGGERS = [
  // Command families. `drop` is every removal: DROP of any object, and the DROP forms of ALTER
  // (column, constraint, default, NOT NULL, partition detach, …).
  'drop',
  // Table rewrites: ALTER COLUMN TYPE, SET EXPRESSION, SET ACCESS METHOD, SET LOGGED/UNLOGGED,
  // CLUSTER, VACUUM FULL.
  'rewrite',
  // Anything that destroys data or schema: drop, rewrite, truncate and unbounded DELETE/UPDATE.
  'destructive',
  'truncate',
  'alter',
  'create',
  'grant',
  'revoke',
  'vacuum_full',
  'insert',
  'update',
  'delete',
  'merge',
  // Statement classes.
  'ddl',
  'dcl',
  'write',
  // Markers the analyser sets.
  'delete_without_where',
  'update_without_where',
  'copy_program',
  'copy_file',
  'copy_from_stdin',
  'do_block',
  'lock',
  'cte_write',
  'select_into',
] as const;
export type ReviewTrigger = (typeof REVIEW_TRIGGERS)[number];

export const WEBHOOK_EVENTS = ['created', 'approved', 'rejected', 'expired', 'abandoned'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;
const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

const duration = z
  .union([z.number().positive(), z.string().regex(DURATION, 'a duration such as 30s, 15m, 1h')])
  .transform((v) => {
    if (typeof v === 'number') return Math.round(v * 1000);
    const m = DURATION.exec(v.trim()) as RegExpExecArray;
    return Math.round(Number(m[1]) * UNITS[m[2] as keyof typeof UNITS]);
  })
  .refine((ms) => ms > 0, 'must be longer than 0');

const names = z.array(z.string().min(1)).min(1);

const tablePattern = z.string().superRefine((value, ctx) => {
  const problem = patternProblem(value, 2, 'schema.table', 'public.orders, public.*, *.orders');
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const matchSchema = z
  .object({
    subjects: names.optional(),
    groups: names.optional(),
    /** Issuer URLs (`iss`) or configured issuer names. */
    issuers: names.optional(),
  })
  .strict()
  .refine((m) => m.subjects !== undefined || m.groups !== undefined || m.issuers !== undefined, 'must name subjects, groups or issuers (or leave match out to cover every identity)');

const approversSchema = z
  .object({
    groups: z.array(z.string().min(1)).default([]),
    subjects: z.array(z.string().min(1)).default([]),
    /** Only approvers whose token comes from these issuers (URL or configured name); default any configured issuer. */
    issuers: names.optional(),
    /** How many distinct approvers must approve. */
    count: z.number().int().min(1).max(10).default(1),
  })
  .strict()
  .refine((a) => a.groups.length > 0 || a.subjects.length > 0, 'must name approver groups or subjects (nobody could approve otherwise)')
  .refine((a) => a.groups.length > 0 || a.subjects.length === 0 || a.subjects.length >= a.count, 'count is more than the subjects named, so no request could ever be approved');

export const reviewRuleSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - (it appears in messages and URLs)'),
    when: z.array(z.enum(REVIEW_TRIGGERS)).min(1),
    tables: z.array(tablePattern).min(1).optional(),
    match: matchSchema.optional(),
    approvers: approversSchema,
    /**
     * Blast radius: hold the statement only when it would affect more rows than this (estimated
     * with EXPLAIN before it runs; a statement that cannot be estimated counts as more).
     */
    max_rows: z.number().int().min(0).optional(),
    mode: z.enum(['wait', 'defer']).default('wait'),
    timeout: duration.default(15 * 60_000),
    window: duration.default(60 * 60_000),
  })
  .strict();

export const webhookSchema = z
  .object({
    url: z.string().url().regex(/^https?:\/\//, 'an http:// or https:// URL'),
    format: z.enum(['json', 'slack']).default('json'),
    /**
     * Signs each delivery: `X-Pgwarden-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`
     * with `X-Pgwarden-Timestamp`. Required: an unsigned review event could be forged. Use ${env:…}.
     */
    secret: z.string({ error: 'required: deliveries are signed with it, e.g. secret: ${env:PGWARDEN_WEBHOOK_SECRET}' }).min(16, 'at least 16 characters'),
    events: z.array(z.enum(WEBHOOK_EVENTS)).min(1).default([...WEBHOOK_EVENTS]),
  })
  .strict();

const reviewsObject = z
  .object({
    /**
     * `sqlite:PATH` (one instance; relative to the config file), `postgres://…` (shared by every
     * instance that names it: an approval given on one releases the statement held on another),
     * or `memory` (tests).
     */
    store: z.string().regex(/^(sqlite:.+|postgres(ql)?:\/\/.+|memory)$/, 'sqlite:PATH, postgres://… or memory').default('sqlite:./pgwarden-data/reviews.db'),
    /** Password for a `postgres://` store (use `${env:…}` or `${file:…}`). */
    password: z.string().optional(),
    rules: z.array(reviewRuleSchema).default([]),
    webhooks: z.array(webhookSchema).default([]),
    /**
     * Audiences the reviews API (`/api/reviews`) accepts (a token's `aud` must contain one);
     * default: each issuer's `audience`. Never the MCP resource.
     */
    api_audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    const seen = new Set<string>();
    r.rules.forEach((rule, i) => {
      if (seen.has(rule.name)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'name'], message: 'another rule has the same name' });
      seen.add(rule.name);
    });
  });

export const reviewsSchema = z.preprocess((v) => (Array.isArray(v) ? { rules: v } : v), reviewsObject);

export type ReviewsConfig = z.infer<typeof reviewsObject>;
export type ReviewsConfigInput = z.input<typeof reviewsObject>;
export type ReviewRuleConfig = z.infer<typeof reviewRuleSchema>;
export type WebhookConfig = z.infer<typeof webhookSchema>;
