/**
 * HTTP: the gateway's HTTP face (Hono on node:http).
 *
 * Routes: `GET /healthz` (the process is up), `GET /readyz` (able to serve: 200 or 503 with the
 * reason), the admin API under `/admin` (Bearer JWT verified by the shared `TokenVerifier`, then
 * `admin.subjects` / `admin.groups` — `GET|POST|DELETE /admin/revocations`), and with the demo the
 * development issuer's discovery document and JWKS under the issuer URL's path.
 *
 * Data flow: request → route → (admin: bearer → verifier → admin check) → deps callback → JSON.
 * Errors are JSON problems `{ error, message, hint? }`; tokens and internal error text never reach
 * a response or the log.
 */
export { createHttpApp, type HttpDeps } from './app.ts';
export { startHttpServer, type HttpServer, type HttpServerOptions } from './server.ts';
export { allowedHosts, hostGuard, type AllowedHosts, type AllowedHostsInput } from './host-guard.ts';
export type { DevIssuerEndpoints } from './dev-issuer-routes.ts';
export type { ProblemBody } from './problem.ts';
export { createMetricsApp, metricsRoutes } from './metrics-routes.ts';
