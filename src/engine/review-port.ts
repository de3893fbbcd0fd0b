/**
 * The review workflow as one session's gate uses it: which rule holds a statement, and settling
 * its review — in `defer` mode at once (run it when an approval bound to exactly this statement
 * is waiting to be used, else refuse now with the review id), in `wait` mode by holding the
 * statement until an approver decides or the request expires.
 *
 * An approval is bound to the identity (issuer + subject), the database, the statement's exact
 * text (sha256 of its UTF-8 bytes, as the client sent them), its parameters, and what its names
 * resolved to: the session's search_path as the gate resolved them and the objects (tables with
 * their OIDs, DDL targets, functions). The same text from a session whose search_path makes
 * `orders` another table, or after the table was replaced, needs its own review. Approvers see
 * the resolved names and the path. Each approval runs its statement once.
 *
 * A rule with `max_rows` first has the statement's affected rows estimated (`estimateRows`, before
 * anything of it runs; see row-estimate.ts) and holds it only over the limit. Without an estimator,
 * or when a statement cannot be estimated, the rule holds it (fail closed).
 */
import { createHash } from 'node:crypto';
import { GatewayError } from '../errors.ts';
import type { Identity } from '../identity/types.ts';
import { resolvedObjects, reviewAnalysis, reviewRuleFor, rowsNeeded, type CompiledReviews, type ReviewService } from '../review/index.ts';
import type { StatementAnalysis } from '../sql/index.ts';
import { ABANDONED, type ReviewPort } from './gate.ts';
import type { EstimateRows } from './row-estimate.ts';

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

export interface ReviewPortOptions {
  service: ReviewService;
  compiled: () => CompiledReviews;
  identity: Identity;
  database: string;
  sessionId: string;
  /** Where a human approves a review (the console), for the client's messages. */
  reviewUrl?: (id: string) => string | undefined;
  /** The rows a statement would affect, for rules with `max_rows`. */
  estimateRows?: EstimateRows;
}

export function reviewPort(o: ReviewPortOptions): ReviewPort | undefined {
  const port = heldBy(o);
  return {
    ruleFor: port.ruleFor,
    // A store that cannot be reached (a shared PostgreSQL store down): fail closed, and say why.
    settle: (q, notice, signal) =>
      port.settle(q, notice, signal).catch((err: unknown) => {
        if ((err as Error)?.name !== 'StoreError') throw err;
        throw new GatewayError('review.rejected', 'pgwarden: this statement needs a review, and the review store cannot be reached now; the statement was not run', {
          hint: 'Run it again once the store is back (the gateway is not ready meanwhile: see /readyz).',
          logDetail: (err as Error).message,
          cause: err,
        });
      }),
  };
}

