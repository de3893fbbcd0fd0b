/**
 * The composition root: the only place the parts are wired together.
 *
 * config → identity verifier (+ revocations) → postgres listener (handshake, sessions) and HTTP
 * app (health, admin API, development issuer, the MCP endpoint, whose tools open internal
 * sessions on the listener). `reload()` swaps the settings new connections see; open sessions
 * keep the ones they started with.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { GatewayConfig } from './config/schema.ts';
import { configDiff, databaseRoutes, isLoopback, isWildcardHost, mcpResourceUrl } from './config/index.ts';
import { GatewayError } from './errors.ts';
import { DevIssuer, RevocationList, createTokenVerifier, forSurface, type AudienceRule } from './identity/index.ts';
import type { Identity } from './identity/types.ts';
import type { Logger } from './log.ts';
import { allowedHosts, createHttpApp, startHttpServer } from './http/index.ts';
import { createConsole } from './console/index.ts';
import { SessionRegistry, UpstreamCapacities, listenPostgres, startupSetting, type ListenerSettings, type Route } from './proxy/index.ts';
import { ScramKeyCache, SimpleQuerySession, connectUpstream, targetFor, type UpstreamTarget } from './upstream/index.ts';
import { CatalogService, formerNamesOf } from './catalog/index.ts';
import { AnalysisCache, loadParser } from './sql/index.ts';
import { compilePolicies, describeNoScope, scopeFor, type CompiledPolicies, type Scope } from './policy/index.ts';
import { PINNED_UPSTREAM_SETTINGS, PolicyGate, governedRenameRefusal, governedRules, unboundRules, type PolicyState } from './engine/index.ts';
import { maskingPort } from './engine/masking-port.ts';
import { compileMasking, maskingFor, statementRefusal, statementRefusalHint, type CompiledMasking, type MaskingScope } from './masking/index.ts';
import type { StatementAnalysis } from './sql/index.ts';
import { openAudit, type OpenedAudit } from './audit/index.ts';
import { ReviewService, compileReviews, isApproverOfAny, reviewRoutes, reviewsSection, type CompiledReviews } from './review/index.ts';
import { reviewPort } from './engine/review-port.ts';
import { rowEstimator } from './engine/row-estimate.ts';
import type { StatementAudit } from './engine/index.ts';
import { randomUUID } from 'node:crypto';
import { dirname } from 'node:path';
import { createMcpEndpoint, createScopeView, type McpEndpoint } from './mcp/index.ts';

export interface StartOptions {
  logger: Logger;
  /** The file the config came from (for log lines). */
  configPath?: string;
  /** A development issuer made by the caller (the demo); otherwise opened from `dev_issuer`. */
  devIssuer?: DevIssuer;
  /** Tests: cap the SQLite audit file at this many pages, so that writes fail as on a full disk. */
  auditMaxPageCount?: number;
}

export interface Gateway {
  postgres: { host: string; port: number };
  http: { host: string; port: number };
  devIssuer?: DevIssuer;
  /** Apply a new, already validated configuration to new connections. */
  reload(config: GatewayConfig): void;
  /** Reload every upstream's catalog now (a reload also reloads them); resolves when loaded. */
  reloadCatalogs(): Promise<void>;
  /** Deny new connections for a subject and end its open sessions. */
  revoke(subject: string, issuer?: string): Promise<{ terminated: number }>;
  unrevoke(subject: string, issuer?: string): Promise<void>;
  /** Number of open sessions. */
  sessions(): number;
  /** Stop accepting, let sessions finish for `graceMs`, then end the rest. */
  close(graceMs?: number): Promise<void>;
}

export function splitHostPort(text: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(text);
  if (!m) throw new Error(`not host:port: ${text}`);
  return { host: m[1], port: Number(m[2]) };
}


function audienceList(a: string | string[] | undefined): string[] | undefined {
  return a === undefined ? undefined : typeof a === 'string' ? [a] : a;
}

function publicUrlInput(c: GatewayConfig) {
  return { mcpResource: c.mcp.resource, consolePublicUrl: c.console?.public_url, httpHosts: c.listen.http_hosts };
}

