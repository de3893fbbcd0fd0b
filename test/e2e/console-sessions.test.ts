/**
 * Console sessions can be ended. Humans sign in through a real headless Chromium at an in-process
 * OpenID Provider; then the attack: the session cookie, saved before a logout or a revocation, is
 * replayed with plain HTTP requests and must open nothing (no page, no state change). The
 * sessions are kept in the gateway's SQLite store, and revocation by the issuer's configured name
 * reaches console humans as it reaches tokens.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { CHROMIUM, newBrowserContext, signIn } from '../helpers/browser.ts';
import { startOidcProvider, type TestOidcProvider } from '../helpers/oidc.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { freePort } from '../helpers/postgres.ts';

const CLIENT_ID = 'pgwarden-console';
const CLIENT_SECRET = 'console-client-secret';
const SESSION_SECRET = 'test-console-session-secret-0123456789abcdef';

let idp: TestOidcProvider;
let t: TestGateway;
let base: string;
let dataDir: string;
let carolCookie = '';

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
  dataDir = await mkdtemp(join(tmpdir(), 'pgwarden-console-sessions-'));
  const httpPort = await freePort();
  base = `http://127.0.0.1:${httpPort}`;
  idp = await startOidcProvider({
    webClients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [`${base}/console/callback`] }],
    humans: {
      alice: { groups: ['auditors'], name: 'Alice Auditor' },
      bob: { groups: ['auditors'], name: 'Bob Auditor' },
      carol: { groups: ['auditors'], name: 'Carol Auditor' },
    },
  });
  t = await startTestGateway({
    config: (raw) => {
      raw.listen.http = `127.0.0.1:${httpPort}`;
      raw.audit = { store: `sqlite:${join(dataDir, 'audit.db')}`, group_commit_ms: 0 };
      // The humans' issuer is also a configured issuer, with a short name revocations may use.
      const agents = raw.identity.issuers[0].issuer;
      raw.identity.issuers.push({ issuer: idp.issuer, audience: 'unused-by-the-console', name: 'staff-idp' });
      raw.admin = { groups: ['pgwarden-admins'], issuers: [agents] };
      raw.console = { issuer: idp.issuer, client_id: CLIENT_ID, client_secret: CLIENT_SECRET, roles: { auditor: ['auditors'] }, session_secret: SESSION_SECRET };
    },
  });
});

after(async () => {
  await t?.stop();
  await idp?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** Sign `login` in with a fresh browser; the cookie's value and expiry, and the browser (to log out). */
async function signedIn(login: string): Promise<{ cookie: string; expires: number; context: BrowserContext }> {
  const context = await newBrowserContext(dataDir);
  const page = await context.newPage();
  await page.goto(`${base}/console/sessions`);
  await signIn(page, login);
  await page.waitForURL(`${base}/console/sessions`);
  await page.close();
  const cookie = (await context.cookies(`${base}/console/`)).find((c) => c.name === 'pgwarden_console');
  assert.ok(cookie, 'a session cookie is set');
  return { cookie: cookie.value, expires: cookie.expires, context };
}

/** A plain HTTP request carrying a saved cookie, as an attacker holding a copy would send it. */
function withCookie(cookie: string, path = '/console/sessions', init: RequestInit = {}): Promise<Response> {
  return fetch(`${base}${path}`, { ...init, headers: { ...(init.headers as Record<string, string>), cookie: `pgwarden_console=${cookie}` }, redirect: 'manual' });
}

async function opensConsole(cookie: string): Promise<boolean> {
  const res = await withCookie(cookie);
  const body = await res.text();
  if (res.status === 200) {
    assert.match(body, /<h1>Sessions<\/h1>/);
    return true;
  }
  assert.equal(res.status, 303, 'a refused cookie is sent to sign in');
  assert.match(res.headers.get('location') ?? '', /^\/console\/login\?/);
  assert.doesNotMatch(body, /Sessions<\/h1>/, 'nothing of the page is sent');
  return false;
}

