/**
 * What the gateway would decide on a statement, without a client or a session: the case runner of
 * `pgwarden policy test` and `pgwarden policy diff`.
 *
 * Each statement goes through a real `PolicyGate`, built as a session builds it (main.ts
 * `sessionParts`): the analyser along the search_path, prepared-name resolution, `policy.decide`,
 * governed renames and masking's refusals (`statementChecks`, the very functions sessions use),
 * then the review rules (`reviewRuleFor`, as the review port asks them). The catalog is a fixed
 * snapshot (loaded from the upstream, or read from a `pgwarden catalog dump` file). An allowed
 * statement's mask plan is made by `planFor` from the analysis' provenance, with the catalog's
 * column types: what the gateway masks when the server's RowDescription adds nothing.
 *
 * A review rule with `max_rows` is decided on the case's `estimated_rows`, else on the planner's
 * estimate when an estimator is given (a live upstream: `rowEstimator`, as the gateway does),
 * else held, as the gateway holds what it cannot estimate. Nothing is run, and the server's own
 * answer is not seen (an error the server would give is not a refusal here).
 */
import { formerNamesOf, withHierarchy, type CatalogService } from '../catalog/index.ts';
import type { CatalogSnapshot } from '../catalog/types.ts';
import { databaseRoutes, type GatewayConfig } from '../config/index.ts';
import { PolicyGate, statementChecks, type GateVerdict, type Outputs, type ReviewPort } from '../engine/index.ts';
import { GatewayError } from '../errors.ts';
import type { Identity } from '../identity/types.ts';
import { compileMasking, maskingFor, planFor, planForCopy, type CompiledMasking, type MaskingScope } from '../masking/index.ts';
import { compilePolicies, describeNoScope, scopeFor, type CompiledPolicies, type Scope } from '../policy/index.ts';
import { compileReviews, reviewRuleFor, rowsNeeded, type CompiledReviews } from '../review/index.ts';
import { AnalysisCache, loadParser } from '../sql/index.ts';
import type { EstimateRows } from '../engine/row-estimate.ts';

export type Verdict = 'allow' | 'deny' | 'review';

export interface Statement {
  identity: Identity;
  database: string;
  sql: string;
  /** The session's search_path as a startup parameter would set it (default: the upstream role's). */
  searchPath?: string;
  /** The rows the statement would affect, for review rules with `max_rows` (default: not estimated). */
  estimatedRows?: number;
}

/** One output column's masking: the masker's label (`email (public.customers.email)`), or `none`. */
export interface ColumnMask {
  column: string;
  masker: string;
}

export interface Outcome {
  verdict: Verdict;
  /** allow: the policies that allowed it; deny: the rule (`default-deny`, a policy, `masking`, …); review: the review rule. */
  rule: string;
  /** What the client would be told (deny, review). */
  message?: string;
  hint?: string;
  /** The last result set's columns (allow only; absent when the statement returns no rows). */
  masks?: ColumnMask[];
  /** Masking refused the result set while planning it. */
  maskRefusal?: string;
  notes: string[];
}

/** The upstream's catalog for a routed upstream name (loaded or read once, then reused). */
export type CatalogSource = (upstream: string) => Promise<CatalogSnapshot>;

/** Row estimates for a statement's session (its upstream, scope and search_path); absent: none. */
export type EstimatorSource = (s: Statement, upstream: string, scope: Scope) => EstimateRows | undefined;

/** The parts of CatalogService the gate reads, over a fixed snapshot. */
function fixedCatalog(snapshot: CatalogSnapshot): CatalogService {
  const same = () => Promise.resolve(snapshot);
  return { current: () => snapshot, reloading: false, fresh: same, reload: same, refreshAfterNow: same } as unknown as CatalogService;
}

export class PolicyEvaluator {
  private readonly policies: CompiledPolicies;
  private readonly masking: CompiledMasking;
  private readonly reviews: CompiledReviews;
  private readonly routes: Map<string, string>;
  private readonly cache = new AnalysisCache(1000);

  constructor(
    readonly config: GatewayConfig,
    private readonly catalogOf: CatalogSource,
    private readonly estimator?: EstimatorSource,
  ) {
    this.policies = compilePolicies(config.policies);
    this.masking = compileMasking(config.masking);
    this.reviews = compileReviews(config.reviews);
    this.routes = databaseRoutes(config);
  }

