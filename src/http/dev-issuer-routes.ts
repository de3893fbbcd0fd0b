/**
 * The development issuer's OIDC discovery document and key set, served under the issuer URL's
 * path (e.g. `/dev/.well-known/openid-configuration` and `/dev/jwks`), so a verifier configured
 * with that issuer discovers its keys like any other IdP's. Only with `pgwarden demo`.
 */
import type { Hono } from 'hono';

export interface DevIssuerEndpoints {
  issuer: string;
  discovery(): Record<string, unknown>;
  jwks(): { keys: unknown[] };
}

export function mountDevIssuer(app: Hono, dev: DevIssuerEndpoints): void {
  const base = new URL(dev.issuer).pathname.replace(/\/+$/, '');
  app.get(`${base}/.well-known/openid-configuration`, (c) => c.json(dev.discovery()));
  app.get(`${base}/jwks`, (c) => {
    c.header('Cache-Control', 'max-age=60');
    return c.json(dev.jwks());
  });
}
