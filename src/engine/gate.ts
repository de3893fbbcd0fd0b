/**
 * The policy gate of one session: every statement is analysed with the real PostgreSQL parser
 * against the upstream's catalog and the session's search_path, then decided against the
 * identity's scope. The order is fixed here:
 *
 *   catalog fresh? → analyse (42601 on a syntax error) → resolve EXECUTE / prepared statements →
 *   policy.decide (42501 with the first thing not granted) → renames of governed objects (42501)
 *   → masking's refusals (42501) → forward
 *
 * Extended protocol: analysed and decided at Parse, remembered per statement name with the policy
 * version; Execute re-decides when the policy changed since. Prepared statements made with SQL
 * PREPARE are remembered too, since EXECUTE and protocol-level Bind can both use them. DDL and
 * DCL that complete trigger a catalog reload, and the next statement waits for it.
 */
import { GatewayError } from '../errors.ts';
import type { Identity } from '../identity/types.ts';
import { formerNamesOf, type CatalogService } from '../catalog/index.ts';
import type { CatalogSnapshot } from '../catalog/types.ts';
import { analyse, AnalysisCache, SqlSyntaxError, type StatementAnalysis } from '../sql/index.ts';
import { decide, scopeFor, type CompiledPolicies, type Decision, type FormerNames, type Scope } from '../policy/index.ts';
import type { GateVerdict, StatementGate, VerdictInfo } from './session.ts';
import type { Outputs } from './results.ts';

/** The policies in force; `version` changes on every config reload. */
export interface PolicyState {
  version: number;
  compiled: CompiledPolicies;
}

export interface PolicyGateOptions {
  identity: Identity;
  /** The client-facing database name (policies match on it). */
  database: string;
  policies: () => PolicyState;
  catalog: CatalogService;
  cache: AnalysisCache;
  /** `search_path` from the client's startup parameters or options, if any. */
  startupSearchPath?: string;
  /**
   * Masking's verdict on an allowed statement: a refusal when it would read a masked column in
   * a form that cannot be masked (whole rows, JSON, aggregation) or filter on one in a way its
   * rule forbids. Absent when the identity has nothing masked.
   */
  maskingRefusal?: (analyses: StatementAnalysis[]) => string | null;
  /**
   * Refusal of a rename or SET SCHEMA of an object a name-keyed rule governs (masking rules,
   * denials, column lists: see governed-renames.ts), for every identity. Absent: none refused.
   */
  governedRename?: (analyses: StatementAnalysis[]) => { message: string; hint: string } | null;
  /** Human review of privileged statements; absent when no review rule is configured. */
  reviews?: ReviewPort;
}

/** What the gate needs of the review workflow (built by the composition root). */
export interface ReviewPort {
  /** The rule a statement falls under for this identity, if any (pure). */
  ruleFor(analyses: StatementAnalysis[]): { name: string; mode: 'wait' | 'defer' } | null;
  /**
   * Settle the review of one statement: resolves 'approved' (run it), or with the refusal to
   * give. `notice` is called at once in wait mode, with the text telling the client where to
   * approve. `signal` aborts a wait (the client cancelled).
   */
  settle(q: ReviewQuery, notice: (text: string) => void, signal: AbortSignal): Promise<{ approved: true; reviewId: string } | { approved: false; error: GatewayError; reviewId?: string }>;
}

export interface ReviewQuery {
  rule: string;
  mode: 'wait' | 'defer';
  text: string;
  params: (string | null)[];
  analyses: StatementAnalysis[];
}

interface Prepared {
  text: string;
  analyses: StatementAnalysis[];
  version: number;
  allowed: boolean;
}

