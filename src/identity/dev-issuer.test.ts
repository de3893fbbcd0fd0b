/**
 * The development issuer: its key survives in a private file, its discovery document and JWKS
 * are what an OIDC relying party expects, and what it mints verifies through the ordinary
 * verifier when those documents are served over HTTP.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { configSchema } from '../config/schema.ts';
import { DevIssuer, RevocationList, createTokenVerifier } from './index.ts';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pgwarden-dev-issuer-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('DevIssuer key file', () => {
  it('generates a private RS256 key readable by its owner only, in directories it makes', async () => {
    const keyFile = join(dir, 'a', 'b', 'dev-issuer.jwk');
    const issuer = await DevIssuer.open(keyFile, 'http://127.0.0.1:8080/dev/');
    assert.equal(issuer.issuer, 'http://127.0.0.1:8080/dev', 'no trailing slash');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    const stored = JSON.parse(readFileSync(keyFile, 'utf8'));
    assert.equal(stored.kty, 'RSA');
    assert.equal(typeof stored.d, 'string', 'the file holds the private key');
  });

  it('loads the same key on the next open, so earlier tokens still verify', async () => {
    const keyFile = join(dir, 'same.jwk');
    const first = await DevIssuer.open(keyFile, 'http://127.0.0.1:1/dev');
    const second = await DevIssuer.open(keyFile, 'http://127.0.0.1:1/dev');
    assert.deepEqual(second.jwks(), first.jwks());
  });

  it('refuses a key file that is not an RSA private key', async () => {
    const bad = join(dir, 'bad.jwk');
    writeFileSync(bad, JSON.stringify({ kty: 'RSA', n: 'AQAB', e: 'AQAB' }));
    await assert.rejects(DevIssuer.open(bad, 'http://127.0.0.1:1/dev'), /not an RSA private JSON Web Key/);
    writeFileSync(bad, 'not json');
    await assert.rejects(DevIssuer.open(bad, 'http://127.0.0.1:1/dev'), /not a JSON Web Key/);
  });
});

describe('DevIssuer documents and tokens', () => {
  let dev: DevIssuer;
  let server: http.Server;

  before(async () => {
    server = http.createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const body = path === '/dev/.well-known/openid-configuration' ? dev.discovery() : path === '/dev/jwks' ? dev.jwks() : undefined;
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    dev = await DevIssuer.open(join(dir, 'served.jwk'), `http://127.0.0.1:${port}/dev`);
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('publishes a discovery document and only the public key', () => {
    const d = dev.discovery();
    assert.equal(d.issuer, dev.issuer);
    assert.equal(d.jwks_uri, `${dev.issuer}/jwks`);
    assert.deepEqual(d.id_token_signing_alg_values_supported, ['RS256']);
    assert.equal(d.token_endpoint, undefined);
    const { keys } = dev.jwks();
    assert.equal(keys.length, 1);
    assert.deepEqual(Object.keys(keys[0]).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use']);
    assert.equal(keys[0].alg, 'RS256');
    assert.equal(keys[0].use, 'sig');
  });

  it('mints RS256 tokens with kid, iat, exp, jti and the groups asked for', async () => {
    const token = await dev.mint({ subject: 'demo-analyst', groups: ['analysts'], audience: 'pgwarden', ttlSeconds: 120, claims: { email: 'a@example.com', sub: 'ignored' } });
    const header = decodeProtectedHeader(token);
    assert.equal(header.alg, 'RS256');
    assert.equal(header.kid, dev.jwks().keys[0].kid);
    const claims = decodeJwt(token);
    assert.equal(claims.iss, dev.issuer);
    assert.equal(claims.sub, 'demo-analyst', 'registered claims are the issuer\'s own');
    assert.equal(claims.exp! - claims.iat!, 120);
    assert.equal(typeof claims.jti, 'string');
    assert.equal(claims.email, 'a@example.com');
    const other = await dev.mint({ subject: 'x', audience: 'pgwarden' });
    assert.equal(decodeJwt(other).exp! - decodeJwt(other).iat!, 3600, 'default lifetime');
    assert.notEqual(decodeJwt(other).jti, claims.jti);
    await assert.rejects(dev.mint({ subject: 'x', audience: 'pgwarden', ttlSeconds: 0 }), /ttlSeconds/);
  });

  it('mints tokens that verify through discovery and the JWKS over HTTP', async () => {
    const config = configSchema.shape.identity.parse({ issuers: [{ issuer: dev.issuer, audience: 'pgwarden', name: 'dev' }] });
    const verifier = createTokenVerifier(config, { logger: pino({ level: 'silent' }), revocations: new RevocationList() });
    const id = await verifier.verify(await dev.mint({ subject: 'demo-support', groups: ['mcp-support'], audience: 'pgwarden' }));
    assert.deepEqual([id.issuer, id.issuerName, id.subject, id.groups], [dev.issuer, 'dev', 'demo-support', ['mcp-support']]);
    const wrongAudience = await dev.mint({ subject: 'demo-support', audience: 'elsewhere' });
    await assert.rejects(verifier.verify(wrongAudience), { code: 'auth.invalid_token', message: /audience "elsewhere" is not accepted/ });
  });
});
