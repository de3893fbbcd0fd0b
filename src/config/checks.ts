/**
 * Rules that span several fields, checked on the interpolated document (before or after schema
 * validation, so that every problem is reported in one pass). Each reads its fields defensively:
 * a wrongly typed field is the schema's problem to report, not these rules'.
 */
import type { Problem } from './issues.ts';
import { mcpResourceUrl } from './public-url.ts';

type Doc = Record<string, unknown>;

export function crossFieldProblems(data: unknown): Problem[] {
  if (!isObject(data)) return [];
  return [...listenProblems(data), ...upstreamProblems(data), ...devIssuerProblems(data), ...issuerScopeProblems(data), ...mcpProblems(data), ...workersProblems(data)];
}

/** Several workers decide reviews in worker 1 and hold statements in any: they share the store. */
function workersProblems(data: Doc): Problem[] {
  if (data.workers === undefined || data.workers === 1) return [];
  const reviews = isObject(data.reviews) ? data.reviews : undefined;
  if (!reviews || reviews.store !== 'memory' || !Array.isArray(reviews.rules) || reviews.rules.length === 0) return [];
  return [{ path: ['reviews', 'store'], message: 'memory cannot be shared by several workers: use a sqlite: review store, or workers: 1' }];
}

/**
 * The MCP endpoint needs an address clients use (its OAuth resource), and tokens minted for it
 * are not Postgres passwords or admin credentials: the wire and the APIs never accept an audience
 * that is only the MCP resource, so a surface whose audiences are only that accepts nothing.
 */
function mcpProblems(data: Doc): Problem[] {
  const mcp = isObject(data.mcp) ? data.mcp : {};
  if (mcp.enabled === false) return [];
  const listen = isObject(data.listen) ? data.listen : {};
  const http = typeof listen.http === 'string' ? listen.http : '127.0.0.1:8080';
  const host = hostOf(http);
  if (host === undefined) return [];
  const console = isObject(data.console) ? data.console : {};
  const resource = mcpResourceUrl({
    mcpResource: typeof mcp.resource === 'string' ? mcp.resource : undefined,
    consolePublicUrl: typeof console.public_url === 'string' ? console.public_url : undefined,
    httpHosts: Array.isArray(listen.http_hosts) ? listen.http_hosts.filter((h): h is string => typeof h === 'string') : [],
    listenHost: host,
    listenPort: Number(/:(\d+)$/.exec(http)?.[1] ?? 0),
    scheme: isObject(listen.http_tls) ? 'https' : 'http',
  });
  if (resource === undefined) {
    return [
      {
        path: ['mcp', 'resource'],
        message: `listen.http is ${http}, every interface, so the MCP endpoint has no address clients reach it by: set mcp.resource (or console.public_url, or listen.http_hosts) to the URL clients use, or mcp.enabled: false`,
      },
    ];
  }
  const out: Problem[] = [];
  const list = (v: unknown): unknown[] => (typeof v === 'string' ? [v] : Array.isArray(v) ? v : []);
  const identity = isObject(data.identity) ? data.identity : {};
  const issuers = Array.isArray(identity.issuers) ? identity.issuers : [];
  // What only /mcp accepts (as main.ts computes it): its resource, and mcp.audience values no
  // issuer's audience shares.
  const shared = new Set(issuers.flatMap((i) => (isObject(i) ? list(i.audience) : [])));
  const mcpOnly = new Set([resource, ...list(mcp.audience).filter((a) => !shared.has(a))]);
  const only = (v: unknown) => list(v).length > 0 && list(v).every((a) => mcpOnly.has(a as string));
  const why = `names only audiences of the MCP endpoint (${[...mcpOnly].join(', ')}); tokens minted for /mcp are not accepted there, so it would accept none: name that surface's own audience (the MCP endpoint checks mcp.audience)`;
  issuers.forEach((issuer, i) => {
    if (isObject(issuer) && only(issuer.audience)) out.push({ path: ['identity', 'issuers', i, 'audience'], message: why });
  });
  if (isObject(data.admin) && only(data.admin.audience)) out.push({ path: ['admin', 'audience'], message: why });
  if (isObject(data.reviews) && only(data.reviews.api_audience)) out.push({ path: ['reviews', 'api_audience'], message: why });
  return out;
}