/** The audit's summary of an analysis. */
function summary(text: string, analyses: StatementAnalysis[], rule?: string): VerdictInfo {
  const tables = new Set<string>();
  for (const a of analyses) for (const t of a.tables) tables.add(`${t.relation.schema}.${t.relation.name}`);
  return {
    text,
    rule,
    analysis: {
      command: analyses.map((a) => a.command).join('; '),
      class: [...new Set(analyses.map((a) => a.class))].join(', '),
      tables: [...tables],
    },
  };
}

interface Effect {
  reload?: boolean;
}

/** Parse a search_path value the way PostgreSQL reads it (quoted names keep their case). */
export function splitPath(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => (s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1).replace(/""/g, '"') : s.toLowerCase()));
}

const noop = (): void => {};

/** What masking needs of a statement's result: provenance, the relations read, COPY options. */
function shapeOf(a: StatementAnalysis, outputs: StatementAnalysis['outputs']): Outputs {
  const relations = a.tables.map((t) => ({ schema: t.relation.schema, name: t.relation.name }));
  return { outputs, relations, copy: a.copy };
}

/** System columns every table has; the catalog lists only user columns. */
const SYSTEM_COLUMNS = new Set(['ctid', 'xmin', 'xmax', 'cmin', 'cmax', 'tableoid', 'oid']);

/**
 * A relation the catalog does not know, or a column it does not know in a relation it does: the
 * catalog may predate a CREATE or a RENAME made directly on the database. After a rename, masking
 * and denials must see the new name as the renamed object, which only a reload can tell them.
 */
function hasUnknownName(a: StatementAnalysis, snapshot: CatalogSnapshot): boolean {
  const unknown = a.tables.some((t) => {
    if (!t.relation.resolved) return true;
    const rel = t.relation.oid === undefined ? undefined : snapshot.relationsByOid.get(t.relation.oid);
    return rel !== undefined && t.columns.some((c) => !SYSTEM_COLUMNS.has(c) && !rel.columns.some((x) => x.name === c));
  });
  return unknown || (a.inner !== undefined && hasUnknownName(a.inner, snapshot));
}

export class PolicyGate implements StatementGate {
  private scope: Scope | null = null;
  private scopeVersion = -1;
  private readonly statements = new Map<string, Prepared>();
  private readonly portals = new Map<string, string>();
  /** SQL-level PREPARE name → the analysis of the prepared statement. */
  private readonly sqlPrepared = new Map<string, StatementAnalysis[]>();
  /** SQL-level cursors (DECLARE) → the rows FETCH will return. */
  private readonly cursors = new Map<string, Outputs>();
  /**
   * The session's search_path: from the startup packet, else the upstream role's default. It
   * never changes afterwards, because statements that change it are refused (see `check`): a
   * SET inside a transaction that is then rolled back would silently disagree with what the
   * gateway believed, and names would resolve to other tables than the ones decided on.
   */
  private readonly searchPath: string[] | null;
  private reloadPending: Promise<void> | null = null;
  /** Former names of renamed objects, from the current catalog: denials follow renames. */
  private readonly former: FormerNames;
  /** The catalog version already reloaded for a name it did not know (one retry per version). */
  private retriedForVersion = -1;
  /**
   * The statement last held for a reload: when it comes back on a newer catalog it is decided on
   * that catalog, even if a name is still unknown (it does not exist: the server will say so).
   * Without this, every reload would make a new version and hold the statement again.
   */
  private retriedText: string | null = null;
  /** Settled reviews, by statement text and parameters, waiting to be used by the retry. */
  private readonly reviewed = new Map<string, { approved: true; reviewId: string } | { approved: false; error: GatewayError; reviewId?: string }>();
  /** The review being waited for (a cancel aborts it). */
  private waiting: AbortController | null = null;
  /** Notices for the client (review held), written by the session in protocol order. */
  notice: ((text: string) => void) | null = null;
  /** Parameters of the portal being executed (reviews bind to them). */
  private readonly portalParams = new Map<string, (string | null)[]>();
  /** The analyses of the statement `check` decided last (a simple Query's review uses them). */
  private lastAnalyses: StatementAnalysis[] | null = null;

