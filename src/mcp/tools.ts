/**
 * The MCP tools. Every call opens an internal session for the caller's identity through
 * `PostgresListener.openInternal` — the same scope check, limits, upstream sign-in, policy gate,
 * masking and audit as a wire client — runs its statements there with the extended protocol, and
 * ends the session. One session per call, so each call is its own audit session whose
 * application_name names the tool and the MCP session (`mcp:query:<mcp-session-id>`).
 *
 * Refusals and database errors come back as tool errors (`isError: true`) carrying the
 * ErrorResponse's message and hint, exactly what a wire client reads. Gateway-internal failures
 * are logged and reported as "internal error" only.
 */
import type { Duplex } from 'node:stream';
import { z } from 'zod';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { GatewayError } from '../errors.ts';
import type { Identity } from '../identity/index.ts';
import type { Logger } from '../log.ts';
import type { Review } from '../review/index.ts';
import type { FieldMap } from '../protocol/index.ts';
import { CATALOG_ROW_CAP, COLUMNS_SQL, RELATIONS_SQL, probeSql } from './catalog-sql.ts';
import type { ScopeView } from './scope-view.ts';
import { columnsOf, rowObjects } from './values.ts';
import { FatalSessionError, WireClient, type ExtendedResult } from './wire-client.ts';

export interface ToolDeps {
  logger: Logger;
  view: ScopeView;
  /** `listener.openInternal(identity, database, { via: 'mcp', applicationName })`. */
  open(identity: Identity, database: string, applicationName: string): Promise<Duplex>;
  /** The database a call uses when it names none. */
  defaultDatabase(): string;
  /** Most rows a query returns (the scope's max_rows, when lower, wins). */
  maxRows(): number;
  /** The review workflow, for `review_status`; absent: none on this gateway. */
  reviews?: ReviewLookup;
}

/** What `review_status` needs of the review service. */
export interface ReviewLookup {
  get(id: string): Promise<Review | null>;
  /** Whether any review rule is configured now (reviews made earlier are still reported). */
  configured(): boolean;
}

/** The caller of one MCP session: the identity of its latest verified request. */
export interface ToolCaller {
  identity(): Identity;
  sessionId(): string;
}

type Row = Record<string, unknown>;

const databaseArg = z.string().min(1).optional().describe('Client database name; omitted: the default database.');
const paramsArg = z
  .array(z.union([z.string(), z.number(), z.boolean(), z.null()]))
  .max(1000)
  .optional()
  .describe('Values for $1, $2, … (sent as text parameters; null is SQL NULL).');

/** The scope, in words, for tool descriptions and the server's instructions. */
export function describeScope(deps: ToolDeps, identity: Identity): string {
  const dbs = deps.view.databases(identity);
  const limit = deps.maxRows();
  const lines = dbs.map((d) => {
    const parts = [`policies ${d.policies.join(', ')}`];
    if (d.readOnly) parts.push('read-only');
    parts.push(`at most ${Math.min(limit, d.maxRows ?? limit)} rows per query`);
    return `- ${d.database}${d.database === deps.defaultDatabase() ? ' (default)' : ''}: ${parts.join('; ')}`;
  });
  return [
    `You act as ${identity.subject} (issuer ${identity.issuerName}${identity.groups.length ? `, groups ${identity.groups.join(', ')}` : ''}) through pgwarden, a policy gateway in front of PostgreSQL.`,
    dbs.length ? `Databases in your scope:\n${lines.join('\n')}` : 'No policy currently grants you any database.',
    'Every statement is checked against these policies, sensitive columns come back masked, and every call is audited. A statement outside your scope is refused with the reason; use list_tables and describe_table to see what you may read.',
  ].join('\n');
}

