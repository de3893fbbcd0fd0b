/**
 * `pgwarden reviews list|show|approve|reject`: the review workflow through the gateway's reviews
 * API (`/api/reviews`), as a human approver.
 *
 * Where: `--url`, else the config's `listen.http`, else the demo's `demo.json`. Credentials:
 * `--token`, else `PGWARDEN_TOKEN`, else (with `--data-dir` of a demo) a short-lived token minted
 * for the demo's development approver (`approverIdentity` in demo.json; subject `demo-approver`
 * in group `dba` when it names none). Human-readable output by default, `--json` for scripts.
 */
import { Option, type Command } from 'commander';
import type { Review, ReviewStatus } from '../review/index.ts';
import { continued, visible, visibleOneLine } from '../terminal-text.ts';
import { CliError } from './common.ts';
import { apiRequest, apiToken, demoOf, gatewayUrl, type StatusMessage } from './gateway-api.ts';

type ConfigOptions = (cmd: Command) => Command;

export interface ReviewsOptions {
  config?: string;
  dataDir?: string;
  url?: string;
  token?: string;
  tokenStdin?: boolean;
  ca?: string;
  json?: boolean;
}

/** The demo's development approver when demo.json does not name one. */
export const DEMO_APPROVER = { subject: 'demo-approver', groups: ['dba'] };

const STATUSES: readonly ReviewStatus[] = ['pending', 'approved', 'rejected', 'expired', 'consumed', 'abandoned'];

export function registerReviewCommands(program: Command, configOptions: ConfigOptions): void {
  const reviews = program.command('reviews').description('list, show, approve or reject reviews of held statements');
  const api = (cmd: Command) =>
    configOptions(cmd)
      .option('--url <url>', 'the gateway HTTP address, e.g. https://pgwarden.example.com (plain http only to loopback)')
      .option('--ca <file>', "a CA certificate (PEM) to trust for the gateway's https address, besides the system's")
      .option('--token-stdin', "read the approver's token from standard input (default: $PGWARDEN_TOKEN)")
      .addOption(new Option('--token <jwt>').hideHelp())
      .option('--json', 'print JSON');

  api(reviews.command('list').description('list reviews, newest first'))
    .option('--status <status>', `only ${STATUSES.join(', ')}`)
    .option('--limit <n>', 'most reviews to list', '50')
    .action((o) => listCommand(o));

  api(reviews.command('show').description('print one review in full').argument('<id>', 'the review id, e.g. r-7f3k2')).action((id: string, o) => showCommand(id, o));

  for (const action of ['approve', 'reject'] as const) {
    api(reviews.command(action).description(`${action} a pending review`).argument('<id>', 'the review id, e.g. r-7f3k2'))
      .option('--comment <text>', `why you ${action === 'approve' ? 'approve' : 'reject'} it (recorded with the decision)`)
      .action((id: string, o) => decideCommand(action, id, o));
  }
}

export async function listCommand(o: ReviewsOptions & { status?: string; limit?: string }, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (o.status !== undefined && !STATUSES.includes(o.status as ReviewStatus)) throw new CliError(`--status must be one of ${STATUSES.join(', ')}`);
  const limit = Number(o.limit ?? '50');
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new CliError('--limit must be a whole number from 1 to 1000');
  const client = await connect(o, env);
  const query = new URLSearchParams({ limit: String(limit), ...(o.status ? { status: o.status } : {}) });
  const { reviews } = (await client.request('GET', `?${query}`)) as { reviews: Review[] };
  if (o.json) {
    process.stdout.write(`${JSON.stringify(reviews, null, 2)}\n`);
    return;
  }
  if (reviews.length === 0) {
    process.stdout.write(o.status ? `no ${o.status} reviews\n` : 'no reviews\n');
    return;
  }
  process.stdout.write(listTable(reviews, Date.now()));
}

export async function showCommand(id: string, o: ReviewsOptions, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const client = await connect(o, env);
  const review = (await client.request('GET', `/${encodeURIComponent(id)}`)) as Review;
  process.stdout.write(o.json ? `${JSON.stringify(review, null, 2)}\n` : reviewDetail(review, Date.now()));
}

export async function decideCommand(action: 'approve' | 'reject', id: string, o: ReviewsOptions & { comment?: string }, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const client = await connect(o, env);
  const review = (await client.request('POST', `/${encodeURIComponent(id)}/${action}`, o.comment === undefined ? {} : { comment: o.comment })) as Review;
  if (o.json) {
    process.stdout.write(`${JSON.stringify(review, null, 2)}\n`);
    return;
  }
  if (action === 'reject') process.stdout.write(`rejected ${visible(review.id)}: it will not run\n`);
  else if (review.status === 'approved') {
    const use = review.mode === 'defer' ? `${visible(review.identity.subject)} may re-run it once until ${visible(String(review.approvedUntil))}` : 'the waiting client runs it now';
    process.stdout.write(`approved ${visible(review.id)}: ${use}\n`);
  } else {
    const missing = review.approvers.count - review.approvals.length;
    process.stdout.write(`approval of ${visible(review.id)} recorded: ${missing} more approval${missing === 1 ? '' : 's'} needed\n`);
  }
}

// ── output ──

