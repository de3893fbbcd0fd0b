/**
 * The reviews API, mounted at `/api/reviews`:
 *
 *   GET  /                 list (newest first; `?status=pending`, `?limit=50`)  → { reviews: Review[] }
 *   GET  /:id              one review                                           → Review
 *   POST /:id/approve      { "comment": "…" } (optional)                        → Review
 *   POST /:id/reject       { "comment": "…" } (optional)                        → Review
 *
 * Authentication is a Bearer OIDC token verified by the gateway's `TokenVerifier`, as on the admin
 * API; `approvers(identity)` then decides who may use this API at all, and the service decides
 * who may decide each review (the rule's approvers, never the requester).
 *
 * Errors are JSON problems `{ error, message, hint? }`: 401 bad token, 403 not a reviewer /
 * not an approver of this review / self-approval, 404 unknown review, 409 already decided or
 * already approved by you, 410 expired. The token MUST NOT be logged or echoed.
 */
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { createMiddleware } from 'hono/factory';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';
import { toGatewayError } from '../errors.ts';
import type { Identity, TokenVerifier } from '../identity/types.ts';
import type { Logger } from '../log.ts';
import type { ReviewService } from './service.ts';
import { ReviewError, type ReviewErrorCode, type ReviewStatus } from './types.ts';

export interface ReviewRoutesDeps {
  service: ReviewService;
  verifier: TokenVerifier;
  /** Who may use the reviews API (list, show, and try to decide); read on every request. */
  approvers: (identity: Identity) => boolean;
  logger: Logger;
}

type Env = { Variables: { identity: Identity } };

class Problem extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly hint?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const STATUS_OF: Record<ReviewErrorCode, ContentfulStatusCode> = {
  not_found: 404,
  not_approver: 403,
  self_approval: 403,
  already_decided: 409,
  already_approved: 409,
  expired: 410,
  closed: 503,
};

const STATUSES = ['pending', 'approved', 'rejected', 'expired', 'consumed', 'abandoned'] as const satisfies readonly ReviewStatus[];
const BEARER = /^Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i;
const ID = /^r-[a-z0-9]{3,16}$/;
const MAX_BODY = 16 * 1024;
const decisionBody = z.object({ comment: z.string().max(2000, 'at most 2000 characters').optional() }).strict();

export function reviewRoutes(deps: ReviewRoutesDeps): Hono {
  const log = deps.logger.child({ part: 'review-api' });
  const app = new Hono<Env>();

  app.onError((err, c) => {
    if (err instanceof ReviewError) return problem(c, new Problem(STATUS_OF[err.code], `review.${err.code}`, err.message, err.hint));
    if (err instanceof Problem) return problem(c, err);
    log.error({ err, method: c.req.method, path: c.req.path }, 'reviews API request failed');
    return problem(c, new Problem(500, 'internal', 'internal error', 'See the gateway log.'));
  });
  app.use('*', async (c, next) => {
    await next();
    c.header('Cache-Control', 'no-store');
  });
  app.use('*', bearer(deps, log));
  app.use(
    '*',
    bodyLimit({
      maxSize: MAX_BODY,
      onError: () => {
        throw new Problem(413, 'too_large', `request body over ${MAX_BODY} bytes`);
      },
    }),
  );

  app.get('/', async (c) => {
    const status = c.req.query('status');
    if (status !== undefined && !(STATUSES as readonly string[]).includes(status)) {
      throw new Problem(400, 'bad_request', `status must be one of ${STATUSES.join(', ')}`);
    }
    const limitText = c.req.query('limit');
    const limit = limitText === undefined ? undefined : Number(limitText);
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 1000)) throw new Problem(400, 'bad_request', 'limit must be a whole number from 1 to 1000');
    const reviews = await deps.service.list({ status: status as ReviewStatus | undefined, limit });
    return c.json({ reviews });
  });

  app.get('/:id', async (c) => {
    const id = checkId(c.req.param('id'));
    const review = await deps.service.get(id);
    if (!review) throw new ReviewError('not_found', `no review ${id}`);
    return c.json(review);
  });

  for (const action of ['approve', 'reject'] as const) {
    app.post(`/:id/${action}`, async (c) => {
      const id = checkId(c.req.param('id'));
      const { comment } = await readDecision(c.req.raw);
      const who = c.get('identity');
      const review = action === 'approve' ? await deps.service.approve(id, who, comment) : await deps.service.reject(id, who, comment);
      log.info({ review: id, by: who.subject, action, status: review.status }, `review ${action} through the API`);
      return c.json(review);
    });
  }

  return app as unknown as Hono;
}

function bearer(deps: ReviewRoutesDeps, log: Logger) {
  return createMiddleware<Env>(async (c, next) => {
    const header = c.req.header('Authorization');
    const token = header === undefined ? undefined : BEARER.exec(header)?.[1];
    if (token === undefined) {
      throw new Problem(401, 'auth.missing_token', 'the reviews API needs an OIDC access token: send Authorization: Bearer <token>', undefined, {
        'WWW-Authenticate': 'Bearer realm="pgwarden"',
      });
    }
    let identity: Identity;
    try {
      identity = await deps.verifier.verify(token);
    } catch (err) {
      const e = toGatewayError(err);
      if (e.code === 'internal') throw err;
      log.info({ code: e.code, reason: e.message, path: c.req.path }, 'reviews API request refused: bad token');
      if (e.code === 'auth.idp_unavailable') throw new Problem(503, e.code, e.message, e.hint);
      // A GatewayError's message is written for the client and never contains the token.
      throw new Problem(401, e.code, e.message, e.hint, { 'WWW-Authenticate': 'Bearer realm="pgwarden", error="invalid_token"' });
    }
    if (!deps.approvers(identity)) {
      log.warn({ subject: identity.subject, issuer: identity.issuerName, path: c.req.path }, 'reviews API request refused: not a reviewer');
      throw new Problem(403, 'forbidden', `${identity.subject} is not a reviewer on this gateway`, 'Approvers are named by the approvers of a rule under reviews.rules.');
    }
    c.set('identity', identity);
    await next();
  });
}

function checkId(id: string): string {
  if (!ID.test(id)) throw new ReviewError('not_found', 'no such review: review ids look like r-7f3k2');
  return id;
}

async function readDecision(req: Request): Promise<z.infer<typeof decisionBody>> {
  const text = await req.text();
  if (text.trim() === '') return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Problem(400, 'bad_request', 'the body must be JSON: {"comment": "..."}');
  }
  const parsed = decisionBody.safeParse(body);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new Problem(400, 'bad_request', `${first.path.join('.') || 'body'}: ${first.message}`, 'Send {"comment": "..."}; the comment is optional.');
  }
  return parsed.data;
}

function problem(c: Context, p: Problem): Response {
  for (const [k, v] of Object.entries(p.headers)) c.header(k, v);
  c.header('Cache-Control', 'no-store');
  return c.json(p.hint === undefined ? { error: p.code, message: p.message } : { error: p.code, message: p.message, hint: p.hint }, p.status);
}
