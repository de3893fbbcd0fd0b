/**
 * Tokens from a real OpenID Provider (oidc-provider, client credentials, JWT access tokens)
 * verify through the gateway's verifier with discovery and JWKS fetched over HTTP: the client is
 * the subject, its groups come from the token, and a token for another audience is refused.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { configSchema } from '../../src/config/schema.ts';
import { GatewayError } from '../../src/errors.ts';
import { RevocationList, createTokenVerifier, type ReloadableTokenVerifier } from '../../src/identity/index.ts';
import { startOidcProvider, type TestOidcProvider } from '../helpers/oidc.ts';

let idp: TestOidcProvider;
let verifier: ReloadableTokenVerifier;
const revocations = new RevocationList();

before(async () => {
  idp = await startOidcProvider({
    audience: 'pgwarden',
    clients: [
      { clientId: 'support-agent', clientSecret: 's3cret-support', groups: ['mcp-support'] },
      { clientId: 'nightly-job', clientSecret: 's3cret-nightly', groups: ['jobs', 'readers'] },
    ],
  });
  const config = configSchema.shape.identity.parse({ issuers: [{ issuer: idp.issuer, audience: 'pgwarden', name: 'test-idp' }] });
  verifier = createTokenVerifier(config, { logger: pino({ level: 'silent' }), revocations });
});
after(async () => {
  await idp?.stop();
});

describe('tokens from a real OpenID Provider', () => {
  it('verify, with the client as subject and its groups', async () => {
    const support = await verifier.verify(await idp.token('support-agent'));
    assert.equal(support.issuer, idp.issuer);
    assert.equal(support.issuerName, 'test-idp');
    assert.equal(support.subject, 'support-agent');
    assert.equal(support.claims.client_id, 'support-agent');
    assert.deepEqual(support.groups, ['mcp-support']);
    assert.ok(support.expiresAt > Date.now(), 'expiry in the future');
    assert.equal(typeof support.tokenId, 'string');

    const job = await verifier.verify(await idp.token('nightly-job'));
    assert.equal(job.subject, 'nightly-job');
    assert.deepEqual(job.groups, ['jobs', 'readers']);
  });

  it('take the subject from client_id when configured first', async () => {
    const config = configSchema.shape.identity.parse({ issuers: [{ issuer: idp.issuer, audience: 'pgwarden', subject_claims: ['client_id'] }] });
    const v = createTokenVerifier(config, { logger: pino({ level: 'silent' }), revocations: new RevocationList() });
    assert.equal((await v.verify(await idp.token('nightly-job'))).subject, 'nightly-job');
  });

  it('are refused when issued for another audience, without echoing the token', async () => {
    const token = await idp.token('support-agent', { audience: 'billing-api' });
    await assert.rejects(verifier.verify(token), (err: unknown) => {
      assert.ok(err instanceof GatewayError, 'a GatewayError');
      assert.equal(err.code, 'auth.invalid_token');
      assert.equal(err.message, 'pgwarden: token audience "billing-api" is not accepted');
      assert.ok(!err.message.includes(token), 'no token in the message');
      return true;
    });
  });

  it('are refused once their subject is revoked', async () => {
    const token = await idp.token('nightly-job');
    revocations.revoke('nightly-job', 'test-idp');
    try {
      await assert.rejects(verifier.verify(token), { code: 'auth.revoked', message: 'pgwarden: access for nightly-job has been revoked' });
    } finally {
      revocations.unrevoke('nightly-job', 'test-idp');
    }
    assert.equal((await verifier.verify(token)).subject, 'nightly-job');
  });
});