/** `2m ago`, `in 13m` */
function relative(iso: string, now: number): string {
  const ms = Date.parse(iso) - now;
  const abs = Math.abs(ms);
  const text = abs < 60_000 ? `${Math.round(abs / 1000)}s` : abs < 3_600_000 ? `${Math.round(abs / 60_000)}m` : abs < 86_400_000 ? `${Math.round(abs / 3_600_000)}h` : `${Math.round(abs / 86_400_000)}d`;
  return ms < 0 ? `${text} ago` : `in ${text}`;
}

export function listTable(reviews: Review[], now: number): string {
  // Every cell is escaped (terminal-text.ts): the statement and the subject are the requester's.
  const rows = reviews.map((r) => [
    visible(r.id),
    r.status === 'pending' && r.approvals.length > 0 ? `pending ${r.approvals.length}/${r.approvers.count}` : visible(r.status),
    visible(r.rule),
    visible(`${r.identity.subject}@${r.database}`),
    relative(r.createdAt, now),
    visibleOneLine(r.text, 60),
  ]);
  const header = ['ID', 'STATUS', 'RULE', 'WHO', 'CREATED', 'STATEMENT'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return `${[header, ...rows].map(line).join('\n')}\n`;
}

/**
 * One review in full. The approver decides on what this prints, so every string from the review is
 * escaped (terminal-text.ts), and the statement's lines are printed behind a `|` gutter: no
 * control sequence can hide or rewrite part of it, and none of its lines can pass for a field.
 */
export function reviewDetail(r: Review, now: number): string {
  const v = visible;
  const lines = [
    `review ${v(r.id)}: ${v(r.status)}`,
    `  rule        ${v(r.rule)} (${v(r.mode)})`,
    `  identity    ${v(r.identity.subject)}${r.identity.groups.length ? ` [${v(r.identity.groups.join(', '))}]` : ''} from ${v(r.identity.issuer)}`,
    `  database    ${v(r.database)}`,
    `  command     ${v(r.analysis.command)} (${v(r.analysis.class)})`,
    `  tables      ${v(r.analysis.tables.join(', ')) || '—'}`,
    ...(r.analysis.runs ?? []).map((t, i) => `  ${i === 0 ? 'runs       ' : '           '} ${v(t)}`),
    ...(r.analysis.searchPath === undefined ? [] : [`  search_path ${v(r.analysis.searchPath.join(', ')) || '(empty)'} (the approval holds only for names resolved this way)`]),
    ...(r.analysis.estimatedRows === undefined ? [] : [`  rows        ${r.analysis.estimatedRows === null ? 'could not be estimated' : `about ${Math.round(r.analysis.estimatedRows)} (planner's estimate)`}`]),
    `  created     ${v(r.createdAt)} (${relative(r.createdAt, now)})`,
  ];
  if (r.status === 'pending') lines.push(`  expires     ${v(r.expiresAt)} (${relative(r.expiresAt, now)})`);
  const approvers = [...r.approvers.groups.map((g) => `group ${g}`), ...r.approvers.subjects.map((s) => s)].join(', ');
  lines.push(`  approvers   ${r.approvers.count} of ${v(approvers)}`);
  for (const a of r.approvals) lines.push(`  approved by ${v(a.by)} at ${v(a.at)}${a.comment ? `: ${v(a.comment)}` : ''}`);
  if (r.rejection) lines.push(`  rejected by ${v(r.rejection.by)} at ${v(r.rejection.at)}${r.rejection.comment ? `: ${v(r.rejection.comment)}` : ''}`);
  if (r.approvedUntil && r.status === 'approved') lines.push(`  usable      once, until ${v(r.approvedUntil)} (${relative(r.approvedUntil, now)})`);
  if (r.consumedAt) lines.push(`  ran         ${v(r.consumedAt)}`);
  if (r.expiredAt) lines.push(`  expired     ${v(r.expiredAt)}`);
  if (r.abandonedAt) lines.push(`  abandoned   ${v(r.abandonedAt)} (the client disconnected while it was held; it never ran)`);
  lines.push(`  sha256      bytes ${v(r.bytesSha256.slice(0, 16))}…  params ${v(r.paramsSha256.slice(0, 16))}…`, '', ...continued(r.text, '    | ', '    | '), '');
  return lines.join('\n');
}

// ── the API client ──

interface Client {
  request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown>;
}

async function connect(o: ReviewsOptions, env: NodeJS.ProcessEnv): Promise<Client> {
  const demo = await demoOf(o);
  const gateway = await gatewayUrl(o, demo);
  const base = gateway.base;
  const token = await apiToken(
    o,
    demo,
    env,
    (d) => d.approverIdentity ?? DEMO_APPROVER,
    "no approver token: set PGWARDEN_TOKEN or pass --token-stdin (with a demo, --data-dir mints one for the demo's approver)",
  );
  const statusMessage: StatusMessage = (status, json, detail, hint) => {
    if (status === 404 && json.error === 'not_found') return `this gateway has no reviews API (HTTP 404 at ${base}/api/reviews): is reviews configured?`;
    if (status === 403 || status === 404 || status === 409 || status === 410) return `${detail}${hint}`;
    return undefined;
  };
  return { request: (method, path, body) => apiRequest(`${base}/api/reviews${path}`, gateway, method, body, token, statusMessage) };
}
