/**
 * The reviews API on a real HTTP server, with tokens from a real OIDC issuer (test/helpers/issuer.ts)
 * verified by the gateway's verifier, and `pgwarden reviews …` spawned as a user runs it —
 * including `--data-dir`, which mints a token for the demo's development approver.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { configSchema } from '../../src/config/index.ts';
import { createHttpApp, startHttpServer, type HttpServer, allowedHosts } from '../../src/http/index.ts';
import { DevIssuer, RevocationList, createTokenVerifier } from '../../src/identity/index.ts';
import { silentLogger } from '../../src/log.ts';
import { ReviewService, compileReviews, isApproverOfAny, reviewRoutes, reviewsSchema, type Review, type ReviewRequest } from '../../src/review/index.ts';
import { rule as ruleOf, requestFor, identity } from '../../src/review/test-support.ts';
import { startTestIssuer, type TestIssuer } from '../helpers/issuer.ts';
import { freePort } from '../helpers/postgres.ts';
import { pgwarden } from '../helpers/clients.ts';


const dir = mkdtempSync(join(tmpdir(), 'pgwarden-reviews-api-'));

let idp: TestIssuer;
let dev: DevIssuer;
let server: HttpServer;
let service: ReviewService;
let url: string;
let dataDir: string;

const compiled = compileReviews(
  reviewsSchema.parse({
    store: 'memory',
    rules: [{ name: 'destructive', when: ['drop', 'truncate'], approvers: { groups: ['dba'] }, mode: 'defer' }],
  }),
);
const destructive = compiled.rules[0];

/** A request from an identity of the test issuer. */
function requestFrom(subject: string, groups: string[], text: string, mode: 'wait' | 'defer' = 'defer'): ReviewRequest {
  return requestFor(text, identity(subject, groups, idp.issuer), { mode });
}

const token = (sub: string, groups: string[] = []) => idp.sign({ sub, groups });

async function api(method: string, path: string, bearer?: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${url}/api/reviews${path}`, {
    method,
    headers: { ...(bearer ? { Authorization: `Bearer ${bearer}` } : {}), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

before(async () => {
  idp = await startTestIssuer('pgwarden');
  dataDir = mkdtempSync(join(dir, 'demo-'));
  const port = await freePort();
  dev = await DevIssuer.open(join(dataDir, 'dev-issuer.jwk'), `http://127.0.0.1:${port}/dev`);
  const identityConfig = configSchema.shape.identity.parse({
    issuers: [
      { issuer: idp.issuer, audience: 'pgwarden', name: 'test-idp' },
      { issuer: dev.issuer, audience: 'pgwarden', name: 'dev' },
    ],
  });
  const verifier = createTokenVerifier(identityConfig, { logger: silentLogger(), revocations: new RevocationList() });
  service = await ReviewService.open({ store: 'memory', webhooks: [] }, { logger: silentLogger(), baseDir: dir });
  const app = createHttpApp({
      allowedHosts: () => allowedHosts({ listenHost: '127.0.0.1', listenPort: port, publicUrls: [], extraHosts: [] }),
    logger: silentLogger(),
    verifier,
    admin: () => ({ subjects: [], groups: [] }),
    ready: () => ({ ready: true }),
    revoke: () => ({ terminated: 0 }),
    unrevoke: () => {},
    revocations: () => [],
    devIssuer: dev,
    reviews: reviewRoutes({ service, verifier, approvers: (id) => isApproverOfAny(compiled, id), logger: silentLogger() }),
  });
  server = await startHttpServer(app, '127.0.0.1', port);
  url = `http://127.0.0.1:${server.port}`;
  writeFileSync(
    join(dataDir, 'demo.json'),
    JSON.stringify({
      http: { host: '127.0.0.1', port: server.port },
      devIssuer: { issuer: dev.issuer, keyFile: 'dev-issuer.jwk', audience: 'pgwarden' },
      adminIdentity: { subject: 'demo-admin', groups: [] },
      identities: {},
    }),
  );
});