/**
 * Identities are (issuer, subject). With several issuers configured, a bare list of subjects or
 * groups would let any issuer's token that carries the name through — a token from a second IdP
 * with `groups: [pgwarden-admins]`, or with the requester's own `sub` — so every such list must
 * say which issuers it means.
 */
function issuerScopeProblems(data: Doc): Problem[] {
  const identity = isObject(data.identity) ? data.identity : {};
  const agentIssuers = new Set<string>();
  for (const i of Array.isArray(identity.issuers) ? identity.issuers : []) if (isObject(i) && typeof i.issuer === 'string') agentIssuers.add(i.issuer.replace(/\/+$/, ''));
  const several = agentIssuers.size >= 2;
  // Review approvers are met by two kinds of token: agents' (the reviews API, verified against
  // identity.issuers) and humans' (the console, signed in at console.issuer). A console issuer
  // other than the agents' is a second issuer for approvers even with one agent issuer: a bare
  // `groups: [dba]` meant for the humans would also let an agent whose IdP gives it `dba` approve.
  const console = isObject(data.console) ? data.console : undefined;
  const consoleApart = console !== undefined && typeof console.issuer === 'string' && agentIssuers.size > 0 && !agentIssuers.has(console.issuer.replace(/\/+$/, ''));
  if (!several && !consoleApart) return [];
  const out: Problem[] = [];
  const why = 'several issuers are configured, so it must also name its issuers (issuers: [URL or name]): a subject or group of one issuer must not match another issuer\'s tokens';
  const whyApprovers = several
    ? why
    : 'console.issuer is another issuer than identity.issuers, and approvers are matched against both (console sign-ins and reviews API tokens), so it must also name its issuers (issuers: [URL or name]): a subject or group of one issuer must not match another issuer\'s tokens';
  const names = (o: Doc) => (Array.isArray(o.subjects) && o.subjects.length > 0) || (Array.isArray(o.groups) && o.groups.length > 0);
  const admin = isObject(data.admin) ? data.admin : undefined;
  if (several && admin && names(admin) && admin.issuers === undefined) out.push({ path: ['admin'], message: why });
  if (several && Array.isArray(data.policies)) {
    data.policies.forEach((p, i) => {
      if (isObject(p) && isObject(p.match) && names(p.match) && p.match.issuers === undefined) out.push({ path: ['policies', i, 'match'], message: why });
    });
  }
  const reviews = isObject(data.reviews) ? data.reviews : undefined;
  if (reviews && Array.isArray(reviews.rules)) {
    reviews.rules.forEach((r, i) => {
      if (!isObject(r)) return;
      if (isObject(r.approvers) && names(r.approvers) && r.approvers.issuers === undefined) out.push({ path: ['reviews', 'rules', i, 'approvers'], message: whyApprovers });
      if (several && isObject(r.match) && names(r.match) && r.match.issuers === undefined) out.push({ path: ['reviews', 'rules', i, 'match'], message: why });
    });
  }
  return out;
}

/**
 * The development issuer lets anyone who reaches the HTTP listener mint tokens and sign in to the
 * console as any role. It is refused off loopback on either listener, whatever else is set, and
 * needs a loud opt-in besides `enabled`.
 */
function devIssuerProblems(data: Doc): Problem[] {
  const dev = isObject(data.dev_issuer) ? data.dev_issuer : undefined;
  if (!dev || dev.enabled !== true) return [];
  const out: Problem[] = [];
  if (dev.unsafe_anyone_can_mint_tokens !== true) {
    out.push({
      path: ['dev_issuer', 'enabled'],
      message: 'the development issuer lets anyone mint tokens for any identity: it needs dev_issuer.unsafe_anyone_can_mint_tokens: true (never in production)',
    });
  }
  const listen = isObject(data.listen) ? data.listen : {};
  for (const key of ['postgres', 'http'] as const) {
    const value = typeof listen[key] === 'string' ? (listen[key] as string) : key === 'postgres' ? '127.0.0.1:6432' : '127.0.0.1:8080';
    const host = hostOf(value);
    if (host === undefined || !isLoopback(host)) {
      out.push({
        path: ['dev_issuer', 'enabled'],
        message: `the development issuer works only while every listener is on loopback, and listen.${key} is ${value}: disable dev_issuer or listen on 127.0.0.1`,
      });
    }
  }
  return out;
}

