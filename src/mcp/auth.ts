/**
 * The MCP endpoint as an OAuth 2.1 resource server (MCP authorization spec, RFC 6750, RFC 9728):
 * a bearer token is verified by the gateway's `TokenVerifier` (issuer, signature, expiry,
 * revocation) with this resource's audiences in place of the issuers' — the configured
 * `mcp.audience`, by default the resource URL — so a token minted for another service (or only
 * for the wire endpoint) is not accepted here, and this resource's tokens need not be listed as
 * (and are never accepted as) Postgres passwords.
 *
 * Every refusal is a 401 whose `WWW-Authenticate` points at the protected resource metadata (at
 * its path-suffixed URL, RFC 9728 §3.1), so a client can discover the authorization servers; an
 * unreachable IdP is a 503. The token MUST NOT appear in a response or a log line.
 */
import { toGatewayError } from '../errors.ts';
import type { Identity, TokenVerifier } from '../identity/index.ts';
import type { Logger } from '../log.ts';

export interface ResourceSettings {
  /** The resource identifier (RFC 8707), e.g. `https://gw.example.com/mcp`. */
  resource: string;
  /** Audiences accepted on this resource (a token's `aud` must contain one). */
  audiences: string[];
  /** Issuer URLs (the authorization servers). */
  issuers: string[];
}

const BEARER = /^Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i;

/**
 * Where a resource's metadata is (RFC 9728 §3.1): the well-known path inserted between the host
 * and the resource's path, `https://gw/mcp` → `https://gw/.well-known/oauth-protected-resource/mcp`.
 */
export function metadataUrl(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '');
  return `${url.origin}/.well-known/oauth-protected-resource${path}`;
}

/** RFC 9728 protected resource metadata. */
export function resourceMetadata(s: ResourceSettings): Record<string, unknown> {
  return {
    resource: s.resource,
    authorization_servers: s.issuers,
    bearer_methods_supported: ['header'],
    resource_name: 'pgwarden MCP endpoint',
  };
}

export type Authenticated = { identity: Identity; token: string } | { response: Response };

export async function authenticate(req: Request, s: ResourceSettings, verifier: TokenVerifier, logger: Logger): Promise<Authenticated> {
  const header = req.headers.get('authorization');
  const token = header === null ? undefined : BEARER.exec(header)?.[1];
  if (token === undefined) {
    return { response: unauthorized(s, 'auth.missing_token', 'the MCP endpoint needs an OAuth access token: send Authorization: Bearer <token>', false) };
  }
  let identity: Identity;
  try {
    identity = await verifier.verify(token, { accept: s.audiences });
  } catch (err) {
    const e = toGatewayError(err);
    if (e.code === 'auth.idp_unavailable') return { response: problem(503, e.code, e.message, e.hint) };
    if (e.code === 'internal') {
      logger.error({ err: e.cause instanceof Error ? e.cause.message : e.message }, 'mcp token verification failed');
      return { response: problem(500, 'internal', 'internal error', 'See the gateway log.') };
    }
    logger.info({ code: e.code, reason: e.message }, 'mcp request refused: bad token');
    return { response: unauthorized(s, e.code, e.message, true, e.hint) };
  }
  return { identity, token };
}

function unauthorized(s: ResourceSettings, code: string, message: string, invalid: boolean, hint?: string): Response {
  // RFC 6750 §3: no error attribute when the request carried no credentials.
  const params = [`resource_metadata="${metadataUrl(s.resource)}"`];
  if (invalid) params.push('error="invalid_token"', `error_description="${message.replace(/["\\\r\n]/g, ' ')}"`);
  return problem(401, code, message, hint, { 'WWW-Authenticate': `Bearer ${params.join(', ')}` });
}

export function problem(status: number, error: string, message: string, hint?: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(hint === undefined ? { error, message } : { error, message, hint }), {
    status,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers },
  });
}