after(async () => {
  await server?.close();
  await service?.close();
  await idp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('reviews API', () => {
  test('authentication: no token 401, a bad token 401, a non-reviewer 403', async () => {
    const none = await api('GET', '');
    assert.equal(none.status, 401);
    assert.equal(none.json.error, 'auth.missing_token');
    const bad = await api('GET', '', 'not.a.jwt');
    assert.equal(bad.status, 401);
    const outsider = await api('GET', '', await token('mallory', ['sales']));
    assert.equal(outsider.status, 403);
    assert.match(String(outsider.json.message), /mallory is not a reviewer/);
  });

  test('list, filter and show', async () => {
    const r = await service.request(requestFrom('migrator', ['migrations'], 'DROP TABLE list_me'), destructive);
    const alice = await token('alice', ['dba']);
    const all = await api('GET', '', alice);
    assert.equal(all.status, 200);
    assert.equal(
      (all.json.reviews as Review[]).some((x) => x.id === r.id),
      true,
      'the new review is listed',
    );
    const pending = await api('GET', '?status=pending&limit=5', alice);
    assert.equal(
      (pending.json.reviews as Review[]).every((x) => x.status === 'pending'),
      true,
      'only pending reviews',
    );
    const one = await api('GET', `/${r.id}`, alice);
    assert.equal(one.status, 200);
    assert.equal(one.json.text, 'DROP TABLE list_me');
    assert.equal((await api('GET', '/r-zzzzz', alice)).status, 404);
    assert.equal((await api('GET', '/not-an-id', alice)).status, 404);
    const badStatus = await api('GET', '?status=weird', alice);
    assert.equal(badStatus.status, 400);
    assert.match(String(badStatus.json.message), /status must be one of/);
  });

  test('approve with a comment; approving again is 409; the approval is then usable once', async () => {
    const req = requestFrom('migrator', ['migrations'], 'DROP TABLE approve_me');
    const r = await service.request(req, destructive);
    const alice = await token('alice', ['dba']);
    const ok = await api('POST', `/${r.id}/approve`, alice, { comment: 'ticket OPS-12' });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.status, 'approved');
    assert.deepEqual(
      (ok.json.approvals as { by: string; comment: string }[]).map((a) => [a.by, a.comment]),
      [['alice', 'ticket OPS-12']],
    );
    const again = await api('POST', `/${r.id}/approve`, await token('bob', ['dba']));
    assert.equal(again.status, 409);
    assert.equal(again.json.error, 'review.already_decided');
    const used = await service.consumeApproval({ issuer: idp.issuer, subject: 'migrator', database: 'shop', bytesSha256: req.bytesSha256, paramsSha256: req.paramsSha256, resolutionSha256: req.resolutionSha256 });
    assert.equal(used?.id, r.id);
  });

  test('self-approval is 403, reject is recorded, an expired review is 410', async () => {
    // The requester is itself in the approvers' group.
    const r = await service.request(requestFrom('dba-bot', ['dba'], 'TRUNCATE self_approve'), destructive);
    const self = await api('POST', `/${r.id}/approve`, await token('dba-bot', ['dba']));
    assert.equal(self.status, 403);
    assert.equal(self.json.error, 'review.self_approval');
    assert.match(String(self.json.message), /may not decide its own review/);

    const rejected = await api('POST', `/${r.id}/reject`, await token('alice', ['dba']), { comment: 'use DELETE with a WHERE' });
    assert.equal(rejected.status, 200);
    assert.equal(rejected.json.status, 'rejected');
    assert.equal((rejected.json.rejection as { comment: string }).comment, 'use DELETE with a WHERE');

    const short = await service.request(requestFrom('migrator', [], 'DROP TABLE too_late'), ruleOf({ timeout: 0.02 }));
    await service.waitFor(short.id);
    const late = await api('POST', `/${short.id}/approve`, await token('alice', ['dba']));
    assert.equal(late.status, 410);
    assert.equal(late.json.error, 'review.expired');
  });

  test('a malformed body is 400', async () => {
    const r = await service.request(requestFrom('migrator', [], 'DROP TABLE body_check'), destructive);
    const res = await fetch(`${url}/api/reviews/${r.id}/approve`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await token('alice', ['dba'])}`, 'Content-Type': 'application/json' },
      body: '{"comment": 3}',
    });
    assert.equal(res.status, 400);
    assert.equal((await service.get(r.id))?.status, 'pending');
  });
});

describe('pgwarden reviews', () => {
  test('list, show, approve and reject with --url and PGWARDEN_TOKEN', async () => {
    const a = await service.request(requestFrom('migrator', ['migrations'], 'DROP TABLE cli_approve'), destructive);
    const b = await service.request(requestFrom('migrator', ['migrations'], 'TRUNCATE cli_reject'), destructive);
    const alice = await token('alice', ['dba']);

    const list = await pgwarden(['reviews', 'list', '--status', 'pending', '--url', url], { PGWARDEN_TOKEN: alice });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^ID\s+STATUS\s+RULE\s+WHO\s+CREATED\s+STATEMENT$/m);
    assert.match(list.stdout, new RegExp(`^${a.id}\\s+pending\\s+destructive\\s+migrator@shop\\s+\\S+ ago\\s+DROP TABLE cli_approve$`, 'm'));

    const json = await pgwarden(['reviews', 'list', '--json', '--url', url], { PGWARDEN_TOKEN: alice });
    assert.equal(json.code, 0, json.stderr);
    assert.equal(
      (JSON.parse(json.stdout) as Review[]).some((r) => r.id === b.id),
      true,
      'JSON lists the review',
    );

    const show = await pgwarden(['reviews', 'show', a.id, '--url', url], { PGWARDEN_TOKEN: alice });
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, new RegExp(`^review ${a.id}: pending$`, 'm'));
    assert.match(show.stdout, /^ {2}identity {4}migrator \[migrations\] from http/m);
    assert.match(show.stdout, /^ {4}\| DROP TABLE cli_approve$/m);

    const approve = await pgwarden(['reviews', 'approve', a.id, '--comment', 'ok for the migration', '--url', url], { PGWARDEN_TOKEN: alice });
    assert.equal(approve.code, 0, approve.stderr);
    assert.match(approve.stdout, new RegExp(`^approved ${a.id}: migrator may re-run it once until \\S+\\n$`));
    assert.equal((await service.get(a.id))?.approvals[0].comment, 'ok for the migration');

    const reject = await pgwarden(['reviews', 'reject', b.id, '--url', url], { PGWARDEN_TOKEN: alice });
    assert.deepEqual([reject.code, reject.stdout], [0, `rejected ${b.id}: it will not run\n`]);

    const twice = await pgwarden(['reviews', 'reject', b.id, '--url', url], { PGWARDEN_TOKEN: alice });
    assert.deepEqual([twice.code, twice.stdout, twice.stderr], [1, '', `pgwarden: review ${b.id} is already rejected\n`]);
  });

  test('a statement hiding part of itself with CR and escape sequences is shown as it is, in list and show', async () => {
    // The requester's comment returns to the start of the line, overwrites the real statement
    // with a harmless one and hides the rest: printed raw, `show` displays "drop table scratch".
    const text = 'DROP TABLE victim /*\r    DROP TABLE scratch;      \x1b[8m*/\n  approved by alice at 2026-01-01 \u202e';
    const r = await service.request(requestFrom('migrator', ['migrations\x1b]0;title\x07'], text), destructive);
    const alice = await token('alice', ['dba']);
    const show = await pgwarden(['reviews', 'show', r.id, '--url', url], { PGWARDEN_TOKEN: alice });
    assert.equal(show.code, 0, show.stderr);
    assert.doesNotMatch(show.stdout, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/, 'no control or bidi character reaches the terminal');
    assert.match(show.stdout, /^ {4}\| DROP TABLE victim \/\*\\r {4}DROP TABLE scratch; {6}\\x1b\[8m\*\/$/m, 'the whole statement, its CR and ESC visible');
    assert.match(show.stdout, /^ {4}\| {3}approved by alice at 2026-01-01 \\u\{202e\}$/m, 'its second line behind the gutter, not passing for an approval');
    assert.doesNotMatch(show.stdout, /^ {2}approved by/m);
    assert.match(show.stdout, /\[migrations\\x1b\]0;title\\x07\]/, "the token's groups escaped too");

    const list = await pgwarden(['reviews', 'list', '--url', url], { PGWARDEN_TOKEN: alice });
    assert.equal(list.code, 0, list.stderr);
    assert.doesNotMatch(list.stdout, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/);
    // Folded to one line (the CR is whitespace), the comment shows as a comment.
    assert.match(list.stdout, new RegExp(`^${r.id} .* DROP TABLE victim /\\* DROP TABLE scratch; \\\\x1b\\[8m\\*/ approved by…$`, 'm'));
  });

  test('--data-dir mints a token for the demo approver (demo-approver in dba by default)', async () => {
    const r = await service.request(requestFrom('migrator', ['migrations'], 'DROP TABLE demo_approve'), destructive);
    const approve = await pgwarden(['reviews', 'approve', r.id, '--data-dir', dataDir]);
    assert.equal(approve.code, 0, approve.stderr);
    const review = await service.get(r.id);
    assert.equal(review?.status, 'approved');
    assert.equal(review?.approvals[0].by, 'demo-approver');
    assert.equal(review?.approvals[0].issuer, dev.issuer);
  });

  test('errors: self-approval, no token, an unknown review, an unreachable gateway', async () => {
    const r = await service.request(requestFrom('dba-bot', ['dba'], 'DROP TABLE cli_self'), destructive);
    const closedPort = await freePort();
    const [self, none, unknown, down] = await Promise.all([
      pgwarden(['reviews', 'approve', r.id, '--url', url], { PGWARDEN_TOKEN: await token('dba-bot', ['dba']) }),
      pgwarden(['reviews', 'list', '--url', url]),
      pgwarden(['reviews', 'show', 'r-zzzzz', '--url', url], { PGWARDEN_TOKEN: await token('alice', ['dba']) }),
      pgwarden(['reviews', 'list', '--url', `http://127.0.0.1:${closedPort}`], { PGWARDEN_TOKEN: 'x.y.z' }),
    ]);
    assert.deepEqual([self.code, self.stderr], [1, `pgwarden: dba-bot may not decide its own review ${r.id} (Another approver must approve or reject it.)\n`]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no approver token: set PGWARDEN_TOKEN or pass --token-stdin/);
    assert.deepEqual([unknown.code, unknown.stderr.startsWith('pgwarden: no review r-zzzzz')], [1, true]);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach the gateway at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  });
});
