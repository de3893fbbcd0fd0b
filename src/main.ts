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
import type { GatewayConfig } from './config/schema.ts';
import { checkTlsFiles, tlsFiles } from './tls-files.ts';
import { configDiff, databaseRoutes, isLoopback, isWildcardHost, mcpResourceUrl } from './config/index.ts';
import { GatewayError } from './errors.ts';
import { DevIssuer, RevocationList, createTokenVerifier, forSurface, type AudienceRule } from './identity/index.ts';
import type { Identity } from './identity/types.ts';
import type { Logger } from './log.ts';
import { allowedHosts, createHttpApp, createMetricsApp, metricsRoutes, startHttpServer } from './http/index.ts';
import { createConsole } from './console/index.ts';
import { SessionRegistry, UpstreamCapacities, listenPostgres, startupSetting, type ListenerSettings, type Route, type SessionContext } from './proxy/index.ts';
import { ScramKeyCache, SimpleQuerySession, UpstreamPool, connectUpstream, targetFor, type UpstreamTarget } from './upstream/index.ts';
import { CatalogService, formerNamesOf, withHierarchy } from './catalog/index.ts';
import { AnalysisCache, loadParser } from './sql/index.ts';
import { compilePolicies, describeNoScope, scopeFor, type CompiledPolicies, type Scope } from './policy/index.ts';
import { PINNED_UPSTREAM_SETTINGS, PolicyGate, governedRules, statementChecks, unboundRules, type Decisions, type PolicyState, StageClock, StatementStages } from './engine/index.ts';
import { maskingPort } from './engine/masking-port.ts';
import { compileMasking, maskingFor, type CompiledMasking } from './masking/index.ts';
import { journalDir, openAudit, type OpenedAudit } from './audit/index.ts';
import { ReviewService, compileReviews, isApproverOfAny, reviewRoutes, reviewsSection, type CompiledReviews } from './review/index.ts';
import { reviewPort } from './engine/review-port.ts';
import { rowEstimator } from './engine/row-estimate.ts';
import type { StatementAudit } from './engine/index.ts';
import { randomUUID } from 'node:crypto';
import { dirname } from 'node:path';
import { createMcpEndpoint, createScopeView, type McpEndpoint } from './mcp/index.ts';
import { GatewayMetrics } from './metrics/index.ts';
import { observedAudit, observedMasking, tracedAudit } from './engine/observed.ts';
import { StatementTracer } from './tracing/index.ts';
import { hostname } from 'node:os';
import { followRevocations } from './store/index.ts';
import { pidRange, share, shareCapacity, shareLimits, workerInstance, type WorkerRole } from './cluster/index.ts';

export interface StartOptions {
  logger: Logger;
  /** The file the config came from (for log lines). */
  configPath?: string;
  /** A development issuer made by the caller (the demo); otherwise opened from `dev_issuer`. */
  devIssuer?: DevIssuer;
  /** Tests: cap the SQLite audit file at this many pages, so that writes fail as on a full disk. */
  auditMaxPageCount?: number;
  /** The bench's --profile: every session measures the time of each pipeline stage into this clock. */
  stageClock?: StageClock;
  /**
   * One of several worker processes (`pgwarden start` with `workers` > 1; see src/cluster): its
   * share of the limits, its own cancel keys and audit chain, the HTTP surfaces only in worker 1,
   * and revocations and decided reviews told to the other workers. Unset: the whole gateway.
   */
  worker?: WorkerRole;
}

export interface Gateway {
  postgres: { host: string; port: number };
  http: { host: string; port: number };
  /** The metrics listener, when `metrics.listen` is set. */
  metrics?: { host: string; port: number };
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
  /** Sessions pinned to a transaction pool's connections, by upstream and identity (see pinSlots). */
  pinned: Map<string, number>;
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
  metrics?: GatewayMetrics;
  tracer?: StatementTracer;
  /** Connection pools of the upstreams that have `pool` set. */
  pools: Map<string, UpstreamPool>;
  /** The gate's allowed decisions, shared by the sessions of one identity (see `decisionsFor`). */
  decisions: WeakMap<Identity, { masking: CompiledMasking; byDatabase: Map<string, Decisions> }>;
  stageClock: StageClock | null;
  worker?: WorkerRole;
}