export function registerTools(server: McpServer, deps: ToolDeps, caller: ToolCaller): void {
  const scope = describeScope(deps, caller.identity());
  const run = async <T>(tool: string, database: string | undefined, signal: AbortSignal, fn: (c: WireClient, db: string) => Promise<T>): Promise<T> => {
    const db = database ?? deps.defaultDatabase();
    const channel = await deps.open(caller.identity(), db, `mcp:${tool}:${caller.sessionId()}`);
    const client = await WireClient.open(channel);
    // A cancelled request (notifications/cancelled, or the client went away) ends its session,
    // which ends the upstream connection and with it the running statement.
    const cancel = () => client.close();
    signal.addEventListener('abort', cancel, { once: true });
    try {
      return await fn(client, db);
    } finally {
      signal.removeEventListener('abort', cancel);
      client.close();
    }
  };
  const guarded = (tool: string, signal: AbortSignal, fn: () => Promise<CallToolResult>) => async (): Promise<CallToolResult> => {
    try {
      return await fn();
    } catch (err) {
      if (signal.aborted) return { isError: true, content: [{ type: 'text', text: 'pgwarden: the call was cancelled' }] };
      return failure(deps.logger, tool, err);
    }
  };

  server.registerTool(
    'query',
    {
      title: 'Run SQL',
      description: `Run one SQL statement and return its rows as objects keyed by column name, with each column's type. Use $1, $2, … with params rather than inlining values. Results are capped; a note says when rows were left out.\n\n${scope}`,
      inputSchema: {
        sql: z.string().min(1).max(1_000_000).describe('One SQL statement.'),
        params: paramsArg,
        database: databaseArg,
        max_rows: z.number().int().positive().optional().describe('Fewer rows than the cap, if wanted.'),
      },
    },
    ({ sql, params, database, max_rows }, { signal }) =>
      guarded('query', signal, () =>
        run('query', database, signal, async (c, db) => {
          const limit = rowLimit(deps, caller.identity(), db, max_rows);
          const r = await c.extended(sql, (params ?? []).map(paramText), limit + 1);
          if (r.error) return refusal(r.error);
          return ok(resultSet(r, limit));
        }),
      )(),
  );

  server.registerTool(
    'list_schemas',
    {
      title: 'List schemas',
      description: `List the schemas holding relations you may read, with how many each has.\n\n${scope}`,
      inputSchema: { database: databaseArg },
      annotations: { readOnlyHint: true },
    },
    ({ database }, { signal }) =>
      guarded('list_schemas', signal, () =>
        run('list_schemas', database, signal, async (c, db) => {
          const r = await c.extended(RELATIONS_SQL, [null], CATALOG_ROW_CAP);
          if (r.error) return refusal(r.error);
          const counts = new Map<string, number>();
          for (const t of visibleRelations(deps, caller.identity(), db, r)) counts.set(t.schema, (counts.get(t.schema) ?? 0) + 1);
          return ok({ database: db, schemas: [...counts].map(([schema, relations]) => ({ schema, relations })) });
        }),
      )(),
  );

  server.registerTool(
    'list_tables',
    {
      title: 'List tables',
      description: `List the tables and views you may read (optionally in one schema), with their kind and comment.\n\n${scope}`,
      inputSchema: { schema: z.string().min(1).optional().describe('Only this schema (name as stored).'), database: databaseArg },
      annotations: { readOnlyHint: true },
    },
    ({ schema, database }, { signal }) =>
      guarded('list_tables', signal, () =>
        run('list_tables', database, signal, async (c, db) => {
          const r = await c.extended(RELATIONS_SQL, [schema ?? null], CATALOG_ROW_CAP);
          if (r.error) return refusal(r.error);
          const tables = visibleRelations(deps, caller.identity(), db, r);
          return ok({ database: db, tables, ...(r.suspended && { note: `Only the first ${CATALOG_ROW_CAP} relations of the catalog were looked at; name a schema.` }) });
        }),
      )(),
  );

  server.registerTool(
    'describe_table',
    {
      title: 'Describe a table',
      description: `Describe the columns of a table or view you may read: type, nullability, default, primary key, comment, and whether values come back masked. Columns you may not read are left out.\n\n${scope}`,
      inputSchema: {
        table: z.string().min(1).describe('Table or view name, as stored (lower case unless created quoted).'),
        schema: z.string().min(1).default('public').describe('Schema name, as stored; default public.'),
        database: databaseArg,
      },
      annotations: { readOnlyHint: true },
    },
    ({ table, schema, database }, { signal }) =>
      guarded('describe_table', signal, () =>
        run('describe_table', database, signal, async (c, db) => {
          // The relation itself goes through the policy gate first: a refusal is the wire's own, and audited.
          const probe = await c.extended(probeSql(schema, table), [], 1);
          if (probe.error) return refusal(probe.error);
          const r = await c.extended(COLUMNS_SQL, [schema, table], CATALOG_ROW_CAP);
          if (r.error) return refusal(r.error);
          const identity = caller.identity();
          const all = rowObjects(columnsOf(r.fields), r.fields, r.rows);
          const columns: Row[] = [];
          for (const col of all) {
            const name = String(col.name);
            if (!deps.view.mayRead(identity, db, schema, table, name).allowed) continue;
            const masked = deps.view.masker(identity, schema, table, name);
            columns.push({ ...col, ...(masked !== undefined && { masked: true, masker: masked }) });
          }
          const hidden = all.length - columns.length;
          return ok({
            database: db,
            schema,
            table,
            columns,
            ...(hidden > 0 && { note: 'Some columns are not readable by you and are not listed; name the columns you select instead of using *.' }),
          });
        }),
      )(),
  );

  server.registerTool(
    'explain',
    {
      title: 'Explain a statement',
      description: `Show PostgreSQL's plan (EXPLAIN, not ANALYZE) for a statement you may run; the statement itself is not executed. A statement outside your scope is refused just as it would be when run.\n\n${scope}`,
      inputSchema: { sql: z.string().min(1).max(1_000_000).describe('The statement to explain.'), params: paramsArg, database: databaseArg },
      annotations: { readOnlyHint: true },
    },
    ({ sql, params, database }, { signal }) =>
      guarded('explain', signal, () =>
        run('explain', database, signal, async (c) => {
          // The option list keeps it a plain EXPLAIN: `ANALYZE …` or `(ANALYZE) …` after it is a
          // syntax error, so this tool never runs the statement.
          const r = await c.extended(`EXPLAIN (FORMAT TEXT) ${sql.trim().replace(/;\s*$/, '')}`, (params ?? []).map(paramText), 0);
          if (r.error) return refusal(r.error);
          return { content: [{ type: 'text', text: r.rows.map((row) => row[0] ?? '').join('\n') }] };
        }),
      )(),
  );

  server.registerTool(
    'review_status',
    {
      title: 'Review status',
      description: 'The status of a review request you made: a statement a review rule held for human approval (the refusal names its id, e.g. r-7f3k2). Says whether it is pending, approved, rejected, expired, abandoned (its connection closed while it was held) or already run, who decided and why, and what to do next (an approved deferred statement runs once when you run it again unchanged).',
      inputSchema: { review_id: z.string().min(1).max(200).describe('The review id a refusal named.') },
      annotations: { readOnlyHint: true },
    },
    ({ review_id }, { signal }) =>
      guarded('review_status', signal, async () => {
        const review = deps.reviews && REVIEW_ID.test(review_id) ? await deps.reviews.get(review_id) : null;
        const identity = caller.identity();
        // Only the identity that asked for the review sees it; to anyone else it does not exist.
        if (review && review.identity.issuer === identity.issuer && review.identity.subject === identity.subject) return ok(reviewStatus(review));
        if (!review && !deps.reviews?.configured()) {
          return {
            content: [
              {
                type: 'text',
                text: 'No review workflow is configured on this gateway: every statement is allowed or refused at once, none is deferred for approval, so there is no review to report on.',
              },
            ],
          };
        }
        return { isError: true, content: [{ type: 'text', text: `pgwarden: no review ${review_id} of yours; use the id a refusal named (it looks like r-7f3k2)` }] };
      })(),
  );
}