  async evaluate(s: Statement): Promise<Outcome> {
    await loadParser();
    const upstream = this.routes.get(s.database);
    if (upstream === undefined) {
      return { verdict: 'deny', rule: 'unknown-database', message: `pgwarden: database "${s.database}" is not served by this config (known: ${[...this.routes.keys()].join(', ')})`, notes: [] };
    }
    // As the listener does at connection time: no scope, no session.
    const scope = scopeFor(this.policies, s.identity, s.database);
    if (!scope) return { verdict: 'deny', rule: 'default-deny', message: describeNoScope(this.policies, s.identity, s.database), notes: [] };
    const snapshot = await this.catalogOf(upstream);
    const masks = maskingFor(this.masking, s.identity, withHierarchy(formerNamesOf(() => snapshot), () => snapshot));
    let held: { rule: string; estimated: boolean } | null = null;
    const reviews: ReviewPort | undefined =
      this.reviews.rules.length === 0
        ? undefined
        : {
            ruleFor: (analyses) => {
              const r = reviewRuleFor(this.reviews, s.identity, analyses);
              return r && { name: r.name, mode: r.mode };
            },
            // As the review port settles it: the case's estimate, else the planner's, else none (held).
            settle: async (q) => {
              const needed = rowsNeeded(this.reviews, s.identity, q.analyses);
              const estimate = s.estimatedRows === undefined && needed.length > 0 ? this.estimator?.(s, upstream, scope) : undefined;
              const rows = estimate ? await estimate(needed, q.params) : new Map(needed.map((a) => [a, s.estimatedRows ?? null]));
              const counts = needed.map((a) => rows.get(a) ?? null);
              const total = counts.some((n) => n === null) ? null : counts.reduce<number>((t, n) => t + (n ?? 0), 0);
              const rule = reviewRuleFor(this.reviews, s.identity, q.analyses, (a) => rows.get(a) ?? null);
              if (!rule) return { approved: true, reviewId: '' };
              held = { rule: rule.name, estimated: rule.maxRows === undefined || total !== null };
              const radius = rule.maxRows === undefined ? '' : total === null ? ` (rows not estimated; the limit is ${rule.maxRows})` : ` (${Math.round(total)} rows${estimate ? ' estimated' : ''}, over the limit of ${rule.maxRows})`;
              return { approved: false, error: new GatewayError('review.required', `pgwarden: this statement needs approval under rule "${rule.name}"${radius}`) };
            },
          };
    const gate = new PolicyGate({
      identity: s.identity,
      database: s.database,
      policies: () => ({ version: 1, compiled: this.policies }),
      catalog: fixedCatalog(snapshot),
      cache: this.cache,
      ...(s.searchPath !== undefined && { startupSearchPath: s.searchPath }),
      ...statementChecks({ identity: s.identity, masks, masking: () => this.masking, policies: () => this.policies, catalog: () => snapshot }),
      ...(reviews && { reviews }),
    });
    let v: GateVerdict = { ok: 'retry', retry: Promise.resolve() };
    // Retries: an unknown name (decided on the same snapshot the second time), a long text parsed
    // on the worker, a review being settled.
    for (let i = 0; i < 5 && v.ok === 'retry'; i++) {
      v = gate.query(s.sql);
      if (v.ok === 'retry') await v.retry;
    }
    const notes: string[] = [];
    // The gateway forwards a name its catalog does not know (after one reload); the server then
    // answers that it does not exist. A test naming one is most likely a typo or an old catalog.
    for (const t of v.ok === 'retry' ? [] : (v.info?.analysis?.tables ?? [])) {
      if (!snapshot.relations.has(t)) notes.push(`${t} is not in the catalog: the server would answer that it does not exist`);
    }
    if (v.ok === 'retry') return { verdict: 'deny', rule: 'internal', message: 'pgwarden: the statement could not be decided', notes };
    if (v.ok === false) {
      const h = held as { rule: string; estimated: boolean } | null;
      if (h && v.info?.rule === 'review') {
        if (!h.estimated) notes.push(`review rule "${h.rule}" has max_rows: without an estimate (estimated_rows, or the planner's on a live upstream) the statement is taken as over the limit, as the gateway does when it cannot estimate`);
        return { verdict: 'review', rule: h.rule, message: v.error.message, notes };
      }
      return { verdict: 'deny', rule: v.info?.rule ?? v.error.code, message: v.error.message, ...(v.error.hint !== undefined && { hint: v.error.hint }), notes };
    }
    const out: Outcome = { verdict: 'allow', rule: v.info?.rule ?? '', notes };
    const shape = [...(v.results ?? [])].reverse().find((r) => r?.outputs !== undefined);
    if (shape) {
      const plan = maskPlan(masks, shape, snapshot);
      if ('refuse' in plan) out.maskRefusal = plan.refuse;
      else out.masks = plan.columns;
    }
    return out;
  }
}

/** The mask plan of a result set, from its provenance and the catalog's column types. */
function maskPlan(masks: MaskingScope, shape: NonNullable<Outputs>, snapshot: CatalogSnapshot): { columns: ColumnMask[] } | { refuse: string } {
  const outputs = shape.outputs!;
  const typeOf = (o: (typeof outputs)[number]): number => {
    if (o.derivation !== 'column' || o.sources.length === 0) return 25;
    const types = new Set(o.sources.map((src) => snapshot.relations.get(`${src.schema}.${src.table}`)?.columns.find((c) => c.name === src.column)?.typeOid));
    const [only] = types;
    return types.size === 1 && only !== undefined ? only : 25;
  };
  const labels = (described: readonly { index: number; masker: string }[]) =>
    outputs.map((o, i) => ({ column: o.name, masker: described.find((d) => d.index === i)?.masker ?? 'none' }));
  if (masks.empty) return { columns: outputs.map((o) => ({ column: o.name, masker: 'none' })) };
  if (shape.copy) {
    // A result with COPY options is COPY … TO STDOUT (COPY FROM returns no rows).
    const format = shape.copy.format === 'binary' ? 'binary' : shape.copy.format === 'csv' ? 'csv' : 'text';
    const p = planForCopy(masks, outputs.map((o) => ({ output: o, typeOid: typeOf(o) })), format);
    return 'refuse' in p ? p : { columns: labels(p.described) };
  }
  const fields = outputs.map((o) => ({ name: o.name, tableOid: 0, attnum: 0, typeOid: typeOf(o), typeSize: -1, typeMod: -1, format: 0 as const }));
  const p = planFor(masks, fields, outputs, (oid) => snapshot.relationsByOid.get(oid), [], shape.relations);
  return 'refuse' in p ? p : { columns: labels(p.described) };
}