  constructor(private readonly o: PolicyGateOptions) {
    this.searchPath = o.startupSearchPath ? splitPath(o.startupSearchPath) : null;
    this.former = formerNamesOf(() => o.catalog.current());
  }

  /** The identity's scope for this database under the current policies (null: no access). */
  currentScope(): Scope | null {
    const p = this.o.policies();
    if (p.version !== this.scopeVersion) {
      this.scope = scopeFor(p.compiled, this.o.identity, this.o.database);
      this.scopeVersion = p.version;
    }
    return this.scope;
  }

  ready(): Promise<void> | null {
    if (this.reloadPending) return this.reloadPending;
    if (!this.o.catalog.current()) {
      // Not loaded yet (upstream was down at start): load now, then decide.
      return this.o.catalog.reload().then(
        () => undefined,
        () => undefined,
      );
    }
    if (this.o.catalog.reloading) return this.o.catalog.fresh().then(() => undefined);
    return null;
  }

  query(text: string): GateVerdict {
    const v = this.check(text, null);
    return v.ok === true ? this.review(v, text, []) : v;
  }

  parse(name: string, text: string): GateVerdict {
    return this.check(text, name);
  }

  bind(portal: string, statement: string): void {
    this.portals.set(portal, statement);
  }

  execute(portal: string): GateVerdict {
    const v = this.executeVerdict(portal);
    if (v.ok !== true) return v;
    const name = this.portals.get(portal);
    const p = name === undefined ? undefined : this.statements.get(name);
    return p ? this.review(v, p.text, this.portalParams.get(portal) ?? [], p.analyses) : v;
  }

  /** Bind parameters of a portal as text (binary as base64), for review binding. */
  bindParams(portal: string, params: (string | null)[]): void {
    this.portalParams.set(portal, params);
  }

  /** The client cancelled: a statement held for review is abandoned (and never runs). */
  cancelWait(): boolean {
    if (!this.waiting) return false;
    this.waiting.abort();
    return true;
  }

  /**
   * Human review: a statement a review rule names runs only once approved. The review is settled
   * asynchronously (`retry`), then the same message is decided again and finds the outcome here.
   */
  private review(v: GateVerdict & { ok: true }, text: string, params: (string | null)[], analyses?: StatementAnalysis[]): GateVerdict {
    const port = this.o.reviews;
    if (!port) return v;
    const key = `${text}\u0000${JSON.stringify(params)}`;
    const settled = this.reviewed.get(key);
    if (settled) {
      this.reviewed.delete(key);
      if (settled.approved) return { ...v, info: v.info && { ...v.info, reviewId: settled.reviewId } };
      return { ok: false, error: settled.error, info: v.info && { ...v.info, rule: 'review', reviewId: settled.reviewId } };
    }
    const list = analyses ?? this.lastAnalyses;
    if (!list) return v;
    const rule = port.ruleFor(list);
    if (!rule) return v;
    const abort = new AbortController();
    this.waiting = abort;
    const retry = port
      .settle({ rule: rule.name, mode: rule.mode, text, params, analyses: list }, (t) => this.notice?.(t), abort.signal)
      .catch((err) => ({ approved: false as const, error: err instanceof GatewayError ? err : new GatewayError('review.rejected', 'pgwarden: the review could not be completed; the statement was not run', { cause: err }) }))
      .then((r) => {
        this.reviewed.set(key, r);
        if (this.waiting === abort) this.waiting = null;
      });
    return { ok: 'retry', retry };
  }

