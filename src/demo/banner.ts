/** The text `pgwarden demo` prints once everything runs: what is where, and lines to paste. */
import { ADMIN_IDENTITY, IDENTITIES, type UpstreamKind } from './demo-files.ts';
import { PGLITE_LIMITS } from './pglite-upstream.ts';

export interface BannerOptions {
  /** The data directory as the user gave it (commands are printed with it). */
  dataDir: string;
  postgres: { host: string; port: number };
  http: { host: string; port: number };
  issuer: string;
  database: string;
  upstream: { kind: UpstreamKind; version: string; host: string; port: number; where?: string; note?: string };
  gatewayRole?: string;
}

export function bannerText(o: BannerOptions): string {
  const dir = shellQuote(o.dataDir);
  const cmd = `npx pgwarden`;
  const upstream = {
    postgres: `PostgreSQL ${o.upstream.version}, the demo's own cluster in ${o.upstream.where ?? ''} on ${o.upstream.host}:${o.upstream.port}`,
    external: `PostgreSQL ${o.upstream.version} at ${o.upstream.host}:${o.upstream.port} (from --upstream)`,
    pglite: `PGlite ${o.upstream.version} (embedded PostgreSQL in WebAssembly) on ${o.upstream.host}:${o.upstream.port}`,
  }[o.upstream.kind];
  const lines = [
    '',
    'pgwarden demo is running',
    '',
    `  gateway   ${o.postgres.host}:${o.postgres.port}   PostgreSQL clients; database "${o.database}"`,
    `  http      http://${o.http.host}:${o.http.port}   /healthz, /readyz, admin API under /admin`,
    `  console   http://${o.http.host}:${o.http.port}/console   web console; development login as auditor, approver or admin`,
    `  issuer    ${o.issuer}   development issuer (tokens below)`,
    `  upstream  ${upstream}`,
    `  config    ${joinShown(o.dataDir, 'pgwarden.yaml')}   (demo.json beside it holds the operator's URL)`,
  ];
  if (o.upstream.kind === 'pglite') {
    lines.push('', ...wrap(`${o.upstream.note ?? 'The upstream is PGlite.'} Its limits:`, 92).map((l) => `  ${l}`));
    for (const limit of PGLITE_LIMITS) lines.push(limit.startsWith(' ') ? `    ${limit}` : `    - ${limit}`);
  }
  lines.push('', 'Connect as a demo identity (each command mints a token valid for 10 minutes):', '');
  for (const [name, who] of Object.entries(IDENTITIES)) {
    lines.push(`  # ${name} (groups: ${who.groups.join(', ')})`);
    lines.push(`  PGPASSWORD=$(${cmd} token --data-dir ${dir} --identity ${name}) psql "postgres://${name}@${o.postgres.host}:${o.postgres.port}/${o.database}?sslmode=disable"`);
    lines.push('');
  }
  lines.push(
    'and try: select name, email, phone, ssn from customers order by id limit 5;',
    '',
    `What is enforced: each connection's token is verified (signature, issuer, audience, expiry,`,
    'revocation); every statement is parsed and checked against the policies in pgwarden.yaml:',
    '  analyst      reads orders and customers, read-only; sees email, phone and ssn masked',
    '  support-bot  reads customers and orders (email in clear), and may update only orders.status',
    '  migrator     may change anything in schema public, DDL included; its DROP, TRUNCATE and',
    '               DELETE without WHERE wait for a human approver first',
    `Everything else is refused with SQLSTATE 42501 before it reaches the database${o.gatewayRole ? ` (which the gateway signs in to as "${o.gatewayRole}")` : ''}.`,
    '',
    'Reviews: as the migrator, run create table scratch (id int); then drop table scratch; psql waits',
    'and prints the review id. Approve it',
    `  in the console   http://${o.http.host}:${o.http.port}/console/reviews   (development login: approver, group dba)`,
    `  or from a shell  ${cmd} reviews approve <id> --data-dir ${dir}   (also: reviews list, show, reject)`,
    'and the waiting statement runs; reject it, or let it wait 15 minutes, and it never does.',
    '',
    'MCP: AI clients can use the database through the gateway\'s own MCP endpoint, scoped, masked',
    'and audited like any other client:',
    `  endpoint  http://${o.http.host}:${o.http.port}/mcp   (Authorization: Bearer <token>)`,
    '  client configuration (stdio clients; the bridge fetches a fresh token by itself):',
    ...JSON.stringify(
      {
        mcpServers: {
          pgwarden: {
            command: 'npx',
            args: ['pgwarden', 'mcp-stdio', '--url', `http://${o.http.host}:${o.http.port}/mcp`, '--token-command', `${cmd} token --data-dir ${dir} --identity analyst`],
          },
        },
      },
      null,
      2,
    )
      .split('\n')
      .map((l) => `    ${l}`),
    '',
    'Revoke an identity (ends its open sessions and refuses new ones; the admin token is minted',
    `for ${ADMIN_IDENTITY.subject}, group ${ADMIN_IDENTITY.groups.join(', ')}):`,
    `  ${cmd} revoke --data-dir ${dir} --subject analyst`,
    `  ${cmd} revoke --data-dir ${dir} --subject analyst --undo`,
    '',
    `Press Ctrl-C to stop${o.upstream.kind === 'external' ? '' : ` (the gateway, then the ${o.upstream.kind === 'pglite' ? 'PGlite server' : 'PostgreSQL cluster'})`}.`,
    '',
  );
  return lines.join('\n');
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out;
}

function joinShown(dir: string, file: string): string {
  return `${dir.replace(/\/+$/, '')}/${file}`;
}

/** Quote for a POSIX shell when the text holds anything but safe characters. */
export function shellQuote(text: string): string {
  return /^[\w./:@%+=,-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
