/**
 * The whole login path with a real OpenID Provider: an agent gets a client-credentials access
 * token from oidc-provider's token endpoint, psql and pg connect to the gateway with it as the
 * password, and the gateway verifies it through discovery and JWKS over HTTP. A second issuer
 * (tokens signed in the test) is trusted at the same time.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startOidcProvider, type TestOidcProvider } from '../helpers/oidc.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { psql } from '../helpers/clients.ts';

let idp: TestOidcProvider;
let t: TestGateway;

before(async () => {
  idp = await startOidcProvider();
  t = await startTestGateway({
    config: (raw) => {
      raw.identity.issuers.push({ issuer: idp.issuer, audience: 'pgwarden', name: 'agents-idp', subject_claims: ['sub', 'client_id'] });
    },
  });
});
after(async () => {
  await t?.stop();
  await idp?.stop();
});

describe('login with a token from a real OpenID Provider', () => {
  it('psql connects with a client-credentials access token', async () => {
    const token = await idp.token('support-agent');
    const r = await psql(t.url(token), "select 'connected as ' || current_user");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'connected as gw_app');
    assert.match(t.logs.join(''), /"subject":"support-agent".*"issuer":"agents-idp"/);
  });

  it('both issuers are trusted at once', async () => {
    for (const token of [await idp.token('nightly-job'), await t.issuer.sign({ sub: 'k8s-job' })]) {
      const c = new pg.Client(t.client(token));
      await c.connect();
      assert.equal((await c.query('select 1 as n')).rows[0].n, 1);
      await c.end();
    }
  });

  it('a token for another audience is refused', async () => {
    const token = await idp.token('support-agent', { audience: 'some-other-api' });
    const c = new pg.Client(t.client(token));
    await assert.rejects(c.connect(), (e: any) => e.code === '28P01' && /audience/.test(e.message));
    await c.end().catch(() => {});
  });
});
