/**
 * An OIDC issuer for edge-case tests: discovery document and JWKS served over HTTP on a free
 * port, tokens signed here with jose. Keys can be rotated and the endpoint taken down, so tests
 * can exercise unknown-kid refetches and cached keys while the IdP is unreachable.
 */
import http from 'node:http';
import type net from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';

export interface TestIssuer {
  issuer: string;
  audience: string;
  /** Sign a token; claims override the defaults (sub, aud, iss, iat, exp in 10 minutes). */
  sign(claims?: Record<string, unknown>, options?: { kid?: string; alg?: string; noExp?: boolean }): Promise<string>;
  /** Add a new signing key (served from now on) and sign with it. */
  rotate(): Promise<void>;
  /** Serve 503 for discovery and JWKS while down. */
  setDown(down: boolean): void;
  fetches(): number;
  stop(): Promise<void>;
}

interface Key {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

async function newKey(n: number): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = `test-key-${n}`;
  return { kid, privateKey: privateKey as CryptoKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

export async function startTestIssuer(audience = 'pgwarden'): Promise<TestIssuer> {
  const keys: Key[] = [await newKey(1)];
  let down = false;
  let fetches = 0;
  let issuer = '';
  const server = http.createServer((req, res) => {
    fetches++;
    if (down) {
      res.writeHead(503).end();
      return;
    }
    if (req.url === '/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
    } else if (req.url === '/jwks') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: keys.map((k) => k.publicJwk) }));
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  issuer = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    issuer,
    audience,
    async sign(claims = {}, options = {}) {
      const key = keys[keys.length - 1];
      const now = Math.floor(Date.now() / 1000);
      const payload: Record<string, unknown> = { iss: issuer, aud: audience, sub: 'agent-1', iat: now, exp: now + 600, ...claims };
      if (options.noExp) delete payload.exp;
      return new SignJWT(payload).setProtectedHeader({ alg: options.alg ?? 'RS256', kid: options.kid ?? key.kid }).sign(key.privateKey);
    },
    async rotate() {
      keys.push(await newKey(keys.length + 1));
    },
    setDown(d) {
      down = d;
    },
    fetches: () => fetches,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