  private executeVerdict(portal: string): GateVerdict {
    const name = this.portals.get(portal);
    if (name === undefined) return { ok: true }; // no such portal: the upstream reports it
    const p = this.statements.get(name);
    if (p) {
      const version = this.o.policies().version;
      if (p.version === version && p.allowed) return { ok: true, info: summary(p.text, p.analyses, this.currentScope()?.policies.join(', ')) };
      // Refused at Parse, or the policy changed since: decide again.
      const v = this.judge(p.text, p.analyses);
      p.version = version;
      p.allowed = v.ok === true;
      return v;
    }
    const sql = this.sqlPrepared.get(name);
    if (sql) return this.judge(`EXECUTE ${name}`, sql);
    return this.refuse(`pgwarden: prepared statement "${name}" is unknown to the gateway`, 'Prepare it again on this connection.');
  }

  close(target: 'S' | 'P', name: string): void {
    if (target === 'S') this.statements.delete(name);
    else this.portals.delete(name);
  }

  cycleDone(effects: unknown[], failed: boolean): void {
    void failed;
    // DDL reloads the catalog even when the cycle failed: part of it may have committed.
    if ((effects as Effect[]).some((e) => e.reload)) {
      const p = this.o.catalog.reload();
      this.reloadPending = p.then(
        () => undefined,
        () => undefined,
      );
      void this.reloadPending.then(() => {
        this.reloadPending = null;
      });
    }
  }

  // ---------------------------------------------------------------------------------------------

  private path(snapshot: CatalogSnapshot): string[] {
    return this.searchPath ?? snapshot.defaultSearchPath;
  }

  private check(text: string, statementName: string | null): GateVerdict {
    const snapshot = this.o.catalog.current();
    if (!snapshot) {
      return this.refuse('pgwarden: the catalog of the database could not be loaded, so the statement cannot be checked', 'Try again shortly.', 'internal');
    }
    const searchPath = this.path(snapshot);
    let analyses: StatementAnalysis[];
    try {
      analyses = this.o.cache.get(snapshot, searchPath, text) ?? this.o.cache.set(snapshot, searchPath, text, analyse(text, { catalog: snapshot, searchPath }));
    } catch (err) {
      if (err instanceof SqlSyntaxError) {
        if (statementName !== null) this.statements.delete(statementName);
        return { ok: false, error: new GatewayError('sql.syntax', err.message, { hint: 'pgwarden parses every statement before it is sent; fix the syntax.' }) };
      }
      return this.refuse('pgwarden: the statement could not be analysed', undefined, 'sql.unsupported');
    }
    // A relation the catalog does not know may have been created since it was loaded (by another
    // client, or directly on the database): reload once and decide on the fresh catalog.
    const reloadedForThis = this.retriedText === text && snapshot.version > this.retriedForVersion;
    if (this.retriedForVersion !== snapshot.version && !reloadedForThis && analyses.some((a) => hasUnknownName(a, snapshot))) {
      this.retriedForVersion = snapshot.version;
      this.retriedText = text;
      return { ok: 'retry', retry: this.o.catalog.refreshAfterNow().then(noop, noop) };
    }
    const pathChange = analyses.find((a) => a.settings.some((x) => x.name === 'search_path' || x.action === 'reset_all'));
    if (pathChange) {
      return this.refuse(
        `pgwarden: ${this.o.identity.subject} may not change search_path`,
        'Qualify names with their schema, or pass search_path in the connection options (options=-c search_path=...).',
      );
    }
    const expanded = this.expandExecute(analyses);
    this.lastAnalyses = expanded;
    const v = this.judge(text, expanded);
    if (statementName !== null) {
      this.statements.set(statementName, { text, analyses: expanded, version: this.o.policies().version, allowed: v.ok === true });
    }
    if (v.ok !== true) return v;
    return { ...v, effect: this.effectOf(analyses), results: analyses.map((a) => this.outputsOf(a)) };
  }

