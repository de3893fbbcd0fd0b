/**
 * What the demo leaves in its data directory for people and scripts:
 * - `pgwarden.yaml`, a commented gateway configuration that `pgwarden start --config` runs as is
 *   (the demo itself loads it with the ordinary loader, so it runs exactly what it wrote);
 * - `demo.json`, where everything listens and how to mint the demo's tokens (read by
 *   `pgwarden token` and `pgwarden revoke`). It holds the operator's URL, so only its owner may
 *   read it.
 */
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface DemoIdentity {
  subject: string;
  groups: string[];
}

export const AUDIENCE = 'pgwarden';
export const ADMIN_GROUP = 'pgwarden-admins';
export const ADMIN_IDENTITY: DemoIdentity = { subject: 'demo-admin', groups: [ADMIN_GROUP] };
export const IDENTITIES: Record<string, DemoIdentity> = {
  analyst: { subject: 'analyst', groups: ['analysts'] },
  'support-bot': { subject: 'support-bot', groups: ['support'] },
  migrator: { subject: 'migrator', groups: ['migrators'] },
};
export const KEY_FILE = 'dev-issuer-key.json';
export const PASSWORD_FILE = 'upstream-password';
/** Signs the console's session cookies (made on first start, kept owner-only). */
export const CONSOLE_SECRET_FILE = 'console-secret';

export type UpstreamKind = 'postgres' | 'pglite' | 'external';

export interface ConfigFileOptions {
  dataDir: string;
  port: number;
  httpPort: number;
  issuer: string;
  kind: UpstreamKind;
  /** The gateway's upstream: postgres://pgwarden@host:port/shop (no password). */
  upstreamUrl: string;
  tlsMode: 'disable' | 'require' | 'verify-ca' | 'verify-full';
}

/** YAML double-quoted scalars are JSON strings, so paths with any characters stay one value. */
const q = (text: string) => JSON.stringify(text);

