/**
 * The console's approvals pages in a real headless Chromium (Debian's `chromium`, driven by
 * playwright-core), against a gateway holding a migrator's DROP TABLE for review in `wait` mode
 * and a console signing humans in at an in-process OpenID Provider: an approver signs in on the
 * provider's login page, sees the waiting statement highlighted with who sent it, approves it with
 * a comment, and the waiting pg client gets its result (the table is gone); a rejection shows as
 * rejected and the statement never runs; the requester cannot approve its own request; a human
 * without the approver role gets 403.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import Database from 'better-sqlite3';
import type { BrowserContext, Page } from 'playwright-core';
import { sessionKey } from '../../src/console/auth.ts';
import { sign } from '../../src/console/signed-cookie.ts';
import { CHROMIUM, newBrowserContext, signIn } from '../helpers/browser.ts';
import { startOidcProvider, type TestOidcProvider } from '../helpers/oidc.ts';
import { startTestGateway, type TestGateway } from '../helpers/gateway.ts';
import { freePort } from '../helpers/postgres.ts';
import { waitFor } from '../helpers/wait.ts';

const CLIENT_ID = 'pgwarden-console';
const CLIENT_SECRET = 'console-client-secret';
const SESSION_SECRET = 'test-console-session-secret-0123456789abcdef';

let idp: TestOidcProvider;
let t: TestGateway;
let base: string;
let dataDir: string;
let approver: BrowserContext;

function newContext(): Promise<BrowserContext> {
  return newBrowserContext(dataDir);
}

type NoticedClient = pg.Client & { notices: string[] };

async function migrator(): Promise<NoticedClient> {
  const c = new pg.Client(t.client(await t.issuer.sign({ sub: 'migrator', groups: ['migrators'] }))) as NoticedClient;
  c.notices = [];
  c.on('notice', (n) => c.notices.push(n.message ?? ''));
  c.on('error', () => {});
  await c.connect();
  return c;
}

async function heldId(c: NoticedClient): Promise<string> {
  const notice = await waitFor('the review notice', () => c.notices.find((n) => /held for review/.test(n)));
  const id = /review (r-[a-z0-9]+)/.exec(notice)?.[1];
  if (!id) throw new Error(`no review id in the notice: ${notice}`);
  return id;
}

const tableExists = (name: string) => t.pg.psql(`select count(*) from pg_tables where tablename = '${name}'`, 'app').trim() === '1';

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (CI installs it through .ci/run)`);
  dataDir = await mkdtemp(join(tmpdir(), 'pgwarden-console-reviews-'));
  const httpPort = await freePort();
  base = `http://127.0.0.1:${httpPort}`;
  idp = await startOidcProvider({
    webClients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [`${base}/console/callback`] }],
    humans: { dana: { groups: ['dba'], name: 'Dana DBA' }, alice: { groups: ['auditors'], name: 'Alice Auditor' } },
  });
  t = await startTestGateway({
    config: (raw) => {
      raw.listen.http = `127.0.0.1:${httpPort}`;
      raw.audit = { store: `sqlite:${join(dataDir, 'audit.db')}` };
      raw.policies = [{ name: 'migrations', match: { groups: ['migrators'] }, allow: [{ tables: ['public.*'], operations: 'all' }, { ddl: { schemas: ['public'] } }] }];
      raw.reviews = {
        store: `sqlite:${join(dataDir, 'reviews.db')}`,
        rules: [{ name: 'destructive', when: ['drop', 'truncate', 'delete_without_where'], match: { groups: ['migrators'] }, approvers: { groups: ['dba'] }, mode: 'wait', timeout: '2m' }],
      };
      raw.console = { issuer: idp.issuer, client_id: CLIENT_ID, client_secret: CLIENT_SECRET, roles: { auditor: ['auditors'], approver: ['dba'], admin: [] }, session_secret: SESSION_SECRET };
    },
  });
  approver = await newContext();
});

after(async () => {
  await approver?.close();
  await t?.stop();
  await idp?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('console: approvals', () => {
  it('an approver approves a waiting DROP TABLE and the client gets its result', async () => {
    t.pg.psql('create table doomed (id int); alter table doomed owner to gw_app', 'app');
    const c = await migrator();
    try {
      const running = c.query('drop table doomed');
      running.catch(() => {}); // it settles while the browser approves it
      const id = await heldId(c);

      const page = await approver.newPage();
      await page.goto(`${base}/console/reviews`);
      assert.match(page.url(), /\/console\/login\?next=%2Fconsole%2Freviews/, 'an anonymous visit is sent to the sign-in page');
      await signIn(page, 'dana');
      await page.waitForURL(`${base}/console/reviews`);
      assert.equal(await page.locator('header.top nav a', { hasText: 'Approvals' }).count(), 1, 'the navigation offers the approvals');
      const row = page.locator(`table.reviews tr[data-review="${id}"]`);
      assert.equal(await row.count(), 1, 'the pending review is listed');
      assert.equal((await row.locator('pre.sql').textContent())?.trim(), 'drop table doomed', 'with its statement as sent');
      assert.deepEqual(await row.locator('pre.sql .kw').allTextContents(), ['drop', 'table'], 'keywords are highlighted');
      const rowText = (await row.textContent()) ?? '';
      assert.match(rowText, /migrator/, 'the requesting identity is shown');
      assert.match(rowText, /migrators/, 'with its groups');
      assert.match(rowText, new RegExp(t.issuer.issuer.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'and its issuer');
      assert.match(rowText, /rule destructive/, 'the rule is named');
      assert.match(rowText, /public\.doomed/, 'the analysis names the table');
      assert.ok(tableExists('doomed'), 'nothing has run before the approval');

      await row.getByRole('link', { name: id }).click();
      await page.waitForURL(`${base}/console/reviews/${id}`);
      assert.match((await page.locator('h1').textContent()) ?? '', new RegExp(`Review ${id}\\s*pending`), 'the detail page shows the status');
      assert.match((await page.locator('dd.search-path').textContent()) ?? '', /public/, 'and the search_path the names were resolved with');
      await page.locator('textarea[name=comment]').fill('planned: OPS-42');
      await page.screenshot({ path: join(process.env.CONSOLE_SCREENSHOT_DIR ?? dataDir, 'console-review.png'), fullPage: true });
      await page.getByRole('button', { name: 'Approve' }).click();
      await page.waitForURL(`${base}/console/reviews/${id}?done=approved`);
      assert.match((await page.locator('.flash.ok').textContent()) ?? '', /Approved/, 'the approval is confirmed');

      const result = await running;
      assert.equal(result.command, 'DROP', 'the waiting client gets its normal result');
      assert.ok(!tableExists('doomed'), 'the table is gone');

      await page.goto(`${base}/console/reviews/history`);
      const done = page.locator(`table.history tr[data-review="${id}"]`);
      assert.equal(await done.getAttribute('data-status'), 'consumed', 'the history shows it ran');
      assert.match((await done.textContent()) ?? '', /approved by dana.*planned: OPS-42/s, 'with who approved it and the comment');
      await page.close();
    } finally {
      await c.end();
    }
  });

  it('a rejection shows as rejected and the statement never runs', async () => {
    t.pg.psql('create table kept (id int); alter table kept owner to gw_app', 'app');
    const c = await migrator();
    try {
      const running = c.query('drop table kept');
      running.catch(() => {}); // it settles while the browser rejects it
      const id = await heldId(c);
      const page = await approver.newPage();
      await page.goto(`${base}/console/reviews/${id}`);
      await page.locator('textarea[name=comment]').fill('not during business hours');
      await page.getByRole('button', { name: 'Reject' }).click();
      await page.waitForURL(`${base}/console/reviews/${id}?done=rejected`);
      assert.equal((await page.locator('h1 .badge').textContent())?.trim(), 'rejected', 'the status is rejected');
      assert.match((await page.locator('ul.decisions').textContent()) ?? '', /rejected by dana.*not during business hours/s, 'with who and why');
      assert.equal(await page.getByRole('button', { name: 'Approve' }).count(), 0, 'a decided review offers no buttons');
      await assert.rejects(running, (e: any) => e.code === '42501' && /rejected/.test(e.message), 'the client is refused');
      assert.ok(tableExists('kept'), 'the table is still there');
      await page.close();
    } finally {
      await c.end();
    }
  });

  it('refuses self-approval and a decision without the CSRF token, with clear messages', async () => {
    const c = await migrator();
    try {
      const running = c.query('truncate table scratch');
      running.catch(() => {}); // it is left to expire with the gateway
      const id = await heldId(c);
      // A console session of the requester itself (the test writes the session store and knows
      // the cookie secret): the migrator's issuer and subject, in the dba group.
      const exp = Math.floor(Date.now() / 1000) + 600;
      const sid = 'a-console-session-id-of-the-requester-itself';
      const record = { id: sessionKey(sid), subject: 'migrator', issuer: t.issuer.issuer, issuerName: t.issuer.issuer, groups: ['dba'], csrf: 'the-csrf-token', createdAt: Date.now(), expiresAt: exp * 1000 };
      const db = new Database(join(dataDir, 'audit.db'));
      db.prepare('INSERT INTO console_sessions (id, subject, issuer, issuer_name, body, expires_at) VALUES (?, ?, ?, ?, ?, ?)').run(record.id, record.subject, record.issuer, record.issuerName, JSON.stringify(record), record.expiresAt);
      db.close();
      const cookie = `pgwarden_console=${sign(SESSION_SECRET, 'session', { sid, exp })}`;
      const post = (body: string) =>
        fetch(`${base}/console/reviews/${id}`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', origin: base }, body });

      const forged = await post('csrf=guessed&decision=approve');
      assert.equal(forged.status, 403, 'a decision without the session token is refused');
      assert.match(await forged.text(), /anti-forgery token did not match/);

      const self = await post('csrf=the-csrf-token&decision=approve&comment=mine');
      assert.equal(self.status, 403, 'self-approval is refused');
      assert.match(await self.text(), /migrator may not decide its own review/, 'and the page says why');
      const page = await (await fetch(`${base}/console/reviews/${id}`, { headers: { cookie } })).text();
      assert.match(page, /This is your own request/, 'the detail page tells the requester before they try');
    } finally {
      await c.end();
    }
  });

  it('answers 403 to a signed-in human without the approver role', async () => {
    const other = await newContext();
    try {
      const page = await other.newPage();
      await page.goto(`${base}/console/`);
      await signIn(page, 'alice');
      await page.waitForURL(`${base}/console/sessions`);
      assert.equal(await page.locator('header.top nav a', { hasText: 'Approvals' }).count(), 0, 'no approvals link for an auditor');
      const res = await page.goto(`${base}/console/reviews`);
      assert.equal(res?.status(), 403, 'the approvals page answers 403');
      assert.match((await page.locator('main').textContent()) ?? '', /for the approver role/, 'and says which role it needs');
      const detail = await page.goto(`${base}/console/reviews/history`);
      assert.equal(detail?.status(), 403, 'so does the history');
    } finally {
      await other.close();
    }
  });
});