const REVIEW_ID = /^r-[a-z0-9]{3,16}$/;

/** A review as its requester reads it: the state, the decisions, and what to do next. */
export function reviewStatus(r: Review): Row {
  const decision = (d: { by: string; at: string; comment?: string }) => ({ by: d.by, at: d.at, ...(d.comment !== undefined && { comment: d.comment }) });
  return {
    review: r.id,
    status: r.status,
    rule: r.rule,
    mode: r.mode,
    database: r.database,
    statement: r.text,
    createdAt: r.createdAt,
    ...(r.status === 'pending' && { expiresAt: r.expiresAt }),
    approvals: r.approvals.map(decision),
    approvalsNeeded: r.approvers.count,
    ...(r.rejection && { rejection: decision(r.rejection) }),
    ...(r.approvedUntil && r.status === 'approved' && { approvedUntil: r.approvedUntil }),
    ...(r.consumedAt && { ranAt: r.consumedAt }),
    ...(r.expiredAt && { expiredAt: r.expiredAt }),
    next: nextStep(r),
  };
}

function nextStep(r: Review): string {
  switch (r.status) {
    case 'pending': {
      const left = r.approvers.count - r.approvals.length;
      return `Waiting for ${left} more approval${left === 1 ? '' : 's'} from a human approver until ${r.expiresAt}. ${
        r.mode === 'defer' ? 'Running the statement again before then is refused with the same review id; check back later.' : 'The statement is held on the connection that sent it.'
      }`;
    }
    case 'approved':
      return r.mode === 'defer'
        ? `Approved. Run exactly the same statement again (same text, parameters and database)${r.approvedUntil ? ` before ${r.approvedUntil}` : ''}; it runs once. Any other statement needs its own review.`
        : 'Approved: the held statement runs on the connection that sent it.';
    case 'rejected':
      return `Rejected${r.rejection ? ` by ${r.rejection.by}` : ''}${r.rejection?.comment ? `: ${r.rejection.comment}` : ''}. The statement was not run; do not send it again unchanged.`;
    case 'expired':
      return r.approvedAt
        ? 'The approval expired before the statement was run again. Running it now requests a new review.'
        : 'Nobody decided in time and the request expired; the statement was not run. Running it again requests a new review.';
    case 'consumed':
      return 'Approved and already run, once. Running it again requests a new review.';
    case 'abandoned':
      return 'The connection holding the statement closed before a decision; it was not run and never will be. Running it again requests a new review.';
    default:
      return assertNever(r.status);
  }
}