/** The upstream settings a scope imposes on its sessions (defence in depth under the policy). */
export function upstreamSettingsFor(scope: Scope): Record<string, string> {
  const out: Record<string, string> = {};
  if (scope.limits.readOnly) out.default_transaction_read_only = 'on';
  if (scope.limits.statementTimeoutMs !== undefined) out.statement_timeout = `${scope.limits.statementTimeoutMs}ms`;
  if (scope.limits.role) out.role = scope.limits.role;
  return out;
}

interface Shared {
  /** Where a human approves a review (the console's page), when the console is configured. */
  reviewUrl?: (id: string) => string | undefined;
  audit: OpenedAudit;
  reviews: ReviewService;
  reviewRules: () => CompiledReviews;
  /** Rows captured per statement in the audit log (0: capture off). */
  captureRows: number;
  policies: () => PolicyState;
  masking: () => CompiledMasking;
  catalogs: Map<string, CatalogService>;
  cache: AnalysisCache;
  scramCache: ScramKeyCache;
  capacities: UpstreamCapacities;
}

function listenerSettings(config: GatewayConfig, shared: Shared): ListenerSettings {
  const routes = new Map<string, Route>();
  for (const [database, upstream] of databaseRoutes(config)) {
    routes.set(database, { upstream, target: targetFor(upstream, config.upstreams[upstream]) });
  }
  const t = config.listen.tls;
  return {
    limits: config.limits,
    tlsContext: t ? tls.createSecureContext({ cert: readFileSync(t.cert), key: readFileSync(t.key) }) : null,
    requireTls: config.listen.require_tls ?? (t !== undefined && !isLoopback(splitHostPort(config.listen.postgres).host)),
    expiryGraceMs: config.identity.expiry_grace,
    userNames: config.identity.user_names ?? ['agent'],
    route: (database) => routes.get(database),
    authorize: (identity, database) => {
      const { compiled } = shared.policies();
      const scope = scopeFor(compiled, identity, database);
      return scope ? { upstreamSettings: upstreamSettingsFor(scope) } : { refusal: describeNoScope(compiled, identity, database) };
    },
    capacity: (upstream) => shared.capacities.get(upstream),
    sessionParts: async (ctx) => {
      const catalog = shared.catalogs.get(ctx.route.upstream)!;
      const masks = maskingFor(shared.masking(), ctx.identity, formerNamesOf(() => catalog.current()));
      const sessionId = randomUUID();
      const startedAt = Date.now();
      const id = ctx.identity;
      // Write-ahead for the session too: a session the audit log cannot record does not start.
      await shared.audit.sessionStart({
        sessionId,
        at: startedAt,
        identity: { issuer: id.issuer, issuerName: id.issuerName, subject: id.subject, groups: id.groups, tokenId: id.tokenId },
        database: ctx.database,
        upstream: ctx.route.upstream,
        clientAddress: ctx.source,
        applicationName: ctx.startupParams.get('application_name'),
        tls: ctx.tls,
        transport: ctx.via === 'mcp' ? 'mcp' : 'wire',
      });
      const audit = sessionAudit(shared.audit, sessionId);
      const gate = new PolicyGate({
        identity: ctx.identity,
        database: ctx.database,
        policies: shared.policies,
        catalog,
        cache: shared.cache,
        maxStatementNodes: config.limits.max_statement_nodes,
        startupSearchPath: startupSetting(ctx.startupParams, 'search_path'),
        maskingRefusal: masks.empty ? undefined : (analyses) => maskingRefusal(masks, analyses),
        governedRename: (analyses) =>
          governedRenameRefusal(analyses, ctx.identity.subject, () => governedRules(shared.masking(), shared.policies().compiled), catalog.current(), formerNamesOf(() => catalog.current())),
        reviews:
          shared.reviewRules().rules.length === 0
            ? undefined
            : reviewPort({
                service: shared.reviews,
                compiled: shared.reviewRules,
                identity: ctx.identity,
                database: ctx.database,
                sessionId,
                reviewUrl: shared.reviewUrl,
                // Blast radius: planned on a connection of its own, as this session would run it.
                estimateRows: rowEstimator({ connect: () => estimateSession(ctx.route.target, ctx.identity, ctx.database, ctx.startupParams, shared) }),
              }),
      });
      return {
        gate,
        // The policy's max_rows: followed only in sessions whose scope has one when they open
        // (every other session's rows stream through unscanned); read per result, so a reload
        // that changes or lifts it applies at once.
        maxRows: gate.currentScope()?.limits.maxRows === undefined ? undefined : () => gate.currentScope()?.limits.maxRows,
        masking: masks.empty ? undefined : maskingPort(masks, () => catalog.current()),
        audit: audit.port,
        captureRows: shared.captureRows,
        closed: (reason) => shared.audit.sessionEnd({ sessionId, at: Date.now(), reason, statements: audit.count(), durationMs: Date.now() - startedAt }),
      };
    },
  };
}

