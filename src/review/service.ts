/**
 * The review service: requests are stored before they are acknowledged, approvers decide, timers
 * expire what nobody decided (or an approval nobody used), waiters hear the outcome, webhooks and
 * the audit log are told.
 *
 * Invariants:
 * - A review is durable (in SQLite) before `request()` resolves; every decision is durable before
 *   the call that made it resolves. Nothing is ever run by the service: the engine runs a
 *   statement, for a connected client, only after `consumeApproval()` or `consume()` returned it.
 * - An approval is bound to issuer + subject + database + sha256(bytes) + sha256(params) +
 *   sha256(search_path and the objects the names resolved to), and is used at most once (`approved → consumed` is one guarded UPDATE).
 * - Nobody decides their own request; an approver counts once; a decided or expired review does
 *   not change again.
 */
import { randomInt } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import type { OtherEvent } from '../audit/index.ts';
import type { Identity } from '../identity/types.ts';
import type { Logger } from '../log.ts';
import type { LockHolder } from '../file-lock.ts';
import { isApprover, type CompiledReviewRule } from './rules.ts';
import type { ReviewsConfig } from './schema.ts';
import { SqliteReviewStore, type Binding, type ReviewStore, type StoredReview } from './sqlite-store.ts';
import { openPostgresReviewStore } from './postgres-store.ts';
import { ReviewError, type Review, type ReviewDecision, type ReviewRequest, type ReviewStatus } from './types.ts';
import { Webhooks } from './webhooks.ts';

export interface ReviewServiceDeps {
  logger: Logger;
  /** A relative `sqlite:` path is resolved against this directory (the config file's). */
  baseDir: string;
  audit?: { event(e: OtherEvent): void };
  /** For webhook deliveries (default: the global fetch). */
  fetch?: typeof fetch;
  /** Delays before webhook retries, in ms (default 1s, 5s, 30s, 2m, 10m). */
  webhookRetryDelaysMs?: readonly number[];
  /** A link to a review for humans (the console's page), put in notifications. */
  reviewUrl?: (id: string) => string | undefined;
  /**
   * Called when a review here stops being pending (approved, rejected, expired, abandoned), so
   * other processes sharing the store can tell their waiters (see `changed`).
   */
  settled?: (id: string) => void;
  /** A `sqlite:` store is locked for this instance (see file-lock.ts). */
  lock?: LockHolder;
}

/** Identity + database + statement: what an approval is bound to. */
export type ReviewBinding = Binding;

export interface ReviewListQuery {
  status?: ReviewStatus;
  /** Newest first; default 100, at most 1000. */
  limit?: number;
}

type Waiter = { resolve(r: Review): void; reject(e: unknown): void };

/** Longest single setTimeout delay (about 24.8 days); longer deadlines re-arm. */
const MAX_TIMER = 2 ** 31 - 1;
const ID_ALPHABET = '23456789abcdefghjkmnpqrstuvwxyz';
const MAX_COMMENT = 2000;
/** How often waiters' reviews are read again from a shared store (the NOTIFY fallback). */
const POLL_MS = 1000;

export class ReviewService {
  readonly #store: ReviewStore;
  readonly #log: Logger;
  readonly #audit?: { event(e: OtherEvent): void };
  readonly #webhooks: Webhooks;
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #waiters = new Map<string, Set<Waiter>>();
  readonly #settled?: (id: string) => void;
  #closed = false;
  #poll: NodeJS.Timeout | null = null;

  private constructor(store: ReviewStore, webhooks: Webhooks, deps: ReviewServiceDeps) {
    this.#store = store;
    this.#webhooks = webhooks;
    this.#log = deps.logger.child({ part: 'review' });
    this.#audit = deps.audit;
    this.#settled = deps.settled;
  }

