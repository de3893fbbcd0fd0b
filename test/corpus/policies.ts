/**
 * The fixed policy set of the scope corpus, written as the objects `pgwarden.yaml` parses into
 * and validated with the real `policySchema`. Changing it changes what every case means: add a
 * policy or an identity rather than edit one.
 *
 * - analyst: reads customers (not ssn), orders, the customer_emails view and the order sequence;
 *   read-only; statement_timeout at most 30s.
 * - support-bot: reads four columns of customers, reads orders and may update only orders.status;
 *   may call public.mask_ssn and LISTEN; app.* is denied outright; at most 500 rows per statement
 *   (so COPY TO STDOUT is not a default) and statement_timeout at most 10s.
 * - migrator: everything on sales.*, DDL in schema sales only, select/insert/update/delete on
 *   public.orders, nextval on public.order_seq, three public functions, LISTEN/NOTIFY/LOCK,
 *   plpgsql DO blocks; public.audit, sales.targets (DDL included) and public.elevate are denied.
 * - intake-bot: inserts orders writing only customer_id, status and total, and reads back only
 *   orders.id, orders.status and customers.id; no update, no delete.
 * - lead: in group analysts and named by a second policy that grants insert on public.orders and
 *   denies customers.email: grants combine by union, denials and read-only win.
 * - reporter: reads orders and moods, uses every sequence named *_seq, and may call the planted
 *   public.md5 and public.leak_eq (operator public.#), not public.text_mood (cast text → mood).
 * - stranger: matches no policy, so has no scope at all.
 */
import type { Identity } from '../../src/identity/index.ts';
import { compilePolicies, policySchema, type CompiledPolicies, type PolicyInput } from '../../src/policy/index.ts';

export const POLICIES: PolicyInput[] = [
  {
    name: 'analysts',
    match: { groups: ['analysts'] },
    databases: ['shop'],
    allow: [
      { tables: ['public.customers', 'public.orders', 'public.customer_emails'], operations: ['select'] },
      { tables: ['public.order_seq'], operations: ['select'] },
    ],
    deny: [{ columns: ['public.customers.ssn'] }],
    limits: { read_only: true, statement_timeout: '30s' },
  },
  {
    name: 'support',
    match: { subjects: ['support-bot'] },
    allow: [
      { tables: ['public.customers'], operations: ['select'], columns: ['id', 'name', 'email', 'phone'] },
      { tables: ['public.orders'], operations: ['select', 'update'], write_columns: ['status'] },
      { functions: ['public.mask_ssn'] },
      { session: ['listen'] },
    ],
    deny: [{ tables: ['app.*'] }],
    limits: { statement_timeout: '10s', max_rows: 500 },
  },
  {
    name: 'migrations',
    match: { subjects: ['migrator'] },
    allow: [
      { tables: ['sales.*'], operations: 'all' },
      { tables: ['public.orders'], operations: ['select', 'insert', 'update', 'delete'] },
      { tables: ['public.order_seq'], operations: ['select', 'update'] },
      { ddl: { schemas: ['sales'] } },
      { functions: ['public.audit_log', 'public.refresh_stats', 'public.customer_tier'] },
      { session: ['listen', 'notify', 'lock'] },
      { do_blocks: ['plpgsql'] },
    ],
    deny: [{ tables: ['public.audit', 'sales.targets'] }, { functions: ['public.elevate'] }],
    limits: { statement_timeout: '5m' },
  },
  {
    name: 'intake',
    match: { subjects: ['intake-bot'] },
    allow: [
      { tables: ['public.orders'], operations: ['select', 'insert'], columns: ['id', 'status'], write_columns: ['customer_id', 'status', 'total'] },
      { tables: ['public.customers'], operations: ['select'], columns: ['id'] },
    ],
  },
  {
    name: 'reporters',
    match: { subjects: ['reporter'] },
    allow: [
      { tables: ['public.orders', 'public.moods'], operations: ['select'] },
      { tables: ['*.*_seq'], operations: ['select', 'update'] },
      { functions: ['public.md5', 'public.leak_eq'] },
    ],
  },
  {
    name: 'leads',
    match: { subjects: ['lead'] },
    allow: [{ tables: ['public.orders'], operations: ['insert'] }],
    deny: [{ read_columns: ['public.customers.email'] }],
  },
];

/**
 * dba: every table and DDL in every schema, and nothing denied of its own: what stops it renaming
 * a governed object is the other policies' rules (renames of governed objects are refused).
 */
POLICIES.push({
  name: 'dba',
  match: { subjects: ['dba'] },
  allow: [{ tables: ['*.*'], operations: 'all' }, { ddl: { schemas: ['*'] } }],
});

export function compiledPolicies(): CompiledPolicies {
  return compilePolicies(POLICIES.map((p) => policySchema.parse(p)));
}

export type Who = 'analyst' | 'support' | 'migrator' | 'intake' | 'lead' | 'reporter' | 'stranger' | 'dba';

function identity(subject: string, groups: string[]): Identity {
  return { issuer: 'https://idp.example.com/corp', issuerName: 'corp', subject, groups, claims: {}, expiresAt: Date.now() + 3_600_000 };
}

export const IDENTITIES: Record<Who, Identity> = {
  analyst: identity('analyst', ['analysts']),
  support: identity('support-bot', ['support']),
  migrator: identity('migrator', []),
  intake: identity('intake-bot', []),
  lead: identity('lead', ['analysts']),
  reporter: identity('reporter', []),
  stranger: identity('stranger', ['visitors']),
  dba: identity('dba', []),
};

/** The client-facing database every case connects to. */
export const DATABASE = 'shop';
