/**
 * The console in a real headless Chromium (Debian's `chromium`, driven by playwright-core) against
 * a gateway whose console signs humans in at an in-process OpenID Provider: the provider's login
 * and consent pages, the authorization code flow with PKCE, the signed session cookie, the audit
 * pages over a session scripted through pg (allowed and refused statements), replay with the
 * captured rows. Then what must not work: a human without a console role, a tampered cookie, a
 * logout without its CSRF token, the development login on a gateway without the dev issuer; and
 * on a second gateway with the dev issuer, the development login and its warning.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { BrowserContext, Page } from 'playwright-core';
import { CHROMIUM, newBrowserContext, signIn } from '../helpers/browser.ts';
import { startOidcProvider, type TestOidcProvider } from '../helpers/oidc.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { freePort } from '../helpers/postgres.ts';

const CLIENT_ID = 'pgwarden-console';
const CLIENT_SECRET = 'console-client-secret';
const ROLES = { auditor: ['auditors'], approver: ['approvers'], admin: ['pgwarden-admins'] };
const SESSION_SECRET = 'test-console-session-secret-0123456789abcdef';

let idp: TestOidcProvider;
let t: TestGateway;
let base: string;
let dataDir: string;
let context: BrowserContext;

/** A browser profile of its own, so no test sees another's cookies. */
function newContext(): Promise<BrowserContext> {
  return newBrowserContext(dataDir);
}

/** Reload `url` until `selector` is on the page: the audit log commits in batches, off the statement's path. */
async function gotoUntil(page: Page, url: string, selector: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await page.goto(url);
    if ((await page.locator(selector).count()) > 0) return;
    if (Date.now() > deadline) throw new Error(`${selector} did not appear on ${url}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (CI installs it through .ci/run)`);
  dataDir = await mkdtemp(join(tmpdir(), 'pgwarden-console-'));
  const httpPort = await freePort();
  base = `http://127.0.0.1:${httpPort}`;
  idp = await startOidcProvider({
    webClients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [`${base}/console/callback`] }],
    humans: { alice: { groups: ['auditors'], name: 'Alice Auditor' }, victor: { groups: ['staff'], name: 'Victor Visitor' } },
  });
  t = await startTestGateway({
    config: (raw) => {
      raw.listen.http = `127.0.0.1:${httpPort}`;
      raw.audit = { store: 'memory', capture_results: 'masked', capture_rows: 10, group_commit_ms: 0 };
      raw.policies = [{ name: 'report-jobs', match: { groups: ['reports'] }, allow: [{ tables: ['public.*'], operations: ['select'] }] }];
      raw.console = { issuer: idp.issuer, client_id: CLIENT_ID, client_secret: CLIENT_SECRET, roles: ROLES, session_secret: SESSION_SECRET };
    },
  });
  t.pg.psql("create table invoices (id int primary key, amount numeric); insert into invoices values (1, 10), (2, 25); alter table invoices owner to gw_app;", 'app');

  // The scripted session: allowed reads, a refused write, a refused DDL, one more read.
  const c = new pg.Client({ ...t.client(await t.issuer.sign({ sub: 'report-job', groups: ['reports'] })), application_name: 'nightly-report' });
  await c.connect();
  await c.query('select id, amount from invoices order by id');
  await assert.rejects(c.query('delete from invoices'), (e: any) => e.code === '42501');
  await assert.rejects(c.query('create table scratch (id int)'), (e: any) => e.code === '42501');
  await c.query("select 'done' as status");
  await c.end();
  context = await newContext();
});