function assertNever(x: never): never {
  throw new Error(`unhandled review status: ${String(x)}`);
}

function rowLimit(deps: ToolDeps, identity: Identity, database: string, asked: number | undefined): number {
  const scopeMax = deps.view.scope(identity, database)?.limits.maxRows;
  return Math.max(1, Math.min(deps.maxRows(), scopeMax ?? Infinity, asked ?? Infinity));
}

function paramText(v: string | number | boolean | null): string | null {
  if (v === null) return null;
  return typeof v === 'string' ? v : String(v);
}

function resultSet(r: ExtendedResult, limit: number): Row {
  const rows = r.rows.slice(0, limit);
  const truncated = r.rows.length > limit;
  if (r.fields.length === 0) return { command: r.tag ?? null };
  const columns = columnsOf(r.fields);
  return {
    columns,
    rows: rowObjects(columns, r.fields, rows),
    rowCount: rows.length,
    ...(r.tag && { command: r.tag }),
    ...(truncated && { truncated: true, note: `Only the first ${limit} rows are shown; the result has more. Add a LIMIT or narrow the query.` }),
  };
}

interface Relation {
  schema: string;
  name: string;
  kind: string;
  comment?: string;
}

function visibleRelations(deps: ToolDeps, identity: Identity, database: string, r: ExtendedResult): Relation[] {
  const out: Relation[] = [];
  for (const [schema, name, kind, comment] of r.rows) {
    if (schema === null || name === null) continue;
    if (!deps.view.mayRead(identity, database, schema, name).allowed) continue;
    out.push({ schema, name, kind: kind ?? 'relation', ...(comment !== null && comment !== undefined && { comment }) });
  }
  return out;
}

function ok(value: unknown): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value, null, 2) }] };
}

/** An ErrorResponse as a tool error: the message a wire client reads, then detail and hint. */
export function refusal(fields: FieldMap): CallToolResult {
  const lines = [fields.M ?? 'the statement failed'];
  if (fields.D) lines.push(`Detail: ${fields.D}`);
  if (fields.H) lines.push(`Hint: ${fields.H}`);
  if (fields.C) lines.push(`SQLSTATE ${fields.C}`);
  return { isError: true, content: [{ type: 'text', text: lines.join('\n') }] };
}

function failure(logger: Logger, tool: string, err: unknown): CallToolResult {
  if (err instanceof GatewayError && err.code !== 'internal') {
    return refusal({ M: err.message, ...(err.hint && { H: err.hint }), ...(err.detail && { D: err.detail }), C: err.sqlstate });
  }
  if (err instanceof FatalSessionError) return refusal(err.fields);
  // Not ours to show: the text may hold internals.
  logger.error({ tool, err: err instanceof Error ? err.message : String(err) }, 'mcp tool failed');
  return { isError: true, content: [{ type: 'text', text: 'pgwarden: internal error while running the tool; see the gateway log.' }] };
}
