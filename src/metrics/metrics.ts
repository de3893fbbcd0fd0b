/**
 * The gateway's Prometheus metrics (prom-client), one registry per gateway.
 *
 * Label sets are bounded: reasons and decisions come from fixed lists, rule names and issuer
 * names from the configuration, stages from the pipeline. No label holds statement text, a
 * parameter, a token claim the gateway does not trust, or (unless `metrics.identity_labels` is
 * set) an identity.
 *
 * Counters on the statement path are bound to their label values once (`labels(...)` children
 * cached in a map), so counting costs a map lookup and an addition.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Why a connection was refused before its session started (the error code's name, or a fixed word). */
export type RefusalReason = string;

export type StatementDecision = 'allow' | 'deny' | 'review';

/** What other parts read when a scrape asks for gauges (pull, so nothing costs between scrapes). */
export interface MetricSources {
  /** Client connections by state. */
  connections(): { authenticating: number; active: number };
  /** Sessions per upstream. */
  upstreams(): Record<string, number>;
  /** Pending reviews and the age of the oldest, in seconds. */
  reviews(): Promise<{ pending: number; oldestAgeSeconds: number }>;
  /** SIEM exporters (audit.sinks syslog/http) by name. */
  exporters?(): { name: string; lag: number; delivered: number; failures: number; failing: boolean }[];
  /** Connection pools by upstream (those with `pool` set). */
  pools?(): Record<string, { idle: number; leased: number; opening: number; waiting: number }>;
  /**
   * The audit log: whether its journal can write; records in the journal not yet in the index
   * (the store search, the console and replay read), and whether the index is being fed.
   */
  audit(): { writable: boolean; queued?: number; indexHealthy?: boolean };
}

export interface MetricsOptions {
  /** Label statement and connection counters with the identity (subject) as well. */
  identityLabels: boolean;
  /** Include the Node.js process metrics (CPU, memory, event loop lag). Default true. */
  processMetrics?: boolean;
}