export function configText(o: ConfigFileOptions): string {
  const password =
    o.kind === 'pglite'
      ? [
          '    # PGlite has no authentication and ignores the user name: no password to hold.',
          '    # A real server needs one, e.g. password: ${env:SHOP_DB_PASSWORD}',
          '    # PGlite serves 32 connections whatever its max_connections says; one is the catalog\'s.',
          '    max_connections: 31',
        ]
      : [
          '    # The role\'s password, held only by the gateway. ${file:…} is read relative to this',
          '    # file\'s folder; ${env:NAME} reads an environment variable instead.',
          `    password: \${file:${PASSWORD_FILE}}`,
        ];
  const tls = o.tlsMode === 'disable' ? [] : [`    tls: { mode: ${o.tlsMode} }`];
  return [
    '# pgwarden gateway configuration, written by `pgwarden demo` (rewritten on each demo start).',
    '# It is a real configuration: with the demo\'s database running,',
    `#   npx pgwarden start --config ${o.dataDir}/pgwarden.yaml`,
    '# serves the same gateway, and `npx pgwarden check --config …` validates a copy you edit.',
    '',
    'listen:',
    '  # Where PostgreSQL clients connect. Tokens travel as passwords, so listening off loopback',
    '  # needs TLS (listen.tls: { cert, key }).',
    `  postgres: 127.0.0.1:${o.port}`,
    '  # Health (/healthz, /readyz), the admin API (/admin) and here the development issuer (/dev).',
    `  http: 127.0.0.1:${o.httpPort}`,
    '',
    'upstreams:',
    '  # The key is the database name clients ask for: postgres://<anything>@gateway/shop.',
    '  shop:',
    '    # The gateway signs in to the real database as its own role; clients never learn how.',
    `    url: ${o.upstreamUrl}`,
    ...password,
    ...tls,
    '',
    'identity:',
    '  issuers:',
    '    # Tokens (JWTs sent as the password) are accepted from these issuers only. A deployment',
    '    # lists its identity provider here instead, e.g. https://idp.example.com/realms/agents.',
    `    - issuer: ${o.issuer}`,
    `      audience: ${AUDIENCE}`,
    '      # The claim that lists the identity\'s groups.',
    '      groups_claim: groups',
    '',
    '# Who may use the admin API (e.g. `pgwarden revoke`): subjects or groups of a configured issuer.',
    'admin:',
    `  groups: [${ADMIN_GROUP}]`,
    '',
    '# The web console (/console): auditors search and replay sessions, approvers decide reviews.',
    '# Humans sign in at an OIDC issuer (a client registered there for <http>/console/callback);',
    '# the demo has none, so its development issuer stands in and the sign-in page offers a',
    '# development login per role (the approver signs in in group dba).',
    'console:',
    `  issuer: ${o.issuer}`,
    '  client_id: pgwarden-console',
    `  session_secret: \${file:${CONSOLE_SECRET_FILE}}`,
    '  roles:',
    '    auditor: [auditors]',
    '    approver: [dba]',
    `    admin: [${ADMIN_GROUP}]`,
    '',
    '# Who may do what. Every statement is parsed and checked against the policies of the',
    '# identity (matched by subject, group or issuer); anything not granted is refused with',
    '# SQLSTATE 42501, and an identity no policy matches cannot connect at all.',
    'policies:',
    '  - name: analysts',
    '    match: { groups: [analysts] }',
    '    allow:',
    '      - { tables: [public.orders, public.customers], operations: [select] }',
    '    limits: { read_only: true, statement_timeout: 30s }',
    '',
    '  - name: support',
    '    match: { groups: [support] }',
    '    allow:',
    '      - { tables: [public.customers, public.orders], operations: [select] }',
    '      - { tables: [public.orders], operations: [update], write_columns: [status] }',
    '',
    '  - name: migrations',
    '    match: { groups: [migrators] }',
    '    allow:',
    '      - { tables: [public.*], operations: all }',
    '      - { ddl: { schemas: [public] } }',
    '',
    '# Statements a human must approve first. The migrator\'s DROP, TRUNCATE and DELETE without',
    '# WHERE wait (the client holds the statement and gets a NOTICE with the review id) until an',
    '# approver of group dba approves or rejects it, in the console or with `pgwarden reviews`.',
    'reviews:',
    '  store: sqlite:./reviews.db',
    '  rules:',
    '    - name: migrator-destructive',
    '      when: [drop, truncate, delete_without_where]',
    '      match: { groups: [migrators] }',
    '      approvers: { groups: [dba] }',
    '      mode: wait',
    '      timeout: 15m',
    '',
    '# Sensitive columns are masked inline for every identity a rule applies to, whatever the',
    '# query looks like (aliases, expressions, COPY); support-bot sees emails in clear.',
    'masking:',
    '  hash_key: ${file:mask-key}',
    '  rules:',
    '    - { column: public.customers.email, with: email, except: { groups: [support] } }',
    '    - { column: public.customers.phone, with: partial, options: { keep_last: 2 } }',
    '    - { column: public.customers.ssn, with: redact, filter: deny }',
    '',
    '# The MCP endpoint (/mcp on the HTTP listener). The demo accepts its ordinary tokens there; a',
    '# deployment mints tokens for the endpoint\'s own resource URL instead (the default audience).',
    'mcp:',
    `  audience: ${AUDIENCE}`,
    '',
    '# Every statement, allowed or refused, is recorded before it runs, hash-chained.',
    '#   npx pgwarden audit tail --config <this file>   (also: search, replay, verify, export)',
    'audit:',
    '  store: sqlite:./audit.db',
    '  capture_results: masked',
    '  capture_rows: 20',
    '',
    '# The built-in development issuer, for the demo only: anyone who can read the key file can',
    '# mint a token for any identity. NEVER enable it in production.',
    'dev_issuer:',
    '  enabled: true',
    '  # A loud opt-in: both listeners must stay on loopback, or the gateway refuses to start.',
    '  unsafe_anyone_can_mint_tokens: true',
    `  key_file: ${q(join(o.dataDir, KEY_FILE))}`,
    '',
  ].join('\n');
}

export interface DemoInfoFile {
  dataDir: string;
  database: string;
  postgres: { host: string; port: number };
  http: { host: string; port: number };
  upstream: { kind: UpstreamKind; version: string; host: string; port: number };
  /** The operator's URL of the demo's database (a superuser of the demo's own cluster), with its password. */
  upstreamUrl: string;
  devIssuer: { issuer: string; keyFile: string; audience: string };
  adminIdentity: DemoIdentity;
  identities: Record<string, DemoIdentity>;
}

export async function writeDemoInfo(dataDir: string, info: DemoInfoFile): Promise<void> {
  const path = join(dataDir, 'demo.json');
  await writeFile(path, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
}