async function admin(method: 'POST' | 'DELETE', body: Record<string, string>): Promise<void> {
  const token = await t.issuer.sign({ sub: 'root', groups: ['pgwarden-admins'] });
  const res = await fetch(`http://127.0.0.1:${t.gw.http.port}/admin/revocations`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.ok(res.ok, `admin ${method} /admin/revocations: HTTP ${res.status} ${await res.text()}`);
}

describe('console sessions end on the server', () => {
  it('a cookie saved before logout opens nothing afterwards', async () => {
    const { cookie, expires, context } = await signedIn('alice');
    const left = expires - Date.now() / 1000;
    assert.ok(left > 3500 && left <= 3600, `a sign-in lasts an hour by default (${Math.round(left)} s)`);
    try {
      assert.equal(await opensConsole(cookie), true, 'before logout the saved cookie opens the console');
      const page = await context.newPage();
      await page.goto(`${base}/console/sessions`);
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.waitForURL(/\/console\/login\?signed_out=1$/);
      await page.close();
    } finally {
      await context.close();
    }
    assert.equal(await opensConsole(cookie), false, 'the saved cookie is refused after logout');
    for (const path of ['/console', '/console/sessions?identity=report-job', '/console/sessions/some-id/replay']) {
      const res = await withCookie(cookie, path);
      assert.equal(res.status, 303, `${path} is refused too`);
    }
    const post = await withCookie(cookie, '/console/logout', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'csrf=x' });
    assert.equal(post.status, 303, 'a POST with it is treated as signed out');
    assert.equal(await opensConsole(cookie), false);
  });

  it('revoking the human by the issuer name ends the session, and lifting it does not bring the cookie back', async () => {
    const bob = await signedIn('bob');
    const carol = await signedIn('carol');
    await bob.context.close();
    await carol.context.close();
    carolCookie = carol.cookie;
    assert.equal(await opensConsole(bob.cookie), true);
    await admin('POST', { subject: 'bob', issuer: 'staff-idp' });
    assert.equal(await opensConsole(bob.cookie), false, "bob's saved cookie is refused after the revocation");
    assert.equal(await opensConsole(carol.cookie), true, 'another human of the same issuer is not affected');
    // While revoked, signing in again is refused at the callback (the revocation names the issuer by name).
    const blocked = await newBrowserContext(dataDir);
    try {
      const page = await blocked.newPage();
      await page.goto(`${base}/console/sessions`);
      const callback = page.waitForResponse((r) => r.url().startsWith(`${base}/console/callback`));
      await signIn(page, 'bob');
      assert.equal((await callback).status(), 403, 'a revoked human cannot sign in');
      assert.equal(await page.locator('h1').textContent(), 'Access revoked');
      assert.equal((await blocked.cookies(`${base}/console/`)).filter((c) => c.name === 'pgwarden_console').length, 0, 'no session cookie');
    } finally {
      await blocked.close();
    }
    await admin('DELETE', { subject: 'bob', issuer: 'staff-idp' });
    assert.equal(await opensConsole(bob.cookie), false, 'the revoked session stays ended when the revocation is lifted');
    const again = await signedIn('bob');
    await again.context.close();
    assert.equal(await opensConsole(again.cookie), true, 'bob can sign in anew after the revocation is lifted');
  });

  it('revoking by the issuer URL, or without an issuer, ends the session too', async () => {
    for (const issuer of [idp.issuer, undefined]) {
      const s = await signedIn('alice');
      await s.context.close();
      assert.equal(await opensConsole(s.cookie), true);
      await admin('POST', issuer === undefined ? { subject: 'alice' } : { subject: 'alice', issuer });
      assert.equal(await opensConsole(s.cookie), false, `revoked ${issuer === undefined ? 'from every issuer' : 'by URL'}: refused`);
      await admin('DELETE', issuer === undefined ? { subject: 'alice' } : { subject: 'alice', issuer });
    }
  });

  it('a revocation of the same subject at another issuer does not end the session', async () => {
    await admin('POST', { subject: 'carol', issuer: t.issuer.issuer });
    assert.equal(await opensConsole(carolCookie), true, 'carol of the agents issuer is not carol of the staff IdP');
    await admin('DELETE', { subject: 'carol', issuer: t.issuer.issuer });
  });
});
