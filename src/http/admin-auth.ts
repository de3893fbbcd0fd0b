/**
 * Bearer authentication for the admin API: the token is verified by the same `TokenVerifier` the
 * Postgres listener uses, then the identity must be named in `admin.subjects` or belong to one of
 * `admin.groups` — read on every request, so a reload takes effect at once.
 *
 * The token MUST NOT be logged or echoed; only the verifier's (client-safe) message is returned.
 */
import { createMiddleware } from 'hono/factory';
import { toGatewayError } from '../errors.ts';
import type { Identity, TokenVerifier } from '../identity/types.ts';
import type { Logger } from '../log.ts';
import type { GatewayConfig } from '../config/index.ts';
import { authProblem, HttpProblem } from './problem.ts';

export type AdminEnv = { Variables: { identity: Identity } };

export interface AdminAuthDeps {
  logger: Logger;
  verifier: TokenVerifier;
  admin: () => GatewayConfig['admin'];
}

const BEARER = /^Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i;

export function adminAuth(deps: AdminAuthDeps) {
  return createMiddleware<AdminEnv>(async (c, next) => {
    const header = c.req.header('Authorization');
    const token = header === undefined ? undefined : BEARER.exec(header)?.[1];
    if (token === undefined) {
      throw new HttpProblem(401, 'auth.missing_token', 'the admin API needs an OIDC access token: send Authorization: Bearer <token>', {
        headers: { 'WWW-Authenticate': 'Bearer realm="pgwarden"' },
      });
    }
    let identity: Identity;
    try {
      identity = await deps.verifier.verify(token);
    } catch (err) {
      const gwErr = toGatewayError(err);
      if (gwErr.code === 'internal') throw err;
      deps.logger.info({ code: gwErr.code, reason: gwErr.message, path: c.req.path }, 'admin request refused: bad token');
      throw authProblem(gwErr);
    }
    if (!isAdmin(identity, deps.admin())) {
      deps.logger.warn({ subject: identity.subject, issuer: identity.issuerName, path: c.req.path }, 'admin request refused: not an administrator');
      throw new HttpProblem(403, 'forbidden', `${identity.subject} is not an administrator of this gateway`, {
        hint: 'Add the subject to admin.subjects, or one of its groups to admin.groups.',
      });
    }
    c.set('identity', identity);
    await next();
  });
}

/** Identities are (issuer, subject): a group of one issuer says nothing of another's tokens. */
function isAdmin(identity: Identity, admin: GatewayConfig['admin']): boolean {
  if (admin.issuers && !admin.issuers.includes(identity.issuer) && !admin.issuers.includes(identity.issuerName)) return false;
  return admin.subjects.includes(identity.subject) || identity.groups.some((g) => admin.groups.includes(g));
}