function heldBy(o: ReviewPortOptions): ReviewPort {
  const { identity, database, service } = o;
  const where = (id: string) => {
    const url = o.reviewUrl?.(id);
    return url ? `approve it at ${url}, or with: pgwarden reviews approve ${id}` : `approve it with: pgwarden reviews approve ${id}`;
  };
  return {
    ruleFor(analyses) {
      // A rule with max_rows is a candidate here; settle() decides it on the estimate.
      const r = reviewRuleFor(o.compiled(), identity, analyses);
      return r ? { name: r.name, mode: r.mode } : null;
    },
    async settle(q, notice, signal) {
      const compiled = o.compiled();
      const needed = rowsNeeded(compiled, identity, q.analyses);
      const rows = needed.length > 0 && o.estimateRows ? await o.estimateRows(needed, q.params) : new Map<StatementAnalysis, number | null>();
      const rowsOf = (a: StatementAnalysis) => rows.get(a) ?? null;
      const rule = reviewRuleFor(compiled, identity, q.analyses, rowsOf);
      if (!rule) return { approved: true, reviewId: '' };
      if (signal.aborted) return { approved: false, error: new GatewayError('review.cancelled', 'canceling statement due to user request (it was waiting for review and was not run)') };
      const radius = rule.maxRows === undefined ? '' : blastRadius(needed.map(rowsOf), rule.maxRows);
      const binding = {
        issuer: identity.issuer,
        subject: identity.subject,
        database,
        bytesSha256: sha256(q.text),
        paramsSha256: sha256(JSON.stringify(q.params)),
        resolutionSha256: sha256(JSON.stringify(resolvedObjects(q.analyses, q.searchPath))),
      };
      const request = {
        rule: rule.name,
        mode: rule.mode,
        identity: { issuer: identity.issuer, subject: identity.subject, groups: identity.groups },
        database,
        text: q.text,
        bytesSha256: binding.bytesSha256,
        paramsSha256: binding.paramsSha256,
        resolutionSha256: binding.resolutionSha256,
        analysis: { ...reviewAnalysis(q.analyses, q.searchPath, q.text), ...(rule.maxRows === undefined ? {} : { estimatedRows: estimated(needed.map(rowsOf)) }) },
        sessionId: o.sessionId,
      };
      if (rule.mode === 'defer') {
        const approved = await service.consumeApproval(binding);
        if (approved) return { approved: true, reviewId: approved.id };
        const review = (await service.pendingFor(binding)) ?? (await service.request(request, rule));
        return {
          approved: false,
          reviewId: review.id,
          error: new GatewayError('review.required', `pgwarden: this statement needs approval under rule "${rule.name}"${radius}: review ${review.id} was requested; run it again once it is approved`, {
            hint: `${where(review.id)}. The approval is for this exact statement and parameters, resolved with search_path ${q.searchPath.join(', ') || '(empty)'} to ${reviewAnalysis(q.analyses).tables.join(', ') || 'the same objects'}, once.`,
          }),
        };
      }
      const review = await service.request(request, rule);
      notice(`pgwarden: statement held for review ${review.id} under rule "${rule.name}"${radius}; waiting for approval (${where(review.id)})`, review.id);
      let done;
      try {
        done = await service.waitFor(review.id, signal);
      } catch (err) {
        if (signal.aborted) {
          // The client went away while holding it: its upstream session is closed, so the
          // statement can never run; an approval from now on must not look as if it did.
          if (signal.reason === ABANDONED) {
            await service.abandon(review.id).catch(() => null);
            return { approved: false, reviewId: review.id, error: new GatewayError('review.cancelled', `pgwarden: review ${review.id} was abandoned: the client disconnected; the statement was not run`) };
          }
          return { approved: false, reviewId: review.id, error: new GatewayError('review.cancelled', 'canceling statement due to user request (it was waiting for review and was not run)') };
        }
        throw err;
      }
      if (done.status === 'approved' && (await service.consume(review.id))) return { approved: true, reviewId: review.id };
      if (done.status === 'abandoned') {
        return { approved: false, reviewId: review.id, error: new GatewayError('review.cancelled', `pgwarden: review ${review.id} was abandoned; the statement was not run`) };
      }
      if (done.status === 'rejected') {
        const why = done.rejection?.comment ? `: ${done.rejection.comment}` : '';
        return { approved: false, reviewId: review.id, error: new GatewayError('review.rejected', `pgwarden: review ${review.id} was rejected by ${done.rejection?.by ?? 'an approver'}${why}; the statement was not run`) };
      }
      return { approved: false, reviewId: review.id, error: new GatewayError('review.expired', `pgwarden: review ${review.id} expired before it was approved; the statement was not run`) };
    },
  };
}

/** The total estimate of the analyses (null when any could not be estimated). */
function estimated(rows: (number | null)[]): number | null {
  return rows.some((r) => r === null) ? null : rows.reduce<number>((t, r) => t + (r ?? 0), 0);
}

/** ` (about N rows, over the limit of M)`, for the client's message. */
function blastRadius(rows: (number | null)[], max: number): string {
  const n = estimated(rows);
  if (n === null) return ` (the rows it would affect could not be estimated; the limit is ${max})`;
  return ` (about ${Math.round(n)} rows estimated, over the limit of ${max})`;
}
