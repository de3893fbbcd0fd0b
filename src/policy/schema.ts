/**
 * The shape of one entry of `policies:` in pgwarden.yaml (zod, strict objects).
 *
 * ```yaml
 * policies:
 *   - name: analysts
 *     match: { groups: [analysts] }        # subjects / groups / issuers
 *     databases: [shop]                    # client database names; omitted = every database
 *     allow:
 *       - tables: [public.orders, public.customers]
 *         operations: [select]             # or `all`
 *         columns: [id, name, email]       # optional read allowlist
 *         write_columns: [status]          # optional insert/update allowlist
 *       - functions: [public.order_total, sales.*]
 *       - ddl: { schemas: [scratch] }
 *       - session: [listen, notify, lock]
 *       - dcl: true
 *       - do_blocks: [plpgsql]
 *     deny:
 *       - tables: [public.secrets]         # operations optional (default: all, DDL included)
 *       - columns: [public.customers.ssn]  # read and write; or read_columns / write_columns
 *       - functions: [public.dangerous_*]
 *       - session: [copy_to_stdout]
 *     limits: { statement_timeout: 5s, max_rows: 1000, read_only: true }
 *     role: analyst_ro
 * ```
 *
 * Names are SQL identifiers (see `pattern.ts`): unquoted parts fold to lower case, double quotes
 * keep case, `*` is a wildcard within one part. Tables and functions MUST be schema-qualified
 * (`*.orders` for any schema): a bare name would silently depend on a search_path.
 *
 * Messages describe expectations only and never echo the value found (config/issues.ts's rule).
 */
import { z } from 'zod';
import { patternProblem } from './pattern.ts';

export const TABLE_OPERATIONS = ['select', 'insert', 'update', 'delete', 'truncate', 'references', 'trigger'] as const;

/**
 * Session permissions. prepare, cursors, copy_to_stdout and copy_from_stdin are granted by default
 * (a `deny` entry takes them away); listen, notify, lock and custom_settings must be allowed.
 */
export const SESSION_PERMISSIONS = ['listen', 'notify', 'lock', 'prepare', 'cursors', 'copy_to_stdout', 'copy_from_stdin', 'custom_settings'] as const;
export type SessionPermission = (typeof SESSION_PERMISSIONS)[number];

/** Languages whose DO blocks run outside the database's sandbox: never grantable. */
export const UNTRUSTED_LANGUAGES: readonly string[] = ['c', 'internal', 'plperlu', 'plpythonu', 'plpython2u', 'plpython3u', 'pltclu', 'plv8u', 'plrust_untrusted'];

export function isUntrustedLanguage(language: string): boolean {
  const l = language.toLowerCase();
  return UNTRUSTED_LANGUAGES.includes(l) || /^pl.*u$/.test(l);
}