/** The limits this process applies: all of them, or a worker's share. */
function limitsOf<L extends GatewayConfig['limits']>(limits: L, worker: WorkerRole | undefined): L {
  return worker ? shareLimits(limits, worker.number, worker.count) : limits;
}

function listenerSettings(config: GatewayConfig, shared: Shared): ListenerSettings {
  const routes = new Map<string, Route>();
  for (const [database, upstream] of databaseRoutes(config)) {
    routes.set(database, { upstream, target: targetFor(upstream, config.upstreams[upstream]) });
  }
  const t = config.listen.tls;
  const w = shared.worker;
  return {
    limits: limitsOf(config.limits, w),
    tlsContext: t ? tlsFiles('listen.tls', t).context : null,
    requireTls: config.listen.require_tls ?? (t !== undefined && !isLoopback(splitHostPort(config.listen.postgres).host)),
    expiryGraceMs: config.identity.expiry_grace,
    userNames: config.identity.user_names ?? ['agent'],
    route: (database) => routes.get(database),
    authorize: (identity, database) => {
      const { compiled } = shared.policies();
      const scope = scopeFor(compiled, identity, database);
      if (!scope) return { refusal: describeNoScope(compiled, identity, database) };
      const upstream = routes.get(database)?.upstream;
      const searchPath = upstream === undefined ? undefined : shared.catalogs.get(upstream)?.current()?.searchPathSetting;
      return { upstreamSettings: upstreamSettingsFor(scope), statementTimeoutMs: scope.limits.statementTimeoutMs, ...(searchPath !== undefined && { searchPath }) };
    },
    capacity: (upstream) => {
      // Transaction pooling: sessions do not hold server connections; they are bounded by max_clients.
      const pool = config.upstreams[upstream]?.pool;
      if (pool?.mode === 'transaction') return Promise.resolve(w ? Math.max(1, share(pool.max_clients, w.number, w.count)) : pool.max_clients);
      return w ? shared.capacities.get(upstream).then((c) => shareCapacity(c, config.upstreams[upstream]?.max_connections === undefined, w.number, w.count)) : shared.capacities.get(upstream);
    },
    pool: (upstream) => shared.pools.get(upstream),
    stageClock: shared.stageClock,
    sessionParts: async (ctx) => {
      const catalog = shared.catalogs.get(ctx.route.upstream)!;
      const maskingNow = shared.masking();
      const masks = maskingFor(maskingNow, ctx.identity, withHierarchy(formerNamesOf(() => catalog.current()), () => catalog.current()));
      const sessionId = randomUUID();
      const startedAt = Date.now();
      const observe = <T extends Parameters<typeof observedMasking>[0]>(port: T) => (shared.metrics ? observedMasking(port, shared.metrics) : port);
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
      const pin = pinSlots(shared, ctx.route.upstream, ctx.identity);
      // Traced: the session's own clock follows each statement's stages (none when tracing is off).
      const stages = shared.tracer ? new StatementStages(ctx.clock) : undefined;
      const gate = new PolicyGate({
        identity: ctx.identity,
        database: ctx.database,
        policies: shared.policies,
        catalog,
        cache: shared.cache,
        maxStatementNodes: config.limits.max_statement_nodes,
        ...(config.upstreams[ctx.route.upstream]?.pool?.mode === 'transaction'
          ? { pooling: { upstream: ctx.route.upstream, refuseSessionState: config.upstreams[ctx.route.upstream]!.pool!.on_session_state === 'refuse', takePin: pin.take } }
          : {}),
        startupSearchPath: startupSetting(ctx.startupParams, 'search_path'),
        clock: stages ?? ctx.clock,
        decisions: decisionsFor(shared, ctx.identity, ctx.database, maskingNow),
        ...statementChecks({ identity: ctx.identity, masks, masking: shared.masking, policies: () => shared.policies().compiled, catalog: () => catalog.current() }),
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
        masking: masks.empty ? undefined : observe(maskingPort(masks, () => catalog.current())),
        audit: observedPort(audit.port, shared, ctx, sessionId, stages),
        clock: stages,
        captureRows: shared.captureRows,
        pinned: (reason) => shared.audit.event({ kind: 'session_pinned', at: Date.now(), sessionId, details: { reason, upstream: ctx.route.upstream } }),
        closed: (reason) => {
          pin.release();
          return shared.audit.sessionEnd({ sessionId, at: Date.now(), reason, statements: audit.count(), durationMs: Date.now() - startedAt });
        },
      };
    },
  };
}

/**
 * A session's slot among the sessions its identity has pinned to server connections of a
 * transaction pool (`pool.max_pinned_per_identity`, counted per process): taken by the first
 * statement that pins it, given back when the session ends.
 */
function pinSlots(shared: Shared, upstream: string, identity: Identity): { take(): string | null; release(): void } {
  const key = `${upstream}\u0000${identity.issuer}\u0000${identity.subject}`;
  let held = false;
  return {
    take() {
      if (held) return null;
      const pool = shared.pools.get(upstream)?.settings();
      const cap = pool?.max_pinned_per_identity ?? Math.max(1, Math.floor((pool?.size ?? 2) / 2));
      const n = shared.pinned.get(key) ?? 0;
      if (n >= cap) return `${identity.subject} already has ${n} sessions pinned to connections of upstream ${upstream} (upstreams.${upstream}.pool.max_pinned_per_identity: ${cap})`;
      shared.pinned.set(key, n + 1);
      held = true;
      return null;
    },
    release() {
      if (!held) return;
      held = false;
      const n = (shared.pinned.get(key) ?? 1) - 1;
      if (n > 0) shared.pinned.set(key, n);
      else shared.pinned.delete(key);
    },
  };
}

/**
 * The allowed decisions shared by the sessions of one identity on one database, opened under one
 * masking configuration: a client that reconnects (a connection per transaction) finds its
 * statements decided. What else a decision depends on is checked per entry by the gate (the
 * policy version, which every reload changes, and the catalog). The identity is the verifier's
 * object for one verified token, so two tokens never share, and a masking reload starts afresh:
 * a session opened before it keeps its masks, and its decisions stay out of the new sessions'.
 */
function decisionsFor(shared: Shared, identity: Identity, database: string, masking: CompiledMasking): Decisions {
  let kit = shared.decisions.get(identity);
  if (!kit || kit.masking !== masking) shared.decisions.set(identity, (kit = { masking, byDatabase: new Map() }));
  let d = kit.byDatabase.get(database);
  if (!d) kit.byDatabase.set(database, (d = new WeakMap()));
  return d;
}

/** How an upstream is reached: a pool made for one value is not used for another. */
function reachOf(up: GatewayConfig['upstreams'][string]): string {
  return JSON.stringify([up.url, up.password ?? null, up.tls, up.connect_timeout]);
}

/** The package version (traces carry it as service.version). */
function gatewayVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The session's audit port, counted (metrics) and traced (tracing) when those are configured. */
function observedPort(port: StatementAudit, shared: Shared, ctx: SessionContext, sessionId: string, stages: StatementStages | undefined): StatementAudit {
  let out = port;
  const { metrics, tracer } = shared;
  if (tracer && stages) {
    out = tracedAudit(out, stages, (s, decision, at) =>
      tracer.statement({
        sessionId,
        database: ctx.database,
        subject: ctx.identity.subject,
        issuer: ctx.identity.issuerName,
        decision,
        rule: s.decision.rule,
        reviewId: s.decision.reviewId,
        command: s.analysis?.command,
        kind: s.kind,
        at,
      }),
    );
  }
  if (metrics) out = observedAudit(out, metrics, metrics.identityLabels ? ctx.identity.subject : '');
  return out;
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
  // Before anything is opened: a certificate that cannot be loaded is a config error.
  checkTlsFiles(config);
  const httpListen = splitHostPort(config.listen.http);
  if (config.mcp.enabled && isWildcardHost(httpListen.host) && mcpResourceUrl({ ...publicUrlInput(config), listenHost: httpListen.host, listenPort: httpListen.port, scheme: httpScheme }) === undefined) {
    // Also checked by `pgwarden check`: the metadata would name http://0.0.0.0:…/mcp.
    throw new Error(
      `listen.http is ${config.listen.http}, every interface, so the MCP endpoint has no address clients reach it by: set mcp.resource (or console.public_url, or listen.http_hosts) to the URL clients use, or mcp.enabled: false`,
    );
  }
  // Metrics are served on loopback, or off it only to a scraper holding metrics.bearer_token.
  const metricsWhere = config.metrics.listen ?? config.listen.http;
  const metricsOpen = config.metrics.bearer_token !== undefined || isLoopback(splitHostPort(metricsWhere).host);
  if (config.metrics.enabled === true && !metricsOpen) {
    // Also checked by `pgwarden check`.
    throw new Error(`metrics.enabled: /metrics would be served on ${metricsWhere}, off loopback, to anyone: set metrics.bearer_token, or serve it on a loopback metrics.listen`);
  }
  if (config.metrics.enabled === undefined && !metricsOpen) log.info({ listen: metricsWhere }, '/metrics is not served: its listener is off loopback and metrics.bearer_token is not set');
  if (options.worker && config.reviews.rules.length > 0 && config.reviews.store === 'memory') {
    // A review held in one worker is decided through worker 1: the workers must share the store.
    throw new Error('reviews.store: memory cannot be shared by several workers: use a sqlite: or postgres:// review store, or workers: 1');
  }
  const revocations = new RevocationList();
  // Metrics are on or off for the life of the process (the bearer token is read per scrape).
  const metrics = (config.metrics.enabled ?? metricsOpen) ? new GatewayMetrics({ identityLabels: config.metrics.identity_labels }) : undefined;
  // Tracing is configured at start (nothing of it runs when it is not).
  const tracer = config.tracing ? new StatementTracer(config.tracing, gatewayVersion()) : undefined;
  const verifier = createTokenVerifier(config.identity, {
    logger: log,
    revocations,
    observe: metrics && { verified: (issuer, result) => metrics.tokenVerified(issuer, result), keysFetched: (issuer, ok) => metrics.jwksFetched(issuer, ok) },
  });
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
  // Asked at every sign-in: worked out again only when the configuration or the bound address changed.
  let mcpOnlyOf: { config: GatewayConfig; bound: { host: string; port: number }; audiences: string[] } | null = null;
  const mcpOnly = (): string[] => {
    if (mcpOnlyOf?.config === current && mcpOnlyOf.bound === httpBound) return mcpOnlyOf.audiences;
    const shared = new Set(current.identity.issuers.flatMap((i) => audienceList(i.audience) ?? []));
    const resource = mcpResource();
    const audiences = [...(resource === undefined ? [] : [resource]), ...mcpAudiences().filter((a) => !shared.has(a))];
    mcpOnlyOf = { config: current, bound: httpBound, audiences };
    return audiences;
  };
  const surface = (accept: () => string[] | undefined) =>
    forSurface(verifier, (): AudienceRule => {
      const a = accept();
      return a === undefined ? { exclude: mcpOnly() } : { accept: a, exclude: mcpOnly() };
    });
  const wireVerifier = surface(() => undefined);
  const adminVerifier = surface(() => audienceList(current.admin.audience));
  const reviewsVerifier = surface(() => audienceList(current.reviews.api_audience));
  const worker = options.worker;
  const registry = new SessionRegistry(
    () => limitsOf(current.limits, worker),
    worker ? { ...pidRange(worker.number), forward: (pid, secret) => worker.forwardCancel(pid, secret) } : undefined,
  );
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
  // One pool per upstream with `pool` set. A reload that changes how an upstream is reached (or
  // drops its pool) closes the old pool: its idle connections go, leased ones when released.
  const pools = new Map<string, { pool: UpstreamPool; reach: string }>();
  const poolMap = new Map<string, UpstreamPool>();
  const syncPools = (cfg: GatewayConfig) => {
    for (const [name, entry] of pools) {
      const up = cfg.upstreams[name];
      if (!up?.pool || reachOf(up) !== entry.reach) {
        void entry.pool.close();
        pools.delete(name);
        poolMap.delete(name);
      }
    }
    for (const [name, up] of Object.entries(cfg.upstreams)) {
      if (!up.pool || pools.has(name)) continue;
      const target = targetFor(name, up);
      const pool = new UpstreamPool({
        name,
        connect: (params) => connectUpstream(target, params, scramCache),
        // With several workers, each has its share of the pool's connections and of the upstream.
        config: () => {
          const p = current.upstreams[name]?.pool ?? up.pool!;
          if (!worker) return p;
          const size = Math.max(1, share(p.size, worker.number, worker.count));
          return { ...p, size, min_idle: Math.min(p.min_idle, size) };
        },
        capacity: () =>
          worker ? shared.capacities.get(name).then((c) => shareCapacity(c, current.upstreams[name]?.max_connections === undefined, worker.number, worker.count)) : shared.capacities.get(name),
        logger: log,
      });
      pools.set(name, { pool, reach: reachOf(up) });
      poolMap.set(name, pool);
    }
  };
  syncPools(config);
  await Promise.all([...catalogs.values()].map((c) => c.fresh()));
  let masking = compileMasking(config.masking);
  warnUnbound(catalogs, masking, policyState.compiled, log);
  // SQLite store files are this instance's alone (the workers of one run share its hold).
  const lock = worker ? worker.lock : { pid: process.pid, token: randomUUID() };
  const auditBase = options.configPath ? dirname(options.configPath) : process.cwd();
  const workerChain = worker ? workerInstance(config.audit.instance ?? hostname(), worker.number) : undefined;
  // One chain per worker in the shared store (`audit verify` checks every chain), each with a
  // journal of its own beside the configured one: a journal holds exactly one chain.
  const workerJournal = workerChain ? journalDir(config.audit, auditBase, workerChain) : null;
  // A start that fails from here on (a store held by another instance, say) lets go of what it
  // opened, so that the process can exit.
  const giveUpEarly = async (err: unknown): Promise<never> => {
    for (const c of catalogs.values()) c.stop();
    await Promise.all([...pools.values()].map((p) => p.pool.close().catch(() => undefined)));
    await tracer?.close().catch(() => undefined);
    throw err;
  };
  const audit = await openAudit(workerJournal ? { ...config.audit, journal: `${workerJournal}-${workerChain}` } : config.audit, {
    logger: log,
    baseDir: auditBase,
    maxPageCount: options.auditMaxPageCount,
    lock,
    ...(workerChain ? { instance: workerChain } : {}),
  }).catch(giveUpEarly);
  // Before any session: what a run killed or crashed left open is closed in the log first.
  const unclean = await audit.closeUncleanRun();
  audit.event({ kind: 'gateway_start', at: Date.now(), details: { config: options.configPath, ...(unclean ? { previousRun: 'ended uncleanly' } : {}) } });
  let reviewRules = compileReviews(config.reviews);
  const reviewUrl = config.console ? (id: string) => `${httpScheme}://${config.listen.http}/console/reviews/${encodeURIComponent(id)}` : undefined;
  // No rules, nothing to keep: the store is opened in memory so no file is made for nothing.
  const reviews = await ReviewService.open({ ...config.reviews, store: reviewRules.rules.length ? config.reviews.store : 'memory' }, {
    logger: log,
    lock,
    baseDir: options.configPath ? dirname(options.configPath) : process.cwd(),
    audit,
    reviewUrl,
    // Decided in this worker (the console and the reviews API are in worker 1): the worker holding
    // the statement releases it.
    ...(worker ? { settled: (id: string) => void worker.broadcast({ kind: 'review', id }) } : {}),
  }).catch(async (err: unknown) => {
    // E.g. the review file is another instance's: give up this instance's hold on the audit store.
    await audit.close().catch(() => undefined);
    return giveUpEarly(err);
  });
  const shared: Shared = {
    reviews,
    reviewRules: () => reviewRules,
    reviewUrl,
    audit,
    captureRows: config.audit.capture_results === 'masked' ? config.audit.capture_rows : 0, policies: () => policyState, masking: () => masking, catalogs, cache: new AnalysisCache(5000), scramCache,
    metrics,
    tracer,
    pools: poolMap,
    decisions: new WeakMap(),
    pinned: new Map(),
    stageClock: options.stageClock ?? (metrics && config.metrics.stage_timings ? new StageClock((bucket, seconds) => metrics.stage(bucket, seconds)) : null),
    capacities: new UpstreamCapacities({
      configured: (name) => current.upstreams[name]?.max_connections,
      connect: async (name) => {
        const up = current.upstreams[name];
        if (!up) throw new GatewayError('upstream.unavailable', `pgwarden: upstream "${name}" is not configured`);
        return new SimpleQuerySession((await connectUpstream(targetFor(name, up), { application_name: 'pgwarden-capacity', ...PINNED_UPSTREAM_SETTINGS }, scramCache)).socket);
      },
    }),
    worker };
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
  // A shared (PostgreSQL) store that cannot be reached makes the instance not ready, until it can.
  let storeDown: string | null = null;
  let probing = false;
  const probeStores = async () => {
    if (probing) return;
    probing = true;
    try {
      const audited = audit.store.kind === 'postgres' ? await audit.store.search({ limit: 0 }).then(() => null, (err: unknown) => (err as Error).message) : null;
      const down = audited ?? (await reviews.check().catch((err: unknown) => (err as Error).message));
      if (down && !storeDown) log.warn({ err: down }, 'the shared store cannot be reached: not ready');
      if (!down && storeDown) log.info('the shared store can be reached again: ready');
      storeDown = down;
    } finally {
      probing = false;
    }
  };
  const storeTimer = setInterval(() => void probeStores(), 1000);
  storeTimer.unref();

  // Revocations outlive the process: restored from the store before the listener opens.
  for (const r of await audit.store.revocations()) revocations.restore(r);
  // In effect at once in this process; the admin API answers only once the store has it.
  // In this process: deny the subject from now on and end its open sessions.
  // The MCP endpoint, made further down (when this process serves HTTP), closes the revoked
  // identity's MCP sessions and their event streams too.
  let closeRevokedMcp: ((revoked: (id: Identity) => boolean) => number) | undefined;
  const revokeHere = (subject: string, issuer?: string) => {
    revocations.revoke(subject, issuer);
    const mcpClosed = closeRevokedMcp?.((id) => revocations.isRevoked(id)) ?? 0;
    if (mcpClosed > 0) log.warn({ subject, issuer, mcp_sessions: mcpClosed }, 'mcp sessions of a revoked subject closed');
    return registry.terminateWhere(
      (id: Identity) => revocations.isRevoked(id),
      () => new GatewayError('auth.revoked', `pgwarden: access for ${subject} has been revoked`),
    );
  };
  // A store shared by instances: what the others revoke or lift reaches this one (NOTIFY + poll).
  const follower = audit.store.watchRevocations
    ? followRevocations({ store: audit.store, list: () => revocations.list(), add: (r) => revokeHere(r.subject, r.issuer), remove: (r) => revocations.unrevoke(r.subject, r.issuer), logger: log })
    : undefined;
  const local = <T>(change: () => Promise<T>) => (follower ? follower.local(change) : change());
  // In effect at once in this process (and in every worker before it resolves); the admin API
  // answers only once the store has it.
  const revoke = (subject: string, issuer?: string) => local(async () => {
    let terminated = revokeHere(subject, issuer);
    if (worker) terminated += await worker.broadcast({ kind: 'revoke', subject, ...(issuer === undefined ? {} : { issuer }) });
    log.warn({ subject, issuer, terminated }, 'subject revoked');
    // Console sign-ins of the human end too, on every instance sharing the store.
    const consoleSessions = await audit.store.deleteConsoleSessionsOf(subject, issuer);
    audit.event({ kind: 'revocation', at: Date.now(), details: { subject, issuer, terminated, console_sessions: consoleSessions } });
    const made = revocations.list().find((r) => r.subject === subject && r.issuer === issuer);
    await audit.store.putRevocation(made ?? { subject, ...(issuer === undefined ? {} : { issuer }), at: new Date().toISOString() });
    return { terminated };
  });
  const unrevoke = (subject: string, issuer?: string) => local(async () => {
    revocations.unrevoke(subject, issuer);
    if (worker) await worker.broadcast({ kind: 'unrevoke', subject, ...(issuer === undefined ? {} : { issuer }) });
    log.warn({ subject, issuer }, 'revocation lifted');
    audit.event({ kind: 'revocation_lifted', at: Date.now(), details: { subject, issuer } });
    await audit.store.deleteRevocation(subject, issuer);
  });
  // Instances sharing a store: a CancelRequest that reached another instance than the session's
  // is told to every instance (NOTIFY); the owner matches the secret against its own sessions.
  const cancels = audit.store.watchCancels?.((pid, secret) => {
    if (registry.cancelHere(pid, secret)) log.debug('cancel request from another instance matched');
  });
  let cancelWindow = { at: 0, n: 0 };
  const unmatchedCancel = audit.store.deliverCancel
    ? (pid: number, secret: Buffer) => {
        // Unauthenticated packets: at most 50 a second go to the store, the rest are dropped.
        const now = Date.now();
        if (now - cancelWindow.at >= 1000) cancelWindow = { at: now, n: 0 };
        if (++cancelWindow.n > 50) return;
        void audit.store.deliverCancel!(pid, secret).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'a cancel request could not be passed to the other instances'));
      }
    : undefined;
  // What the other workers tell this one (queued until now, so none is missed while starting).
  worker?.handle({
    broadcast: (b) => {
      switch (b.kind) {
        case 'revoke': {
          const n = revokeHere(b.subject, b.issuer);
          log.warn({ subject: b.subject, issuer: b.issuer, terminated: n }, 'subject revoked by another worker');
          return n;
        }
        case 'unrevoke':
          revocations.unrevoke(b.subject, b.issuer);
          return 0;
        case 'review':
          reviews.changed(b.id);
          return 0;
      }
    },
    cancel: (pid, secret) => {
      const matched = registry.cancel(pid, secret);
      log.debug({ matched }, 'cancel request from another worker');
      if (!matched) unmatchedCancel?.(pid, secret);
    },
  });

  // What runs in the background, stopped first when the gateway closes or a start fails.
  const stopBackground = (): Promise<unknown> => {
    closing = true;
    clearInterval(probeTimer);
    clearInterval(storeTimer);
    for (const c of catalogs.values()) c.stop();
    return Promise.all([...pools.values()].map(({ pool }) => pool.close().catch(() => undefined)));
  };
  // The stores, closed last.
  const closeStores = async (): Promise<void> => {
    await follower?.close();
    await cancels?.close();
    await reviews.close();
    await tracer?.close().catch((err: unknown) => log.warn({ err: (err as Error).message }, 'traces could not be exported at shutdown'));
    await audit.close();
  };
  const listener = await listenPostgres(pgAddr.host, pgAddr.port, {
    logger: log,
    verifier: wireVerifier,
    registry,
    scramCache,
    settings: () => settings,
    isRevoked: (id) => revocations.isRevoked(id),
    unmatchedCancel,
    observe: metrics && { opened: (via) => metrics.connectionOpened(via === 'mcp' ? 'mcp' : 'wire'), refused: (reason) => metrics.connectionRefused(reason) },
  }).catch(async (err: unknown) => {
    // The port is taken, say: let go of everything opened so far.
    await stopBackground();
    await closeStores().catch(() => undefined);
    throw err;
  });
  metrics?.attach({
    connections: () => ({ authenticating: registry.pendingConnections + registry.waitingConnections, active: registry.size }),
    upstreams: () => Object.fromEntries(Object.keys(current.upstreams).map((u) => [u, registry.upstreamSessions(u)])),
    reviews: async () => {
      const pending = await reviews.list({ status: 'pending', limit: 1000 });
      const oldest = pending.reduce((min, r) => Math.min(min, Date.parse(r.createdAt)), Date.now());
      return { pending: pending.length, oldestAgeSeconds: pending.length === 0 ? 0 : Math.max(0, (Date.now() - oldest) / 1000) };
    },
    audit: () => {
      const index = audit.indexStatus();
      return { writable: audit.status().writable, queued: index.lag, indexHealthy: index.reason === undefined };
    },
    pools: () => Object.fromEntries([...poolMap].map(([name, pool]) => [name, pool.stats()])),
    exporters: () => audit.exporters(),
  });
  // With several workers, worker 1 alone serves HTTP (console, admin and reviews API, /mcp,
  // health); the others serve PostgreSQL clients only.
  const serveHttp = !worker || worker.http;
  const mcp: McpEndpoint | undefined = config.mcp.enabled && serveHttp ? mcpEndpoint() : undefined;
  closeRevokedMcp = mcp ? (revoked) => mcp.closeRevoked(revoked) : undefined;
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
          maxSessionsPerIdentity: current.mcp.max_sessions_per_identity,
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
      if (storeDown) return { ready: false, reason: 'the shared store cannot be reached' };
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
    metrics: metrics && !config.metrics.listen ? metricsRoutes(metrics, () => current.metrics.bearer_token) : undefined,
  });
  // A start that fails after the Postgres listener (an HTTP port taken, say) lets go of everything
  // it opened, so the process is left as before the call.
  const abandon = async (): Promise<void> => {
    await stopBackground();
    await listener.stopAccepting();
    await mcp?.close();
    await closeStores().catch(() => undefined);
  };
  // Read per connection, so a reload applies to the next one.
  const httpLimits = { maxConnectionsPerSource: () => current.limits.max_http_connections_per_source };
  let http: Awaited<ReturnType<typeof startHttpServer>>;
  try {
    http = !serveHttp ? { ...httpAddr, close: async () => {} } : await startHttpServer(app, httpAddr.host, httpAddr.port, httpTls ? tlsFiles('listen.http_tls', httpTls) : undefined, httpLimits);
  } catch (err) {
    await abandon();
    throw err;
  }
  httpBound = { host: http.host, port: http.port };
  let metricsHttp: Awaited<ReturnType<typeof startHttpServer>> | undefined;
  if (metrics && config.metrics.listen && serveHttp) {
    const at = splitHostPort(config.metrics.listen);
    const app = createMetricsApp(metrics, () => current.metrics.bearer_token, () => (metricsHttp ? allowedHosts({ listenHost: metricsHttp.host, listenPort: metricsHttp.port, publicUrls: [], extraHosts: current.listen.http_hosts }) : { hosts: new Set(), origins: new Set() }));
    try {
      metricsHttp = await startHttpServer(app, at.host, at.port, undefined, httpLimits);
    } catch (err) {
      await http.close();
      await abandon();
      throw err;
    }
  }
  log.info({ postgres: `${listener.host}:${listener.port}`, http: serveHttp ? `${http.host}:${http.port}` : 'in worker 1', config: options.configPath }, worker ? 'worker listening' : 'pgwarden listening');

  return {
    postgres: { host: listener.host, port: listener.port },
    http: { host: http.host, port: http.port },
    metrics: metricsHttp && { host: metricsHttp.host, port: metricsHttp.port },
    devIssuer,
    async reloadCatalogs() {
      await Promise.all([...catalogs.values()].map((c) => c.reload({ full: true }).catch(() => {})));
    },
    reload(next) {
      checkTlsFiles(next);
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
      syncPools(next);
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
      void stopBackground();
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
      await metricsHttp?.close();
      audit.event({ kind: 'gateway_stop', at: Date.now(), details: {} });
      await closeStores();
      log.info('pgwarden stopped');
    },
  };
}
