/**
 * The HTTP app: health and readiness probes, the admin API under `/admin`, the development
 * issuer's endpoints when one is given, and the MCP endpoint when enabled. Every error is a JSON
 * problem (see problem.ts), except on `/mcp`, which answers as the MCP and OAuth specs say.
 */
import { Hono } from 'hono';
import type { GatewayConfig } from '../config/index.ts';
import type { ConsoleEnv } from '../console/index.ts';
import type { TokenVerifier } from '../identity/types.ts';
import type { Logger } from '../log.ts';
import { adminRoutes } from './admin-routes.ts';
import { type DevIssuerEndpoints, mountDevIssuer } from './dev-issuer-routes.ts';
import { type AllowedHosts, hostGuard } from './host-guard.ts';
import { HttpProblem, sendProblem } from './problem.ts';

export interface HttpDeps {
  logger: Logger;
  /** The Host and Origin values requests may carry (read per request; see host-guard.ts). */
  allowedHosts: () => AllowedHosts;
  verifier: TokenVerifier;
  /** Read on each request, so a config reload changes who may administer at once. */
  admin: () => GatewayConfig['admin'];
  ready: () => { ready: boolean; reason?: string };
  /** In effect at once; resolves once the revocation is stored (rejects when it could not be). */
  revoke: (subject: string, issuer?: string) => Promise<{ terminated: number }> | { terminated: number };
  unrevoke: (subject: string, issuer?: string) => Promise<void> | void;
  revocations: () => { subject: string; issuer?: string; at: string }[];
  devIssuer?: DevIssuerEndpoints;
  /** The web console for humans (see src/console/), mounted at `/console`. */
  console?: Hono<ConsoleEnv>;
  /** The reviews API (see src/review/routes.ts), mounted at `/api/reviews`. */
  reviews?: Hono;
  /** The MCP endpoint's routes (`/mcp`, protected resource metadata), mounted at the root. */
  mcp?: Hono;
  /** `/metrics` (see src/metrics/routes.ts), when served on this listener. */
  metrics?: Hono;
}

export function createHttpApp(deps: HttpDeps): Hono {
  const log = deps.logger.child({ part: 'http' });
  const app = new Hono();
  app.use('*', hostGuard(deps.allowedHosts));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) => {
    const r = deps.ready();
    if (r.ready) return c.json({ status: 'ready' });
    return c.json({ status: 'unavailable', reason: r.reason ?? 'not ready' }, 503);
  });

  app.route('/admin', adminRoutes({ ...deps, logger: log }));
  if (deps.devIssuer) mountDevIssuer(app, deps.devIssuer);
  if (deps.console) app.route('/console', deps.console);
  if (deps.reviews) app.route('/api/reviews', deps.reviews);
  if (deps.mcp) app.route('/', deps.mcp);
  if (deps.metrics) app.route('/', deps.metrics);

  app.notFound((c) => sendProblem(c, new HttpProblem(404, 'not_found', `no route for ${c.req.method} ${c.req.path}`)));
  app.onError((err, c) => {
    if (err instanceof HttpProblem) return sendProblem(c, err);
    // Not a problem we made: its text may hold internals, so only the log sees it.
    log.error({ err, method: c.req.method, path: c.req.path }, 'http request failed');
    return sendProblem(c, new HttpProblem(500, 'internal', 'internal error', { hint: 'See the gateway log.' }));
  });
  return app;
}