function listenProblems(data: Doc): Problem[] {
  const listen = isObject(data.listen) ? data.listen : {};
  const hasTls = isObject(listen.tls);
  const out: Problem[] = [];
  if (typeof listen.postgres === 'string' && !hasTls && listen.allow_insecure_remote !== true) {
    const host = hostOf(listen.postgres);
    if (host !== undefined && !isLoopback(host)) {
      out.push({
        path: ['listen', 'postgres'],
        message: 'listens off loopback without TLS, and tokens travel as passwords: configure listen.tls or set listen.allow_insecure_remote: true',
      });
    }
  }
  if (typeof listen.http === 'string' && !isObject(listen.http_tls) && listen.allow_insecure_remote !== true && !httpsPublicUrl(data)) {
    const host = hostOf(listen.http);
    if (host !== undefined && !isLoopback(host)) {
      out.push({
        path: ['listen', 'http'],
        message:
          'listens off loopback without TLS, and bearer tokens and console cookies travel over it: configure listen.http_tls, set console.public_url to the https:// address of a TLS proxy in front of it, or set listen.allow_insecure_remote: true',
      });
    }
  }
  // Metrics hold no values, but the names of rules, issuers and upstreams, and the traffic: off
  // loopback they are served only to a scraper that holds the configured secret.
  const metrics = isObject(data.metrics) ? data.metrics : {};
  if (metrics.enabled === true && typeof metrics.bearer_token !== 'string') {
    const where = typeof metrics.listen === 'string' ? metrics.listen : typeof listen.http === 'string' ? listen.http : '127.0.0.1:8080';
    const host = hostOf(where);
    if (host === undefined || !isLoopback(host)) {
      out.push({
        path: ['metrics', 'bearer_token'],
        message: `/metrics would be served on ${where}, off loopback, to anyone: set metrics.bearer_token (scrapers send it as a bearer token), serve it on a loopback metrics.listen, or leave metrics.enabled unset (then metrics are served only on loopback)`,
      });
    }
  }
  if (listen.require_tls === true && !hasTls) {
    out.push({ path: ['listen', 'require_tls'], message: 'needs listen.tls (cert and key) to offer TLS' });
  }
  return out;
}

function upstreamProblems(data: Doc): Problem[] {
  if (!isObject(data.upstreams)) return [];
  const out: Problem[] = [];
  const owner = new Map<string, string>();
  for (const [key, upstream] of Object.entries(data.upstreams)) {
    if (!isObject(upstream)) continue;
    if (typeof upstream.url === 'string' && urlHasPassword(upstream.url)) {
      out.push({
        path: ['upstreams', key, 'url'],
        message: `must not contain a password: move it to upstreams.${key}.password, e.g. password: \${env:DB_PASSWORD}`,
      });
    }
    const explicit = Array.isArray(upstream.databases);
    const names: unknown[] = explicit ? (upstream.databases as unknown[]) : [key];
    names.forEach((name, i) => {
      if (typeof name !== 'string') return;
      const first = owner.get(name);
      if (first === undefined) owner.set(name, key);
      else {
        out.push({
          path: explicit ? ['upstreams', key, 'databases', i] : ['upstreams', key],
          message: `database "${name}" is already routed to upstream "${first}"; client database names must be unique`,
        });
      }
    });
  }
  return out;
}

/** A TLS-terminating proxy in front of the HTTP listener, as the console's public URL says. */
function httpsPublicUrl(data: Doc): boolean {
  const console = isObject(data.console) ? data.console : {};
  return typeof console.public_url === 'string' && console.public_url.startsWith('https://');
}

/** Whether a postgres:// URL carries a password in its user-info part. */
function urlHasPassword(url: string): boolean {
  try {
    if (new URL(url).password !== '') return true;
  } catch {
    // Not parseable as a URL: fall through to the textual check.
  }
  const authority = /^[a-z]+:\/\/([^/?#]*)/i.exec(url)?.[1] ?? '';
  const at = authority.lastIndexOf('@');
  return at >= 0 && authority.slice(0, at).includes(':');
}

/** The host part of `host:port` or `[v6]:port`. */
export function hostOf(hostPort: string): string | undefined {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:\s]+)):\d{1,5}$/.exec(hostPort);
  return m ? (m[1] ?? m[2]) : undefined;
}

export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

function isObject(v: unknown): v is Doc {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
