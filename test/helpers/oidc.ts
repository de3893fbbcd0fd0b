/**
 * Identity providers for tests, in-process, on free ports of 127.0.0.1:
 *
 * - `startOidcProvider()`: a real OpenID Provider (oidc-provider) with client-credentials clients
 *   whose access tokens are RS256 JWTs (resource indicators) carrying `aud` and a `groups` claim;
 *   `token()` POSTs to its token endpoint like any client would. Given `webClients` and `humans`,
 *   it also serves the authorization code flow (PKCE) with oidc-provider's development login and
 *   consent pages: type a human's name (any password), continue, and the ID token carries the
 *   human's `name` and `groups`.
 * - `startJsonServer()`: a tiny HTTP server serving JSON documents (a JWKS, a discovery document)
 *   that a test can change, count requests to, and stop, to play an IdP's key endpoint.
 *
 * Both are stopped by `stop()`, which also closes kept-alive connections.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';

export interface OidcClient {
  clientId: string;
  clientSecret: string;
  /** Put in the access tokens' `groups` claim. */
  groups: string[];
}

/** A browser-facing client (authorization code + PKCE), e.g. the console. */
export interface OidcWebClient {
  clientId: string;
  /** Without one the client is public (`token_endpoint_auth_method: none`, PKCE required). */
  clientSecret?: string;
  redirectUris: string[];
}

/** A person who can sign in on the development login page, by this key as the login name. */
export interface OidcHuman {
  groups: string[];
  name?: string;
}

export interface TestOidcProvider {
  /** The issuer URL (no trailing slash), e.g. http://127.0.0.1:41234 */
  issuer: string;
  /** A client-credentials access token (a JWT) for `clientId`, for `audience` (default: the provider's). */
  token(clientId: string, opts?: { audience?: string }): Promise<string>;
  stop(): Promise<void>;
}

export const DEFAULT_CLIENTS: OidcClient[] = [
  { clientId: 'support-agent', clientSecret: 'support-agent-secret', groups: ['mcp-support'] },
  { clientId: 'nightly-job', clientSecret: 'nightly-job-secret', groups: ['jobs', 'readers'] },
];

// Resource indicators must be absolute URIs (RFC 8707); an audience that is not one (the usual
// `pgwarden`) travels as a URN and becomes the token's `aud` again on the provider's side.
const AUDIENCE_URN = 'urn:pgwarden-test:audience:';

function resourceFor(audience: string): string {
  return /^[a-z][a-z0-9+.-]*:/i.test(audience) ? audience : `${AUDIENCE_URN}${encodeURIComponent(audience)}`;
}

function audienceOf(resource: string): string {
  return resource.startsWith(AUDIENCE_URN) ? decodeURIComponent(resource.slice(AUDIENCE_URN.length)) : resource;
}

/** The little of oidc-provider's API used here (the package ships no type declarations). */
interface ProviderInstance {
  callback(): http.RequestListener;
  on(event: string, listener: (...args: unknown[]) => void): void;
}
type ProviderClass = new (issuer: string, configuration: Record<string, unknown>) => ProviderInstance;

async function loadProvider(): Promise<ProviderClass> {
  // Imported by a name held in a variable so the type checker does not look for declarations.
  const name: string = 'oidc-provider';
  const mod = (await import(name)) as { default: ProviderClass };
  return mod.default;
}

export interface OidcProviderOptions {
  audience?: string;
  clients?: OidcClient[];
  webClients?: OidcWebClient[];
  humans?: Record<string, OidcHuman>;
}

