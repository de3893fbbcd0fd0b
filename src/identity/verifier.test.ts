/**
 * The token verifier against keys signed here and JWKS served over real HTTP on a free port:
 * every way a token can be wrong is refused with its own code and message, the token never
 * appears in a message or a log line, and keys are fetched once, refetched on rotation, and kept
 * usable while the IdP is down.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import { SignJWT, base64url, calculateJwkThumbprint, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { configSchema } from '../config/schema.ts';
import { GatewayError, type ErrorCode } from '../errors.ts';
import { freePort } from '../../test/helpers/postgres.ts';
import { startJsonServer, type JsonServer } from '../../test/helpers/oidc.ts';
import { RevocationList, createTokenVerifier, type IdentityConfig } from './index.ts';

interface TestKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

async function makeKey(alg = 'RS256'): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const pub = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(pub);
  return { kid, alg, privateKey, publicKey, jwk: { ...pub, kid, alg, use: 'sig' } };
}

const now = () => Math.floor(Date.now() / 1000);

/** A token signed with `key`; `claims` override the defaults, `undefined` removes a claim. */
async function sign(key: TestKey, iss: string, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  const payload: Record<string, unknown> = { iss, sub: 'agent-1', aud: 'pgwarden', iat: now(), exp: now() + 300, jti: 'tok-1', groups: ['readers'], ...claims };
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header }).sign(key.privateKey);
}

function identityConfig(issuers: Record<string, unknown>[], extra: Record<string, unknown> = {}): IdentityConfig {
  return configSchema.shape.identity.parse({ issuers, ...extra });
}

function capturingLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: pino({ level: 'trace' }, stream), lines };
}

async function refusal(p: Promise<unknown>): Promise<GatewayError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof GatewayError, `expected a GatewayError, got ${String(err)}`);
    return err;
  }
  assert.fail('the token was accepted');
}

/** The token text, and any of its three parts, MUST NOT be in anything a client or a log sees. */
function assertNoEcho(token: string, texts: (string | undefined)[]): void {
  const parts = token.split('.').filter((p) => p.length >= 8);
  for (const text of texts) {
    if (!text) continue;
    if (token.length >= 8) assert.ok(!text.includes(token), `the token appears in: ${text}`);
    for (const p of parts) assert.ok(!text.includes(p), `a part of the token appears in: ${text}`);
  }
}

let server: JsonServer;
let keyA: TestKey;
let keyB: TestKey;
let keyEC: TestKey;
let ISS: string;

before(async () => {
  [keyA, keyB, keyEC] = await Promise.all([makeKey(), makeKey(), makeKey('ES256')]);
  server = await startJsonServer();
  server.set('/keys', { keys: [keyA.jwk] });
  ISS = `${server.url}/realms/agents`;
});
after(async () => {
  await server.stop();
});

function baseIssuer(extra: Record<string, unknown> = {}) {
  return { issuer: ISS, audience: 'pgwarden', jwks_uri: `${server.url}/keys`, name: 'corp', ...extra };
}

describe('a valid token', () => {
  it('yields the identity from the verified claims, and the keys are fetched once', async () => {
    const { logger } = capturingLogger();
    const verifier = createTokenVerifier(identityConfig([baseIssuer()]), { logger, revocations: new RevocationList() });
    const hitsBefore = server.hits('/keys');
    const exp = now() + 300;
    const token = await sign(keyA, ISS, { exp, groups: ['readers', 'mcp-support'] });
    const id = await verifier.verify(token);
    assert.equal(id.issuer, ISS);
    assert.equal(id.issuerName, 'corp');
    assert.equal(id.subject, 'agent-1');
    assert.deepEqual(id.groups, ['readers', 'mcp-support']);
    assert.equal(id.expiresAt, exp * 1000);
    assert.equal(id.tokenId, 'tok-1');
    assert.equal(id.claims.aud, 'pgwarden');
    for (let i = 0; i < 5; i++) await verifier.verify(await sign(keyA, ISS, { sub: `agent-${i}` }));
    assert.equal(server.hits('/keys') - hitsBefore, 1, 'one JWKS fetch for six verifications');
  });

  it('accepts any of several configured audiences, and an issuer without a name is named by its URL', async () => {
    const verifier = createTokenVerifier(identityConfig([baseIssuer({ audience: ['pgwarden', 'db-gateway'], name: undefined })]), {
      logger: pino({ level: 'silent' }),
      revocations: new RevocationList(),
    });
    const id = await verifier.verify(await sign(keyA, ISS, { aud: ['other', 'db-gateway'] }));
    assert.equal(id.issuerName, ISS);
    assert.equal(id.tokenId, 'tok-1');
    const noJti = await verifier.verify(await sign(keyA, ISS, { jti: undefined }));
    assert.equal(noJti.tokenId, undefined);
  });
});