function pattern(count: number, shape: string, example: string) {
  return z.string().superRefine((value, ctx) => {
    const problem = patternProblem(value, count, shape, example);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
}

const tablePattern = pattern(2, 'schema.table', 'public.orders, public.*, *.orders');
const functionPattern = pattern(2, 'schema.function', 'public.order_total, sales.*');
const columnPattern = pattern(3, 'schema.table.column', 'public.customers.ssn, *.*.password_hash');
const columnName = pattern(1, 'a column name', 'email or addr_*');
const schemaName = pattern(1, 'a schema name', 'public or scratch_*');

const duration = z
  .union([z.number().positive(), z.string().regex(/^\d+(\.\d+)?\s*(ms|s|m|h|d)$/, 'a duration such as 500ms, 30s, 5m, 1h')])
  .transform((v) => (typeof v === 'number' ? Math.round(v * 1000) : durationMs(v)))
  .refine((ms) => ms > 0, 'must be longer than 0 (a limit of 0 would mean no limit)');

function durationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/.exec(text.trim()) as RegExpExecArray;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Math.round(Number(m[1]) * unit);
}

const operations = z.union([
  z.literal('all'),
  z.array(z.enum([...TABLE_OPERATIONS, 'all'])).min(1),
]);

const identifierList = z.array(z.string().min(1)).min(1);

const matchSchema = z
  .object({
    subjects: identifierList.optional(),
    groups: identifierList.optional(),
    /** Issuer URLs (`iss`) or the configured short names of issuers. */
    issuers: identifierList.optional(),
  })
  .strict()
  .refine((m) => m.subjects !== undefined || m.groups !== undefined || m.issuers !== undefined, 'must name subjects, groups or issuers (a policy never matches everyone by accident)');

const allowEntry = z
  .object({
    tables: z.array(tablePattern).min(1).optional(),
    operations: operations.optional(),
    /** Columns select may read (and references may name); omitted = every column. */
    columns: z.array(columnName).optional(),
    /** Columns insert and update may write; omitted = every column. */
    write_columns: z.array(columnName).optional(),
    /**
     * Functions outside pg_catalog and information_schema that may be called. A built-in
     * dangerous function is lifted only by an entry naming it exactly (no wildcard).
     */
    functions: z.array(functionPattern).min(1).optional(),
    /** DDL (create, alter, drop, comment, maintenance, refresh …) on objects in these schemas. */
    ddl: z.object({ schemas: z.array(schemaName).min(1) }).strict().optional(),
    session: z.array(z.enum(SESSION_PERMISSIONS)).min(1).optional(),
    /** GRANT, REVOKE, roles, default privileges. */
    dcl: z.boolean().optional(),
    /**
     * DO blocks in these languages. The block's body is not analysed, so this grants whatever
     * the upstream role may do: give it only with a restricted `role`.
     */
    do_blocks: z.array(z.string().min(1)).min(1).optional(),
  })
  .strict()
  .superRefine((entry, ctx) => {
    const has = (k: keyof typeof entry) => entry[k] !== undefined;
    if (!['tables', 'functions', 'ddl', 'session', 'dcl', 'do_blocks'].some((k) => has(k as keyof typeof entry))) {
      ctx.addIssue({ code: 'custom', message: 'must grant something: tables, functions, ddl, session, dcl or do_blocks' });
      return;
    }
    for (const k of ['operations', 'columns', 'write_columns'] as const) {
      if (has(k) && !has('tables')) ctx.addIssue({ code: 'custom', path: [k], message: 'applies to tables: add a tables list to this entry' });
    }
    if (has('tables') && !has('operations')) {
      ctx.addIssue({ code: 'custom', path: ['tables'], message: 'needs operations, e.g. operations: [select] or operations: all' });
    }
    const ops = entry.operations === undefined ? [] : entry.operations === 'all' ? ['all'] : entry.operations;
    const grants = (...o: string[]) => ops.includes('all') || o.some((x) => ops.includes(x));
    if (entry.operations !== undefined && has('columns') && !grants('select', 'references')) {
      ctx.addIssue({ code: 'custom', path: ['columns'], message: 'restricts reads: operations must include select' });
    }
    if (entry.operations !== undefined && has('write_columns') && !grants('insert', 'update')) {
      ctx.addIssue({ code: 'custom', path: ['write_columns'], message: 'restricts writes: operations must include insert or update' });
    }
    entry.do_blocks?.forEach((language, i) => {
      if (isUntrustedLanguage(language)) ctx.addIssue({ code: 'custom', path: ['do_blocks', i], message: 'is an untrusted language: its DO blocks can never be allowed' });
    });
  });

const denyEntry = z
  .object({
    tables: z.array(tablePattern).min(1).optional(),
    /** Operations denied on `tables`; omitted = all of them, and DDL on those tables too. */
    operations: operations.optional(),
    /** Columns neither read nor written. */
    columns: z.array(columnPattern).min(1).optional(),
    read_columns: z.array(columnPattern).min(1).optional(),
    write_columns: z.array(columnPattern).min(1).optional(),
    functions: z.array(functionPattern).min(1).optional(),
    session: z.array(z.enum(SESSION_PERMISSIONS)).min(1).optional(),
  })
  .strict()
  .superRefine((entry, ctx) => {
    const has = (k: keyof typeof entry) => entry[k] !== undefined;
    if (!(['tables', 'columns', 'read_columns', 'write_columns', 'functions', 'session'] as const).some(has)) {
      ctx.addIssue({ code: 'custom', message: 'must deny something: tables, columns, read_columns, write_columns, functions or session' });
    }
    if (has('operations') && !has('tables')) ctx.addIssue({ code: 'custom', path: ['operations'], message: 'applies to tables: add a tables list to this entry' });
  });

const limitsSchema = z
  .object({
    /** Upper bound of the session's statement_timeout; clients may lower it, never raise or clear it. */
    statement_timeout: duration.optional(),
    /** Most rows one statement may return. */
    max_rows: z.number().int().positive().optional(),
    /** Writes, DDL and DCL are refused, and the upstream session runs read-only. */
    read_only: z.boolean().default(false),
  })
  .strict();

export const policySchema = z
  .object({
    name: z.string().min(1),
    description: z.string().optional(),
    match: matchSchema,
    /** Client-facing database names this policy applies to; omitted = every database. */
    databases: identifierList.optional(),
    allow: z.array(allowEntry).default([]),
    deny: z.array(denyEntry).default([]),
    limits: limitsSchema.default({ read_only: false }),
    /** Upstream role the gateway switches to (SET ROLE) for this identity. */
    role: z.string().min(1).optional(),
  })
  .strict();

/** One validated policy (defaults filled, durations in milliseconds). */
export type PolicyConfig = z.infer<typeof policySchema>;
/** One policy as written, before defaults (what tests and callers may pass to `policySchema.parse`). */
export type PolicyInput = z.input<typeof policySchema>;