  /** The policy's decision, then masking's (a masked column read in a form that cannot be masked). */
  private judge(text: string, analyses: StatementAnalysis[]): GateVerdict {
    const d = this.decideOn(analyses);
    if (d.verdict !== 'allow') return this.deny(d, analyses, text);
    const renamed = this.o.governedRename?.(analyses);
    if (renamed) return { ok: false, error: new GatewayError('policy.denied', renamed.message, { hint: renamed.hint }), info: summary(text, analyses, 'builtin:governed-rename') };
    const masked = this.o.maskingRefusal?.(analyses);
    if (masked) {
      return { ok: false, error: new GatewayError('policy.denied', masked, { hint: 'Select the columns by name: masked columns come back masked.' }), info: summary(text, analyses, 'masking') };
    }
    return { ok: true, info: summary(text, analyses, d.policies.join(', ')) };
  }

  /** The rows a statement returns: its own, a prepared statement's (EXECUTE), a cursor's (FETCH). */
  private outputsOf(a: StatementAnalysis): Outputs {
    if (a.specials.includes('declare_cursor') && a.objectName) this.cursors.set(a.objectName, shapeOf(a.inner ?? a, a.outputs));
    if (a.specials.includes('execute') && a.objectName) {
      const p = this.sqlPrepared.get(a.objectName) ?? this.statements.get(a.objectName)?.analyses;
      const last = p?.[p.length - 1];
      return last ? shapeOf(last, last.outputs) : undefined;
    }
    if (a.specials.includes('fetch') && a.objectName) return this.cursors.get(a.objectName);
    return shapeOf(a, a.outputs);
  }

  statementOutputs(name: string): Outputs {
    const p = this.statements.get(name)?.analyses ?? this.sqlPrepared.get(name);
    if (!p || p.length === 0) return undefined;
    return this.outputsOf(p[p.length - 1]);
  }

  /** EXECUTE name → the analysis of what was prepared under that name (unknown: fail closed). */
  private expandExecute(analyses: StatementAnalysis[]): StatementAnalysis[] {
    let out: StatementAnalysis[] | null = null;
    for (let i = 0; i < analyses.length; i++) {
      const a = analyses[i];
      if (a.specials.includes('prepare') && a.objectName && a.inner) this.sqlPrepared.set(a.objectName, [a.inner]);
      if (a.specials.includes('deallocate')) {
        if (a.objectName) this.sqlPrepared.delete(a.objectName);
        else this.sqlPrepared.clear();
      }
      if (!a.specials.includes('execute')) {
        out?.push(a);
        continue;
      }
      out ??= analyses.slice(0, i);
      const prepared = a.objectName ? (this.sqlPrepared.get(a.objectName) ?? this.statements.get(a.objectName)?.analyses) : undefined;
      if (prepared) out.push(a, ...prepared);
      else out.push({ ...a, unsupported: `prepared statement "${a.objectName ?? ''}" is unknown to the gateway` });
    }
    return out ?? analyses;
  }

  private decideOn(analyses: StatementAnalysis[]): Decision {
    const scope = this.currentScope();
    if (!scope) {
      return {
        verdict: 'deny',
        message: `pgwarden: ${this.o.identity.subject} no longer has access to database "${this.o.database}"`,
        hint: 'No policy grants this identity access any more; reconnect after the policy is changed.',
        rule: 'default-deny',
        statement: 0,
      };
    }
    return decide(scope, analyses, this.former);
  }

  private effectOf(analyses: StatementAnalysis[]): Effect | undefined {
    return analyses.some((a) => a.class === 'ddl' || a.class === 'dcl') ? { reload: true } : undefined;
  }

  private deny(d: Decision, analyses: StatementAnalysis[], text: string): GateVerdict {
    if (d.verdict === 'allow') return { ok: true };
    return { ok: false, error: new GatewayError('policy.denied', d.message, { hint: d.hint }), info: summary(text, analyses, d.rule) };
  }

  private refuse(message: string, hint?: string, code: 'policy.denied' | 'internal' | 'sql.unsupported' = 'policy.denied'): GateVerdict {
    return { ok: false, error: new GatewayError(code, message, hint ? { hint } : {}) };
  }
}
