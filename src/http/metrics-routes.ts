/**
 * `GET /metrics`: the Prometheus exposition. With `metrics.bearer_token` set, a scrape must carry
 * it (compared in constant time); without one, the config check only lets the metrics be served
 * on loopback.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Hono } from 'hono';
import type { GatewayMetrics } from '../metrics/index.ts';
import { type AllowedHosts, hostGuard } from './host-guard.ts';
import { HttpProblem, sendProblem } from './problem.ts';

const digest = (s: string) => createHash('sha256').update(s).digest();

export function metricsRoutes(metrics: GatewayMetrics, bearerToken: () => string | undefined): Hono {
  const app = new Hono();
  app.get('/metrics', async (c) => {
    const expected = bearerToken();
    if (expected !== undefined) {
      const header = c.req.header('Authorization') ?? '';
      const given = /^Bearer\s+(.+)$/i.exec(header)?.[1] ?? '';
      if (!timingSafeEqual(digest(given), digest(expected))) {
        return sendProblem(c, new HttpProblem(401, 'unauthorized', 'a scrape of /metrics needs the configured bearer token', { hint: 'Send Authorization: Bearer <metrics.bearer_token>.', headers: { 'WWW-Authenticate': 'Bearer realm="pgwarden-metrics"' } }));
      }
    }
    const { body, contentType } = await metrics.expose();
    return c.body(body, 200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
  });
  return app;
}

/** The app of a listener that serves only `/metrics` (`metrics.listen`), behind the Host check. */
export function createMetricsApp(metrics: GatewayMetrics, bearerToken: () => string | undefined, allowed: () => AllowedHosts): Hono {
  const app = new Hono();
  app.use('*', hostGuard(allowed));
  app.route('/', metricsRoutes(metrics, bearerToken));
  app.notFound((c) => sendProblem(c, new HttpProblem(404, 'not_found', `no route for ${c.req.method} ${c.req.path}`, { hint: 'This listener serves only GET /metrics.' })));
  return app;
}