/** A connection for estimating a session's writes: same upstream, role and search_path. */
async function estimateSession(target: UpstreamTarget, identity: Identity, database: string, startup: Map<string, string>, shared: Shared): Promise<SimpleQuerySession> {
  const scope = scopeFor(shared.policies().compiled, identity, database);
  const searchPath = startupSetting(startup, 'search_path');
  // UTF8: the text sent is exactly what the analyser parsed.
  const params = { application_name: 'pgwarden-estimate', client_encoding: 'UTF8', ...(scope ? upstreamSettingsFor(scope) : {}), ...(searchPath ? { search_path: searchPath } : {}) };
  return new SimpleQuerySession((await connectUpstream(target, params, shared.scramCache)).socket);
}

/** The audit log bound to one session, as the session's pipeline uses it. */
function sessionAudit(audit: OpenedAudit, sessionId: string): { port: StatementAudit; count(): number } {
  let seq = 0;
  const record = (s: Parameters<StatementAudit['begin']>[0]) =>
    audit.statement({
      sessionId,
      seq: ++seq,
      at: Date.now(),
      kind: s.kind,
      text: s.text,
      bytes: s.bytes.length === 1 ? s.bytes[0] : Buffer.concat(s.bytes),
      params: s.params,
      decision: s.decision,
      analysis: s.analysis,
    });
  return {
    count: () => seq,
    port: {
      begin: record,
      refused: (s) => void record(s).catch(() => {}),
      end: (recordId, o) =>
        audit.statementEnd({
          id: recordId,
          sessionId,
          at: Date.now(),
          durationMs: o.durationMs,
          rows: o.rows,
          commandTag: o.commandTags.join('; ') || (o.skipped ? 'not run: an earlier message of its batch failed' : undefined),
          error: o.error,
          capture: o.capture,
        }),
    },
  };
}

/**
 * Masking's refusal of a statement before it runs: masked values packed in whole rows or JSON,
 * filters its rules forbid, or flows into other positions (LIMIT, aggregates, functions that can
 * fail, writes …) they do not allow.
 */
function maskingRefusal(masks: MaskingScope, analyses: StatementAnalysis[]): { message: string; hint?: string } | null {
  for (const a of analyses) {
    // Binary COPY rows are not read by content detection: whatever they hold would pass.
    if (masks.detect && a.copy?.direction === 'to' && a.copy.format === 'binary' && a.specials.includes('copy_to_stdout')) {
      return { message: `pgwarden: ${masks.subject} may not copy in binary format while content detection applies`, hint: 'Use COPY … (FORMAT text) or (FORMAT csv).' };
    }
    const r = statementRefusal(masks, a);
    if (r) return { message: r, hint: statementRefusalHint(masks, a) ?? undefined };
  }
  return null;
}

/**
 * Say loudly when a masking or deny rule names a column or relation the database does not have:
 * a typo, or an object renamed directly on the database while no gateway was running (renames
 * seen by a running gateway are followed; that record does not survive a restart).
 */
function warnUnbound(catalogs: Map<string, CatalogService>, masking: CompiledMasking, policies: CompiledPolicies, log: Logger): void {
  for (const [upstream, c] of catalogs) {
    const snapshot = c.current();
    if (!snapshot) continue;
    for (const problem of unboundRules(governedRules(masking, policies), snapshot)) {
      log.warn({ upstream, problem }, `RULE GOVERNS NOTHING: ${problem}; if the object was renamed, update the rule to its new name`);
    }
  }
}