after(async () => {
  await context?.close();
  await t?.stop();
  await idp?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('console: sign-in and audit pages', () => {
  it('signs an auditor in through the provider and lists the session', async () => {
    const page = await context.newPage();
    await page.goto(`${base}/console/sessions`);
    assert.match(page.url(), /\/console\/login\?next=/, 'an anonymous visit is sent to the sign-in page');
    await signIn(page, 'alice');
    await page.waitForURL(`${base}/console/sessions`);
    await gotoUntil(page, `${base}/console/sessions`, 'table.sessions td:has-text("report-job")');
    assert.equal(await page.locator('h1').textContent(), 'Sessions');
    assert.match((await page.locator('header.top .who').textContent()) ?? '', /Alice Auditor/, 'the header names who is signed in');
    const row = page.locator('table.sessions tbody tr', { hasText: 'report-job' });
    assert.match((await row.textContent()) ?? '', /nightly-report/, 'the row shows the application name');
    assert.equal((await row.locator('td.num').nth(1).textContent())?.trim(), '2', 'two statements of the session were refused');

    const cookies = await context.cookies(`${base}/console/`);
    const session = cookies.find((c) => c.name === 'pgwarden_console');
    assert.ok(session, 'a session cookie is set');
    assert.equal(session.httpOnly, true, 'the session cookie is HttpOnly');
    assert.equal(session.sameSite, 'Lax', 'the session cookie is SameSite=Lax');
    assert.equal(session.path, '/console', 'the session cookie is for the console only');
    await page.close();
  });

  it('filters sessions by decision, text and identity', async () => {
    const page = await context.newPage();
    await page.goto(`${base}/console/sessions?decision=deny&text=scratch`);
    assert.equal(await page.locator('table.sessions tbody tr', { hasText: 'report-job' }).count(), 1, 'the session with the refused CREATE TABLE is found');
    await page.goto(`${base}/console/sessions?identity=someone-else`);
    assert.match((await page.locator('main').textContent()) ?? '', /No sessions match/, 'no session of another identity');
    await page.goto(`${base}/console/sessions?since=yesterday`);
    assert.match((await page.locator('p.err').textContent()) ?? '', /since: not a time/, 'a bad time is explained');
    await page.close();
  });

  it("shows a session's statements, refusals colored, and replays it with the captured rows", async () => {
    const page = await context.newPage();
    await page.goto(`${base}/console/sessions`);
    await page.locator('table.sessions tbody tr', { hasText: 'report-job' }).getByRole('link', { name: 'statements' }).click();
    await page.waitForURL(/\/console\/sessions\/[^/]+$/);
    const rows = page.locator('table.statements tbody tr');
    assert.equal(await rows.count(), 4, 'four statements');
    const denied = page.locator('table.statements tr[data-verdict=deny]');
    assert.equal(await denied.count(), 2, 'two refused');
    const deleteRow = denied.filter({ hasText: 'delete from invoices' });
    assert.match((await deleteRow.locator('.refusal').textContent()) ?? '', /may not/, 'the refusal message is shown');
    const color = await deleteRow.locator('.badge').evaluate((el) => getComputedStyle(el).color);
    assert.equal(color, 'rgb(180, 35, 24)', 'a refusal is red');
    const first = page.locator('table.statements tr[data-verdict=allow]').first();
    assert.match((await first.textContent()) ?? '', /SELECT 2/, 'the command tag of the first read');
    assert.equal((await first.locator('td.num').nth(1).textContent())?.trim(), '2', 'and its row count');

    await page.getByRole('link', { name: 'Replay' }).click();
    await page.waitForURL(/\/replay$/);
    const steps = page.locator('ol.steps li.statement');
    assert.equal(await steps.count(), 4, 'every statement replays');
    assert.match((await steps.first().locator('.t').textContent()) ?? '', /^\+\d+\.\d{3}s$/, 'with its time since the session began');
    assert.equal(await steps.first().locator('table.capture tbody tr').count(), 2, 'and the rows the client received');
    assert.match((await steps.nth(3).locator('table.capture').textContent()) ?? '', /done/, 'captured values are shown');
    assert.match((await page.locator('ol.steps').textContent()) ?? '', /session ended: /, 'the end of the session is in the replay');
    await page.screenshot({ path: join(process.env.CONSOLE_SCREENSHOT_DIR ?? dataDir, 'console-replay.png'), fullPage: true });
    await page.close();
  });

  it('refuses a tampered session cookie', async () => {
    const [session] = (await context.cookies(`${base}/console/`)).filter((c) => c.name === 'pgwarden_console');
    const [body, mac] = session.value.split('.');
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
    claims.groups = ['pgwarden-admins'];
    const forged = `${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${mac}`;
    const res = await fetch(`${base}/console/sessions`, { headers: { cookie: `pgwarden_console=${forged}` }, redirect: 'manual' });
    assert.equal(res.status, 303, 'the forged cookie does not open the page');
    assert.match(res.headers.get('location') ?? '', /^\/console\/login\?next=.*&expired=1$/, 'it is sent to sign in again');
    assert.match(res.headers.get('set-cookie') ?? '', /pgwarden_console=;/, 'and the bad cookie is cleared');

    const good = await fetch(`${base}/console/sessions`, { headers: { cookie: `pgwarden_console=${session.value}` }, redirect: 'manual' });
    assert.equal(good.status, 200, 'the genuine cookie still works');
    assert.match(good.headers.get('content-security-policy') ?? '', /default-src 'none'/, 'pages carry a CSP');
  });

  it('refuses a logout without its CSRF token, then logs out with the button', async () => {
    const [session] = (await context.cookies(`${base}/console/`)).filter((c) => c.name === 'pgwarden_console');
    const res = await fetch(`${base}/console/logout`, {
      method: 'POST',
      headers: { cookie: `pgwarden_console=${session.value}`, 'content-type': 'application/x-www-form-urlencoded', origin: base },
      body: 'csrf=guessed',
    });
    assert.equal(res.status, 403, 'a cross-site logout is refused');

    const page = await context.newPage();
    await page.goto(`${base}/console/sessions`);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(/\/console\/login\?signed_out=1$/);
    await page.goto(`${base}/console/sessions`);
    assert.match(page.url(), /\/console\/login\?next=/, 'signed out: the pages need a sign-in again');
    await page.close();
  });

  it('answers 403 to a human whose groups hold no console role', async () => {
    const other = await newContext();
    try {
      const page = await other.newPage();
      await page.goto(`${base}/console/`);
      const callback = page.waitForResponse((r) => r.url().startsWith(`${base}/console/callback`));
      await signIn(page, 'victor');
      assert.equal((await callback).status(), 403, 'the callback answers 403');
      assert.equal(await page.locator('h1').textContent(), 'No console role');
      assert.match((await page.locator('main').textContent()) ?? '', /victor.*staff/s, 'the page names the human and their groups');
      assert.equal((await other.cookies(`${base}/console/`)).filter((c) => c.name === 'pgwarden_console').length, 0, 'no session is made');
    } finally {
      await other.close();
    }
  });

  it('has no development login without the development issuer', async () => {
    const res = await fetch(`${base}/console/dev-login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'role=admin&csrf=x', redirect: 'manual' });
    assert.equal(res.status, 404, 'the route does not exist');
    const page = await (await fetch(`${base}/console/login`)).text();
    assert.doesNotMatch(page, /Development sign-in/, 'the sign-in page offers no development login');
  });
});

describe('console: development login (demo mode)', () => {
  let dev: TestGateway;
  before(async () => {
    const httpPort = await freePort();
    dev = await startTestGateway({
      pg: t.pg,
      config: (raw) => {
        raw.listen.http = `127.0.0.1:${httpPort}`;
        raw.dev_issuer = { enabled: true, key_file: join(dataDir, 'dev-issuer-key.json'), unsafe_anyone_can_mint_tokens: true };
        raw.console = { issuer: `http://127.0.0.1:${httpPort}/dev`, client_id: CLIENT_ID, roles: ROLES, session_secret: SESSION_SECRET };
      },
    });
  });
  after(async () => {
    await dev?.stop();
  });

  it('signs in as a chosen role, under a warning banner', async () => {
    const other = await newContext();
    try {
      const page = await other.newPage();
      const devBase = `http://127.0.0.1:${dev.gw.http.port}`;
      await page.goto(`${devBase}/console/sessions`);
      assert.match((await page.locator('.warning').textContent()) ?? '', /Development sign-in is enabled/, 'the warning is shown');
      assert.equal(await page.getByRole('link', { name: 'Sign in with OpenID Connect' }).count(), 0, 'no IdP to send anyone to');
      await page.getByRole('button', { name: /auditor/ }).click();
      await page.waitForURL(`${devBase}/console/sessions`);
      assert.equal(await page.locator('h1').textContent(), 'Sessions');
      assert.match((await page.locator('header.top .who').textContent()) ?? '', /auditor \(development login\)/, 'signed in as the auditor');
      assert.match((await page.locator('.warning').textContent()) ?? '', /Never enable the development issuer in production/, 'the warning stays on every page');
    } finally {
      await other.close();
    }
  });
});