describe('audiences per surface', () => {
  const MCP = 'https://gw.example.com/mcp';
  const silent = () => ({ logger: pino({ level: 'silent' }), revocations: new RevocationList() });
  // Surface rules as the gateway wires them: the wire and the APIs exclude the MCP resource,
  // /mcp accepts only its own audiences.
  const wire = { exclude: [MCP] };
  const mcp = { accept: [MCP] };
  const admin = { accept: ['pgwarden-admin'], exclude: [MCP] };
  const cases: { name: string; issuerAudience: string[]; aud: unknown; rule: object; accepted: boolean }[] = [
    { name: 'a wire token on the wire', issuerAudience: ['pgwarden'], aud: 'pgwarden', rule: wire, accepted: true },
    { name: 'an MCP token on the wire', issuerAudience: ['pgwarden'], aud: MCP, rule: wire, accepted: false },
    { name: 'an MCP token on the wire, the issuer audience listing the MCP resource too', issuerAudience: ['pgwarden', MCP], aud: MCP, rule: wire, accepted: false },
    { name: 'an MCP token on the wire, the issuer audience only the MCP resource', issuerAudience: [MCP], aud: MCP, rule: wire, accepted: false },
    { name: 'a token for both on the wire', issuerAudience: ['pgwarden', MCP], aud: ['pgwarden', MCP], rule: wire, accepted: true },
    { name: 'an MCP token on /mcp (the issuer audience not listing it)', issuerAudience: ['pgwarden'], aud: MCP, rule: mcp, accepted: true },
    { name: 'a wire token on /mcp', issuerAudience: ['pgwarden'], aud: 'pgwarden', rule: mcp, accepted: false },
    { name: 'an MCP token on the admin API', issuerAudience: ['pgwarden', MCP], aud: MCP, rule: admin, accepted: false },
    { name: 'a wire token on an admin API with its own audience', issuerAudience: ['pgwarden'], aud: 'pgwarden', rule: admin, accepted: false },
    { name: 'an admin token on the admin API', issuerAudience: ['pgwarden'], aud: 'pgwarden-admin', rule: admin, accepted: true },
    { name: 'an admin token on the wire', issuerAudience: ['pgwarden'], aud: 'pgwarden-admin', rule: wire, accepted: false },
    { name: 'any token where the surface is left with no audience', issuerAudience: ['pgwarden'], aud: 'pgwarden', rule: { accept: [MCP], exclude: [MCP] }, accepted: false },
  ];
  for (const c of cases) {
    it(`${c.accepted ? 'accepts' : 'refuses'} ${c.name}`, async () => {
      const v = createTokenVerifier(identityConfig([baseIssuer({ audience: c.issuerAudience })]), silent());
      const token = await sign(keyA, ISS, { aud: c.aud });
      if (c.accepted) assert.equal((await v.verify(token, c.rule)).subject, 'agent-1');
      else {
        const err = await refusal(v.verify(token, c.rule));
        assert.equal(err.code, 'auth.invalid_token');
        assert.match(err.message, /audience/);
        assertNoEcho(token, [err.message]);
      }
    });
  }
});