/** Buckets for time the gateway adds, in seconds: 10 µs to 1 s. */
const STAGE_BUCKETS = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1];

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly identityLabels: boolean;
  readonly #connectionsRefused: Counter<'reason'>;
  readonly #connectionsOpened: Counter<'transport'>;
  readonly #statements: Counter<string>;
  readonly #masked: Counter<string>;
  readonly #stage: Histogram<'stage'>;
  readonly #tokens: Counter<'issuer' | 'result'>;
  readonly #jwks: Counter<'issuer' | 'result'>;
  readonly #bound = new Map<string, { inc(n?: number): void }>();
  #allowed: { inc(n?: number): void } | undefined;
  #sources: MetricSources | undefined;

  constructor(o: MetricsOptions) {
    this.identityLabels = o.identityLabels;
    const registers = [this.registry];
    if (o.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'pgwarden_' });

    this.#connectionsOpened = new Counter({
      name: 'pgwarden_connections_opened_total',
      help: 'Client sessions that authenticated and started, by transport (wire or mcp).',
      labelNames: ['transport'],
      registers,
    });
    this.#connectionsRefused = new Counter({
      name: 'pgwarden_connections_refused_total',
      help: 'Client connections refused before their session started, by reason (the error code).',
      labelNames: ['reason'],
      registers,
    });
    this.#statements = new Counter({
      name: 'pgwarden_statements_total',
      help: 'Statements by decision: allow (forwarded), review (forwarded after an approver allowed it), deny (refused, with the rule that refused it).',
      labelNames: o.identityLabels ? ['decision', 'rule', 'subject'] : ['decision', 'rule'],
      registers,
    });
    this.#masked = new Counter({
      name: 'pgwarden_results_masked_total',
      help: 'Result sets (and COPY outputs) sent with masked columns.',
      registers,
    });
    this.#stage = new Histogram({
      name: 'pgwarden_stage_seconds',
      help: 'Time the gateway spends on a statement, by pipeline stage.',
      labelNames: ['stage'],
      buckets: STAGE_BUCKETS,
      registers,
    });
    this.#tokens = new Counter({
      name: 'pgwarden_token_verifications_total',
      help: 'Token verifications by issuer (its configured name, or "untrusted") and result (ok, or the refusal code).',
      labelNames: ['issuer', 'result'],
      registers,
    });
    this.#jwks = new Counter({
      name: 'pgwarden_jwks_fetches_total',
      help: 'Fetches of an issuer\'s JWKS, by result (ok or error).',
      labelNames: ['issuer', 'result'],
      registers,
    });

    const sources = () => this.#sources;
    new Gauge({
      name: 'pgwarden_connections_open',
      help: 'Client connections open, by state (authenticating, active).',
      labelNames: ['state'],
      registers,
      collect() {
        const s = sources();
        if (!s) return;
        const c = s.connections();
        this.set({ state: 'authenticating' }, c.authenticating);
        this.set({ state: 'active' }, c.active);
      },
    });
    new Gauge({
      name: 'pgwarden_upstream_sessions',
      help: 'Sessions holding a connection to each upstream.',
      labelNames: ['upstream'],
      registers,
      collect() {
        const s = sources();
        if (!s) return;
        this.reset();
        for (const [upstream, n] of Object.entries(s.upstreams())) this.set({ upstream }, n);
      },
    });
    new Gauge({
      name: 'pgwarden_pool_connections',
      help: 'Server connections of each upstream pool, by state (idle, leased, opening).',
      labelNames: ['upstream', 'state'],
      registers,
      collect() {
        this.reset();
        for (const [upstream, p] of Object.entries(sources()?.pools?.() ?? {})) {
          this.set({ upstream, state: 'idle' }, p.idle);
          this.set({ upstream, state: 'leased' }, p.leased);
          this.set({ upstream, state: 'opening' }, p.opening);
        }
      },
    });
    new Gauge({
      name: 'pgwarden_pool_waiting_sessions',
      help: 'Sessions waiting for a server connection of each upstream pool.',
      labelNames: ['upstream'],
      registers,
      collect() {
        this.reset();
        for (const [upstream, p] of Object.entries(sources()?.pools?.() ?? {})) this.set({ upstream }, p.waiting);
      },
    });
    new Gauge({
      name: 'pgwarden_siem_lag_records',
      help: 'Audit records each SIEM exporter has not yet had acknowledged.',
      labelNames: ['exporter'],
      registers,
      collect() {
        this.reset();
        for (const e of sources()?.exporters?.() ?? []) this.set({ exporter: e.name }, e.lag);
      },
    });
    new Gauge({
      name: 'pgwarden_siem_failing',
      help: '1 while a SIEM exporter\'s last delivery failed (it retries with backoff from its cursor).',
      labelNames: ['exporter'],
      registers,
      collect() {
        this.reset();
        for (const e of sources()?.exporters?.() ?? []) this.set({ exporter: e.name }, e.failing ? 1 : 0);
      },
    });
    new Counter({
      name: 'pgwarden_siem_delivered_total',
      help: 'Items (records, checkpoints, gaps) SIEM exporters delivered since the gateway started.',
      labelNames: ['exporter'],
      registers,
      collect() {
        this.reset();
        for (const e of sources()?.exporters?.() ?? []) this.inc({ exporter: e.name }, e.delivered);
      },
    });
    new Counter({
      name: 'pgwarden_siem_failures_total',
      help: 'Failed SIEM deliveries (batches) since the gateway started.',
      labelNames: ['exporter'],
      registers,
      collect() {
        this.reset();
        for (const e of sources()?.exporters?.() ?? []) this.inc({ exporter: e.name }, e.failures);
      },
    });
    const reviews = async (): Promise<{ pending: number; oldestAgeSeconds: number }> => (await sources()?.reviews()) ?? { pending: 0, oldestAgeSeconds: 0 };
    new Gauge({
      name: 'pgwarden_reviews_pending',
      help: 'Statements waiting for an approver.',
      registers,
      async collect() {
        this.set((await reviews()).pending);
      },
    });
    new Gauge({
      name: 'pgwarden_reviews_oldest_pending_age_seconds',
      help: 'Age of the oldest pending review (0 when none is pending).',
      registers,
      async collect() {
        this.set((await reviews()).oldestAgeSeconds);
      },
    });
    new Gauge({
      name: 'pgwarden_audit_index_healthy',
      help: '1 while the audit index (the store) takes what the journal feeds it, 0 while it is failing (it catches up when it works again).',
      registers,
      collect() {
        const current = sources()?.audit().indexHealthy;
        if (current !== undefined) this.set(current ? 1 : 0);
      },
    });
    new Gauge({
      name: 'pgwarden_audit_writable',
      help: '1 when the audit log can write, 0 when its store is failing (the gateway is then not ready).',
      registers,
      collect() {
        const s = sources();
        if (s) this.set(s.audit().writable ? 1 : 0);
      },
    });
    new Gauge({
      name: 'pgwarden_audit_index_lag_records',
      help: 'Audit records in the journal not yet in the index the console, search and replay read.',
      registers,
      collect() {
        const s = sources();
        const queued = s?.audit().queued;
        if (queued !== undefined) this.set(queued);
      },
    });
  }

  /** Where the gauges read from; set once the parts exist. */
  attach(sources: MetricSources): void {
    this.#sources = sources;
  }

  connectionOpened(transport: 'wire' | 'mcp'): void {
    this.#connectionsOpened.inc({ transport });
  }

  connectionRefused(reason: RefusalReason): void {
    this.#connectionsRefused.inc({ reason });
  }

  /** Count a statement; `rule` is the rule that refused or held it, '' otherwise. */
  statement(decision: StatementDecision, rule = '', subject = ''): void {
    // The common case (forwarded, no rule, no subject label) takes no key string.
    if (decision === 'allow' && rule === '' && !this.identityLabels) {
      (this.#allowed ??= this.#statements.labels('allow', '')).inc();
      return;
    }
    const key = this.identityLabels ? `${decision}\0${rule}\0${subject}` : `${decision}\0${rule}`;
    let child = this.#bound.get(key);
    if (!child) {
      child = this.identityLabels ? this.#statements.labels(decision, rule, subject) : this.#statements.labels(decision, rule);
      // Rule names come from the configuration and subjects only with identityLabels, so the map
      // is bounded by the configuration (and the identities seen, when that is asked for).
      this.#bound.set(key, child);
    }
    child.inc();
  }

  resultMasked(): void {
    this.#masked.inc();
  }

  /** Time spent in one pipeline stage, in seconds. */
  stage(stage: string, seconds: number): void {
    this.#stage.observe({ stage }, seconds);
  }

  tokenVerified(issuer: string, result: string): void {
    this.#tokens.inc({ issuer, result });
  }

  jwksFetched(issuer: string, ok: boolean): void {
    this.#jwks.inc({ issuer, result: ok ? 'ok' : 'error' });
  }

  /** The exposition text and its content type. */
  async expose(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
