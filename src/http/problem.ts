/**
 * HTTP problems: every error response is JSON `{ error, message, hint? }` with a stable `error`
 * code. Handlers throw `HttpProblem`; the app's error handler writes it. Anything else thrown is
 * an internal error: it is logged, and the client sees only `internal` — never its text or stack.
 */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { GatewayError } from '../errors.ts';

export interface ProblemBody {
  error: string;
  message: string;
  hint?: string;
}

export class HttpProblem extends Error {
  readonly status: ContentfulStatusCode;
  readonly body: ProblemBody;
  readonly headers: Record<string, string>;

  constructor(status: ContentfulStatusCode, error: string, message: string, options: { hint?: string; headers?: Record<string, string> } = {}) {
    super(message);
    this.name = 'HttpProblem';
    this.status = status;
    this.body = options.hint === undefined ? { error, message } : { error, message, hint: options.hint };
    this.headers = options.headers ?? {};
  }
}

/**
 * The HTTP status for an authentication failure. The IdP being down is not the caller's fault
 * (503); every other `auth.*` failure means the credentials were not acceptable (401).
 */
export function authProblem(err: GatewayError): HttpProblem {
  if (err.code === 'auth.idp_unavailable') return new HttpProblem(503, err.code, err.message, { hint: err.hint });
  // A GatewayError's message is written for the client and never contains the token.
  return new HttpProblem(401, err.code, err.message, {
    hint: err.hint,
    headers: { 'WWW-Authenticate': 'Bearer realm="pgwarden", error="invalid_token"' },
  });
}

export function sendProblem(c: Context, problem: HttpProblem): Response {
  for (const [name, value] of Object.entries(problem.headers)) c.header(name, value);
  c.header('Cache-Control', 'no-store');
  return c.json(problem.body, problem.status);
}