describe('refused tokens', () => {
  const hs256WithPublicKey = async () => {
    // The classic key-confusion attack: HMAC keyed with the issuer's public key bytes.
    const pem = await exportSPKI(keyA.publicKey);
    return new SignJWT({ iss: ISS, sub: 'agent-1', aud: 'pgwarden', exp: now() + 300 })
      .setProtectedHeader({ alg: 'HS256', kid: keyA.kid, typ: 'JWT' })
      .sign(new TextEncoder().encode(pem));
  };
  const unsigned = () => {
    const enc = (o: object) => base64url.encode(JSON.stringify(o));
    return `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ iss: ISS, sub: 'admin', aud: 'pgwarden', exp: now() + 300 })}.`;
  };
  const tampered = async () => {
    const [h, , s] = (await sign(keyA, ISS)).split('.');
    const forged = base64url.encode(JSON.stringify({ iss: ISS, sub: 'agent-1', aud: 'pgwarden', exp: now() + 300, groups: ['dba'] }));
    return `${h}.${forged}.${s}`;
  };
  const expiredExp = now() - 120;

  const cases: { name: string; token: () => Promise<string> | string; code: ErrorCode; message: RegExp | string }[] = [
    { name: 'expired beyond the clock tolerance', token: () => sign(keyA, ISS, { exp: expiredExp }), code: 'auth.expired', message: `pgwarden: token expired at ${new Date(expiredExp * 1000).toISOString()}` },
    { name: 'without exp', token: () => sign(keyA, ISS, { exp: undefined }), code: 'auth.invalid_token', message: 'pgwarden: token has no exp claim' },
    { name: 'with exp that is not a number', token: () => sign(keyA, ISS, { exp: 'tomorrow' }), code: 'auth.invalid_token', message: 'pgwarden: token claim exp is malformed' },
    { name: 'for another audience', token: () => sign(keyA, ISS, { aud: 'billing' }), code: 'auth.invalid_token', message: 'pgwarden: token audience "billing" is not accepted' },
    { name: 'without aud', token: () => sign(keyA, ISS, { aud: undefined }), code: 'auth.invalid_token', message: /^pgwarden: token has no aud claim/ },
    { name: 'from an issuer not configured', token: () => sign(keyA, 'https://evil.example.com'), code: 'auth.unknown_issuer', message: 'pgwarden: token issuer "https://evil.example.com" is not trusted' },
    { name: 'from an issuer differing only by a trailing slash', token: () => sign(keyA, `${ISS}/`), code: 'auth.unknown_issuer', message: /is not trusted$/ },
    { name: 'without iss', token: () => sign(keyA, ISS, { iss: undefined }), code: 'auth.invalid_token', message: 'pgwarden: token has no iss claim' },
    { name: 'unsigned (alg none)', token: unsigned, code: 'auth.invalid_token', message: 'pgwarden: token algorithm none is not allowed' },
    { name: 'HS256 keyed with the RSA public key', token: hs256WithPublicKey, code: 'auth.invalid_token', message: 'pgwarden: token algorithm HS256 is not allowed' },
    { name: 'signed with an algorithm outside the allowlist', token: () => sign(keyEC, ISS), code: 'auth.invalid_token', message: 'pgwarden: token algorithm ES256 is not allowed' },
    { name: 'with a tampered payload', token: tampered, code: 'auth.invalid_token', message: 'pgwarden: token signature is invalid' },
    { name: 'signed by another key under a known kid', token: () => sign(keyB, ISS, {}, { kid: keyA.kid }), code: 'auth.invalid_token', message: 'pgwarden: token signature is invalid' },
    { name: 'not valid yet (nbf)', token: () => sign(keyA, ISS, { nbf: now() + 600 }), code: 'auth.invalid_token', message: /^pgwarden: token is not valid yet/ },
    { name: 'with a kid the issuer does not publish', token: () => sign(keyB, ISS), code: 'auth.invalid_token', message: /^pgwarden: no signing key of the token's issuer matches its kid/ },
    { name: 'without any subject claim', token: () => sign(keyA, ISS, { sub: undefined }), code: 'auth.invalid_token', message: /^pgwarden: token has no subject claim the gateway accepts$/ },
    { name: 'that is not a JWT', token: () => 'hunter2-not-a-token', code: 'auth.invalid_token', message: 'pgwarden: token is not a well-formed JWT' },
    { name: 'with a header that is not JSON', token: async () => `bm90IGpzb24.${(await sign(keyA, ISS)).split('.').slice(1).join('.')}`, code: 'auth.invalid_token', message: 'pgwarden: token is not a well-formed JWT' },
    { name: 'that is an empty string', token: () => '', code: 'auth.invalid_token', message: 'pgwarden: token is not a well-formed JWT' },
  ];

  const { logger, lines } = capturingLogger();
  let verifier: ReturnType<typeof createTokenVerifier>;
  before(() => {
    verifier = createTokenVerifier(identityConfig([baseIssuer({ algorithms: ['RS256'] })], { jwks_cooldown: '1h' }), { logger, revocations: new RevocationList() });
  });

  for (const c of cases) {
    it(`refuses a token ${c.name}`, async () => {
      const token = await c.token();
      const err = await refusal(verifier.verify(token));
      assert.equal(err.code, c.code, err.message);
      if (typeof c.message === 'string') assert.equal(err.message, c.message);
      else assert.match(err.message, c.message);
      assert.ok(err.hint, 'a hint for the client');
      assertNoEcho(token, [err.message, err.detail, err.hint, ...lines]);
    });
  }

  it('logged every refusal without the token', () => {
    const refusals = lines.filter((l) => l.includes('token refused'));
    assert.equal(refusals.length, cases.length, 'one log line per refusal');
    assert.ok(refusals.every((l) => /"code":"auth\./.test(l)), 'each names its code');
  });
});

describe('clock tolerance', () => {
  const make = (tolerance: string) =>
    createTokenVerifier(identityConfig([baseIssuer({ clock_tolerance: tolerance })]), { logger: pino({ level: 'silent' }), revocations: new RevocationList() });

  it('accepts a token expired, or not yet valid, within the tolerance', async () => {
    const v = make('30s');
    assert.equal((await v.verify(await sign(keyA, ISS, { exp: now() - 10 }))).subject, 'agent-1');
    assert.equal((await v.verify(await sign(keyA, ISS, { nbf: now() + 10 }))).subject, 'agent-1');
  });

  it('refuses the same tokens without a tolerance', async () => {
    const v = make('0s');
    assert.equal((await refusal(v.verify(await sign(keyA, ISS, { exp: now() - 10 })))).code, 'auth.expired');
    assert.match((await refusal(v.verify(await sign(keyA, ISS, { nbf: now() + 10 })))).message, /not valid yet/);
  });
});

describe('claims', () => {
  const silent = { logger: pino({ level: 'silent' }), revocations: new RevocationList() };

  it('reads nested groups (realm_access.roles), namespaced claims with dots, and a single string', async () => {
    const nested = createTokenVerifier(identityConfig([baseIssuer({ groups_claim: 'realm_access.roles' })]), silent);
    const id = await nested.verify(await sign(keyA, ISS, { groups: undefined, realm_access: { roles: ['dba', 'offline_access', 7] } }));
    assert.deepEqual(id.groups, ['dba', 'offline_access']);

    const namespaced = createTokenVerifier(identityConfig([baseIssuer({ groups_claim: 'https://pgwarden.dev/groups' })]), silent);
    assert.deepEqual((await namespaced.verify(await sign(keyA, ISS, { 'https://pgwarden.dev/groups': 'ops' }))).groups, ['ops']);

    const plain = createTokenVerifier(identityConfig([baseIssuer()]), silent);
    assert.deepEqual((await plain.verify(await sign(keyA, ISS, { groups: 'mcp support' }))).groups, ['mcp support']);
    assert.deepEqual((await plain.verify(await sign(keyA, ISS, { groups: undefined }))).groups, []);

    const scope = createTokenVerifier(identityConfig([baseIssuer({ groups_claim: 'scope' })]), silent);
    assert.deepEqual((await scope.verify(await sign(keyA, ISS, { scope: 'db:read  db:write' }))).groups, ['db:read', 'db:write']);
  });

  it('takes the subject from the first configured claim present (client_id when there is no sub)', async () => {
    const v = createTokenVerifier(identityConfig([baseIssuer({ subject_claims: ['client_id', 'sub'] })]), silent);
    assert.equal((await v.verify(await sign(keyA, ISS, { sub: undefined, client_id: 'nightly-job' }))).subject, 'nightly-job');
    assert.equal((await v.verify(await sign(keyA, ISS, { sub: 'user-9', client_id: 'svc' }))).subject, 'svc');
    assert.equal((await v.verify(await sign(keyA, ISS, { client_id: '' }))).subject, 'sub:agent-1', 'an empty claim is skipped; a later claim names itself');
    const defaults = createTokenVerifier(identityConfig([baseIssuer()]), silent);
    assert.equal((await defaults.verify(await sign(keyA, ISS, { sub: undefined, client_id: 'from-default-list' }))).subject, 'client_id:from-default-list');
    // A client named like a human's sub is not that human.
    const human = await defaults.verify(await sign(keyA, ISS, { sub: 'analyst' }));
    const client = await defaults.verify(await sign(keyA, ISS, { sub: undefined, client_id: 'analyst' }));
    const azp = await defaults.verify(await sign(keyA, ISS, { sub: undefined, azp: 'analyst' }));
    assert.deepEqual([human.subject, client.subject, azp.subject], ['analyst', 'client_id:analyst', 'azp:analyst']);
    const err = await refusal(v.verify(await sign(keyA, ISS, { sub: 42 })));
    assert.equal(err.message, 'pgwarden: token has no subject claim the gateway accepts');
    assert.equal(err.logDetail, 'issuer corp takes the subject from client_id, sub', 'the log says which claims');
  });
});

describe('keys', () => {
  it('refetches on an unknown kid after the cooldown, and the rotated key verifies', async () => {
    const rot = await startJsonServer({ '/keys': { keys: [keyA.jwk] } });
    try {
      const iss = `${rot.url}/rotating`;
      const v = createTokenVerifier(identityConfig([{ issuer: iss, audience: 'pgwarden', jwks_uri: `${rot.url}/keys` }], { jwks_cooldown: 0 }), {
        logger: pino({ level: 'silent' }),
        revocations: new RevocationList(),
      });
      await v.verify(await sign(keyA, iss));
      assert.equal(rot.hits('/keys'), 1);
      rot.set('/keys', { keys: [keyB.jwk] });
      assert.equal((await v.verify(await sign(keyB, iss, { sub: 'rotated' }))).subject, 'rotated');
      assert.equal(rot.hits('/keys'), 2, 'one refetch for the new kid');
      await v.verify(await sign(keyB, iss));
      assert.equal(rot.hits('/keys'), 2, 'the new key is cached');
      // The retired key is gone from the set: its tokens no longer verify.
      assert.match((await refusal(v.verify(await sign(keyA, iss)))).message, /no signing key of the token's issuer matches its kid/);
    } finally {
      await rot.stop();
    }
  });

  it('does not refetch for unknown kids within the cooldown', async () => {
    const srv = await startJsonServer({ '/keys': { keys: [keyA.jwk] } });
    try {
      const iss = `${srv.url}/cool`;
      const v = createTokenVerifier(identityConfig([{ issuer: iss, audience: 'pgwarden', jwks_uri: `${srv.url}/keys` }], { jwks_cooldown: '1h' }), {
        logger: pino({ level: 'silent' }),
        revocations: new RevocationList(),
      });
      await v.verify(await sign(keyA, iss));
      for (let i = 0; i < 5; i++) await refusal(v.verify(await sign(keyB, iss)));
      assert.equal(srv.hits('/keys'), 1);
    } finally {
      await srv.stop();
    }
  });

  it('tries each key when the token has no kid and several keys could match', async () => {
    const srv = await startJsonServer({ '/keys': { keys: [keyA.jwk, keyB.jwk].map(({ kid: _kid, ...k }) => k) } });
    try {
      const iss = `${srv.url}/nokid`;
      const v = createTokenVerifier(identityConfig([{ issuer: iss, audience: 'pgwarden', jwks_uri: `${srv.url}/keys` }]), {
        logger: pino({ level: 'silent' }),
        revocations: new RevocationList(),
      });
      const noKid = (key: TestKey) => new SignJWT({ iss, sub: 'no-kid', aud: 'pgwarden', exp: now() + 60 }).setProtectedHeader({ alg: 'RS256' }).sign(key.privateKey);
      assert.equal((await v.verify(await noKid(keyB))).subject, 'no-kid');
      const stranger = await makeKey();
      assert.equal((await refusal(v.verify(await noKid(stranger)))).message, 'pgwarden: token signature is invalid');
    } finally {
      await srv.stop();
    }
  });

  it('keeps verifying known kids while the JWKS endpoint is down', async () => {
    const srv = await startJsonServer({ '/keys': { keys: [keyA.jwk] } });
    const iss = `${srv.url}/down`;
    const v = createTokenVerifier(identityConfig([{ issuer: iss, audience: 'pgwarden', jwks_uri: `${srv.url}/keys` }]), {
      logger: pino({ level: 'silent' }),
      revocations: new RevocationList(),
    });
    await v.verify(await sign(keyA, iss));
    await srv.stop();
    assert.equal((await v.verify(await sign(keyA, iss, { sub: 'during-outage' }))).subject, 'during-outage');
  });

  it('falls back to the cached keys when they are due for a refetch and the endpoint is down', async () => {
    const srv = await startJsonServer({ '/keys': { keys: [keyA.jwk] } });
    const iss = `${srv.url}/stale`;
    const { logger, lines } = capturingLogger();
    // A maximum age of 0 makes every verification refetch first, so each one meets the outage.
    const v = createTokenVerifier(identityConfig([{ issuer: iss, audience: 'pgwarden', jwks_uri: `${srv.url}/keys` }], { jwks_cooldown: '1h' }), {
      logger,
      revocations: new RevocationList(),
      jwksMaxAge: 0,
    });
    await v.verify(await sign(keyA, iss));
    await v.verify(await sign(keyA, iss));
    assert.equal(srv.hits('/keys'), 2, 'refetched while up');
    await srv.stop();
    for (let i = 0; i < 3; i++) assert.equal((await v.verify(await sign(keyA, iss, { sub: `stale-${i}` }))).subject, `stale-${i}`);
    assert.equal(lines.filter((l) => l.includes('could not fetch the JWKS')).length, 1, 'the outage is logged once');
    const err = await refusal(v.verify(await sign(keyB, iss)));
    assert.equal(err.code, 'auth.idp_unavailable');
    assert.match(err.message, /unreachable and none of its cached keys matches/);
  });

  it('falls back to the cached keys when the endpoint answers with an error status', async () => {
    const srv = await startJsonServer({ '/keys': { keys: [keyA.jwk] } });
    try {
      const iss = `${srv.url}/status`;
      const v = createTokenVerifier(identityConfig([{ issuer: iss, audience: 'pgwarden', jwks_uri: `${srv.url}/keys` }]), {
        logger: pino({ level: 'silent' }),
        revocations: new RevocationList(),
        jwksMaxAge: 0,
      });
      await v.verify(await sign(keyA, iss));
      srv.set('/keys', 503);
      assert.equal((await v.verify(await sign(keyA, iss))).subject, 'agent-1');
    } finally {
      await srv.stop();
    }
  });

  it('refuses with idp_unavailable, naming the issuer, when keys were never fetched', async () => {
    const port = await freePort();
    const silent = { logger: pino({ level: 'silent' }), revocations: new RevocationList() };
    const viaJwks = createTokenVerifier(identityConfig([{ issuer: 'https://idp.down.example', name: 'down-idp', audience: 'pgwarden', jwks_uri: `http://127.0.0.1:${port}/keys` }]), silent);
    const token = await sign(keyA, 'https://idp.down.example');
    const a = await refusal(viaJwks.verify(token));
    assert.equal(a.code, 'auth.idp_unavailable');
    assert.equal(a.message, 'pgwarden: the keys of issuer down-idp could not be fetched');
    assertNoEcho(token, [a.message]);
    // Within the cooldown the failure is remembered; the refusal still says the IdP is the cause.
    assert.equal((await refusal(viaJwks.verify(token))).code, 'auth.idp_unavailable');

    const downIss = `http://127.0.0.1:${port}/realms/x`;
    const viaDiscovery = createTokenVerifier(identityConfig([{ issuer: downIss, audience: 'pgwarden' }]), silent);
    const b = await refusal(viaDiscovery.verify(await sign(keyA, downIss)));
    assert.equal(b.code, 'auth.idp_unavailable');
    assert.equal(b.message, `pgwarden: the discovery document of issuer ${downIss} could not be fetched`);
  });
});

describe('a down issuer', () => {
  /** A fetch that counts requests per URL path and passes them on. */
  function countingFetch() {
    const counts = new Map<string, number>();
    const f: typeof fetch = (input, init) => {
      const path = new URL(input instanceof Request ? input.url : String(input)).pathname;
      counts.set(path, (counts.get(path) ?? 0) + 1);
      return fetch(input, init);
    };
    return { fetch: f, count: (path: string) => counts.get(path) ?? 0 };
  }

  it('is asked for its discovery document once per cooldown, not once per token', async () => {
    const idp = await startJsonServer();
    try {
      const iss = `${idp.url}/realms/down`;
      const discovery = '/realms/down/.well-known/openid-configuration';
      idp.set(discovery, 503);
      const v = createTokenVerifier(identityConfig([{ issuer: iss, audience: 'pgwarden', name: 'down' }], { jwks_cooldown: '400ms' }), {
        logger: pino({ level: 'silent' }),
        revocations: new RevocationList(),
      });
      const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => sign(keyA, iss, { sub: `agent-${i}` })));
      for (const t of tokens) assert.equal((await refusal(v.verify(t))).code, 'auth.idp_unavailable');
      const concurrent = await Promise.all(tokens.map((t) => refusal(v.verify(t))));
      assert.ok(concurrent.every((e) => e.code === 'auth.idp_unavailable'));
      assert.equal(idp.hits(discovery), 1, 'forty refused tokens, one request');

      // The IdP comes back: within the cooldown nothing is asked; after it, the next token is.
      idp.set(discovery, { issuer: iss, jwks_uri: `${idp.url}/keys-down` });
      idp.set('/keys-down', { keys: [keyA.jwk] });
      assert.equal((await refusal(v.verify(tokens[1]))).code, 'auth.idp_unavailable');
      assert.equal(idp.hits(discovery), 1);
      await new Promise((r) => setTimeout(r, 450));
      assert.equal((await v.verify(tokens[2])).subject, 'agent-2');
      assert.equal(idp.hits(discovery), 2);
    } finally {
      await idp.stop();
    }
  });

  it('is asked for its keys once per cooldown while none were ever fetched', async () => {
    const port = await freePort();
    const counter = countingFetch();
    const v = createTokenVerifier(identityConfig([{ issuer: 'https://idp.down.example', audience: 'pgwarden', jwks_uri: `http://127.0.0.1:${port}/keys` }], { jwks_cooldown: '10s' }), {
      logger: pino({ level: 'silent' }),
      revocations: new RevocationList(),
      fetch: counter.fetch,
    });
    const token = await sign(keyA, 'https://idp.down.example');
    for (let i = 0; i < 10; i++) assert.equal((await refusal(v.verify(token))).code, 'auth.idp_unavailable');
    await Promise.all(Array.from({ length: 10 }, () => refusal(v.verify(token))));
    assert.equal(counter.count('/keys'), 1);
  });
});

describe('discovery', () => {
  let idp: JsonServer;
  before(async () => {
    idp = await startJsonServer({ '/oidc/certs': { keys: [keyA.jwk] } });
  });
  after(async () => {
    await idp.stop();
  });

  it('finds the JWKS through the discovery document, fetched once', async () => {
    const iss = `${idp.url}/oidc`;
    idp.set('/oidc/.well-known/openid-configuration', { issuer: iss, jwks_uri: `${idp.url}/oidc/certs` });
    const v = createTokenVerifier(identityConfig([{ issuer: iss, audience: 'pgwarden' }]), { logger: pino({ level: 'silent' }), revocations: new RevocationList() });
    const results = await Promise.all([1, 2, 3].map(async (i) => v.verify(await sign(keyA, iss, { sub: `d-${i}` }))));
    assert.deepEqual(results.map((r) => r.subject), ['d-1', 'd-2', 'd-3']);
    await v.verify(await sign(keyA, iss));
    assert.equal(idp.hits('/oidc/.well-known/openid-configuration'), 1);
    assert.equal(idp.hits('/oidc/certs'), 1);
  });

  it('refuses keys from a discovery document that names another issuer', async () => {
    const iss = `${idp.url}/impostor`;
    idp.set('/impostor/.well-known/openid-configuration', { issuer: 'https://someone-else.example', jwks_uri: `${idp.url}/oidc/certs` });
    const v = createTokenVerifier(identityConfig([{ issuer: iss, audience: 'pgwarden', name: 'imp' }]), { logger: pino({ level: 'silent' }), revocations: new RevocationList() });
    const err = await refusal(v.verify(await sign(keyA, iss)));
    assert.equal(err.code, 'auth.idp_unavailable');
    assert.equal(err.message, 'pgwarden: the discovery document of issuer imp names a different issuer');
    assert.equal(idp.hits('/oidc/certs'), 1, 'the keys it names were not fetched');
  });
});

describe('several issuers', () => {
  let two: JsonServer;
  before(async () => {
    two = await startJsonServer({ '/jwks': { keys: [keyB.jwk] } });
  });
  after(async () => {
    await two.stop();
  });

  it('verifies each token against its own issuer only', async () => {
    const iss2 = `${two.url}/ci`;
    const v = createTokenVerifier(
      identityConfig([baseIssuer(), { issuer: iss2, audience: 'pgwarden-ci', jwks_uri: `${two.url}/jwks`, name: 'ci', subject_claims: ['repository'] }]),
      { logger: pino({ level: 'silent' }), revocations: new RevocationList() },
    );
    const one = await v.verify(await sign(keyA, ISS));
    assert.deepEqual([one.issuerName, one.subject], ['corp', 'agent-1']);
    const ci = await v.verify(await sign(keyB, iss2, { aud: 'pgwarden-ci', repository: 'org/repo' }));
    assert.deepEqual([ci.issuer, ci.issuerName, ci.subject], [iss2, 'ci', 'org/repo']);
    // Issuer B's key does not speak for issuer A, nor A's audience for B.
    assert.match((await refusal(v.verify(await sign(keyB, ISS)))).message, /no signing key of the token's issuer matches/);
    const wrongAudience = await refusal(v.verify(await sign(keyB, iss2)));
    assert.equal(wrongAudience.message, 'pgwarden: token audience "pgwarden" is not accepted', 'the client is not told the expected audience');
    assert.equal(wrongAudience.logDetail, 'issuer ci expects audience "pgwarden-ci"', 'the log is');
  });

  it('refuses a configuration listing one issuer twice', () => {
    assert.throws(
      () => createTokenVerifier(identityConfig([baseIssuer(), baseIssuer({ name: 'again' })]), { logger: pino({ level: 'silent' }), revocations: new RevocationList() }),
      /listed more than once/,
    );
  });
});

describe('revocation', () => {
  it('refuses a revoked subject after its token verifies, by any issuer or by issuer name or URL', async () => {
    const revocations = new RevocationList();
    const v = createTokenVerifier(identityConfig([baseIssuer()]), { logger: pino({ level: 'silent' }), revocations });
    const token = await sign(keyA, ISS, { sub: 'rogue-agent' });
    assert.equal((await v.verify(token)).subject, 'rogue-agent');

    revocations.revoke('rogue-agent');
    const err = await refusal(v.verify(token));
    assert.equal(err.code, 'auth.revoked');
    assert.equal(err.message, 'pgwarden: access for rogue-agent has been revoked');
    assertNoEcho(token, [err.message]);
    assert.equal((await v.verify(await sign(keyA, ISS, { sub: 'other-agent' }))).subject, 'other-agent');
    revocations.unrevoke('rogue-agent');
    await v.verify(token);

    revocations.revoke('rogue-agent', 'corp');
    assert.equal((await refusal(v.verify(token))).code, 'auth.revoked');
    revocations.unrevoke('rogue-agent', 'corp');
    revocations.revoke('rogue-agent', ISS);
    assert.equal((await refusal(v.verify(token))).code, 'auth.revoked');
    revocations.unrevoke('rogue-agent', ISS);
    revocations.revoke('rogue-agent', 'some-other-issuer');
    assert.equal((await v.verify(token)).subject, 'rogue-agent', 'a revocation for another issuer does not apply');
  });
});

describe('update (configuration reload)', () => {
  it('swaps the issuers and keeps the cached keys of unchanged ones', async () => {
    const srv = await startJsonServer({ '/keys': { keys: [keyA.jwk] }, '/b': { keys: [keyB.jwk] } });
    try {
      const iss = `${srv.url}/reload`;
      const issB = `${srv.url}/second`;
      const first = { issuer: iss, audience: 'pgwarden', jwks_uri: `${srv.url}/keys` };
      const v = createTokenVerifier(identityConfig([first]), { logger: pino({ level: 'silent' }), revocations: new RevocationList() });
      await v.verify(await sign(keyA, iss));
      assert.equal((await refusal(v.verify(await sign(keyB, issB)))).code, 'auth.unknown_issuer');

      v.update(identityConfig([{ ...first, audience: 'pgwarden-v2', name: 'renamed' }, { issuer: issB, audience: 'pgwarden', jwks_uri: `${srv.url}/b` }]));
      const id = await v.verify(await sign(keyA, iss, { aud: 'pgwarden-v2' }));
      assert.equal(id.issuerName, 'renamed');
      assert.equal(srv.hits('/keys'), 1, 'keys of the unchanged issuer were kept');
      assert.match((await refusal(v.verify(await sign(keyA, iss)))).message, /audience "pgwarden" is not accepted/);
      assert.equal((await v.verify(await sign(keyB, issB))).issuer, issB);

      v.update(identityConfig([{ issuer: issB, audience: 'pgwarden', jwks_uri: `${srv.url}/b` }]));
      assert.equal((await refusal(v.verify(await sign(keyA, iss, { aud: 'pgwarden-v2' })))).code, 'auth.unknown_issuer');

      v.update(identityConfig([{ ...first, jwks_uri: `${srv.url}/b` }]));
      assert.equal((await v.verify(await sign(keyB, iss))).issuer, iss, 'a changed jwks_uri is fetched anew');
    } finally {
      await srv.stop();
    }
  });
});

describe('verified tokens are remembered', () => {
  const quiet = () => pino({ level: 'silent' });

  it('a token that verified is not verified again, but the revocation list is read every time', async () => {
    const revocations = new RevocationList();
    const seen: string[] = [];
    const verifier = createTokenVerifier(identityConfig([baseIssuer()]), { logger: quiet(), revocations, observe: { verified: (_i, r) => seen.push(r), keysFetched: () => {} } });
    // Keys fetched while a token verifies leave it unremembered (it may have verified against the
    // set before the fetch): warm the keys first.
    await verifier.verify(await sign(keyA, ISS, { sub: 'warm' }));
    seen.length = 0;
    const token = await sign(keyA, ISS, { sub: 'cached-1' });
    const first = await verifier.verify(token);
    // The same identity object: nothing was decoded or checked again.
    assert.equal(await verifier.verify(token), first);
    assert.deepEqual(seen, ['ok', 'ok']);
    revocations.revoke('cached-1');
    const e = await refusal(verifier.verify(token));
    assert.equal(e.code, 'auth.revoked');
    revocations.unrevoke('cached-1');
    assert.equal((await verifier.verify(token)).subject, 'cached-1');
  });

  it('the surface audience is checked on every call', async () => {
    const verifier = createTokenVerifier(identityConfig([baseIssuer()]), { logger: quiet(), revocations: new RevocationList() });
    const token = await sign(keyA, ISS, { sub: 'cached-2', aud: 'pgwarden' });
    await verifier.verify(token);
    const e = await refusal(verifier.verify(token, { accept: ['pgwarden-admin'] }));
    assert.equal(e.code, 'auth.invalid_token');
    assert.match(e.message, /audience/);
    assert.equal(await verifier.verify(token, { exclude: ['https://gw.example.com/mcp'] }).then((i) => i.subject), 'cached-2');
    const excluded = await refusal(verifier.verify(token, { exclude: ['pgwarden'] }));
    assert.equal(excluded.code, 'auth.invalid_token');
  });

  it('a remembered token stops at its expiry', async () => {
    const verifier = createTokenVerifier(identityConfig([baseIssuer({ clock_tolerance: 0 })]), { logger: quiet(), revocations: new RevocationList() });
    const token = await sign(keyA, ISS, { sub: 'cached-3', exp: now() + 1 });
    await verifier.verify(token);
    await new Promise((r) => setTimeout(r, 2100));
    const e = await refusal(verifier.verify(token));
    assert.equal(e.code, 'auth.expired');
  });

  it('a reload of the issuers forgets every remembered token', async () => {
    const verifier = createTokenVerifier(identityConfig([baseIssuer()]), { logger: quiet(), revocations: new RevocationList() });
    const token = await sign(keyA, ISS, { sub: 'cached-4' });
    await verifier.verify(token);
    verifier.update(identityConfig([baseIssuer({ audience: 'another-audience' })]));
    const e = await refusal(verifier.verify(token));
    assert.equal(e.code, 'auth.invalid_token');
    verifier.update(identityConfig([{ issuer: 'https://other.example', audience: 'pgwarden', jwks_uri: `${server.url}/keys` }]));
    assert.equal((await refusal(verifier.verify(token))).code, 'auth.unknown_issuer');
  });

  it('a changed token is verified in full: one altered byte is refused', async () => {
    const verifier = createTokenVerifier(identityConfig([baseIssuer()]), { logger: quiet(), revocations: new RevocationList() });
    const token = await sign(keyA, ISS, { sub: 'cached-5' });
    await verifier.verify(token);
    const [h, p, sig] = token.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const forged = `${h}.${base64url.encode(JSON.stringify({ ...claims, sub: 'admin' }))}.${sig}`;
    const e = await refusal(verifier.verify(forged));
    assert.equal(e.code, 'auth.invalid_token');
  });

  it('with cacheSize 0 every call verifies', async () => {
    const seen: string[] = [];
    const verifier = createTokenVerifier(identityConfig([baseIssuer()]), { logger: quiet(), revocations: new RevocationList(), cacheSize: 0, observe: { verified: (_i, r) => seen.push(r), keysFetched: () => {} } });
    const token = await sign(keyA, ISS, { sub: 'cached-6' });
    const a = await verifier.verify(token);
    const b = await verifier.verify(token);
    assert.notEqual(a, b);
    assert.deepEqual(a, b);
  });
});
