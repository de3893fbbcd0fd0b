/**
 * Reviews: a human approves exactly this statement, from this identity, on this database, with
 * these parameters, before it runs.
 *
 * Data flow:
 *   config `reviews:` → `compileReviews` → `reviewRuleFor(compiled, identity, analyses)` (pure,
 *   first matching rule) → the engine builds a `ReviewRequest` (`reviewAnalysis()` summarises the
 *   analyses) → `ReviewService.request` (stored in SQLite, `created` webhook, audit event) →
 *   approvers decide through `reviewRoutes` (`/api/reviews`, used by the CLI and the console) →
 *   - wait:  the engine awaits `waitFor(id, signal)`; approved → `consume(id)` → forward, once;
 *            rejected / expired → refuse. The client's cancel aborts the wait; the review stays.
 *   - defer: the engine refuses at once with the id; on a re-run `consumeApproval(binding)` returns
 *            the approval once (inside its window) or null, and `pendingFor(binding)` finds the
 *            request already made so a re-run does not create another.
 *   Timers expire undecided requests (`timeout`) and unused approvals (`window`); a sweep at open
 *   catches up on what expired while the gateway was down. Nothing is ever run by the service.
 *
 * Approvals are bound to issuer + subject + database + sha256(bytes) + sha256(params): any other
 * statement needs its own review. Nobody decides their own request; each decision records who,
 * when and why. Webhooks never block or lose a review.
 */
export {
  reviewsSchema,
  reviewRuleSchema,
  webhookSchema,
  REVIEW_TRIGGERS,
  WEBHOOK_EVENTS,
  type ReviewsConfig,
  type ReviewsConfigInput,
  type ReviewRuleConfig,
  type ReviewTrigger,
  type WebhookConfig,
  type WebhookEvent,
} from './schema.ts';
export { compileReviews, reviewRuleFor, rowsNeeded, reviewAnalysis, resolvedObjects, isApprover, isApproverOfAny, triggers, type CompiledReviewRule, type CompiledReviews, type RowsOf } from './rules.ts';
export { ReviewService, type ReviewBinding, type ReviewListQuery, type ReviewServiceDeps } from './service.ts';
export { reviewRoutes, type ReviewRoutesDeps } from './routes.ts';
export { reviewsSection, approverIdentity, type ReviewsSectionDeps } from './console-section.ts';
export { signature as webhookSignature, jsonPayload as webhookJsonPayload, slackPayload as webhookSlackPayload, type WebhookPayload } from './webhooks.ts';
export {
  ReviewError,
  type Review,
  type ReviewAnalysis,
  type ReviewApprovers,
  type ReviewDecision,
  type ReviewErrorCode,
  type ReviewIdentity,
  type ReviewMode,
  type ReviewRequest,
  type ReviewStatus,
} from './types.ts';