  /** Open the configured store, expire what expired while the gateway was down, arm the timers. */
  static async open(cfg: Pick<ReviewsConfig, 'store' | 'webhooks' | 'password'>, deps: ReviewServiceDeps): Promise<ReviewService> {
    const store: ReviewStore = /^postgres(ql)?:\/\//.test(cfg.store)
      ? await openPostgresReviewStore(cfg.store, { password: cfg.password })
      : SqliteReviewStore.open(cfg.store === 'memory' ? ':memory:' : storePath(cfg.store, deps.baseDir), deps.lock);
    const webhooks = new Webhooks(cfg.webhooks, {
      logger: deps.logger.child({ part: 'review-webhooks' }),
      fetch: deps.fetch,
      retryDelaysMs: deps.webhookRetryDelaysMs,
      reviewUrl: deps.reviewUrl,
    });
    const service = new ReviewService(store, webhooks, deps);
    try {
      for (const s of await store.live()) service.#arm(s);
    } catch (err) {
      await service.close();
      throw err;
    }
    if (store.shared) {
      // Decided on another instance: NOTIFY reaches the waiters here at once; the poll is the
      // fallback for notifications lost while the listening connection was down.
      store.watch?.((id) => service.changed(id));
      service.#poll = setInterval(() => {
        for (const id of service.#waiters.keys()) service.changed(id);
      }, POLL_MS);
      service.#poll.unref();
    }
    return service;
  }

  /** Apply a reloaded `reviews:` section (webhooks; the store is fixed at open). */
  reload(cfg: Pick<ReviewsConfig, 'webhooks'>): void {
    this.#webhooks.update(cfg.webhooks);
  }

  /** Store a new pending review (durable when this resolves) and announce it. */
  async request(r: ReviewRequest, rule: CompiledReviewRule): Promise<Review> {
    this.#open();
    const now = Date.now();
    const review: Review = {
      id: await this.#newId(),
      status: 'pending',
      rule: r.rule,
      mode: r.mode,
      identity: { issuer: r.identity.issuer, subject: r.identity.subject, groups: [...r.identity.groups] },
      database: r.database,
      text: r.text,
      bytesSha256: r.bytesSha256,
      paramsSha256: r.paramsSha256,
      resolutionSha256: r.resolutionSha256,
      analysis: {
        command: r.analysis.command,
        class: r.analysis.class,
        tables: [...r.analysis.tables],
        ...(r.analysis.searchPath !== undefined ? { searchPath: [...r.analysis.searchPath] } : {}),
        ...(r.analysis.estimatedRows !== undefined ? { estimatedRows: r.analysis.estimatedRows } : {}),
        ...(r.analysis.runs !== undefined ? { runs: [...r.analysis.runs] } : {}),
      },
      ...(r.sessionId === undefined ? {} : { sessionId: r.sessionId }),
      approvers: rule.approvers,
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + rule.timeoutMs).toISOString(),
      approvals: [],
    };
    await this.#store.insert(review, rule.windowMs);
    this.#arm({ review, windowMs: rule.windowMs, deadline: now + rule.timeoutMs });
    this.#log.info({ review: review.id, rule: review.rule, mode: review.mode, subject: review.identity.subject, database: review.database }, 'review requested');
    this.#event('review_requested', review, review.identity.subject, { command: review.analysis.command, tables: review.analysis.tables });
    this.#webhooks.send('created', review);
    return review;
  }

  /**
   * Resolves with the review once it is approved (fully), rejected or expired — at once if it
   * already is. Rejects with the signal's reason on abort, and with a ReviewError when the id is
   * unknown or the service closes.
   */
  async waitFor(id: string, signal?: AbortSignal): Promise<Review> {
    this.#open();
    const s = await this.#current(id);
    if (s.review.status !== 'pending') return s.review;
    // Closed while the store was read: no waiter would ever hear.
    this.#open();
    signal?.throwIfAborted();
    return new Promise<Review>((resolve, reject) => {
      const onAbort = () => {
        this.#waiters.get(id)?.delete(waiter);
        reject(signal!.reason);
      };
      const waiter: Waiter = {
        resolve: (r) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(r);
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      let set = this.#waiters.get(id);
      if (!set) this.#waiters.set(id, (set = new Set()));
      set.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      // Decided while the store was read above: hear it now rather than from a later poll.
      this.changed(id);
    });
  }

  /**
   * Record `approver`'s approval. The review becomes approved once `count` distinct approvers
   * approved; its approval is then usable (once) for the rule's window.
   */
  async approve(id: string, approver: Identity, comment?: string): Promise<Review> {
    this.#open();
    const s = await this.#decidable(id, approver);
    const r = s.review;
    if (r.approvals.some((a) => a.by === approver.subject && a.issuer === approver.issuer)) {
      throw new ReviewError('already_approved', `${approver.subject} has already approved review ${id}`, `It needs ${r.approvers.count - r.approvals.length} more approval(s) from other approvers.`);
    }
    const now = Date.now();
    const approvals = [...r.approvals, decision(approver, now, comment)];
    const done = approvals.length >= r.approvers.count;
    const until = now + s.windowMs;
    if (!(await this.#store.addApproval(id, approvals, done ? { at: now, until } : null))) throw await this.#raced(id);
    const updated = (await this.#current(id)).review;
    this.#log.info({ review: id, by: approver.subject, approvals: approvals.length, needed: r.approvers.count }, done ? 'review approved' : 'review approval recorded');
    this.#event('review_approved', updated, approver.subject, { approvals: approvals.length, needed: r.approvers.count, approved: done, comment: trimComment(comment) });
    if (done) {
      this.#arm({ review: updated, windowMs: s.windowMs, deadline: until });
      this.#settle(updated);
      this.#webhooks.send('approved', updated);
    }
    return updated;
  }

  async reject(id: string, approver: Identity, comment?: string): Promise<Review> {
    this.#open();
    await this.#decidable(id, approver);
    if (!(await this.#store.reject(id, decision(approver, Date.now(), comment)))) throw await this.#raced(id);
    const updated = (await this.#current(id)).review;
    this.#disarm(id);
    this.#log.info({ review: id, by: approver.subject }, 'review rejected');
    this.#event('review_rejected', updated, approver.subject, { comment: trimComment(comment) });
    this.#settle(updated);
    this.#webhooks.send('rejected', updated);
    return updated;
  }

  /**
   * defer mode: the approval bound to exactly this identity + database + bytes + params, approved,
   * inside its window, not yet used: marks it consumed (single use) and returns it; else null.
   */
  async consumeApproval(q: ReviewBinding): Promise<Review | null> {
    this.#open();
    const s = await this.#store.findBound(q, 'approved', 'defer');
    if (!s) return null;
    return this.consume(s.review.id);
  }

  /**
   * Mark an approved review used (wait mode: the engine calls it right before forwarding the
   * statement whose `waitFor` resolved approved). Returns the consumed review, or null when it is
   * not approved, already used, or its window is over.
   */
  async consume(id: string): Promise<Review | null> {
    this.#open();
    const s = await this.#store.get(id);
    if (!s || (await this.#expireIfDue(s)) || s.review.status !== 'approved') return null;
    if (!(await this.#store.consume(id, Date.now()))) return null;
    this.#disarm(id);
    const updated = (await this.#current(id)).review;
    this.#log.info({ review: id, subject: updated.identity.subject }, 'approved statement released to run');
    this.#event('review_consumed', updated, updated.identity.subject, {});
    return updated;
  }

  /**
   * wait mode: the client holding the statement of a pending review went away (its upstream
   * session is closed, so the statement can never run). The review becomes abandoned: approvers
   * see why, and an approval afterwards is refused. Returns the review, or null when it was no
   * longer pending (decided or expired meanwhile).
   */
  async abandon(id: string): Promise<Review | null> {
    this.#open();
    if (!(await this.#store.abandon(id, Date.now()))) return null;
    this.#disarm(id);
    const updated = (await this.#current(id)).review;
    this.#log.info({ review: id, subject: updated.identity.subject }, 'review abandoned: the client holding the statement disconnected');
    this.#event('review_abandoned', updated, updated.identity.subject, {});
    this.#settle(updated);
    this.#webhooks.send('abandoned', updated);
    return updated;
  }

  /** A pending request already made for exactly this statement (defer: re-running before approval does not create duplicates). */
  async pendingFor(q: ReviewBinding): Promise<Review | null> {
    this.#open();
    const s = await this.#store.findBound(q, 'pending');
    if (!s || (await this.#expireIfDue(s))) return null;
    return s.review;
  }

  async list(q: ReviewListQuery = {}): Promise<Review[]> {
    this.#open();
    const limit = Math.min(Math.max(1, Math.floor(q.limit ?? 100)), 1000);
    const rows = await this.#store.list({ status: q.status, limit });
    let expired = 0;
    for (const s of rows) if (await this.#expireIfDue(s)) expired++;
    // A review that just expired changed status: read the page again so it shows as it is.
    return (expired > 0 ? await this.#store.list({ status: q.status, limit }) : rows).map((s) => s.review);
  }

  async get(id: string): Promise<Review | null> {
    this.#open();
    const s = await this.#store.get(id);
    if (!s) return null;
    return (await this.#expireIfDue(s)) ? (await this.#current(id)).review : s.review;
  }

  /**
   * Another process sharing the store decided review `id` (or it expired or was abandoned there):
   * the waiters here hear what it is now. Nothing happens while it is still pending.
   */
  changed(id: string): void {
    if (this.#closed || !this.#waiters.has(id)) return;
    this.#store.get(id).then(
      (s) => {
        const set = this.#waiters.get(id);
        if (!s || s.review.status === 'pending' || !set) return;
        this.#waiters.delete(id);
        for (const w of set) w.resolve(s.review);
      },
      // The store unreachable: the poll (shared stores) asks again.
      (err: unknown) => this.#log.warn({ err: (err as Error).message, review: id }, 'a review could not be read'),
    );
  }

  /** Whether the store can be reached now (readiness); the reason when not. */
  async check(): Promise<string | null> {
    return (await this.#store.check?.()) ?? null;
  }

  /** Resolves once every queued webhook delivery has been made or given up (tests). */
  webhooksIdle(): Promise<void> {
    return this.#webhooks.idle();
  }

  /** Stop the timers, end waits (they reject), drop webhook retries, close the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#poll) clearInterval(this.#poll);
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    const err = new ReviewError('closed', 'the review service is shutting down');
    for (const set of this.#waiters.values()) for (const w of set) w.reject(err);
    this.#waiters.clear();
    await this.#webhooks.close();
    await this.#store.close();
  }

  // ── internals ──

  #open(): void {
    if (this.#closed) throw new ReviewError('closed', 'the review service is closed');
  }

  async #current(id: string): Promise<StoredReview> {
    const s = await this.#store.get(id);
    if (!s) throw new ReviewError('not_found', `no review ${id}`, 'List reviews with `pgwarden reviews list`.');
    return s;
  }

  /** The review, if `who` may decide it now; else the reason as a ReviewError. */
  async #decidable(id: string, who: Identity): Promise<StoredReview> {
    const s = await this.#current(id);
    if (await this.#expireIfDue(s)) throw expiredError(id);
    const r = s.review;
    if (r.status === 'expired') throw expiredError(id);
    if (r.status === 'abandoned') throw abandonedError(id);
    if (r.status !== 'pending') throw new ReviewError('already_decided', `review ${id} is already ${r.status}`);
    if (who.issuer === r.identity.issuer && who.subject === r.identity.subject) {
      throw new ReviewError('self_approval', `${who.subject} may not decide its own review ${id}`, 'Another approver must approve or reject it.');
    }
    if (!isApprover(r.approvers, who)) {
      throw new ReviewError('not_approver', `${who.subject} is not an approver of review ${id} (rule ${r.rule})`, describeApprovers(r));
    }
    return s;
  }

  /** A guarded update found the review changed under it: say what it is now. */
  async #raced(id: string): Promise<ReviewError> {
    const r = (await this.#current(id)).review;
    if (r.status === 'abandoned') return abandonedError(id);
    return r.status === 'expired' ? expiredError(id) : new ReviewError('already_decided', `review ${id} is already ${r.status}`);
  }

  /** Expire `s` if its deadline has passed (a timer may not have fired yet); true when it did. */
  async #expireIfDue(s: StoredReview): Promise<boolean> {
    if (s.deadline === null || s.deadline > Date.now()) return false;
    await this.#expire(s.review.id);
    return true;
  }

  #arm(s: StoredReview): void {
    this.#disarm(s.review.id);
    if (s.deadline === null) return;
    const deadline = s.deadline;
    const id = s.review.id;
    const delay = deadline - Date.now();
    if (delay <= 0) {
      void this.#expire(id).catch((err: unknown) => this.#log.warn({ err: (err as Error).message, review: id }, 'a due review could not be expired'));
      return;
    }
    const timer = setTimeout(() => {
      this.#timers.delete(id);
      if (Date.now() < deadline) this.#arm({ ...s, deadline });
      // Not expired now (store unreachable): any later read of it expires it.
      else void this.#expire(id).catch((err: unknown) => this.#log.warn({ err: (err as Error).message, review: id }, 'a due review could not be expired'));
    }, Math.min(delay, MAX_TIMER));
    this.#timers.set(id, timer);
  }

  #disarm(id: string): void {
    const t = this.#timers.get(id);
    if (t) clearTimeout(t);
    this.#timers.delete(id);
  }

  async #expire(id: string): Promise<void> {
    this.#disarm(id);
    if (this.#closed || !(await this.#store.expire(id, Date.now()))) return;
    const r = (await this.#current(id)).review;
    this.#log.info({ review: id, approved: r.approvedAt !== undefined }, r.approvedAt ? 'review approval expired unused' : 'review expired undecided');
    this.#event('review_expired', r, undefined, { approvedUnused: r.approvedAt !== undefined });
    this.#settle(r);
    this.#webhooks.send('expired', r);
  }

  /** Tell waiters the outcome. */
  #settle(r: Review): void {
    this.#settled?.(r.id);
    const set = this.#waiters.get(r.id);
    if (!set) return;
    this.#waiters.delete(r.id);
    for (const w of set) w.resolve(r);
  }

  #event(kind: OtherEvent['kind'], r: Review, actor: string | undefined, details: Record<string, unknown>): void {
    if (!this.#audit) return;
    try {
      this.#audit.event({
        kind,
        at: Date.now(),
        ...(actor === undefined ? {} : { actor }),
        ...(r.sessionId === undefined ? {} : { sessionId: r.sessionId }),
        details: { review: r.id, rule: r.rule, mode: r.mode, database: r.database, subject: r.identity.subject, bytesSha256: r.bytesSha256, ...details },
      });
    } catch (err) {
      // The review is stored either way; the audit writer reports its own failures.
      this.#log.warn({ err, review: r.id, kind }, 'audit event for a review could not be queued');
    }
  }

  async #newId(): Promise<string> {
    for (let length = 5; ; length++) {
      for (let attempt = 0; attempt < 8; attempt++) {
        let id = 'r-';
        for (let i = 0; i < length; i++) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
        if (!(await this.#store.has(id))) return id;
      }
    }
  }
}

function storePath(url: string, baseDir: string): string {
  const p = url.slice('sqlite:'.length);
  return isAbsolute(p) ? p : resolve(baseDir, p);
}

function trimComment(comment: string | undefined): string | undefined {
  const c = comment?.trim();
  if (!c) return undefined;
  return c.length > MAX_COMMENT ? c.slice(0, MAX_COMMENT) : c;
}

function decision(who: Identity, at: number, comment: string | undefined): ReviewDecision {
  const c = trimComment(comment);
  return { by: who.subject, issuer: who.issuer, at: new Date(at).toISOString(), ...(c === undefined ? {} : { comment: c }) };
}

function expiredError(id: string): ReviewError {
  return new ReviewError('expired', `review ${id} has expired`, 'Re-run the statement to request a new review.');
}

function abandonedError(id: string): ReviewError {
  return new ReviewError('already_decided', `review ${id} was abandoned: the client holding the statement disconnected, so nothing ran and nothing will`, 'The client must run the statement again to request a new review.');
}

function describeApprovers(r: Review): string {
  const who = [...r.approvers.groups.map((g) => `group ${g}`), ...r.approvers.subjects.map((s) => `subject ${s}`)];
  return `Approvers of this review: ${who.join(', ')}.`;
}