function catalogFor(name: string, target: UpstreamTarget, scramCache: ScramKeyCache, logger: Logger, refreshMs: number): CatalogService {
  return new CatalogService({
    name,
    logger,
    refreshIntervalMs: refreshMs,
    connect: async () => new SimpleQuerySession((await connectUpstream(target, { application_name: 'pgwarden-catalog', ...PINNED_UPSTREAM_SETTINGS }, scramCache)).socket),
  });
}

function probe(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export async function startGateway(config: GatewayConfig, options: StartOptions): Promise<Gateway> {
  const log = options.logger;
  let current = config;
  const pgAddr = splitHostPort(config.listen.postgres);
  if (!isLoopback(pgAddr.host) && !config.listen.tls && !config.listen.allow_insecure_remote) {
    throw new GatewayError('conn.tls_required', `pgwarden: refusing to listen on ${config.listen.postgres} without TLS: tokens travel as passwords`, {
      hint: 'Configure listen.tls, or set listen.allow_insecure_remote: true.',
    });
  }
  const httpTls = config.listen.http_tls;
  const httpScheme = httpTls ? 'https' : 'http';
  if (!isLoopback(splitHostPort(config.listen.http).host) && !httpTls && !config.listen.allow_insecure_remote && !config.console?.public_url?.startsWith('https://')) {
    throw new GatewayError('conn.tls_required', `pgwarden: refusing to serve HTTP on ${config.listen.http} without TLS: bearer tokens and console cookies travel over it`, {
      hint: 'Configure listen.http_tls, set console.public_url to the https:// address of a TLS proxy, or set listen.allow_insecure_remote: true.',
    });
  }
  const httpListen = splitHostPort(config.listen.http);
  if (config.mcp.enabled && isWildcardHost(httpListen.host) && mcpResourceUrl({ ...publicUrlInput(config), listenHost: httpListen.host, listenPort: httpListen.port, scheme: httpScheme }) === undefined) {
    // Also checked by `pgwarden check`: the metadata would name http://0.0.0.0:…/mcp.
    throw new Error(
      `listen.http is ${config.listen.http}, every interface, so the MCP endpoint has no address clients reach it by: set mcp.resource (or console.public_url, or listen.http_hosts) to the URL clients use, or mcp.enabled: false`,
    );
  }
  const revocations = new RevocationList();
  const verifier = createTokenVerifier(config.identity, { logger: log, revocations });
  // Each surface that takes bearer tokens accepts its own audiences (see identity/types.ts).
  // The HTTP listener's address is known once it listens (the configured port may be 0).
  let httpBound = httpListen;
  const mcpResource = (): string | undefined =>
    mcpResourceUrl({ ...publicUrlInput(current), listenHost: httpBound.host, listenPort: httpBound.port, scheme: httpScheme });
  const mcpAudiences = (): string[] => {
    const resource = mcpResource();
    return audienceList(current.mcp.audience) ?? (resource === undefined ? [] : [resource]);
  };
  // What only /mcp accepts: its resource, and its audiences no issuer's audience also names (the
  // demo shares one on purpose). A token whose aud names only these opens no Postgres session and
  // no admin or reviews request, whatever the issuers' audience lists say.
  const mcpOnly = (): string[] => {
    const shared = new Set(current.identity.issuers.flatMap((i) => audienceList(i.audience) ?? []));
    const resource = mcpResource();
    return [...(resource === undefined ? [] : [resource]), ...mcpAudiences().filter((a) => !shared.has(a))];
  };
  const surface = (accept: () => string[] | undefined) =>
    forSurface(verifier, (): AudienceRule => {
      const a = accept();
      return a === undefined ? { exclude: mcpOnly() } : { accept: a, exclude: mcpOnly() };
    });
  const wireVerifier = surface(() => undefined);
  const adminVerifier = surface(() => audienceList(current.admin.audience));
  const reviewsVerifier = surface(() => audienceList(current.reviews.api_audience));
  const registry = new SessionRegistry(() => current.limits);
  const scramCache = new ScramKeyCache();
  await loadParser();
  let policyState: PolicyState = { version: 1, compiled: compilePolicies(config.policies) };
  const catalogs = new Map<string, CatalogService>();
  const syncCatalogs = (cfg: GatewayConfig) => {
    for (const [name, up] of Object.entries(cfg.upstreams)) {
      if (catalogs.has(name)) continue;
      const c = catalogFor(name, targetFor(name, up), scramCache, log, 60_000);
      catalogs.set(name, c);
      // A catalog that cannot load now (upstream down) loads at the first statement instead.
      void c.start().catch(() => {});
    }
  };
  syncCatalogs(config);
  await Promise.all([...catalogs.values()].map((c) => c.fresh()));
  let masking = compileMasking(config.masking);
  warnUnbound(catalogs, masking, policyState.compiled, log);
  const audit = await openAudit(config.audit, { logger: log, baseDir: options.configPath ? dirname(options.configPath) : process.cwd(), maxPageCount: options.auditMaxPageCount });
  // Before any session: what a run killed or crashed left open is closed in the log first.
  const unclean = await audit.closeUncleanRun();
  audit.event({ kind: 'gateway_start', at: Date.now(), details: { config: options.configPath, ...(unclean ? { previousRun: 'ended uncleanly' } : {}) } });
  let reviewRules = compileReviews(config.reviews);
  const reviewUrl = config.console ? (id: string) => `${httpScheme}://${config.listen.http}/console/reviews/${encodeURIComponent(id)}` : undefined;
  // No rules, nothing to keep: the store is opened in memory so no file is made for nothing.
  const reviews = await ReviewService.open({ ...config.reviews, store: reviewRules.rules.length ? config.reviews.store : 'memory' }, {
    logger: log,
    baseDir: options.configPath ? dirname(options.configPath) : process.cwd(),
    audit,
    reviewUrl,
  });
  const shared: Shared = {
    reviews,
    reviewRules: () => reviewRules,
    reviewUrl,
    audit,
    captureRows: config.audit.capture_results === 'masked' ? config.audit.capture_rows : 0, policies: () => policyState, masking: () => masking, catalogs, cache: new AnalysisCache(5000), scramCache,
    capacities: new UpstreamCapacities({
      configured: (name) => current.upstreams[name]?.max_connections,
      connect: async (name) => {
        const up = current.upstreams[name];
        if (!up) throw new GatewayError('upstream.unavailable', `pgwarden: upstream "${name}" is not configured`);
        return new SimpleQuerySession((await connectUpstream(targetFor(name, up), { application_name: 'pgwarden-capacity', ...PINNED_UPSTREAM_SETTINGS }, scramCache)).socket);
      },
    }) };
  let settings = listenerSettings(config, shared);

  const httpAddr = splitHostPort(config.listen.http);
  let devIssuer = options.devIssuer;
  if (devIssuer || config.dev_issuer?.enabled) {
    // Also checked by `pgwarden check`; repeated here for configs built without the loader.
    if (!options.devIssuer && !config.dev_issuer?.unsafe_anyone_can_mint_tokens) {
      throw new Error('dev_issuer.enabled needs dev_issuer.unsafe_anyone_can_mint_tokens: true: the development issuer lets anyone mint tokens');
    }
    for (const [key, value] of [['postgres', config.listen.postgres], ['http', config.listen.http]] as const) {
      if (!isLoopback(splitHostPort(value).host)) {
        throw new Error(`the development issuer works only while every listener is on loopback, and listen.${key} is ${value}`);
      }
    }
  }
  if (!devIssuer && config.dev_issuer?.enabled) {
    const keyFile = config.dev_issuer.key_file ?? './pgwarden-data/dev-issuer-key.json';
    devIssuer = await DevIssuer.open(keyFile, `${httpScheme}://${config.listen.http}/dev`);
  }
  if (devIssuer) log.warn({ issuer: devIssuer.issuer }, 'THE DEVELOPMENT ISSUER IS ENABLED: anyone with its key file can mint tokens; never use it in production');

  let closing = false;
  const upstreamUp = new Map<string, boolean>();
  const probeAll = async () => {
    for (const [name, up] of Object.entries(current.upstreams)) {
      const t = targetFor(name, up);
      upstreamUp.set(name, await probe(t.host, t.port, 2000));
    }
  };
  await probeAll();
  const probeTimer = setInterval(() => void probeAll(), 5000);
  probeTimer.unref();

  // Revocations outlive the process: restored from the store before the listener opens.
  for (const r of await audit.store.revocations()) revocations.restore(r);
  // In effect at once in this process; the admin API answers only once the store has it.
  const revoke = async (subject: string, issuer?: string) => {
    revocations.revoke(subject, issuer);
    const terminated = registry.terminateWhere(
      (id: Identity) => revocations.isRevoked(id),
      () => new GatewayError('auth.revoked', `pgwarden: access for ${subject} has been revoked`),
    );
    log.warn({ subject, issuer, terminated }, 'subject revoked');
    // Console sign-ins of the human end too, on every instance sharing the store.
    const consoleSessions = await audit.store.deleteConsoleSessionsOf(subject, issuer);
    audit.event({ kind: 'revocation', at: Date.now(), details: { subject, issuer, terminated, console_sessions: consoleSessions } });
    const made = revocations.list().find((r) => r.subject === subject && r.issuer === issuer);
    await audit.store.putRevocation(made ?? { subject, ...(issuer === undefined ? {} : { issuer }), at: new Date().toISOString() });
    return { terminated };
  };
  const unrevoke = async (subject: string, issuer?: string) => {
    revocations.unrevoke(subject, issuer);
    log.warn({ subject, issuer }, 'revocation lifted');
    audit.event({ kind: 'revocation_lifted', at: Date.now(), details: { subject, issuer } });
    await audit.store.deleteRevocation(subject, issuer);
  };

  const listener = await listenPostgres(pgAddr.host, pgAddr.port, { logger: log, verifier: wireVerifier, registry, scramCache, settings: () => settings, isRevoked: (id) => revocations.isRevoked(id) });
  const mcp: McpEndpoint | undefined = config.mcp.enabled ? mcpEndpoint() : undefined;
  function mcpEndpoint(): McpEndpoint {
    const firstDatabase = () => [...databaseRoutes(current).keys()][0];
    return createMcpEndpoint({
      logger: log,
      verifier,
      version: (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version,
      settings: () => {
        // Checked at start: with no public address, the listener is not on a wildcard.
        const resource = mcpResource() ?? `${httpScheme}://${httpBound.host}:${httpBound.port}/mcp`;
        return {
          resource,
          audiences: mcpAudiences(),
          issuers: current.identity.issuers.map((i) => i.issuer),
          idleTimeoutMs: current.mcp.idle_timeout,
          maxSessions: current.mcp.max_sessions,
        };
      },
      view: createScopeView({
        policies: () => policyState.compiled,
        masking: () => masking,
        databases: () => [...databaseRoutes(current).keys()],
        catalog: (database) => {
          const upstream = databaseRoutes(current).get(database);
          return (upstream === undefined ? undefined : catalogs.get(upstream)?.current()) ?? null;
        },
      }),
      open: (identity, database, applicationName) => listener.openInternal(identity, database, { via: 'mcp', applicationName }),
      defaultDatabase: () => current.mcp.database ?? firstDatabase(),
      maxRows: () => current.mcp.max_rows,
      reviews: { get: (id) => reviews.get(id), configured: () => reviewRules.rules.length > 0 },
    });
  }
  const consoleApp = createConsole({
    logger: log,
    config: () => current.console,
    store: audit.store,
    // Called per request, once the server listens (the configured port may be 0).
    baseUrl: () => `${httpScheme}://${http.host.includes(':') ? `[${http.host}]` : http.host}:${http.port}`,
    revocations,
    issuerName: (url) => {
      const trim = (u: string) => u.replace(/\/+$/, '');
      const configured = current.identity.issuers.find((i) => trim(i.issuer) === trim(url));
      return configured?.name ?? configured?.issuer ?? url;
    },
    devIssuer,
    event: (kind, actor, details) => audit.event({ kind, at: Date.now(), actor, details }),
    sections: [reviewsSection({ service: reviews, logger: log })],
  });
  const app = createHttpApp({
    logger: log,
    // Called per request, once the server listens (the configured port may be 0).
    allowedHosts: () =>
      allowedHosts({
        listenHost: http.host,
        listenPort: http.port,
        scheme: httpScheme,
        publicUrls: [current.console?.public_url, current.mcp.resource].filter((u): u is string => u !== undefined),
        extraHosts: current.listen.http_hosts,
      }),
    verifier: adminVerifier,
    admin: () => current.admin,
    ready: () => {
      if (closing) return { ready: false, reason: 'shutting down' };
      // Fail closed refuses every statement while the store cannot write: send clients elsewhere.
      const store = audit.status();
      if (!store.writable && current.audit.fail_closed) return { ready: false, reason: store.reason ?? 'the audit store cannot write' };
      const down = [...upstreamUp].filter(([, up]) => !up).map(([n]) => n);
      return down.length ? { ready: false, reason: `upstream unreachable: ${down.join(', ')}` } : { ready: true };
    },
    revoke,
    unrevoke,
    revocations: () => revocations.list(),
    devIssuer,
    mcp: mcp?.routes,
    console: consoleApp,
    reviews: reviewRoutes({ service: reviews, verifier: reviewsVerifier, approvers: (id) => isApproverOfAny(reviewRules, id), logger: log }),
  });
  let http: Awaited<ReturnType<typeof startHttpServer>>;
  try {
    http = await startHttpServer(app, httpAddr.host, httpAddr.port, httpTls ? { cert: readFileSync(httpTls.cert), key: readFileSync(httpTls.key) } : undefined);
  } catch (err) {
    await listener.stopAccepting();
    await mcp?.close();
    throw err;
  }
  httpBound = { host: http.host, port: http.port };
  log.info({ postgres: `${listener.host}:${listener.port}`, http: `${http.host}:${http.port}`, config: options.configPath }, 'pgwarden listening');

  return {
    postgres: { host: listener.host, port: listener.port },
    http: { host: http.host, port: http.port },
    devIssuer,
    async reloadCatalogs() {
      await Promise.all([...catalogs.values()].map((c) => c.reload().catch(() => {})));
    },
    reload(next) {
      const compiled = compilePolicies(next.policies);
      const nextMasking = compileMasking(next.masking);
      const nextReviews = compileReviews(next.reviews);
      syncCatalogs(next);
      // Objects changed directly on the database are seen at once, not at the next timer.
      for (const c of catalogs.values()) void c.reload().catch(() => {});
      const nextSettings = listenerSettings(next, shared);
      verifier.update(next.identity);
      // What changed, for the audit (secrets only as changed): a reload that drops TLS or widens
      // a policy leaves a record of exactly that.
      const diff = configDiff(current, next);
      current = next;
      settings = nextSettings;
      shared.capacities.forget();
      policyState = { version: policyState.version + 1, compiled };
      masking = nextMasking;
      warnUnbound(catalogs, masking, compiled, log);
      reviewRules = nextReviews;
      // Webhooks (URLs, secrets, events, formats) apply from the next review event on.
      reviews.reload(next.reviews);
      log.info({ config: options.configPath, changed: diff.changes.map((c) => c.key), security: diff.security }, 'config reloaded; new connections use it');
      audit.event({ kind: 'config_reload', at: Date.now(), actor: 'reload', details: { config: options.configPath, ...diff } });
    },
    revoke,
    unrevoke,
    sessions: () => registry.size,
    async close(graceMs = current.limits.shutdown_grace) {
      if (closing) return;
      closing = true;
      clearInterval(probeTimer);
      for (const c of catalogs.values()) c.stop();
      const stopped = listener.stopAccepting();
      const deadline = Date.now() + graceMs;
      if (registry.size > 0) log.info({ sessions: registry.size, graceMs }, 'shutting down: waiting for open sessions');
      while (registry.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const ended = registry.terminateWhere(
        () => true,
        () => new GatewayError('conn.shutting_down', 'pgwarden: the gateway is shutting down'),
      );
      if (ended) log.info({ sessions: ended }, 'shutdown: open sessions ended');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([stopped, new Promise((r) => (timer = setTimeout(r, 3000)))]);
      clearTimeout(timer);
      await mcp?.close();
      await http.close();
      audit.event({ kind: 'gateway_stop', at: Date.now(), details: {} });
      await reviews.close();
      await audit.close();
      log.info('pgwarden stopped');
    },
  };
}