export async function startOidcProvider(opts: OidcProviderOptions = {}): Promise<TestOidcProvider> {
  const defaultAudience = opts.audience ?? 'pgwarden';
  const clients = opts.clients ?? DEFAULT_CLIENTS;
  const webClients = opts.webClients ?? [];
  const humans = new Map(Object.entries(opts.humans ?? {}));
  const groupsByClient = new Map(clients.map((c) => [c.clientId, c.groups]));
  const credentialClients = new Set(clients.map((c) => c.clientId));

  const server = http.createServer();
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${port}`;

  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  const signingKey = { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: 'RS256', use: 'sig' };

  const Provider = await loadProvider();
  const provider = new Provider(issuer, {
    clients: clients.map((c): Record<string, unknown> => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    })).concat(
      webClients.map((c) => ({
        client_id: c.clientId,
        ...(c.clientSecret === undefined ? { token_endpoint_auth_method: 'none' } : { client_secret: c.clientSecret, token_endpoint_auth_method: 'client_secret_basic' }),
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: c.redirectUris,
      })),
    ),
    jwks: { keys: [signingKey] },
    // Humans of the development login: the typed name is the account id and the subject.
    findAccount: (_ctx: unknown, id: string) => {
      const human = humans.get(id);
      if (!human) return undefined;
      return { accountId: id, claims: () => ({ sub: id, name: human.name ?? id, groups: human.groups }) };
    },
    claims: { openid: ['sub'], profile: ['name'], groups: ['groups'] },
    // Claims of the requested scopes go into the ID token too (not only to userinfo).
    conformIdTokenClaims: false,
    cookies: { keys: ['pgwarden-test-cookie-key'] },
    ttl: { ClientCredentials: 600 },
    features: {
      devInteractions: { enabled: webClients.length > 0 },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // Only machine clients get an access token for the gateway by default; a sign-in does not.
        defaultResource: (_ctx: unknown, client: { clientId: string }) => (credentialClients.has(client.clientId) ? resourceFor(defaultAudience) : undefined),
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => ({
          scope: 'db',
          audience: audienceOf(resource),
          accessTokenFormat: 'jwt',
          accessTokenTTL: 600,
          jwt: { sign: { alg: 'RS256' } },
        }),
      },
    },
    extraTokenClaims: (_ctx: unknown, token: { clientId?: string }) => ({ groups: groupsByClient.get(token.clientId ?? '') ?? [] }),
  });
  // Errors the provider answers with are in its response; do not print them.
  provider.on('server_error', () => undefined);
  server.on('request', provider.callback());

  let tokenEndpoint: string | undefined;
  async function endpoint(): Promise<string> {
    if (tokenEndpoint) return tokenEndpoint;
    const res = await fetch(`${issuer}/.well-known/openid-configuration`);
    if (res.status !== 200) throw new Error(`discovery answered ${res.status}`);
    const doc = (await res.json()) as { token_endpoint?: string };
    if (!doc.token_endpoint) throw new Error('discovery has no token_endpoint');
    tokenEndpoint = doc.token_endpoint;
    return tokenEndpoint;
  }

  return {
    issuer,
    async token(clientId, o = {}) {
      const client = clients.find((c) => c.clientId === clientId);
      if (!client) throw new Error(`unknown test client ${clientId}`);
      const body = new URLSearchParams({ grant_type: 'client_credentials', resource: resourceFor(o.audience ?? defaultAudience) });
      const basic = Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString('base64');
      const res = await fetch(await endpoint(), {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
      const json = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
      if (res.status !== 200 || !json.access_token) {
        throw new Error(`token endpoint answered ${res.status}: ${json.error ?? ''} ${json.error_description ?? ''}`.trim());
      }
      return json.access_token;
    },
    stop: () => close(server),
  };
}

export interface JsonServer {
  /** http://127.0.0.1:<port> */
  url: string;
  /** Serve `body` as JSON at `path`; a number answers with that status and no body. */
  set(path: string, body: unknown): void;
  /** Requests that reached `path` so far. */
  hits(path: string): number;
  stop(): Promise<void>;
}

export async function startJsonServer(routes: Record<string, unknown> = {}): Promise<JsonServer> {
  const docs = new Map<string, unknown>(Object.entries(routes));
  const counts = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    const doc = docs.get(path);
    if (doc === undefined || typeof doc === 'number') {
      res.writeHead(typeof doc === 'number' ? doc : 404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc));
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    set: (path, body) => void docs.set(path, body),
    hits: (path) => counts.get(path) ?? 0,
    stop: () => close(server),
  };
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function close(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
